"""What the validator reports: findings with exact ranges, and the edits that fix them.

Positions are 0-based lines and 0-based columns counted in Unicode code points, as the YAML
parser reports them; the LSP layer converts columns to UTF-16 where a line needs it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Severity(enum.IntEnum):
    # Same order and numbers as LSP's DiagnosticSeverity, so conversion is a lookup.
    ERROR = 1
    WARNING = 2
    INFO = 3
    HINT = 4

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True, order=True)
class Position:
    line: int
    col: int


@dataclass(frozen=True, slots=True, order=True)
class Span:
    start: Position
    end: Position

    @staticmethod
    def of(l1: int, c1: int, l2: int, c2: int) -> Span:
        return Span(Position(l1, c1), Position(l2, c2))

    def contains(self, pos: Position) -> bool:
        return self.start <= pos <= self.end

    def overlaps(self, other: Span) -> bool:
        return not (other.end < self.start or self.end < other.start)


@dataclass(frozen=True, slots=True)
class TextEdit:
    span: Span
    new_text: str


@dataclass(frozen=True, slots=True)
class Fix:
    """A quick fix: a title for the menu and the edits that apply it."""

    title: str
    edits: tuple[TextEdit, ...]
    preferred: bool = False


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    severity: Severity
    message: str
    span: Span
    fixes: tuple[Fix, ...] = field(default=())

    def format(self, path: str) -> str:
        """`path:line:col: severity: message [code]`, with 1-based line and column."""
        p = self.span.start
        return f"{path}:{p.line + 1}:{p.col + 1}: {self.severity.label}: {self.message} [{self.code}]"

    def to_json(self) -> dict:
        s, e = self.span.start, self.span.end
        return {
            "line": s.line + 1,
            "column": s.col + 1,
            "endLine": e.line + 1,
            "endColumn": e.col + 1,
            "severity": self.severity.label,
            "code": self.code,
            "message": self.message,
            "fixes": [f.title for f in self.fixes],
        }
