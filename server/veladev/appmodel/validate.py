"""Validation of Application documents: the schemas first, then the rules beyond them."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from typing import Any

from jsonschema import ValidationError
from jsonschema.exceptions import best_match

from . import rules
from .definitions import KIND_LABEL, Catalog, Definition, describe_type
from .findings import Finding, Severity
from .model import AppModel, Item, read_model
from .report import Reporter, did_you_mean
from .schema_keywords import brief
from .yamldoc import Path, span_of

_JSON_TYPE = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "list",
    dict: "object",
    type(None): "null",
}


def check_text(text: str, catalog: Catalog) -> list[Finding]:
    """Every finding for a file: syntax errors and each Application document's problems.

    Documents that are not `core.oam.dev/v1beta1` Applications are ignored.
    """
    from .analysis import analyze

    return analyze(text, catalog).findings


def check_application(
    root,
    value: dict[str, Any],
    lines: list[str],
    catalog: Catalog,
    duplicates: Iterable[tuple] = (),
    aliased: bool = False,
) -> list[Finding]:
    """The findings of one Application document.

    With `aliased`, the value shares aliased content: results are not remembered, since a key
    made from the content would expand every alias.
    """
    rep = Reporter(root, lines)
    remember = not aliased
    for first, again in duplicates:
        rep.add(
            "duplicate-key",
            Severity.ERROR,
            f"duplicate key '{again.value}' (first at line {first.start_mark.line + 1}); only the last one counts",
            span_of(again),
        )
    structure = catalog.validator(catalog.shallow_application_schema)
    report_schema_errors(rep, structure.iter_errors(value), (), "Application")
    spec = value.get("spec")
    components = spec.get("components") if isinstance(spec, dict) else None
    if isinstance(components, list):
        per_component = catalog.component_validator()
        for i, comp in enumerate(components):
            report_schema_errors(
                rep, catalog.errors(per_component, comp, remember), ("spec", "components", i), "Application"
            )
    model = read_model(value)
    for item in model.items():
        check_item(rep, item, catalog, remember)
    rules.check(rep, model, catalog)
    return rep.findings


def check_item(rep: Reporter, item: Item, catalog: Catalog, remember: bool = True) -> None:
    """The item's type against the catalog, and its properties against the type's schema."""
    t = item.type
    if t is None:
        return
    label = KIND_LABEL[item.kind]
    type_path = (*item.path, "type")
    d = catalog.get(item.kind, t)
    if d is None:
        suggestion = did_you_mean(t, catalog.names(item.kind))
        hint = f" (did you mean '{suggestion}'?)" if suggestion else ""
        fixes = [f for f in [rep.replace_value_fix(type_path, suggestion)] if f] if suggestion else []
        if catalog.live:
            rep.add(
                f"unknown-{item.kind}-type",
                Severity.ERROR,
                f"{label} type '{t}' is not defined in the cluster{hint}",
                rep.value_span(type_path),
                fixes,
            )
        else:
            rep.add(
                f"unknown-{item.kind}-type",
                Severity.INFO,
                f"{label} type '{t}' is not a KubeVela built-in; its properties are not checked (connect a cluster to check custom definitions){hint}",
                rep.value_span(type_path),
                fixes,
            )
        return
    if d.deprecated:
        rep.add(
            "deprecated-type",
            Severity.WARNING,
            deprecation_message(d, t),
            rep.value_span(type_path),
            [f for f in [rep.replace_value_fix(type_path, d.replacement, f"Replace with '{d.replacement}'")] if f]
            if _is_type_name(d.replacement)
            else [],
        )
    props = item.properties
    if props is not None and not isinstance(props, dict):
        return  # the structure check already reported the wrong type
    base = (*item.path, "properties")
    validator = catalog.validator(d.schema)
    supplied = _input_paths(item)
    errors = catalog.errors(validator, _with_inputs(props or {}, supplied), remember)
    report_schema_errors(
        rep,
        errors,
        base,
        item_label(item),
        definition=d,
        item=item,
        skip=lambda p: rules.owns(d, p) or any(p[: len(s)] == s for s in supplied),
    )


def item_label(item: Item) -> str:
    """How a message names an item: by its name, with its type (a trait: by its component)."""
    label, t = KIND_LABEL[item.kind], item.type
    if item.kind == "trait" and item.parent is not None and item.parent.name:
        return f"{label} '{t}' of component '{item.parent.name}'"
    return f"{label} '{item.name}' ({t})" if item.name else f"{label} '{t}'"


def deprecation_message(d: Definition, used: str) -> str:
    label = KIND_LABEL[d.kind]
    word = "was removed from KubeVela" if d.status == "removed" else "is deprecated"
    instead = f"; use '{d.replacement}' instead" if d.replacement else ""
    return f"{label} type '{used}' {word}{instead}"


def _is_type_name(s: str) -> bool:
    return bool(s) and all(c.isalnum() or c in "-." for c in s)


# --- inputs supply properties ----------------------------------------------------------------


def _input_paths(item: Item) -> list[tuple]:
    """Property paths filled at run time from `inputs[].parameterKey` (never reported missing)."""
    out = []
    inputs = item.raw.get("inputs")
    for entry in inputs if isinstance(inputs, list) else ():
        key = entry.get("parameterKey") if isinstance(entry, dict) else None
        if isinstance(key, str) and key:
            p = _parse_key(key)
            if p and p[0] == "properties":
                p = p[1:]
            if p:
                out.append(p)
    return out


def _parse_key(key: str) -> tuple:
    segs: list[str | int] = []
    for part in key.replace("[", ".[").split("."):
        if not part:
            continue
        if part.startswith("[") and part.endswith("]"):
            inner = part[1:-1].strip("\"'")
            segs.append(int(inner) if inner.isdigit() else inner)
        else:
            segs.append(part)
    return tuple(segs)


def _with_inputs(props: dict[str, Any], paths: list[tuple]) -> dict[str, Any]:
    if not paths:
        return props
    out = copy.deepcopy(props)
    for p in paths:
        node: Any = out
        for i, seg in enumerate(p):
            last = i == len(p) - 1
            if isinstance(seg, int) or not isinstance(node, dict):
                break
            if last:
                node.setdefault(seg, None)
            else:
                node = node.setdefault(seg, {})
    return out


# --- schema errors to findings ---------------------------------------------------------------


def report_schema_errors(
    rep: Reporter,
    errors: Iterable[ValidationError],
    base: Path,
    label: str,
    definition: Definition | None = None,
    item: Item | None = None,
    skip: Callable[[tuple], bool] = lambda p: False,
) -> None:
    seen: set[tuple] = set()
    for err in errors:
        err = _leaf(err)
        rel = tuple(err.absolute_path)
        if skip(rel):
            continue
        path = (*base, *rel)
        where_rel = rel if definition is not None else path
        schema = _schema_of(err)
        v = err.validator
        if v == "additionalProperties":
            _report_unknown_properties(rep, err, schema, rel, path, where_rel, label, skip)
        elif v == "required":
            present = err.instance if isinstance(err.instance, dict) else {}
            required = err.validator_value if isinstance(err.validator_value, list) else []
            missing = [r for r in required if r not in present and not skip((*rel, r))]
            key = (path, tuple(missing))
            if not missing or key in seen:
                continue
            seen.add(key)
            _report_missing(rep, path, where_rel, missing, schema, label, definition, item)
        elif v == "deprecated":
            text = _deprecation_text(schema, rel, path, label, definition)
            rep.add("deprecated-property", Severity.WARNING, text, rep.key_span(path))
        elif v == "type":
            rep.add(
                "wrong-type",
                Severity.ERROR,
                f"{_where(label, where_rel)} must be {describe_type(schema)}, not {_json_type(err.instance)}",
                rep.value_span(path),
            )
        elif v in ("enum", "const"):
            _report_invalid_choice(rep, err, path, where_rel, label)
        elif v == "format" and err.validator_value == "go-duration":
            rep.add(
                "invalid-duration",
                Severity.ERROR,
                f"{_where(label, where_rel)} '{err.instance}' is not a Go duration (use e.g. 30s, 5m, 1h30m)",
                rep.value_span(path),
            )
        else:
            rep.add(
                "invalid-value",
                Severity.ERROR,
                f"{_where(label, where_rel)}: {_plain_message(err)}",
                rep.value_span(path),
            )


def _schema_of(err: ValidationError) -> dict[str, Any]:
    # The catalog's schemas are objects; a boolean schema has no keywords to explain with.
    return err.schema if isinstance(err.schema, dict) else {}


def _report_unknown_properties(
    rep: Reporter,
    err: ValidationError,
    schema: dict[str, Any],
    rel: tuple,
    path: Path,
    where_rel: tuple,
    label: str,
    skip: Callable[[tuple], bool],
) -> None:
    allowed = list((schema.get("properties") or {}).keys())
    for extra in _extras(err):
        if skip((*rel, extra)):
            continue
        suggestion = did_you_mean(extra, allowed)
        hint = f" (did you mean '{suggestion}'?)" if suggestion else ""
        fix = rep.rename_key_fix((*path, extra), suggestion) if suggestion else None
        rep.add(
            "unknown-property",
            Severity.WARNING,
            f"unknown property '{extra}' in {_where(label, where_rel)}{hint}",
            rep.key_span((*path, extra)),
            [fix] if fix else [],
        )


def _deprecation_text(schema: dict[str, Any], rel: tuple, path: Path, label: str, definition: Definition | None) -> str:
    replacement = schema.get("x-vela-replacement")
    what = "field" if definition is None else "property"
    name = rel[-1] if rel else label
    owner = label if definition is None else (definition.name if definition else label)
    text = f"deprecated {what} {owner}.{name}" if definition else f"'{'.'.join(map(str, path))}' is deprecated"
    if schema.get("x-vela-removed"):
        text = f"'{'.'.join(map(str, path))}' was removed from KubeVela"
    if replacement:
        text += f" (use {replacement})"
    return text


def _report_invalid_choice(rep: Reporter, err: ValidationError, path: Path, where_rel: tuple, label: str) -> None:
    value = err.validator_value
    allowed: list[Any] = value if err.validator == "enum" and isinstance(value, list) else [value]
    fixes = []
    if isinstance(err.instance, str):
        s = did_you_mean(err.instance, [a for a in allowed if isinstance(a, str)])
        f = rep.replace_value_fix(path, s) if s else None
        fixes = [f] if f else []
    shown = ", ".join(repr(a) if isinstance(a, str) else str(a) for a in allowed)
    rep.add(
        "invalid-value",
        Severity.ERROR,
        f"{_where(label, where_rel)} must be one of {shown}, not {brief(err.instance)}",
        rep.value_span(path),
        fixes,
    )


def _report_missing(rep, path, rel, missing, schema, label, definition, item) -> None:
    props = schema.get("properties") or {}
    entries = [(m, _placeholder(props.get(m) or {})) for m in missing]
    names = ", ".join(f"'{m}'" for m in missing)
    noun = "parameter" if definition is not None else "field"
    noun += "s" if len(missing) > 1 else ""
    at_root_of_props = definition is not None and not rel
    fix = None
    if at_root_of_props and item is not None:
        fix = rep.insert_entries_fix(
            f"Add missing {noun} {names}", path, entries, wrapper="properties", anchor_path=(*item.path, "type")
        )
        span = rep.key_span(path) if rep.node(path) is not None else rep.value_span((*item.path, "type"))
    else:
        fix = rep.insert_entries_fix(f"Add missing {noun} {names}", path, entries)
        span = rep.key_span(path) if path else rep.value_span(path)
    where = label if not rel else f"{'.'.join(map(str, rel))} of {label}"
    code = "missing-parameter" if definition is not None else "missing-field"
    rep.add(code, Severity.ERROR, f"missing required {noun} {names} in {where}", span, [fix] if fix else [])


def _placeholder(schema: dict[str, Any]) -> Any:
    if "default" in schema:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    t = schema.get("type")
    t = t[0] if isinstance(t, list) else t
    return {"string": "", "integer": 0, "number": 0, "boolean": False, "array": [], "object": {}}.get(str(t), "")


def _leaf(err: ValidationError) -> ValidationError:
    # For anyOf/oneOf, explain with the variant that came closest.
    while err.validator in ("anyOf", "oneOf") and err.context:
        best = best_match(err.context)
        if best is None:
            break
        err = best
    return err


def _extras(err: ValidationError) -> list[str]:
    inst = err.instance if isinstance(err.instance, dict) else {}
    schema = _schema_of(err)
    props = schema.get("properties") or {}
    patterns = [re.compile(p) for p in (schema.get("patternProperties") or {})]
    return [k for k in inst if k not in props and not any(p.search(str(k)) for p in patterns)]


def _where(label: str, rel: tuple) -> str:
    if not rel:
        return label
    return f"'{'.'.join(map(str, rel))}' of {label}" if label != "Application" else f"'{'.'.join(map(str, rel))}'"


def _json_type(v: Any) -> str:
    return _JSON_TYPE.get(type(v), type(v).__name__)


def _plain_message(err: ValidationError) -> str:
    v = err.validator
    if v == "minimum":
        return f"{err.instance} is below the minimum {err.validator_value}"
    if v == "maximum":
        return f"{err.instance} is above the maximum {err.validator_value}"
    if v == "pattern":
        return f"{brief(err.instance)} does not match the pattern {err.validator_value}"
    if v in ("minItems", "maxItems", "minLength", "maxLength"):
        return err.message
    return err.message


__all__ = ["check_text", "check_application", "AppModel"]
