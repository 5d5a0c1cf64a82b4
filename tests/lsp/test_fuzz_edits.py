"""Random edits of real Applications, sent as incremental didChange: the server never crashes,
always answers, and publishes exactly the findings of the final text, with columns in UTF-16
units (computed here from the text the test holds, independently of the server's conversion).

More examples: VELADEV_FUZZ_EXAMPLES=5000 ./dev test tests/lsp/test_fuzz_edits.py (a long run)."""

import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stdio_client import StdioClient
from support import CORPUS, EXAMPLE
from veladev.appmodel.validate import check_text
from veladev.catalog import bundled_catalog

FILES = sorted(CORPUS.glob("*.yaml")) + [EXAMPLE]
assert len(FILES) > 40, f"corpus missing at {CORPUS}"
# CI runs more examples than a contributor's quick run; the env variable sets any number.
EXAMPLES = int(os.environ.get("VELADEV_FUZZ_EXAMPLES") or (400 if os.environ.get("CI") == "true" else 100))
TEXTS = {p.name: p.read_bytes().decode("utf-8") for p in FILES}
# Characters that make YAML interesting: structure, quotes, tabs, non-ASCII (2 and 4 UTF-8
# bytes, 1 and 2 UTF-16 units), CR.
ALPHABET = st.sampled_from(
    list(" -:\n\t\"'[]{},#&*!|>?%@`éß名😀\r")
    + ["  ", "- ", ": ", "\n  ", "type: ", "sendreceive", "properties:", "~", "null", "80", "[a, b]"]
)


@pytest.fixture(scope="module")
def server():
    client = StdioClient()
    client.initialize({"textDocument": {"publishDiagnostics": {"versionSupport": True}}})
    yield client
    client.close()


_BREAK = re.compile(r"\r\n|\r|\n")


def utf16_position(text: str, offset: int) -> dict:
    """The LSP position of `offset`: lines end at \\r\\n, \\r or \\n; columns in UTF-16 units."""
    line, start = 0, 0
    for m in _BREAK.finditer(text, 0, offset):
        line, start = line + 1, m.end()
    return {"line": line, "character": len(text[start:offset].encode("utf-16-le")) // 2}


def whole(text: str, offset: int) -> int:
    # A position cannot fall between the two characters of a CRLF.
    return offset - 1 if 0 < offset < len(text) and text[offset - 1] == "\r" and text[offset] == "\n" else offset


def lsp_lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def expected_diagnostics(text: str) -> list[tuple]:
    """The validator's findings for `text`, as the server must publish them: code-point columns
    turned into UTF-16 units of the LSP line."""
    lines = lsp_lines(text)

    def pos(p) -> tuple[int, int]:
        return p.line, utf16_len(lines[p.line][: p.col])

    return sorted(
        (pos(f.span.start), pos(f.span.end), int(f.severity), f.code, f.message)
        for f in check_text(text, bundled_catalog())
    )


def published(diags: list[dict]) -> list[tuple]:
    def pos(p) -> tuple[int, int]:
        return p["line"], p["character"]

    return sorted(
        (pos(d["range"]["start"]), pos(d["range"]["end"]), d["severity"], d["code"], d["message"]) for d in diags
    )


edit = st.tuples(st.floats(0, 1), st.integers(0, 12), st.lists(ALPHABET, max_size=4).map("".join))
counter = iter(range(10**9))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(sorted(TEXTS)), edits=st.lists(edit, min_size=1, max_size=6))
def test_random_edits_never_break_the_server(server, name, edits):
    n = next(counter)
    uri = f"file:///fuzz/{n}/{name}"
    text = TEXTS[name]
    server.notify(
        "textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}}
    )
    version = 1
    for frac, delete, insert in edits:
        start = whole(text, int(frac * len(text)))
        end = whole(text, min(len(text), start + delete))
        change = {"range": {"start": utf16_position(text, start), "end": utf16_position(text, end)}, "text": insert}
        text = text[:start] + insert + text[end:]
        version += 1
        server.notify(
            "textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]}
        )
    diags = server.wait_notification(
        "textDocument/publishDiagnostics", lambda p: p["uri"] == uri and p.get("version") == version
    )["diagnostics"]
    lines = lsp_lines(text)
    for d in diags:
        for side in ("start", "end"):
            pos = d["range"][side]
            assert 0 <= pos["line"] < len(lines), (d, len(lines))
            assert 0 <= pos["character"] <= len(lines[pos["line"]].encode("utf-16-le")) // 2, d
        assert (d["range"]["start"]["line"], d["range"]["start"]["character"]) <= (
            d["range"]["end"]["line"],
            d["range"]["end"]["character"],
        )
    # Exactly the findings of the text the server should now hold (incremental sync applied right).
    assert published(diags) == expected_diagnostics(text)
    # It still answers requests on the edited document.
    server.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
    server.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 0}})
    server.request(
        "textDocument/completion", {"textDocument": {"uri": uri}, "position": {"line": len(lines) // 2, "character": 2}}
    )
    server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
