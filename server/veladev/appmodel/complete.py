"""Completion: what may be typed at a position of an Application.

The line being typed is usually not valid YAML yet, so the word under the cursor is replaced
by a marker and the document parsed again; where the marker lands says what is expected.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .definitions import KIND_LABEL, Catalog, describe_type, object_properties
from .findings import Position, Span
from .model import AppModel, is_application, read_model
from .report import yaml_value
from .schema_path import item_kind, schema_place, value_at
from .yamldoc import Path, parse

MARKER = "veladevcursor0"
_WORD_CHARS = string.ascii_letters + string.digits + "_.-/"  # what a word being typed is made of


@dataclass(frozen=True, slots=True)
class CompletionItem:
    label: str
    kind: str  # property | value | type | reference
    detail: str = ""
    documentation: str = ""
    insert_text: str | None = None
    deprecated: bool = False
    sort: str = ""


@dataclass(slots=True)
class Completions:
    items: list[CompletionItem] = field(default_factory=list)
    replace: Span | None = None  # the word being typed


def complete(lines: list[str], pos: Position, catalog: Catalog) -> Completions:
    line = lines[pos.line] if pos.line < len(lines) else ""
    before, after = line[: pos.col], line[pos.col :]
    word_start = len(before.rstrip(_WORD_CHARS))
    word_end = pos.col + len(after) - len(after.lstrip(_WORD_CHARS))
    replace = Span.of(pos.line, word_start, pos.line, word_end)
    head, tail = line[:word_start], line[word_end:]
    key_position = head.strip() in ("", "-") and not tail.lstrip().startswith(":")

    variants = []
    if key_position:
        if head.strip() == "-":
            variants.append(head + MARKER + tail)  # a scalar list item ...
        variants.append(head + MARKER + ": x" + (tail if tail.strip() else ""))  # ... or a key
    else:
        variants.append(head + MARKER + tail)
        if not tail.strip():
            closer = _close_flow(head)
            if closer:
                variants.append(head + MARKER + closer)
    for text_line in variants:
        found = _locate_marker(lines, pos.line, text_line)
        if found is None:
            continue
        app, path, is_key = found
        if is_key:
            return Completions(_key_items(app, path, catalog), replace)
        items = _value_items(app, path, catalog)
        if items or len(variants) == 1:
            return Completions(items, replace)
    return Completions([], replace)


def _close_flow(head: str) -> str:
    """What closes the flow collections and quotes left open before the cursor."""
    stack: list[str] = []
    quote = ""
    for ch in head:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'" and stack:
            quote = ch
        elif ch in "[{":
            stack.append("]" if ch == "[" else "}")
        elif ch in "]}" and stack:
            stack.pop()
    return quote + "".join(reversed(stack))


def _locate_marker(lines: list[str], line_no: int, new_line: str) -> tuple[Any, Path, bool] | None:
    text = "\n".join([*lines[:line_no], new_line, *lines[line_no + 1 :]])
    parsed = parse(text)
    for doc in parsed.documents:
        if doc.root is None or not isinstance(doc.value, dict):
            continue
        hit = _find(doc.root, ())
        if hit is not None:
            path, is_key = hit
            value = doc.value
            if not is_application(value):
                # While typing the header itself, still treat the document as an Application.
                if not (isinstance(value, dict) and value.get("kind") in (None, "Application", MARKER)):
                    return None
            return value, path, is_key
    return None


def _find(node: Node, path: Path) -> tuple[Path, bool] | None:
    if isinstance(node, MappingNode):
        for k, v in node.value:
            if isinstance(k, ScalarNode) and k.value == MARKER:
                return path, True
            if isinstance(k, ScalarNode):
                hit = _find(v, (*path, k.value))
                if hit is not None:
                    return hit
    elif isinstance(node, SequenceNode):
        for i, v in enumerate(node.value):
            hit = _find(v, (*path, i))
            if hit is not None:
                return hit
    elif isinstance(node, ScalarNode) and node.value == MARKER:
        return path, False
    return None


def _key_items(app: Any, path: Path, catalog: Catalog) -> list[CompletionItem]:
    place = schema_place(app, path, catalog)
    if place.schema is None:
        return []
    present = value_at(app, path)
    present_keys = set(present) if isinstance(present, dict) else set()
    required = set(place.schema.get("required") or ())
    out = []
    for name, sub in object_properties(place.schema, place.root).items():
        if name in present_keys and name != MARKER:
            continue
        sub = sub or {}
        t = sub.get("type")
        is_block = t in ("object", "array") or (isinstance(t, list) and t[0] in ("object", "array"))
        out.append(
            CompletionItem(
                label=name,
                kind="property",
                detail=describe_type(sub) + (" (required)" if name in required else ""),
                documentation=_doc(sub),
                insert_text=f"{name}:" + ("" if is_block else " "),
                deprecated=bool(sub.get("deprecated")),
                sort=("0" if name in required else "1") + name,
            )
        )
    return out


def _value_items(app: Any, path: Path, catalog: Catalog) -> list[CompletionItem]:
    if not path:
        return []
    key = path[-1]
    parent = path[:-1]
    if key == "type" and (kind := item_kind(parent)):
        return _type_items(kind, catalog)
    model = read_model(app) if isinstance(app, dict) else None
    if model is not None and isinstance(key, int):
        references = _reference_items(model, parent)
        if references is not None:
            return references
    place = schema_place(app, path, catalog)
    schema = place.schema or {}
    values: list[Any] = list(schema.get("enum") or ())
    t = schema.get("type")
    if t == "boolean" or (isinstance(t, list) and "boolean" in t):
        values += [True, False]
    if place.definition is not None and place.definition.name == "nocalhost" and place.relative == ("image",):
        values = ["go", "java", "python", "node", "ruby"]
    return [
        CompletionItem(
            yaml_value(v),
            "value",
            describe_type(schema),
            _doc(schema),
            sort=("0" if v == schema.get("default") else "1") + str(v),
        )
        for v in values
    ]


def _type_items(kind: str, catalog: Catalog) -> list[CompletionItem]:
    """The type of a component, trait, policy or step: the catalog's names."""
    out = []
    for name in catalog.names(kind, include_deprecated=True):
        d = catalog.get(kind, name)
        if d is None:  # names() lists only what get() finds
            continue
        out.append(
            CompletionItem(
                name,
                "type",
                f"{KIND_LABEL[kind]} ({d.status})",
                d.description,
                deprecated=d.deprecated,
                sort=("1" if d.deprecated else "0") + name,
            )
        )
    return out


def _reference_items(model: AppModel, parent: Path) -> list[CompletionItem] | None:
    """References at an item of `parent`: policies of a deploy step, dependsOn targets; None elsewhere."""
    owner = parent[:-1]
    if parent[-1:] == ("policies",) and owner[-1:] == ("properties",) and item_kind(owner[:-1]) == "workflowstep":
        return [
            CompletionItem(p.name, "reference", f"policy ({p.type})", sort=p.name)
            for p in model.policies
            if p.name and p.type in ("topology", "override")
        ]
    if parent[-1:] == ("dependsOn",):
        kind = item_kind(owner)
        if kind == "component":
            return [
                CompletionItem(c.name, "reference", f"component ({c.type})", sort=c.name)
                for c in model.components
                if c.name and c.path != owner
            ]
        if kind == "workflowstep":
            return [
                CompletionItem(s.name, "reference", f"step ({s.type})", sort=s.name)
                for s in model.all_steps()
                if s.name and s.path != owner
            ]
    return None


def _doc(schema: dict[str, Any]) -> str:
    parts = [schema.get("description", "")]
    if "default" in schema:
        parts.append(f"Default: `{yaml_value(schema['default'])}`")
    if schema.get("deprecated"):
        parts.append(
            "Deprecated" + (f": use {schema['x-vela-replacement']}" if schema.get("x-vela-replacement") else "")
        )
    return "\n\n".join(p for p in parts if p)
