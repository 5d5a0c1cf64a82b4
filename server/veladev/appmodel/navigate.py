"""Hover, outline and go-to-definition over an analysed file."""

from __future__ import annotations

from dataclasses import dataclass, field

from yaml.nodes import Node

from .analysis import Analysis, AppDocument
from .definitions import KIND_LABEL, Catalog, describe_type, object_properties
from .findings import Position, Span
from .model import Item
from .report import yaml_value
from .schema_path import item_kind, schema_place
from .yamldoc import Path, locate, scalar_at, span_of


def _app_at(analysis: Analysis, pos: Position) -> AppDocument | None:
    for app in analysis.apps:
        sp = span_of(app.root)
        if sp.start <= pos <= sp.end:
            return app
    return None


# --- hover ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HoverInfo:
    markdown: str
    span: Span


def hover(analysis: Analysis, pos: Position, catalog: Catalog) -> HoverInfo | None:
    app = _app_at(analysis, pos)
    if app is None:
        return None
    hit = scalar_at(app.root, pos)
    if hit is None:
        return None
    path, node, is_key = hit
    if not is_key and path and path[-1] == "type" and (kind := item_kind(path[:-1])):
        return _hover_type(kind, node.value, span_of(node), catalog)
    target = (*path, node.value) if is_key else path
    if not target:
        return None
    place = schema_place(app.value, target, catalog)
    schema = place.schema
    if not schema:
        return None
    name = target[-1] if isinstance(target[-1], str) else target[-2] if len(target) > 1 else ""
    lines = [f"**{name}**: `{describe_type(schema)}`"]
    if place.definition is not None:
        lines[0] += f" — {KIND_LABEL[place.definition.kind]} `{place.definition.name}` parameter"
    if schema.get("description"):
        lines.append(schema["description"])
    if "default" in schema:
        lines.append(f"Default: `{yaml_value(schema['default'])}`")
    if schema.get("deprecated"):
        lines.append(
            "**Deprecated**" + (f": use {schema['x-vela-replacement']}" if schema.get("x-vela-replacement") else "")
        )
    return HoverInfo("\n\n".join(lines), span_of(node))


def _hover_type(kind: str, name: str, span: Span, catalog: Catalog) -> HoverInfo | None:
    d = catalog.get(kind, name)
    if d is None:
        return HoverInfo(f"**{name}**: {KIND_LABEL[kind]} type not in the catalog (not a KubeVela built-in)", span)
    parts = [
        f"**{d.name}** — {KIND_LABEL[kind]} ({'from the cluster' if d.origin == 'cluster' else 'KubeVela built-in'})"
    ]
    if d.description:
        parts.append(d.description)
    if d.deprecated:
        parts.append(f"**{d.status.capitalize()}**" + (f": use `{d.replacement}`" if d.replacement else ""))
    if d.workload:
        parts.append(f"Workload: `{d.workload}`")
    params = object_properties(d.schema)
    if params:
        required = set(d.schema.get("required") or ())
        rows = [f"- `{k}`{' (required)' if k in required else ''}: {describe_type(v)}" for k, v in params.items()]
        parts.append("Parameters:\n" + "\n".join(rows))
    return HoverInfo("\n\n".join(parts), span)


# --- outline -------------------------------------------------------------------------------


@dataclass(slots=True)
class Symbol:
    name: str
    detail: str
    kind: str  # application | component | trait | policy | workflow | step
    span: Span
    selection: Span
    children: list[Symbol] = field(default_factory=list)


def outline(analysis: Analysis) -> list[Symbol]:
    out = []
    for app in analysis.apps:
        root_span = span_of(app.root)
        name_node = locate(app.root, ("metadata", "name"))[1]
        app_sym = Symbol(
            app.model.name or "(unnamed)",
            "Application",
            "application",
            root_span,
            span_of(name_node) if name_node is not None else root_span,
        )
        for comp in app.model.components:
            sym = _item_symbol(app.root, comp, "component")
            sym.children = [_item_symbol(app.root, t, "trait") for t in comp.children]
            app_sym.children.append(sym)
        for pol in app.model.policies:
            app_sym.children.append(_item_symbol(app.root, pol, "policy"))
        if app.model.steps:
            key, wf = _model_nodes(app.root, ("spec", "workflow"))
            assert key is not None, "spec.workflow is a mapping entry"
            wf_sym = Symbol(
                "workflow",
                f"{len(app.model.steps)} steps",
                "workflow",
                Span(span_of(key).start, span_of(wf).end),
                span_of(key),
            )
            for step in app.model.steps:
                sym = _item_symbol(app.root, step, "step")
                sym.children = [_item_symbol(app.root, s, "step") for s in step.children]
                wf_sym.children.append(sym)
            app_sym.children.append(wf_sym)
        out.append(app_sym)
    return out


def _model_nodes(root: Node, path: Path) -> tuple[Node | None, Node]:
    """Key (None for a list item) and value nodes at a path the document's own model was read
    from (so the value exists)."""
    key, node = locate(root, path)
    assert node is not None, f"{path} missing from the document its model came from"
    return key, node


def _item_symbol(root: Node, item: Item, kind: str) -> Symbol:
    node = _model_nodes(root, item.path)[1]
    span = span_of(node)
    name_node = locate(root, (*item.path, "name"))[1] if item.name else None
    type_node = locate(root, (*item.path, "type"))[1] if item.type else None
    sel_node = name_node if name_node is not None and name_node is not node else type_node
    selection = span_of(sel_node) if sel_node is not None and sel_node is not node else Span(span.start, span.start)
    name = item.name or item.type or "(no type)"
    return Symbol(name, item.type or "", kind, span, selection)


# --- go to definition ----------------------------------------------------------------------


def definition(analysis: Analysis, pos: Position) -> Span | None:
    """From a reference (dependsOn, a deploy step's policy, an input's `from`) to what it names."""
    app = _app_at(analysis, pos)
    if app is None:
        return None
    hit = scalar_at(app.root, pos)
    if hit is None or hit[2]:
        return None
    path, node, _ = hit
    name = node.value
    target: Item | None = None
    model = app.model
    if len(path) >= 2 and path[-2] == "dependsOn":
        kind = item_kind(path[:-2])
        pool = model.components if kind == "component" else model.all_steps() if kind == "workflowstep" else []
        target = next((i for i in pool if i.name == name), None)
    elif len(path) >= 3 and path[-2] == "policies" and path[-3] == "properties":
        target = model.policy(name)
    elif len(path) >= 2 and path[-1] == "from" and isinstance(path[-2], int) and path[-3:-2] == ("inputs",):
        return _output_named(app, name)
    if target is None or target.name is None:
        return None
    return _span_or_none(locate(app.root, (*target.path, "name"))[1])


def _span_or_none(node: Node | None) -> Span | None:
    return span_of(node) if node is not None else None


def _output_named(app: AppDocument, name: str) -> Span | None:
    for item in [*app.model.components, *app.model.all_steps()]:
        outputs = item.raw.get("outputs")
        for i, out in enumerate(outputs if isinstance(outputs, list) else ()):
            if isinstance(out, dict) and out.get("name") == name:
                return _span_or_none(locate(app.root, (*item.path, "outputs", i, "name"))[1])
    return None
