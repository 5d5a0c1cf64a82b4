"""Definitions and their schema ConfigMaps (``kv:pkg/controller/utils/capability.go@v1.10.9``).

KubeVela's definition controllers write the OpenAPI v3 schema of a definition's CUE
``parameter`` block into a ConfigMap ``<type>-schema-<name>`` in the definition's namespace
(key ``openapi-v3-json-schema``; labels ``definition.oam.dev: schema`` and
``definition.oam.dev/name: <name>`` plus the definition's own labels; traits also get the
annotation ``definition.oam.dev/appliedWorkloads``; owner: the definition;
``status.configMapRef`` names it).

The stand-in has no CUE evaluator, so a definition carries its parameter schema as JSON in
the annotation :data:`SCHEMA_ANNOTATION` (a JSON Schema object, what the ConfigMap then
holds). The built-ins the stand-in renders are installed in ``vela-system`` with the
parameter schemas in ``builtin_schemas/<kind>/<name>.json`` (the JSON Schema of each
definition's CUE ``parameter`` block; ``x-vela.source`` names the CUE file). They are the
sandbox's own copy, not veladev's: the stand-in is the oracle veladev is tested against, so it
must be able to disagree. A definition without the annotation gets no ConfigMap, which is also
what KubeVela does when schema generation fails.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

from .. import kinds
from ..controllers import Controller
from ..errors import ApiError
from ..parts import ControllerHost

GROUP = "core.oam.dev"
SYSTEM_NAMESPACE = "vela-system"
SCHEMA_ANNOTATION = "velasandbox.dev/parameter-schema"
SCHEMA_KEY = "openapi-v3-json-schema"
SCHEMA_LABEL = "definition.oam.dev"
NAME_LABEL = "definition.oam.dev/name"
APPLIED_WORKLOADS = "definition.oam.dev/appliedWorkloads"

#: plural -> (schema ConfigMap type prefix, Kind, catalog kind)
DEFINITION_KINDS = {
    "componentdefinitions": ("component", "ComponentDefinition", ["comp"]),
    "traitdefinitions": ("trait", "TraitDefinition", ["trait"]),
    "policydefinitions": ("policy", "PolicyDefinition", ["def-policy"]),
    "workflowstepdefinitions": ("workflowstep", "WorkflowStepDefinition", ["workflowstep"]),
}

#: What the stand-in installs in vela-system (everything it renders or runs).
BUILTINS = {
    "component": ["webservice", "worker", "task"],
    "trait": ["scaler", "env", "labels", "annotations", "command", "container-image", "nocalhost"],
    "policy": ["topology", "override", "apply-once"],
    "workflowstep": ["deploy", "suspend", "notification", "step-group", "apply-component", "print-message-in-status"],
}
#: Every workflow step type KubeVela v1.10 ships (``kv:vela-templates/definitions/internal/
#: workflowstep/``): a step of one of these types that the stand-in does not run is "not
#: emulated", any other type is "not found".
KUBEVELA_WORKFLOW_STEPS = frozenset(
    {
        "apply-application",
        "apply-application-in-parallel",
        "apply-component",
        "apply-deployment",
        "apply-object",
        "apply-remaining",
        "apply-terraform-config",
        "apply-terraform-provider",
        "build-push-image",
        "check-metrics",
        "clean-jobs",
        "collect-service-endpoints",
        "create-config",
        "delete-config",
        "depends-on-app",
        "deploy",
        "deploy-cloud-resource",
        "deploy2env",
        "deploy2runtime",
        "export-data",
        "export-service",
        "export2config",
        "export2secret",
        "generate-jdbc-connection",
        "list-config",
        "notification",
        "print-message-in-status",
        "read-config",
        "read-object",
        "request",
        "share-cloud-resource",
        "step-group",
        "suspend",
        "vela-cli",
        "webhook",
        "webhook-notification",
    }
)
_SCHEMAS = Path(__file__).resolve().parent / "builtin_schemas"
_WORKLOADS = {"deployments.apps": ("apps/v1", "Deployment"), "jobs.batch": ("batch/v1", "Job")}


def plural_for(prefix: str) -> str:
    return next(p for p, v in DEFINITION_KINDS.items() if v[0] == prefix)


@functools.cache
def _read_schema(kind: str, name: str) -> dict[str, Any] | None:
    path = _SCHEMAS / kind / f"{name}.json"
    if name not in BUILTINS.get(kind, ()) or not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def builtin_schema(kind: str, name: str) -> dict[str, Any] | None:
    """The parameter schema of a built-in the stand-in installs (a fresh copy), or None."""
    schema = _read_schema(kind, name)
    return copy.deepcopy(schema) if schema is not None else None


def published_schema(builtin: dict) -> dict:
    """A built-in's schema as the ConfigMap holds it (no $schema, no x-vela bookkeeping)."""
    s = copy.deepcopy(builtin)
    s.pop("$schema", None)
    s.pop("x-vela", None)
    return s


def builtin_definition(prefix: str, name: str, schema: dict) -> dict:
    meta = schema.get("x-vela") or {}
    description = schema.get("description") or meta.get("description") or ""
    kind = DEFINITION_KINDS[plural_for(prefix)][1]
    spec: dict = {
        "schematic": {"cue": {"template": "// rendered natively by velasandbox (velasandbox.kubevela.render)\n"}}
    }
    if prefix == "component":
        wl = meta.get("workload") or "deployments.apps"
        api, k = _WORKLOADS.get(wl, ("apps/v1", "Deployment"))
        spec["workload"] = {"definition": {"apiVersion": api, "kind": k}, "type": wl}
    if prefix == "trait":
        spec["appliesToWorkloads"] = list(meta.get("appliesToWorkloads") or ["*"])
        spec["podDisruptive"] = name not in ("scaler",)
    return {
        "apiVersion": f"{GROUP}/v1beta1",
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": SYSTEM_NAMESPACE,
            "annotations": {
                "definition.oam.dev/description": description,
                SCHEMA_ANNOTATION: json.dumps(published_schema(schema), sort_keys=True),
            },
        },
        "spec": spec,
    }


def install_builtins(store):
    """Create vela-system and the built-in definitions (idempotent; never overwrites)."""
    if not store.namespace_exists(SYSTEM_NAMESPACE):
        store.create(kinds.lookup("", "v1", "namespaces"), {"metadata": {"name": SYSTEM_NAMESPACE}})
    for prefix, names in BUILTINS.items():
        k = kinds.lookup(GROUP, "v1beta1", plural_for(prefix))
        for name in names:
            schema = _read_schema(prefix, name)
            if schema is None or store.try_get(k, SYSTEM_NAMESPACE, name) is not None:
                continue
            store.create(k, builtin_definition(prefix, name, schema))


class DefinitionController(Controller):
    """Publishes a definition's schema ConfigMap. One instance per definition kind."""

    def __init__(self, sandbox: ControllerHost, plural: str):
        super().__init__(sandbox)
        self.primary = (GROUP, plural)
        self.prefix = DEFINITION_KINDS[plural][0]

    async def reconcile(self, namespace: str, name: str) -> None:
        d = self.store.try_get(self.kind, namespace, name)
        cmk = kinds.builtin("", "v1", "configmaps")
        cm_name = f"{self.prefix}-schema-{name}"
        if d is None:
            return  # the ConfigMap is owned by the definition: garbage collection removes it
        md = d["metadata"]
        raw = (md.get("annotations") or {}).get(SCHEMA_ANNOTATION)
        status = copy.deepcopy(d.get("status") or {})
        schema = None
        if raw is not None:
            try:
                schema = json.loads(raw)
                if not isinstance(schema, dict):
                    raise ValueError("not an object")
            except ValueError as e:
                status["conditions"] = [
                    {
                        "type": "Synced",
                        "status": "False",
                        "reason": "ReconcileError",
                        "message": f"Could not store capability in ConfigMap: {e}",
                    }
                ]
                status.pop("configMapRef", None)
        existing = self.store.try_get(cmk, md["namespace"], cm_name)
        if schema is None:
            if existing is not None and any(
                r.get("uid") == md["uid"] for r in existing["metadata"].get("ownerReferences") or []
            ):
                self.store.delete(cmk, md["namespace"], cm_name)
            status.pop("configMapRef", None)
        else:
            self._publish(d, cm_name, schema, existing)
            status["configMapRef"] = cm_name
            status.pop("conditions", None)
        if status != (d.get("status") or {}):
            d["status"] = status
            try:
                self.store.update(self.kind, d, subresource="status")
            except ApiError as e:
                if e.code != 409:
                    raise
                self.requeue(namespace, name, 0.05)

    def _publish(self, d: dict, cm_name: str, schema: dict, existing: dict | None) -> None:
        """Creates or updates the schema ConfigMap the definition owns."""
        md = d["metadata"]
        cmk = kinds.builtin("", "v1", "configmaps")
        labels = dict(md.get("labels") or {})
        labels.update({SCHEMA_LABEL: "schema", NAME_LABEL: md["name"]})
        cm: dict = {
            "metadata": {
                "name": cm_name,
                "namespace": md["namespace"],
                "labels": labels,
                "ownerReferences": [
                    {
                        "apiVersion": d["apiVersion"],
                        "kind": d["kind"],
                        "name": md["name"],
                        "uid": md["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "data": {SCHEMA_KEY: json.dumps(schema, sort_keys=True)},
        }
        if self.prefix == "trait":
            cm["metadata"]["annotations"] = {
                APPLIED_WORKLOADS: ",".join((d.get("spec") or {}).get("appliesToWorkloads") or [])
            }
        if existing is None:
            self.store.create(cmk, cm)
            return
        new = copy.deepcopy(existing)
        new["metadata"]["labels"] = cm["metadata"]["labels"]
        new["metadata"]["ownerReferences"] = cm["metadata"]["ownerReferences"]
        if "annotations" in cm["metadata"]:
            new["metadata"].setdefault("annotations", {}).update(cm["metadata"]["annotations"])
        new["data"] = cm["data"]
        if new != existing:
            self.store.update(cmk, new, require_rv=False)


def definition_kinds() -> list[kinds.Kind]:
    return [
        kinds.Kind(
            group=GROUP,
            version="v1beta1",
            plural=plural,
            kind=kind,
            short_names=short,
            categories=["oam"],
            subresources=["status"],
            builtin=False,
        )
        for plural, (_, kind, short) in DEFINITION_KINDS.items()
    ]
