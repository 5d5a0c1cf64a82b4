"""Definitions and their schema ConfigMaps (reference/kubevela.md sections 2 and 3.1).

KubeVela's definition controllers write the OpenAPI v3 schema of a definition's CUE
``parameter`` block into a ConfigMap ``<type>-schema-<name>`` in the definition's namespace
(key ``openapi-v3-json-schema``; labels ``definition.oam.dev: schema`` and
``definition.oam.dev/name: <name>`` plus the definition's own labels; traits also get the
annotation ``definition.oam.dev/appliedWorkloads``; owner: the definition;
``status.configMapRef`` names it).

The stand-in has no CUE evaluator, so a definition carries its parameter schema as JSON in
the annotation :data:`SCHEMA_ANNOTATION` (a JSON Schema object, what the ConfigMap then
holds). The built-ins the stand-in renders are installed in ``vela-system`` with the
schemas veladev bundles (``schemas/definitions/<kind>/<name>.json``). A definition without
the annotation gets no ConfigMap, which is also what KubeVela does when schema generation
fails.
"""
from __future__ import annotations

import copy
import json

from .. import kinds
from ..controllers import Controller
from ..errors import ApiError

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
    "workflowstep": ["deploy", "suspend", "notification", "step-group", "apply-component",
                     "print-message-in-status"],
}
_WORKLOADS = {"deployments.apps": ("apps/v1", "Deployment"), "jobs.batch": ("batch/v1", "Job")}


def plural_for(prefix: str) -> str:
    return next(p for p, v in DEFINITION_KINDS.items() if v[0] == prefix)


def published_schema(bundled: dict) -> dict:
    """A bundled schema as the ConfigMap holds it (no $schema, no x-vela bookkeeping)."""
    s = copy.deepcopy(bundled)
    s.pop("$schema", None)
    s.pop("x-vela", None)
    return s


def builtin_definition(prefix: str, name: str, definition) -> dict:
    meta = (definition.schema.get("x-vela") or {})
    kind = DEFINITION_KINDS[plural_for(prefix)][1]
    spec: dict = {"schematic": {"cue": {"template": "// rendered natively by velasandbox (veladev.spec.render)\n"}}}
    if prefix == "component":
        wl = meta.get("workload") or "deployments.apps"
        api, k = _WORKLOADS.get(wl, ("apps/v1", "Deployment"))
        spec["workload"] = {"definition": {"apiVersion": api, "kind": k}, "type": wl}
    if prefix == "trait":
        spec["appliesToWorkloads"] = list(meta.get("appliesToWorkloads") or ["*"])
        spec["podDisruptive"] = name not in ("scaler",)
    return {"apiVersion": f"{GROUP}/v1beta1", "kind": kind,
            "metadata": {"name": name, "namespace": SYSTEM_NAMESPACE,
                         "annotations": {"definition.oam.dev/description": definition.description or "",
                                         SCHEMA_ANNOTATION: json.dumps(published_schema(definition.schema),
                                                                       sort_keys=True)}},
            "spec": spec}


def install_builtins(store, catalog):
    """Create vela-system and the built-in definitions (idempotent; never overwrites)."""
    if not store.namespace_exists(SYSTEM_NAMESPACE):
        store.create(kinds.lookup("", "v1", "namespaces"), {"metadata": {"name": SYSTEM_NAMESPACE}})
    for prefix, names in BUILTINS.items():
        k = kinds.lookup(GROUP, "v1beta1", plural_for(prefix))
        for name in names:
            d = catalog.get(prefix, name)
            if d is None or store.try_get(k, SYSTEM_NAMESPACE, name) is not None:
                continue
            store.create(k, builtin_definition(prefix, name, d))


class DefinitionController(Controller):
    """Publishes a definition's schema ConfigMap. One instance per definition kind."""

    def __init__(self, sandbox, plural: str):
        super().__init__(sandbox)
        self.primary = (GROUP, plural)
        self.prefix = DEFINITION_KINDS[plural][0]

    async def reconcile(self, namespace: str, name: str) -> None:
        d = self.store.try_get(self.kind, namespace, name)
        cmk = kinds.lookup("", "v1", "configmaps")
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
                status["conditions"] = [{"type": "Synced", "status": "False", "reason": "ReconcileError",
                                         "message": f"Could not store capability in ConfigMap: {e}"}]
                status.pop("configMapRef", None)
        existing = self.store.try_get(cmk, md["namespace"], cm_name)
        if schema is None:
            if existing is not None and any(r.get("uid") == md["uid"]
                                            for r in existing["metadata"].get("ownerReferences") or []):
                self.store.delete(cmk, md["namespace"], cm_name)
            status.pop("configMapRef", None)
        else:
            labels = dict(md.get("labels") or {})
            labels.update({SCHEMA_LABEL: "schema", NAME_LABEL: name})
            cm = {"metadata": {"name": cm_name, "namespace": md["namespace"], "labels": labels,
                               "ownerReferences": [{"apiVersion": d["apiVersion"], "kind": d["kind"],
                                                    "name": name, "uid": md["uid"], "controller": True,
                                                    "blockOwnerDeletion": True}]},
                  "data": {SCHEMA_KEY: json.dumps(schema, sort_keys=True)}}
            if self.prefix == "trait":
                cm["metadata"]["annotations"] = {
                    APPLIED_WORKLOADS: ",".join((d.get("spec") or {}).get("appliesToWorkloads") or [])}
            if existing is None:
                self.store.create(cmk, cm)
            else:
                new = copy.deepcopy(existing)
                new["metadata"]["labels"] = cm["metadata"]["labels"]
                new["metadata"]["ownerReferences"] = cm["metadata"]["ownerReferences"]
                if "annotations" in cm["metadata"]:
                    new["metadata"].setdefault("annotations", {}).update(cm["metadata"]["annotations"])
                new["data"] = cm["data"]
                if new != existing:
                    self.store.update(cmk, new, require_rv=False)
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


def definition_kinds() -> list[kinds.Kind]:
    return [kinds.Kind(group=GROUP, version="v1beta1", plural=plural, kind=kind, short_names=short,
                       categories=["oam"], subresources=["status"], builtin=False)
            for plural, (_, kind, short) in DEFINITION_KINDS.items()]
