"""The catalog of a live cluster: its published definitions over the bundled built-ins, and the
hub's registered clusters (for the topology check)."""

from __future__ import annotations

import logging

from ..appmodel.definitions import Catalog, Definition
from ..cluster import ClusterConfig, ClusterError, connect
from ..cluster.definitions import fetch_published_schemas

log = logging.getLogger("veladev.catalog")


def load_live_catalog(bundled: Catalog, config: ClusterConfig) -> Catalog:
    """Blocking: connect, read the schema ConfigMaps and the registered clusters, and merge
    (raises ClusterError when the definitions cannot be read)."""
    api = connect(config)
    try:
        published = fetch_published_schemas(api)
        clusters = registered_clusters(api)
    finally:
        api.close()
    definitions = []
    for p in published:
        schema = dict(p.schema)
        schema.setdefault(
            "x-vela", {"kind": p.kind, "name": p.name, "workload": p.workload, "appliesToWorkloads": list(p.applies_to)}
        )
        definitions.append(Definition.from_schema(p.kind, p.name, schema, origin="cluster"))
    catalog = bundled.merged_with(definitions)
    catalog.clusters = clusters
    return catalog


def registered_clusters(api_client) -> dict[str, dict[str, str]] | None:
    """name -> labels of the hub's clusters (`local` first); None when they cannot be listed
    (e.g. the user may not read Secrets in vela-system): then topology is not checked."""
    from ..cluster.clusters import list_clusters

    try:
        return {c.name: dict(c.labels) for c in list_clusters(api_client)}
    except ClusterError as exc:
        log.info("registered clusters unknown, topology policies not checked: %s", exc)
        return None
