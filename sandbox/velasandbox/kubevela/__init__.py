"""The KubeVela half of the sandbox: ``core.oam.dev/v1beta1`` Applications and definitions,
the Application controller (workflow, dispatch, state-keep), schema ConfigMaps, and the
VelaUX stand-in (:mod:`velasandbox.velaux`). It follows KubeVela v1.10.9's sources
(``kubevela/kubevela``: ``apis/core.oam.dev/v1beta1``, ``pkg/controller/core.oam.dev/v1beta1/
application``, ``vela-templates/definitions/internal``) and the workflow engine it pins
(``kubevela/workflow``); ``sandbox/README.md`` lists what it emulates.

``install(sandbox)`` is called once by :class:`velasandbox.sandbox.Sandbox` on start-up;
afterwards ``sandbox.kubevela`` is the :class:`ApplicationController` (set
``.resync_period`` to change the state-keep interval; default 300 s, or the environment
variable ``VELASANDBOX_APP_RESYNC_PERIOD``) and ``sandbox.velaux`` the VelaUX server.
"""

from __future__ import annotations

from .. import kinds
from .definitions import DEFINITION_KINDS, DefinitionController, definition_kinds, install_builtins

GROUP = "core.oam.dev"


def _app_defaults(obj: dict):
    obj.setdefault("spec", {})


def _app_validate(obj: dict) -> list[dict]:
    """The CRD's required fields and the webhook's name checks
    (kv:pkg/webhook/core.oam.dev/v1beta1/application/validation.go)."""
    spec = obj.get("spec") or {}
    causes = []
    if spec.get("components") is None:
        causes.append(_required("spec.components"))
    causes += _component_causes(spec.get("components") or [])
    for i, p in enumerate(spec.get("policies") or []):
        if not isinstance(p, dict) or not p.get("type"):
            causes.append(_required(f"spec.policies[{i}].type"))
    causes += _workflow_causes(spec.get("workflow") or {})
    ann = (obj.get("metadata") or {}).get("annotations") or {}
    if ann.get("app.oam.dev/autoUpdate") == "true" and ann.get("app.oam.dev/publishVersion"):
        causes.append(_invalid("autoUpdate and publishVersion cannot be used at the same time", "metadata.annotations"))
    return causes


def _required(field: str) -> dict:
    return {"reason": "FieldValueRequired", "message": "Required value", "field": field}


def _invalid(message: str, field: str) -> dict:
    return {"reason": "FieldValueInvalid", "message": message, "field": field}


def _component_causes(comps: list) -> list[dict]:
    causes = []
    names = set()
    for i, c in enumerate(comps):
        for f in ("name", "type"):
            if not isinstance(c, dict) or not c.get(f):
                causes.append(_required(f"spec.components[{i}].{f}"))
        if not isinstance(c, dict):
            continue
        if c.get("name") in names:
            causes.append(_invalid("duplicated component name", f"spec.components[{i}].name"))
        names.add(c.get("name"))
        for j, t in enumerate(c.get("traits") or []):
            if not isinstance(t, dict) or not t.get("type"):
                causes.append(_required(f"spec.components[{i}].traits[{j}].type"))
    return causes


def _workflow_causes(wf: dict) -> list[dict]:
    causes = []
    if wf.get("ref") and wf.get("steps"):
        causes.append(_invalid("cannot set steps and ref in workflow at the same time", "spec.workflow"))
    seen = set()
    for i, s in enumerate(wf.get("steps") or []):
        for sub in [s] + list((s or {}).get("subSteps") or []):
            if not isinstance(sub, dict) or not sub.get("type"):
                causes.append(_required(f"spec.workflow.steps[{i}].type"))
                continue
            if sub.get("name"):
                if sub["name"] in seen:
                    causes.append(_invalid("duplicated step name", f"spec.workflow.steps[{i}].name"))
                seen.add(sub["name"])
    return causes


def register_kinds():
    kinds.register_kind(
        kinds.Kind(
            group=GROUP,
            version="v1beta1",
            plural="applications",
            kind="Application",
            short_names=["app", "velaapp"],
            categories=["oam"],
            subresources=["status"],
            builtin=False,
            defaults=_app_defaults,
            validate=_app_validate,
        )
    )
    for k in definition_kinds():
        kinds.register_kind(k)
    kinds.register_kind(
        kinds.Kind(
            group=GROUP,
            version="v1beta1",
            plural="applicationrevisions",
            kind="ApplicationRevision",
            short_names=["apprev"],
            categories=["oam"],
            subresources=["status"],
            builtin=False,
        )
    )
    kinds.register_kind(
        kinds.Kind(
            group=GROUP,
            version="v1beta1",
            plural="resourcetrackers",
            kind="ResourceTracker",
            namespaced=False,
            short_names=["rt"],
            categories=["oam"],
            builtin=False,
        )
    )


def _app_row(o: dict, age: str) -> list:
    """The CRD's printer columns (kv:charts/vela-core/crds/core.oam.dev_applications.yaml): the first value of each JSONPath, as kubectl."""
    spec, st = o.get("spec") or {}, o.get("status") or {}
    comps = spec.get("components") or [{}]
    svcs = st.get("services") or [{}]
    healthy = svcs[0].get("healthy")
    return [
        o["metadata"]["name"],
        comps[0].get("name", ""),
        comps[0].get("type", ""),
        st.get("status", ""),
        "" if healthy is None else str(healthy).lower(),
        svcs[0].get("message", ""),
        age,
    ]


def register_printers():
    from .. import tables

    col = tables._col
    tables._COLS["Application"] = [
        col("Name", fmt="name"),
        col("Component"),
        col("Type"),
        col("Phase"),
        col("Healthy"),
        col("Status"),
        col("Age"),
    ]
    tables.ROWS["Application"] = _app_row


register_kinds()
register_printers()


async def install(sandbox, velaux_port: int = 0):
    """Install the built-in definitions, add the controllers and start VelaUX."""
    from ..velaux import VelaUX
    from .controller import ApplicationController

    install_builtins(sandbox.store)
    for plural in DEFINITION_KINDS:
        sandbox.controllers.add(DefinitionController(sandbox, plural))
    sandbox.kubevela = ApplicationController(sandbox)
    sandbox.controllers.add(sandbox.kubevela)
    sandbox.velaux = VelaUX(sandbox, port=velaux_port)
    await sandbox.velaux.start()


async def uninstall(sandbox):
    vx = getattr(sandbox, "velaux", None)
    if vx is not None:
        await vx.stop()
