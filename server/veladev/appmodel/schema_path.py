"""Which schema describes a given place in an Application (for completion and hover).

Up to an item's `properties` the Application schema applies; below it, the schema of the
definition the item's `type` names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .definitions import Catalog, Definition, subschema_at
from .yamldoc import Path

#: Where items (things with a type and properties) sit, as path patterns; "#" is any index.
ITEM_PATTERNS: dict[tuple, str] = {
    ("spec", "components", "#"): "component",
    ("spec", "components", "#", "traits", "#"): "trait",
    ("spec", "policies", "#"): "policy",
    ("spec", "workflow", "steps", "#"): "workflowstep",
    ("spec", "workflow", "steps", "#", "subSteps", "#"): "workflowstep",
}


def item_kind(path: Path) -> str | None:
    shape = tuple("#" if isinstance(s, int) else s for s in path)
    return ITEM_PATTERNS.get(shape)


def value_at(value: Any, path: Path) -> Any:
    for seg in path:
        if isinstance(seg, int) and isinstance(value, list) and 0 <= seg < len(value):
            value = value[seg]
        elif isinstance(seg, str) and isinstance(value, dict):
            value = value.get(seg)
        else:
            return None
    return value


@dataclass(slots=True)
class SchemaPlace:
    schema: dict[str, Any] | None
    root: dict[str, Any] | None  # the document $refs resolve against
    definition: Definition | None  # set below an item's `properties`
    item_path: Path | None  # the item this place belongs to, if any
    relative: Path  # the path below the item's `properties`


def schema_place(app: Any, path: Path, catalog: Catalog) -> SchemaPlace:
    # Find the deepest item whose `properties` the path enters.
    for cut in range(len(path) - 1, -1, -1):
        kind = item_kind(path[:cut]) if path[cut] == "properties" else None
        if kind is not None:
            item_path = path[:cut]
            item = value_at(app, item_path)
            t = item.get("type") if isinstance(item, dict) else None
            d = catalog.get(kind, t) if isinstance(t, str) else None
            rel = path[cut + 1 :]
            schema = subschema_at(d.schema, rel) if d is not None else None
            return SchemaPlace(schema, d.schema if d else None, d, item_path, rel)
    root = catalog.application_schema
    return SchemaPlace(subschema_at(root, path), root, None, None, ())
