"""The open documents, as the client sees them, and position conversion in linear time.

pygls's workspace is not used for text: it keys documents by the unquoted URI (so
`my%20app.yaml` is published under a URI the client does not know), splits lines with
`str.splitlines` (U+2028, U+2029 and U+0085 break lines there, not in LSP clients), rebuilds
the whole text line by line for every change, and converts each column by walking the line
prefix (quadratic on long lines). Here the key is the URI exactly as sent, lines end at
`\\n`, `\\r\\n` and `\\r` only (LSP 3.17, "Text Documents"), and each line's column table is
built once and then looked up with a binary search.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from itertools import accumulate

from lsprotocol import types as lsp

from ..appmodel.findings import Position, Span
from ..appmodel.yamldoc import split_lines

_BREAK = re.compile(r"\r\n|\r|\n")


class TextDocument:
    """One open document. `revision` changes with every change, even when a client repeats a
    version number, so caches keyed on it never serve an older text."""

    __slots__ = ("uri", "version", "_text", "revision", "_lines", "_starts")

    def __init__(self, uri: str, text: str, version: int | None, revision: int):
        self.uri = uri
        self.version = version
        self._text: str | None = text
        self.revision = revision
        self._lines: list[str] | None = None
        self._starts: list[int] | None = None

    @property
    def text(self) -> str:
        if self._text is None:  # after line edits of a text whose breaks are all \n
            self._text = "\n".join(self.lines)
        return self._text

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = split_lines(self.text)
        return self._lines

    def line_starts(self) -> list[int]:
        """The offset of each line's first character in `text`."""
        if self._starts is None:
            text = self.text
            if "\r" not in text:
                self._starts = [0, *accumulate(len(ln) + 1 for ln in self.lines[:-1])]
            else:
                self._starts = [0, *(m.end() for m in _BREAK.finditer(text))]
        return self._starts

    def offset(self, pos: Position) -> int:
        starts = self.line_starts()
        if pos.line >= len(starts):
            return len(self.text)
        return starts[pos.line] + min(pos.col, len(self.lines[pos.line]))

    def replace(self, text: str) -> None:
        self._text = text
        self._lines = self._starts = None

    def edit(self, start: Position, end: Position, new_text: str) -> None:
        """Replace the text between two positions (code points)."""
        if "\r" not in new_text and (self._text is None or "\r" not in self._text):
            # Every break is \n: edit the lines alone, in time linear in the lines touched.
            lines = self.lines
            head, tail = lines[start.line][: start.col], lines[end.line][end.col :]
            lines[start.line : end.line + 1] = (head + new_text + tail).split("\n")
            self._text = self._starts = None
            return
        begin = self.offset(start)
        self.replace(self.text[:begin] + new_text + self.text[max(begin, self.offset(end)) :])


class Documents:
    """The open documents by the URI the client sent."""

    def __init__(self) -> None:
        self._docs: dict[str, TextDocument] = {}
        self._revision = 0

    def _next(self) -> int:
        self._revision += 1
        return self._revision

    def open(self, uri: str, text: str, version: int | None) -> TextDocument:
        doc = TextDocument(uri, text, version, self._next())
        self._docs[uri] = doc
        return doc

    def change(
        self, uri: str, version: int | None, changes: Sequence[lsp.TextDocumentContentChangeEvent], encoding: str | None
    ) -> TextDocument | None:
        doc = self._docs.get(uri)
        if doc is None:
            return None
        for change in changes:
            if isinstance(change, lsp.TextDocumentContentChangePartial):
                positions = Positions(doc.lines, encoding)
                start = positions.position_in(change.range.start)
                end = max(start, positions.position_in(change.range.end))
                doc.edit(start, end, change.text)
            else:
                doc.replace(change.text)
        doc.version = version
        doc.revision = self._next()
        return doc

    def close(self, uri: str) -> TextDocument | None:
        return self._docs.pop(uri, None)

    def get(self, uri: str) -> TextDocument | None:
        return self._docs.get(uri)

    def __iter__(self) -> Iterator[TextDocument]:
        return iter(list(self._docs.values()))

    def __contains__(self, uri: str) -> bool:
        return uri in self._docs


class _Line:
    """Column conversion for one line with characters wider than one client unit.

    `wide` holds the code-point index of each such character, `extra[k]` the client units
    the first k of them add beyond one each.
    """

    __slots__ = ("wide", "extra", "client_starts")

    def __init__(self, line: str, width) -> None:
        self.wide = [i for i, c in enumerate(line) if width(c) > 1]
        self.extra = [0, *accumulate(width(line[i]) - 1 for i in self.wide)]
        # extra has one entry more than wide (the shift after the last wide character)
        self.client_starts = [i + e for i, e in zip(self.wide, self.extra, strict=False)]

    def to_client(self, col: int) -> int:
        return col + self.extra[bisect_left(self.wide, col)]

    def from_client(self, units: int) -> int:
        k = bisect_left(self.client_starts, units)  # wide characters that start before `units`
        col = units - self.extra[k]
        if k and col <= self.wide[k - 1]:  # inside the previous wide character: its start
            return self.wide[k - 1]
        return col


def _utf16(c: str) -> int:
    return 2 if ord(c) > 0xFFFF else 1


def _utf8(c: str) -> int:
    o = ord(c)
    return 1 if o < 0x80 else 2 if o < 0x800 else 3 if o < 0x10000 else 4


class Positions:
    """Converts positions between code points (the appmodel layer) and the client's units.

    Columns past the end of a line mean the end of the line, lines past the end of the
    document its end (LSP: "the character value ... defaults back to the line length").
    """

    def __init__(self, lines: list[str], encoding: str | None):
        self.lines = lines
        enc = str(encoding or lsp.PositionEncodingKind.Utf16)
        self._width = (
            None if enc == lsp.PositionEncodingKind.Utf32 else _utf8 if enc == lsp.PositionEncodingKind.Utf8 else _utf16
        )
        self._codec = "utf-8" if self._width is _utf8 else "utf-16-le"
        self._unit = 1 if self._width is _utf8 else 2
        self._tables: dict[int, _Line | None] = {}

    def _table(self, line_no: int) -> _Line | None:
        try:
            return self._tables[line_no]
        except KeyError:
            pass
        line = self.lines[line_no]
        table = None
        if (
            self._width is not None
            and not line.isascii()
            and len(line.encode(self._codec, "surrogatepass")) != len(line) * self._unit
        ):
            table = _Line(line, self._width)
        self._tables[line_no] = table
        return table

    def position_in(self, pos: lsp.Position) -> Position:
        if not self.lines:
            return Position(0, 0)
        if pos.line >= len(self.lines):
            return Position(len(self.lines) - 1, len(self.lines[-1]))
        line = self.lines[pos.line]
        table = self._table(pos.line)
        col = table.from_client(pos.character) if table is not None else pos.character
        return Position(pos.line, min(max(col, 0), len(line)))

    def span_in(self, rng: lsp.Range) -> Span:
        return Span(self.position_in(rng.start), self.position_in(rng.end))

    def position_out(self, pos: Position) -> lsp.Position:
        if pos.line >= len(self.lines):
            return lsp.Position(len(self.lines), 0)
        col = min(pos.col, len(self.lines[pos.line]))
        table = self._table(pos.line)
        return lsp.Position(pos.line, table.to_client(col) if table is not None else col)

    def range_out(self, span: Span) -> lsp.Range:
        return lsp.Range(self.position_out(span.start), self.position_out(span.end))
