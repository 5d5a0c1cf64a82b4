"""The Application controller of the KubeVela stand-in (after ``kubevela/kubevela``
``pkg/controller/core.oam.dev/v1beta1/application/application_controller.go@v1.10.9``).

Per reconcile of an Application:

1. ``controller.core.oam.dev/pause: "true"`` -> return at once (no workflow, no state-keep).
2. Revision: a new spec hash is a new revision ``<app>-v<N>`` (``status.latestRevision``).
3. Restart check (``CheckWorkflowRestart``): the run's ``appRevision`` is the publishVersion
   annotation when set, else the revision name; a different value starts a new run.
   ``status.workflow == nil`` (restart) also starts one.
4. The workflow engine (:mod:`.workflow`) advances; deploy / apply-component steps place
   components (:mod:`.placement`), render through :mod:`.render` and dispatch through
   :mod:`.apply` into each placement's cluster (:mod:`.targets`: the hub's store or a managed
   cluster's API), recording every manifest with its cluster in the app's ResourceTracker.
5. State-keep: while the run has succeeded or is suspending, every manifest in the
   ResourceTracker is applied again in its cluster (three-way merge reverts drift), except
   what apply-once covers. Requeued every ``resync_period`` seconds (KubeVela's default: 5
   minutes).
6. status: ``status``, ``workflow``, ``services`` (one per component x placement),
   ``appliedResources``, ``latestRevision``, ``observedGeneration``.

The hub is written ``cluster: local`` everywhere (services, appliedResources, ResourceTracker
entries, the ``app.oam.dev/cluster`` label). KubeVela writes what the render context holds:
``local`` for a deploy step's placement on the hub (``pkg/policy/topology.go`` places on
``local``), ``""`` for an apply-component step without ``cluster``. One spelling keeps every
hub entry the same; readers (``vela status`` among them) show ``""`` as ``local`` anyway.

A reconcile that touches only the hub never suspends between reading the Application and
writing its status; one that reaches a managed cluster does, and writes the status only if the
Application did not change meanwhile (else it reconciles again, as controller-runtime does
on a conflict).
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import logging
import os
import time

from .. import kinds
from ..controllers import Controller
from ..errors import ApiError
from ..parts import ControllerHost
from ..store import now_iso
from . import apply as applymod
from .apply import ApplyError
from .definitions import KUBEVELA_WORKFLOW_STEPS
from .placement import LOCAL, Placement, PlacementError, topology_placements
from .render import RENDERED_COMPONENT_TYPES, RENDERED_TRAIT_TYPES, RenderContext, apply_override, render_component
from .targets import ClusterRegistry, ClusterUnreachable, NoSuchCluster
from .workflow import Outcome, Run, StepWait, advance, app_phase, plan, step_id, wf_status

log = logging.getLogger("velasandbox.kubevela")

GROUP = "core.oam.dev"
PAUSE_LABEL = "controller.core.oam.dev/pause"
PUBLISH_VERSION = "app.oam.dev/publishVersion"
DEFAULT_RESYNC = 300.0
CLUSTER_LABEL = "app.oam.dev/cluster"
#: how the workflow reports an error of the deploy step's provider (kubevela/workflow v0.6
#: pkg/tasks/custom/task.go)
DEPLOY_ERROR = "run step(provider=multicluster,do=deploy): "
APPLY_COMPONENT_ERROR = "run step(provider=oam,do=component-apply): "
#: a managed cluster that cannot be reached, or is no longer registered
CLUSTER_ERRORS = (ClusterUnreachable, NoSuchCluster)


class DispatchError(Exception):
    """Placements a step could not dispatch to (the text aggregated as KubeVela does)."""


def aggregate(errors: list[str]) -> str:
    """velaerrors.ErrorList's text (kv:pkg/utils/errors/list.go)."""
    return f"Found {len(errors)} errors. [({'), ('.join(errors)})]"


def in_cluster(cluster: str, error: str) -> str:
    """One placement's dispatch error, as deploy.go and the resource keeper wrap it."""
    return f"error encountered in cluster {cluster}: Dispatch: {aggregate([error])}"


def _resync_default() -> float:
    try:
        return float(os.environ.get("VELASANDBOX_APP_RESYNC_PERIOD", DEFAULT_RESYNC))
    except ValueError:
        return DEFAULT_RESYNC


def K(plural: str, group: str = GROUP, version: str = "v1beta1") -> kinds.Kind:
    return kinds.builtin(group, version, plural)


def spec_hash(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------
# health (the built-in definitions' healthPolicy / customStatus, kv:vela-templates/definitions/internal)


def workload_health(obj: dict | None) -> tuple[bool, str]:
    if obj is None:
        return False, "not found"
    kind = obj.get("kind")
    st = obj.get("status") or {}
    spec = obj.get("spec") or {}
    if kind == "Deployment":
        want = int(spec.get("replicas", 1))
        ready = int(st.get("readyReplicas", 0))
        ok = ready == int(st.get("updatedReplicas", 0)) == int(st.get("replicas", 0)) == want and int(
            st.get("observedGeneration", 0)
        ) >= int(obj["metadata"].get("generation", 1))
        return ok, f"Ready:{ready}/{want}"
    if kind == "Job":
        ok = int(st.get("succeeded", 0)) == int(spec.get("parallelism", 1))
        return ok, ""
    return True, ""


# ---------------------------------------------------------------------------------------
# apply-once (kv:pkg/resourcekeeper/statekeep.go ApplyStrategies, dispatch.go)


def _selector_matches(sel: dict | None, res: dict) -> bool:
    if not sel:
        return True
    labels = res.get("metadata", {}).get("labels") or {}
    facts = {
        "componentNames": labels.get("app.oam.dev/component"),
        "componentTypes": res.get("_componentType"),
        "oamTypes": labels.get("app.oam.dev/resourceType"),
        "traitTypes": labels.get("trait.oam.dev/type"),
        "resourceTypes": res.get("kind"),
        "resourceNames": res.get("metadata", {}).get("name"),
    }
    matched = False
    for key, value in facts.items():
        if key in sel:
            if value not in (sel.get(key) or []):
                return False
            matched = True
    return matched


class ApplyOnce:
    def __init__(self, spec: dict):
        self.enabled = False
        self.rules: list[dict] = []
        for p in spec.get("policies") or []:
            if p.get("type") == "apply-once":
                props = p.get("properties") or {}
                if props.get("enable"):
                    self.enabled = True
                    self.rules += props.get("rules") or []

    @property
    def whole_app(self) -> bool:
        """apply-once with no rules: no state-keep at all."""
        return self.enabled and not self.rules

    def paths(self, res: dict, phase: str) -> list[str]:
        """phase: "onStateKeep" or "onUpdate"."""
        if not self.enabled:
            return []
        out: list[str] = []
        for r in self.rules:
            strat = r.get("strategy") or {}
            affect = strat.get("affect") or "always"
            if affect not in ("always", phase):
                continue
            if _selector_matches(r.get("selector"), res):
                out += strat.get("path") or []
        return out


# ---------------------------------------------------------------------------------------


class ApplicationController(Controller):
    primary = (GROUP, "applications")

    def __init__(self, sandbox: ControllerHost):
        super().__init__(sandbox)
        self.resync_period = _resync_default()
        self.errors: dict[tuple, dict] = {}  # (ns, name) -> step id -> error count
        self._timers: dict[tuple, asyncio.TimerHandle] = {}
        self._due: dict[tuple, float] = {}
        self._polled: set[tuple] = set()
        self._last_keep: dict[tuple, tuple[str, float]] = {}  # app resourceVersion, time
        self._clusters: ClusterRegistry | None = None

    @property
    def clusters(self) -> ClusterRegistry:
        if self._clusters is None:
            self._clusters = ClusterRegistry(self.store)
        return self._clusters

    def wants_update(self, old: dict, new: dict) -> bool:
        """KubeVela's update filter (SetupWithManager in kubevela
        pkg/controller/core.oam.dev/v1beta1/application/application_controller.go): a change of
        the generation or of anything but the workflow's steps, contextBackend, message and
        endTime, appliedResources, services and resourceVersion is reconciled. So a status
        patch that sets a step back to running but leaves `suspend: true` wakes nothing: the
        step resumes only at the next reconcile for another reason (or the resync period)."""
        both_run = bool((old.get("status") or {}).get("workflow") and (new.get("status") or {}).get("workflow"))

        def relevant(app: dict) -> dict:
            app = copy.deepcopy(app)
            md = app.get("metadata") or {}
            md.pop("managedFields", None)
            md.pop("resourceVersion", None)
            st = app.get("status") or {}
            for key in ("appliedResources", "services"):
                st.pop(key, None)
            if both_run:
                for key in ("steps", "contextBackend", "message", "endTime"):
                    st["workflow"].pop(key, None)
            return app

        return relevant(old) != relevant(new)

    async def stop(self):
        for t in self._timers.values():
            t.cancel()
        self._timers.clear()
        if self._clusters is not None:
            await self._clusters.close()

    def schedule(self, ns: str, name: str, after: float, poll: bool = False):
        """One timer per app, the earliest wins (no pile of timers). A `poll` only refreshes
        the status (health); it does not count as a resync for state-keep."""
        loop = asyncio.get_running_loop()
        key = (ns, name)
        due = loop.time() + max(after, 0.0)
        if key in self._timers and self._due.get(key, 0) <= due:
            return
        old = self._timers.pop(key, None)
        if old:
            old.cancel()

        def fire():
            self._timers.pop(key, None)
            self._due.pop(key, None)
            if poll:
                self._polled.add(key)
            self.requeue(ns, name)

        self._timers[key] = loop.call_later(max(after, 0.0), fire)
        self._due[key] = due

    # ------------------------------------------------------------------ reconcile
    async def reconcile(self, namespace: str, name: str) -> None:
        # Between reading the app and writing its status only managed clusters suspend this
        # coroutine (see the module's docstring).
        app = self.store.try_get(self.kind, namespace, name)
        if app is None:
            await self.cleanup(namespace, name)
            return
        if (app["metadata"].get("labels") or {}).get(PAUSE_LABEL) == "true":
            # Left alone, but still visited every resync period (controller-runtime's resync
            # does not know about the label); the event makes each visit observable.
            self.event(app, "ReconcilePaused", f"{PAUSE_LABEL}=true: not reconciled", aggregate=True)
            self.schedule(namespace, name, self.resync_period)
            return
        if app["metadata"].get("deletionTimestamp"):
            return
        await self.reconcile_app(app)

    async def reconcile_app(self, app: dict) -> None:
        md = app["metadata"]
        ns, name = md["namespace"], md["name"]
        spec = app.get("spec") or {}
        status = copy.deepcopy(app.get("status") or {})
        before = copy.deepcopy(status)

        # 2. revision
        rev = self._revision(app, status)
        status["observedGeneration"] = md.get("generation", 1)
        app.setdefault("status", {})["latestRevision"] = rev  # what this reconcile renders with

        # 3. restart check
        publish = (md.get("annotations") or {}).get(PUBLISH_VERSION)
        want_rev = publish or rev["name"]
        wf = status.get("workflow")
        steps, mode_steps, mode_sub = plan(spec)
        vars_ = self._load_vars(ns, name)
        if not wf or wf.get("appRevision") != want_rev:
            wf = {
                "appRevision": want_rev,
                "mode": f"{mode_steps}-{mode_sub}",
                "status": "initializing",
                "suspend": False,
                "terminated": False,
                "finished": False,
                "steps": [],
                "startTime": now_iso(),
                "contextBackend": {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "name": f"workflow-{name}-context",
                    "namespace": ns,
                },
            }
            vars_ = {}
            self.errors.pop((ns, name), None)
            self.event(app, "Deployed", f"workflow {want_rev} started")
        status["workflow"] = wf

        # 4. the workflow
        run = Run(
            status=wf,
            vars=vars_,
            steps=steps,
            mode_steps=mode_steps,
            mode_sub=mode_sub,
            errors=self.errors.setdefault((ns, name), {}),
        )
        run.execute = lambda step, st: self.execute(app, run, step, st)  # a coroutine
        if (spec.get("workflow") or {}).get("ref"):
            wf["status"] = "failed"
            wf["message"] = "velasandbox does not emulate spec.workflow.ref (Workflow objects)"
            wf["finished"] = wf["terminated"] = True
        else:
            await advance(run)
        self._save_vars(app, vars_)

        # 5. state-keep
        await self._keep_state(app, wf)
        if wf.get("finished") and wf.get("status") == "succeeded":
            self.mark_revision(app, rev, wf)

        # 6. status
        services, healthy = await self.services(app)
        status["services"] = services
        status["appliedResources"] = self.applied_resources(ns, name)
        status["status"] = app_phase(wf, healthy)
        if status != before and not self._write_status(app, status, before):
            self.requeue(ns, name)  # changed while a managed cluster answered: start over
            return
        if run.wake_after is not None:
            self.schedule(ns, name, run.wake_after)
        elif wf.get("status") == "succeeded" and not healthy:
            self.schedule(ns, name, 0.5, poll=True)
        self.schedule(ns, name, self.resync_period)

    async def _keep_state(self, app: dict, wf: dict) -> None:
        """State-keep (at most once per resync period when only polled for health), then GC."""
        md = app["metadata"]
        key = (md["namespace"], md["name"])
        polled = key in self._polled
        self._polled.discard(key)
        if wf.get("status") not in ("succeeded", "suspending") or wf.get("terminated"):
            return
        rv, at = self._last_keep.get(key, ("", 0.0))
        now = time.monotonic()
        if not polled or rv != md.get("resourceVersion") or now - at >= self.resync_period:
            await self.state_keep(app)
            self._last_keep[key] = (md.get("resourceVersion", ""), now)
        await self.gc_outdated(app, wf)

    def _write_status(self, app: dict, status: dict, before: dict) -> bool:
        """Write the status, guarded by the resourceVersion read; False when the app changed
        (409) or went away (404) meanwhile."""
        cur = copy.deepcopy(app)
        cur["status"] = status
        try:
            self.store.update(self.kind, cur, subresource="status")
        except ApiError as e:
            if e.code not in (404, 409):
                raise
            return False
        if status.get("status") != before.get("status"):
            self.event(app, "ApplicationPhase", f"phase {status['status']}")
        return True

    # ------------------------------------------------------------------ steps
    async def execute(self, app: dict, run: Run, step: dict, st: dict) -> Outcome:
        stype = step.get("type", "")
        props = step.get("properties") or {}
        spec = app.get("spec") or {}
        if stype == "deploy":
            return await self.step_deploy(app, run, props)
        if stype == "apply-component":
            comp = next((c for c in spec.get("components") or [] if c.get("name") == props.get("component")), None)
            if comp is None:
                raise RuntimeError(f'component "{props.get("component")}" not found')
            where = Placement(props.get("cluster") or LOCAL, props.get("namespace") or app["metadata"]["namespace"])
            try:
                await self.dispatch(app, run, [comp], [where])
            except DispatchError as e:
                raise RuntimeError(f"{APPLY_COMPONENT_ERROR}{e}") from None
            return Outcome("succeeded")
        if stype == "notification":
            return self.step_notification(app, step, props)
        if stype == "print-message-in-status":
            return Outcome("succeeded", str(props.get("message", "")))
        if stype in KUBEVELA_WORKFLOW_STEPS or self._definition("workflowstepdefinitions", app, stype):
            raise RuntimeError(f'velasandbox does not emulate the workflow step type "{stype}"')
        raise RuntimeError(f'WorkflowStepDefinition "{stype}" not found')

    def step_notification(self, app: dict, step: dict, props: dict) -> Outcome:
        kinds_ = [k for k in ("slack", "dingding", "lark", "email") if props.get(k)]
        text = ""
        for k in kinds_:
            m = props[k].get("message") or props[k].get("content") or {}
            text = (m.get("text") or m.get("subject") or m.get("content") or "") if isinstance(m, dict) else str(m)
            if text:
                break
        self.event(
            app,
            "WorkflowNotification",
            f'step "{step.get("name", "")}": notification to {", ".join(kinds_) or "nobody"} '
            f"recorded, not sent" + (f": {text}" if text else ""),
        )
        return Outcome("succeeded")

    def _definition(self, plural: str, app: dict, name: str) -> dict | None:
        for ns in (app["metadata"]["namespace"], "vela-system"):
            d = self.store.try_get(K(plural), ns, name)
            if d is not None:
                return d
        return None

    def _revision(self, app: dict, status: dict) -> dict:
        """The app's latest revision; a new one (recorded) when the spec changed since."""
        h = spec_hash(app.get("spec") or {})
        rev = status.get("latestRevision") or {}
        if rev.get("revisionHash") != h:
            n = int(rev.get("revision", 0)) + 1
            rev = {"name": f"{app['metadata']['name']}-v{n}", "revision": n, "revisionHash": h}
            status["latestRevision"] = rev
            self.record_revision(app, rev)
        return rev

    async def step_deploy(self, app: dict, run: Run, props: dict) -> Outcome:
        """Topology policies place, override policies patch the components (in the step's order
        of policies, kv:pkg/workflow/providers/multicluster/deploy.go), then dispatch."""
        spec = app.get("spec") or {}
        by_name = {p.get("name"): p for p in spec.get("policies") or []}
        comps = copy.deepcopy(spec.get("components") or [])
        policies = []
        for pname in props.get("policies") or []:
            if pname not in by_name:
                raise RuntimeError(f"{DEPLOY_ERROR}policy {pname} not found")
            policies.append(by_name[pname])
        try:
            placements = topology_placements(policies, self.clusters.labels(), app["metadata"]["namespace"])
        except PlacementError as e:
            raise RuntimeError(f"{DEPLOY_ERROR}{e}") from None
        for pol in policies:
            if pol.get("type") == "override":
                if not pol.get("properties"):
                    raise RuntimeError(
                        f"{DEPLOY_ERROR}override policy {pol.get('name')} must not have empty properties"
                    )
                comps = apply_override(comps, pol["properties"])
        try:
            await self.dispatch(app, run, comps, placements)
        except DispatchError as e:
            raise RuntimeError(f"{DEPLOY_ERROR}{e}") from None
        return Outcome("succeeded")

    def render(self, app: dict, comps: list[dict], where: Placement) -> list[dict]:
        """The manifests of the components in one placement, each labelled with its cluster
        unless its template chose one (SetClusterIfEmpty in kv:.../application/generator.go)."""
        md = app["metadata"]
        rev = (app.get("status") or {}).get("latestRevision") or {}
        ctx = RenderContext(
            app=md["name"],
            app_namespace=md["namespace"],
            namespace=where.namespace,
            cluster=where.cluster,
            app_revision=rev.get("name", ""),
            app_labels=dict(md.get("labels") or {}),
            app_annotations=dict(md.get("annotations") or {}),
        )
        out = []
        for comp in comps:
            self._check_renderable(app, comp)
            for obj in render_component(ctx, comp):
                labels = obj["metadata"].setdefault("labels", {})
                labels[CLUSTER_LABEL] = labels.get(CLUSTER_LABEL) or ctx.cluster
                obj["_componentType"] = comp.get("type")
                out.append(obj)
        return out

    def _check_renderable(self, app: dict, comp: dict):
        if comp.get("type") not in RENDERED_COMPONENT_TYPES and self._definition(
            "componentdefinitions", app, comp.get("type", "")
        ):
            raise RuntimeError(
                f'render component "{comp.get("name")}": velasandbox cannot render the '
                f'ComponentDefinition "{comp.get("type")}" (no CUE evaluator)'
            )
        for t in comp.get("traits") or []:
            if t.get("type") not in RENDERED_TRAIT_TYPES and self._definition(
                "traitdefinitions", app, t.get("type", "")
            ):
                raise RuntimeError(
                    f'render trait "{t.get("type")}" of component "{comp.get("name")}": '
                    f'velasandbox cannot render the TraitDefinition "{t.get("type")}" (no CUE evaluator)'
                )

    async def dispatch(self, app: dict, run: Run, comps: list[dict], placements: list[Placement]):
        """Render and apply each component in each placement; raise StepWait until every
        workload is healthy, DispatchError when a cluster refused or could not be reached (the
        other placements go on). A component whose dependsOn are not healthy yet is not applied
        (messages as kv:pkg/workflow/providers/multicluster/deploy.go applyComponents)."""
        healthy: dict[tuple[Placement, str], bool] = {}
        reasons: list[str] = []
        errors: list[str] = []
        pending: list[tuple[Placement, dict]] = [(p, c) for c in comps for p in placements]
        progress = True
        while pending and progress:
            progress = False
            for where, comp in list(pending):
                if not all(healthy.get((where, d)) for d in comp.get("dependsOn") or []):
                    continue
                pending.remove((where, comp))
                progress = True
                try:
                    ok = await self._apply_component(app, run, comp, where)
                except DispatchError as e:
                    errors.append(str(e))
                    ok = False
                healthy[(where, comp["name"])] = ok
                if not ok:
                    reasons.append(f"{where.key(comp['name'])} is not healthy")
        for where, comp in pending:
            reasons.append(f"{where.key(comp['name'])} is waiting dependents")
        if errors:
            raise DispatchError(aggregate(errors))
        if reasons:
            raise StepWait(",".join(reasons))

    async def _apply_component(self, app: dict, run: Run, comp: dict, where: Placement) -> bool:
        md = app["metadata"]
        once = ApplyOnce(app.get("spec") or {})
        ok = True
        for i, m in enumerate(self.render(app, [comp], where)):
            ctype = m.pop("_componentType", "")
            cluster = m["metadata"]["labels"][CLUSTER_LABEL]
            keep = once.paths(dict(m, _componentType=ctype), "onUpdate")
            try:
                target = self.clusters.target(cluster)
                if "*" in keep:
                    live = await target.get(applymod.kind_of(m), m["metadata"].get("namespace"), m["metadata"]["name"])
                    if live is None:
                        live = await applymod.apply(target, m, md["name"], md["namespace"])
                else:
                    live = await applymod.apply(
                        target, m, md["name"], md["namespace"], skip_same_hash=True, keep_paths=keep
                    )
            except CLUSTER_ERRORS as e:
                raise DispatchError(in_cluster(cluster, f"cannot get object: {e}")) from None
            except (ApplyError, ApiError) as e:
                raise DispatchError(in_cluster(cluster, str(e))) from None
            self.track(app, m, ctype, run.status.get("appRevision", ""), cluster, workload=i == 0)
            if i == 0:  # render_component returns the workload first, then what the
                ok = workload_health(live)[0]  # component and its traits output
        return ok

    # ------------------------------------------------------------------ ApplicationRevision
    REVISION_LIMIT = 10  # --application-revision-limit

    def record_revision(self, app: dict, rev: dict):
        """An ApplicationRevision `<app>-v<N>` holding the Application as it was (spec.application)."""
        k = K("applicationrevisions")
        md = app["metadata"]
        snap = {
            "apiVersion": app["apiVersion"],
            "kind": app["kind"],
            "metadata": {x: md[x] for x in ("name", "namespace", "labels", "annotations", "generation") if x in md},
            "spec": copy.deepcopy(app.get("spec") or {}),
        }
        obj = {
            "metadata": {
                "name": rev["name"],
                "namespace": md["namespace"],
                "labels": {"app.oam.dev/name": md["name"], "app.oam.dev/app-revision-hash": rev["revisionHash"]},
                "ownerReferences": [
                    {
                        "apiVersion": app["apiVersion"],
                        "kind": app["kind"],
                        "name": md["name"],
                        "uid": md["uid"],
                        "controller": True,
                    }
                ],
            },
            "spec": {"application": snap},
        }
        pv = (md.get("annotations") or {}).get(PUBLISH_VERSION)
        if pv:
            obj["metadata"]["annotations"] = {PUBLISH_VERSION: pv}
        if self.store.try_get(k, md["namespace"], rev["name"]) is None:
            self.store.create(k, obj)
        revs, _ = self.store.list(k, md["namespace"], f"app.oam.dev/name={md['name']}")

        def number(r):
            tail = r["metadata"]["name"].rsplit("-v", 1)[-1]
            return int(tail) if tail.isdigit() else 0

        revs.sort(key=number)
        for old in revs[: -self.REVISION_LIMIT]:
            self.store.delete(k, md["namespace"], old["metadata"]["name"])

    def mark_revision(self, app: dict, rev: dict, wf: dict):
        k = K("applicationrevisions")
        r = self.store.try_get(k, app["metadata"]["namespace"], rev.get("name", ""))
        if r is None or (r.get("status") or {}).get("succeeded"):
            return
        r["status"] = {"succeeded": True, "workflow": copy.deepcopy(wf)}
        self.store.update(k, r, subresource="status", require_rv=False)

    # ------------------------------------------------------------------ resource tracker
    def rt_name(self, ns: str, name: str) -> str:
        return f"{name}-{ns}"

    def _rt(self, ns: str, name: str) -> dict | None:
        return self.store.try_get(K("resourcetrackers"), None, self.rt_name(ns, name))

    def _managed(self, app: dict) -> list[dict]:
        rt = self._rt(app["metadata"]["namespace"], app["metadata"]["name"])
        return list((rt or {}).get("spec", {}).get("managedResources") or [])

    @staticmethod
    def _entry_key(e: dict) -> tuple:
        """A managed resource's identity (kv: <group>/<kind>/<cluster>/<ns>/<name>)."""
        return (e["apiVersion"], e["kind"], e.get("cluster") or LOCAL, e["namespace"], e["name"])

    def track(self, app: dict, manifest: dict, ctype: str, run_rev: str, cluster: str, workload: bool = False):
        md = app["metadata"]
        rtk = K("resourcetrackers")
        rt = self._rt(md["namespace"], md["name"])
        if rt is None:
            rt = self.store.create(
                rtk,
                {
                    "metadata": {
                        "name": self.rt_name(md["namespace"], md["name"]),
                        "labels": {"app.oam.dev/name": md["name"], "app.oam.dev/namespace": md["namespace"]},
                    },
                    "spec": {"type": "root", "managedResources": []},
                },
            )
        entries = rt["spec"].setdefault("managedResources", [])
        mmd = manifest["metadata"]
        labels = mmd.get("labels") or {}
        entry = {
            "apiVersion": manifest["apiVersion"],
            "kind": manifest["kind"],
            "cluster": cluster,
            "namespace": mmd.get("namespace", ""),
            "name": mmd["name"],
            "creator": "workflow",
            "component": labels.get("app.oam.dev/component", ""),
            "componentType": ctype,
            "trait": labels.get("trait.oam.dev/type", ""),
            "workload": workload,
            "workflowRun": run_rev,
            "raw": manifest,
        }
        for i, e in enumerate(entries):
            if self._entry_key(e) == self._entry_key(entry):
                if e != entry:
                    entries[i] = entry
                    self.store.update(rtk, rt, require_rv=False)
                return
        entries.append(entry)
        self.store.update(rtk, rt, require_rv=False)

    async def state_keep(self, app: dict):
        """Re-apply every dispatched manifest in its cluster (no render-hash short-cut), as
        kv:pkg/resourcekeeper/statekeep.go."""
        md = app["metadata"]
        once = ApplyOnce(app.get("spec") or {})
        # One aggregated event per application counts the state-keep passes (tests observe
        # that a pass ran before they check that drift survived it).
        if once.whole_app:
            self.event(app, "StateKeep", "apply-once covers the whole application: nothing re-applied", aggregate=True)
            return
        self.event(app, "StateKeep", "re-applied the dispatched resources", aggregate=True)
        for e in self._managed(app):
            m = e.get("raw")
            if not m:
                continue
            keep = once.paths(dict(m, _componentType=e.get("componentType")), "onStateKeep")
            if "*" in keep:
                continue
            cluster = e.get("cluster") or LOCAL
            try:
                target = self.clusters.target(cluster)
                await applymod.apply(target, m, md["name"], md["namespace"], keep_paths=keep, create_missing=not keep)
            except (ApplyError, ApiError, *CLUSTER_ERRORS) as ex:
                self.event(app, "StateKeepFailed", f"cluster {cluster}: {ex}", "Warning")

    async def gc_outdated(self, app: dict, wf: dict):
        """After a run succeeds, delete what it no longer dispatches (garbage-collect); what sits
        in an unreachable cluster stays tracked and is collected on a later pass."""
        if wf.get("status") != "succeeded":
            return
        md = app["metadata"]
        entries = self._managed(app)
        outdated = [e for e in entries if e.get("workflowRun") != wf.get("appRevision")]
        if not outdated:
            return
        gone = [self._entry_key(e) for e in outdated if await self._delete_resource(e, md["namespace"], md["name"])]
        if not gone:
            return
        rt = self._rt(md["namespace"], md["name"])  # read again: a managed cluster may have answered slowly
        if rt is None:
            return
        rt["spec"]["managedResources"] = [
            e for e in rt["spec"].get("managedResources") or [] if self._entry_key(e) not in gone
        ]
        self.store.update(K("resourcetrackers"), rt, require_rv=False)

    async def _delete_resource(self, e: dict, app_ns: str, app: str) -> bool:
        """Delete one tracked resource if this app still owns it; False when its cluster did not answer."""
        k = kinds.by_kind(e["apiVersion"], e["kind"])
        if k is None:
            return True
        ns = e.get("namespace") or None
        try:
            target = self.clusters.target(e.get("cluster") or LOCAL)
            live = await target.get(k, ns, e["name"])
            labels = (live or {}).get("metadata", {}).get("labels") or {}
            if live is not None and (labels.get(applymod.APP_NAME), labels.get(applymod.APP_NAMESPACE)) == (
                app,
                app_ns,
            ):
                await target.delete(k, ns, e["name"])
        except NoSuchCluster:
            return True  # detached: nothing left to reach (vela cluster detach drops it too)
        except (ClusterUnreachable, ApiError) as ex:
            log.info("cannot delete %s %s/%s in cluster %s: %s", e["kind"], ns, e["name"], e.get("cluster"), ex)
            return False
        return True

    async def cleanup(self, ns: str, name: str):
        """The Application is gone: delete what it deployed in every cluster that answers (its
        ResourceTracker lists it)."""
        t = self._timers.pop((ns, name), None)
        if t:
            t.cancel()
        self.errors.pop((ns, name), None)
        self._last_keep.pop((ns, name), None)
        self._polled.discard((ns, name))
        rt = self._rt(ns, name)
        if rt is None:
            return
        for e in rt["spec"].get("managedResources") or []:
            await self._delete_resource(e, ns, name)
        try:
            self.store.delete(K("resourcetrackers"), None, rt["metadata"]["name"])
        except ApiError:
            pass

    # ------------------------------------------------------------------ status
    async def services(self, app: dict) -> tuple[list[dict], bool]:
        """One entry per component x placement, with the health of its workload read back from
        the workload's cluster (an unreachable cluster makes it unhealthy, with the reason)."""
        out = []
        healthy = True
        components = (app.get("spec") or {}).get("components") or []
        for e in self._managed(app):
            if not e.get("workload"):
                continue
            ok, msg = await self._workload_health(e)
            healthy = healthy and ok
            comp: dict = next((c for c in components if c.get("name") == e.get("component")), {})
            svc = {
                "name": e.get("component", ""),
                "namespace": e["namespace"],
                "cluster": e.get("cluster") or LOCAL,
                "env": "",
                "workloadDefinition": {"apiVersion": e["apiVersion"], "kind": e["kind"]},
                "healthy": ok,
            }
            if msg:
                svc["message"] = msg
            traits = [{"type": t.get("type"), "healthy": True} for t in comp.get("traits") or []]
            if traits:
                svc["traits"] = traits
            out.append(svc)
        return out, healthy

    async def _workload_health(self, e: dict) -> tuple[bool, str]:
        k = kinds.by_kind(e["apiVersion"], e["kind"])
        if k is None:
            return workload_health(None)
        cluster = e.get("cluster") or LOCAL
        try:
            live = await self.clusters.target(cluster).get(k, e["namespace"] or None, e["name"])
        except (ApiError, *CLUSTER_ERRORS) as ex:
            return False, f"error encountered in cluster {cluster}: {ex}"
        return workload_health(live)

    def applied_resources(self, ns: str, name: str) -> list[dict]:
        rt = self._rt(ns, name)
        return [
            {
                "cluster": e.get("cluster") or LOCAL,
                "creator": e.get("creator", "workflow"),
                "apiVersion": e["apiVersion"],
                "kind": e["kind"],
                "namespace": e["namespace"],
                "name": e["name"],
            }
            for e in (rt or {}).get("spec", {}).get("managedResources") or []
        ]

    # ------------------------------------------------------------------ context ConfigMap
    def _load_vars(self, ns: str, name: str) -> dict:
        cm = self.store.try_get(kinds.lookup("", "v1", "configmaps"), ns, f"workflow-{name}-context")
        try:
            return json.loads(((cm or {}).get("data") or {}).get("vars") or "{}")
        except ValueError:
            return {}

    def _save_vars(self, app: dict, vars_: dict):
        md = app["metadata"]
        cmk = kinds.lookup("", "v1", "configmaps")
        cname = f"workflow-{md['name']}-context"
        data = {"vars": json.dumps(vars_, sort_keys=True)}
        cm = self.store.try_get(cmk, md["namespace"], cname)
        if cm is None:
            if not vars_:
                return
            self.store.create(
                cmk,
                {
                    "metadata": {
                        "name": cname,
                        "namespace": md["namespace"],
                        "labels": {"app.oam.dev/name": md["name"]},
                        "ownerReferences": [
                            {
                                "apiVersion": app["apiVersion"],
                                "kind": app["kind"],
                                "name": md["name"],
                                "uid": md["uid"],
                                "controller": True,
                            }
                        ],
                    },
                    "data": data,
                },
            )
        elif cm.get("data") != data:
            cm["data"] = data
            self.store.update(cmk, cm, require_rv=False)


__all__ = ["ApplicationController", "workload_health", "step_id", "wf_status", "StepWait"]
