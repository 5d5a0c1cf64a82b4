"""Definition schemas a KubeVela cluster publishes.

KubeVela stores the OpenAPI v3 schema of every definition's `parameter` block in a ConfigMap
`<kind>-schema-<name>` (key `openapi-v3-json-schema`, label `definition.oam.dev=schema`), in
the definition's namespace (`vela-system` for built-ins); `-v<N>` copies are per revision.
(`kubevela/kubevela: pkg/controller/utils/capability.go@v1.10.9`, `CreateOrUpdateConfigMap`.)
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from .connection import ClusterError

log = logging.getLogger("veladev.cluster")

SCHEMA_LABEL = "definition.oam.dev=schema"
SCHEMA_KEY = "openapi-v3-json-schema"
_NAME = re.compile(r"^(component|trait|policy|workflowstep)-schema-(.+)$")
_REVISION = re.compile(r"^(.+)-v\d+$")
#: The definition kinds and where KubeVela keeps their workload facts.
_DEFINITION_PLURALS = {"component": "componentdefinitions", "trait": "traitdefinitions"}


@dataclass(frozen=True, slots=True)
class PublishedSchema:
    kind: str
    name: str
    namespace: str
    schema: dict[str, Any]
    workload: str = ""
    applies_to: tuple[str, ...] = ()


#: (connect, read) seconds for each call: a cluster that never answers must not hold the
#: language server's catalog reload (or its shutdown) forever.
REQUEST_TIMEOUT = (5.0, 20.0)


def fetch_published_schemas(
    api_client, namespace: str = "", timeout: tuple[float, float] = REQUEST_TIMEOUT
) -> list[PublishedSchema]:
    """Every definition schema the cluster publishes (all namespaces, else `vela-system`)."""
    items = _schema_config_maps(api_client, namespace, timeout)
    names = {cm.metadata.name for cm in items if cm.metadata}
    found: dict[tuple[str, str], PublishedSchema] = {}
    for cm in items:
        published = _published_schema(cm, names)
        if published is not None:
            found[(published.kind, published.name)] = published
    return _with_workloads(api_client, list(found.values()), timeout)


def _schema_config_maps(api_client, namespace: str, timeout: tuple[float, float]) -> list:
    """The schema ConfigMaps of `namespace`, or of all namespaces (`vela-system` when that is forbidden)."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    core = client.CoreV1Api(api_client)
    try:
        if namespace:
            return core.list_namespaced_config_map(
                namespace, label_selector=SCHEMA_LABEL, _request_timeout=timeout
            ).items
        try:
            return core.list_config_map_for_all_namespaces(label_selector=SCHEMA_LABEL, _request_timeout=timeout).items
        except ApiException as exc:
            if exc.status != 403:
                raise
            return core.list_namespaced_config_map(
                "vela-system", label_selector=SCHEMA_LABEL, _request_timeout=timeout
            ).items
    except ApiException as exc:
        raise ClusterError(f"cannot list definition schemas: {exc.status} {exc.reason}") from None
    except (HTTPError, OSError) as exc:
        raise ClusterError(f"cannot reach the cluster: {type(exc).__name__}") from None


def _published_schema(cm, names: set[str]) -> PublishedSchema | None:
    """The schema a ConfigMap publishes; None for other ConfigMaps, per-revision copies of a
    schema also published without revision (`names`), and unreadable ones."""
    meta = cm.metadata
    m = _NAME.match(meta.name or "") if meta else None
    if not m or not cm.data or SCHEMA_KEY not in cm.data:
        return None
    kind, name = m.groups()
    rev = _REVISION.match(meta.name)
    if rev and rev.group(1) in names:
        return None
    try:
        schema = json.loads(cm.data[SCHEMA_KEY])
    except ValueError:
        log.warning("schema ConfigMap %s/%s is not JSON; skipped", meta.namespace, meta.name)
        return None
    return PublishedSchema(kind, name, meta.namespace or "", schema) if isinstance(schema, dict) else None


def _with_workloads(api_client, schemas: list[PublishedSchema], timeout: tuple[float, float]) -> list[PublishedSchema]:
    """Adds what ComponentDefinitions render and where TraitDefinitions apply, when readable."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    custom = client.CustomObjectsApi(api_client)
    facts: dict[tuple[str, str], dict[str, Any]] = {}
    for kind, plural in _DEFINITION_PLURALS.items():
        try:
            listing = custom.list_cluster_custom_object("core.oam.dev", "v1beta1", plural, _request_timeout=timeout)
            objs = listing.get("items", []) if isinstance(listing, dict) else []  # the client types the JSON as object
        except ApiException:
            continue
        except (HTTPError, OSError) as exc:
            raise ClusterError(
                f"cannot reach the cluster: {type(exc).__name__}"
            ) from None  # the facts are optional; without them the related checks are skipped
        for obj in objs:
            facts[(kind, obj.get("metadata", {}).get("name", ""))] = obj.get("spec") or {}
    out = []
    for s in schemas:
        spec = facts.get((s.kind, s.name), {})
        workload = ((spec.get("workload") or {}).get("type") or "") if s.kind == "component" else ""
        applies = tuple(spec.get("appliesToWorkloads") or ()) if s.kind == "trait" else ()
        out.append(PublishedSchema(s.kind, s.name, s.namespace, s.schema, workload, applies))
    return out
