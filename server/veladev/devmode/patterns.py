"""Which local paths dev-mode sync ships, from the trait's `filePattern` / `ignoreFilePattern`.

Nocalhost hands these to syncthing as an ignore file (nhctl, `internal/nhctl/syncthing`):
the ignore patterns first, then `!<filePattern>` lines, then `**`; so a path is synced when
some filePattern matches it and no ignore pattern does, and ignore wins. Patterns use
syncthing's syntax (`*`, `**`, `?`, `[...]`, `{a,b}`, a leading `(?i)`); nhctl turns `.` into
`**` and a leading `./x` into `/x` (anchored at the root). A pattern without a leading `/`
matches at any depth, and a pattern that matches a directory covers everything in it.
`.git` is always ignored. Paths here are relative, with `/` separators.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

ALWAYS_IGNORED = (".git",)


def _translate(glob: str) -> str:
    out, i = [], 0
    while i < len(glob):
        piece, i = _glob_token(glob, i)
        out.append(piece)
    return "".join(out)


_SIMPLE_TOKENS = {"*": "[^/]*", "?": "[^/]"}


def _glob_token(glob: str, i: int) -> tuple[str, int]:
    """The regular expression for the glob token at `i`, and the index after it."""
    c = glob[i]
    if glob.startswith("**", i):
        return ".*", i + 2
    if c in _SIMPLE_TOKENS:
        return _SIMPLE_TOKENS[c], i + 1
    if c == "\\" and i + 1 < len(glob):
        return re.escape(glob[i + 1]), i + 2
    closing = {"[": "]", "{": "}"}.get(c)
    end = glob.find(closing, i + 1) if closing else -1
    if end < 0:  # a plain character, or an opening bracket that is never closed
        return re.escape(c), i + 1
    body = glob[i + 1 : end]
    if c == "[":
        if body.startswith("!"):
            body = "^" + body[1:]
        return "[" + body.replace("\\", "\\\\") + "]", end + 1
    return "(?:" + "|".join(_translate(alt) for alt in body.split(",")) + ")", end + 1


def compile_pattern(pattern: str) -> re.Pattern[str] | None:
    """A regex matching a relative path (or any of its parent directories) that the
    Nocalhost pattern selects; None for an empty pattern."""
    p = pattern.strip()
    flags = 0
    if p.startswith("(?i)"):
        flags, p = re.IGNORECASE, p[4:]
    if p in (".", "./", "", "**", "/"):
        return re.compile(r".*", flags) if pattern.strip() else None
    if p.startswith("./"):
        p = "/" + p[2:]
    anchored = p.startswith("/")
    p = p.strip("/")
    if not p:
        return re.compile(r".*", flags)
    body = _translate(p)
    prefix = "" if anchored else "(?:.*/)?"
    # matching a directory covers its contents
    return re.compile(rf"{prefix}{body}(?:/.*)?", flags)


def _union(patterns: list[re.Pattern[str]]) -> re.Pattern[str]:
    return re.compile(
        "|".join(f"(?:{p.pattern})" if not p.flags & re.IGNORECASE else f"(?i:{p.pattern})" for p in patterns)
    )


class PathFilter:
    """`accepts(path)`: the path is synced (matched by a file pattern, by no ignore pattern)."""

    def __init__(self, file_patterns: Iterable[str] = ("./",), ignore_patterns: Iterable[str] = ()):
        # one alternation per list: a path is matched once, not once per pattern
        files = [c for c in (compile_pattern(p) for p in file_patterns) if c] or [re.compile(r".*")]
        ignores = [c for c in (compile_pattern(p) for p in (*ALWAYS_IGNORED, *ignore_patterns)) if c]
        self._files = _union(files)  # an empty list syncs everything (nhctl: `!**`)
        self._ignores = _union(ignores)

    def ignored(self, path: str) -> bool:
        return self._ignores.fullmatch(path) is not None

    def accepts(self, path: str) -> bool:
        if not path or path == "." or self.ignored(path):
            return False
        return self._files.fullmatch(path) is not None

    def may_contain(self, directory: str) -> bool:
        """Whether a directory walk should enter `directory` (it is not ignored as a whole)."""
        return not self.ignored(directory)
