"""Turns paths in an Application into precise ranges, and builds the edits of quick fixes."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode

from .findings import Finding, Fix, Position, Severity, Span, TextEdit
from .yamldoc import Path, locate, locate_exact, mapping_items, span_of


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    cands = list(candidates)
    lower = {c.lower(): c for c in cands}
    if word.lower() in lower:
        return lower[word.lower()]
    m = difflib.get_close_matches(word, cands, n=1, cutoff=0.6)
    return m[0] if m else None


def yaml_value(value: Any) -> str:
    """A value as YAML flow text (JSON is valid YAML), strings quoted only when needed."""
    if isinstance(value, str):
        plain = (
            value
            and value.strip() == value
            and not any(c in value for c in ":#{}[],&*!|>'\"%@`")
            and value.lower() not in ("true", "false", "yes", "no", "on", "off", "null", "~", "y", "n")
        )
        try:
            float(value)
            plain = False
        except ValueError:
            pass
        return value if plain else json.dumps(value)
    return json.dumps(value)


class Reporter:
    """Collects findings for one YAML document, placing each on the node its path names."""

    def __init__(self, root: Node | None, lines: list[str]):
        self.root = root
        self.lines = lines
        self.findings: list[Finding] = []

    # --- ranges -------------------------------------------------------------------------

    def key_span(self, path: Path) -> Span:
        """The key of the entry at `path` (a list item: its first line)."""
        found = locate_exact(self.root, path)
        if found is not None and found[0] is not None:
            return span_of(found[0])
        return self.focus_span(path)

    def value_span(self, path: Path) -> Span:
        return self.focus_span(path)

    def focus_span(self, path: Path) -> Span:
        """A range that fits on the screen: scalars and flow collections whole, else the key."""
        key, value = locate(self.root, path)
        if value is None:
            return Span.of(0, 0, 0, 1)
        sp = span_of(value)
        if isinstance(value, ScalarNode) or sp.start.line == sp.end.line:
            if sp.start == sp.end and key is not None:  # an empty value: point at its key
                return span_of(key)
            return sp
        if key is not None:
            return span_of(key)
        # A block list item: its first line, from the first key.
        first = next(iter(mapping_items(value)), None)
        if first is not None:
            return span_of(first[0])
        line = sp.start.line
        return Span(sp.start, Position(line, len(self.lines[line]) if line < len(self.lines) else sp.start.col + 1))

    def node(self, path: Path) -> Node | None:
        found = locate_exact(self.root, path)
        return found[1] if found is not None else None

    def add(self, code: str, severity: Severity, message: str, span: Span, fixes: Iterable[Fix] = ()) -> None:
        self.findings.append(Finding(code, severity, message, span, tuple(fixes)))

    # --- edits --------------------------------------------------------------------------

    def replace_value_fix(self, path: Path, new_value: str, title: str | None = None) -> Fix | None:
        node = self.node(path)
        if not isinstance(node, ScalarNode):
            return None
        text = json.dumps(new_value) if node.style in ('"', "'") else yaml_value(new_value)
        return Fix(title or f"Change to '{new_value}'", (TextEdit(span_of(node), text),), preferred=True)

    def suggestion(self, path: Path, word: str, candidates: Iterable[str]) -> tuple[str, list[Fix]]:
        """(" (did you mean 'x'?)", its quick fix) for a name at `path` that is not one of the
        candidates; ("", []) when none is close."""
        s = did_you_mean(word, candidates)
        fix = self.replace_value_fix(path, s) if s else None
        return (f" (did you mean '{s}'?)" if s else ""), [fix] if fix else []

    def rename_key_fix(self, path: Path, new_key: str) -> Fix | None:
        found = locate_exact(self.root, path)
        if found is None or found[0] is None:
            return None
        return Fix(f"Rename to '{new_key}'", (TextEdit(span_of(found[0]), new_key),), preferred=True)

    def insert_entries_fix(
        self,
        title: str,
        mapping_path: Path,
        entries: list[tuple[str, Any]],
        wrapper: str | None = None,
        anchor_path: Path | None = None,
    ) -> Fix | None:
        """Insert `key: value` lines into the block mapping at `mapping_path`.

        When that mapping does not exist yet, insert `wrapper:` with the entries after the
        line of `anchor_path` (e.g. `properties:` after a trait's `type:`).
        """
        node = self.node(mapping_path)
        if isinstance(node, MappingNode) and node.flow_style is False and node.value:
            first_key = node.value[0][0]
            col = first_key.start_mark.column
            text = "".join(f"{k}: {yaml_value(v)}\n{' ' * col}" for k, v in entries)
            pos = Position(first_key.start_mark.line, col)
            return Fix(title, (TextEdit(Span(pos, pos), text),))
        if isinstance(node, MappingNode) and node.flow_style and not node.value:
            body = ", ".join(f"{k}: {yaml_value(v)}" for k, v in entries)
            return Fix(title, (TextEdit(span_of(node), "{" + body + "}"),))
        if isinstance(node, ScalarNode) and node.tag.endswith(":null"):
            key, _ = locate(self.root, mapping_path)
            if key is None:
                return None
            if node.value:  # an explicit `null` or `~`: replace it with a flow mapping
                body = ", ".join(f"{k}: {yaml_value(v)}" for k, v in entries)
                return Fix(title, (TextEdit(span_of(node), "{" + body + "}"),))
            col = key.start_mark.column
            after_colon = Position(key.end_mark.line, key.end_mark.column + 1)
            lines = "".join(f"\n{' ' * (col + 2)}{k}: {yaml_value(v)}" for k, v in entries)
            return Fix(title, (TextEdit(Span(after_colon, after_colon), lines),))
        if node is None and wrapper and anchor_path is not None:
            key, value = locate_exact(self.root, anchor_path) or (None, None)
            if key is None or value is None:
                return None
            col = key.start_mark.column
            end = span_of(value).end
            lines = "".join(f"\n{' ' * (col + 2)}{k}: {yaml_value(v)}" for k, v in entries)
            return Fix(title, (TextEdit(Span(end, end), f"\n{' ' * col}{wrapper}:{lines}"),))
        return None
