"""The catalog of KubeVela v1.10 built-ins, read once from the schemas shipped with veladev."""

from __future__ import annotations

import functools
import json

from ..appmodel.definitions import KINDS, Catalog, Definition
from ..packaged import packaged_dir


def schemas_root():
    return packaged_dir("schemas")


@functools.lru_cache(maxsize=1)
def bundled_catalog() -> Catalog:
    root = schemas_root()
    catalog = Catalog(json.loads((root / "application.schema.json").read_text(encoding="utf-8")))
    definitions = root / "definitions"
    for kind in KINDS:
        folder = definitions / kind
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir(), key=lambda p: p.name):
            if not entry.name.endswith(".json"):
                continue
            schema = json.loads(entry.read_text(encoding="utf-8"))
            name = entry.name[: -len(".json")]
            meta = schema.get("x-vela") or {}
            catalog.add(Definition.from_schema(kind, name, schema), meta.get("aliases") or ())
    return catalog
