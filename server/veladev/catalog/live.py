"""The catalog of a live cluster: its published definitions over the bundled built-ins."""

from __future__ import annotations

from ..appmodel.definitions import Catalog, Definition
from ..cluster import ClusterConfig, connect
from ..cluster.definitions import fetch_published_schemas


def load_live_catalog(bundled: Catalog, config: ClusterConfig) -> Catalog:
    """Blocking: connect, read the schema ConfigMaps and merge (raises ClusterError)."""
    api = connect(config)
    try:
        published = fetch_published_schemas(api)
    finally:
        api.close()
    definitions = []
    for p in published:
        schema = dict(p.schema)
        schema.setdefault(
            "x-vela", {"kind": p.kind, "name": p.name, "workload": p.workload, "appliesToWorkloads": list(p.applies_to)}
        )
        definitions.append(Definition.from_schema(p.kind, p.name, schema, origin="cluster"))
    return bundled.merged_with(definitions)
