"""Controllers: the reconcile-loop extension point plus the built-in controllers
(garbage collection, namespaces, Deployments, StatefulSets, DaemonSets, Jobs, Services).

Extension point (used by the KubeVela half)::

    from velasandbox.controllers import Controller

    class ApplicationController(Controller):
        primary = ("core.oam.dev", "applications")     # (group, plural) of the kind it owns
        owns = [("apps", "deployments")]               # events on these enqueue their owner
        async def reconcile(self, namespace, name):
            app = self.store.try_get(self.kind, namespace, name)
            ...                                        # read/write through self.store
            self.requeue(namespace, name, after=1.0)   # optional periodic resync

    sandbox.controllers.add(ApplicationController(sandbox))

Reconciles run on the sandbox event loop, one at a time per controller, deduplicated per
object; an exception is logged and the object is retried with backoff.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import logging

from . import kinds
from .errors import ApiError
from .parts import ControllerHost
from .store import Event, now_iso, rand_suffix

log = logging.getLogger("velasandbox.controllers")


def K(group: str, plural: str) -> kinds.Kind:
    for k in kinds.all_kinds():
        if k.group == group and k.plural == plural:
            return k
    raise KeyError((group, plural))


class Controller:
    primary: tuple[str, str] = ("", "")
    owns: list[tuple[str, str]] = []
    # extra kinds whose events should trigger a resync of *all* primaries in the namespace
    resync_on: list[tuple[str, str]] = []

    def __init__(self, host: ControllerHost):
        self.sb = host
        self.manager: ControllerManager | None = None

    @property
    def store(self):
        return self.sb.store

    @property
    def kind(self) -> kinds.Kind:
        return K(*self.primary)

    async def reconcile(self, namespace: str, name: str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def wants_update(self, old: dict, new: dict) -> bool:
        """Whether an update of a primary object is reconciled (controller-runtime's
        UpdateFunc predicate); creations and deletions always are."""
        return True

    def requeue(self, namespace: str, name: str, after: float = 0.0):
        assert self.manager is not None, "requeued before the manager started this controller"
        self.manager.enqueue(self, namespace, name, after)

    def event(self, obj: dict, reason: str, message: str, type_: str = "Normal", aggregate: bool = False):
        self.sb.record_event(obj, reason, message, type_, component=type(self).__name__, aggregate=aggregate)

    async def start(self):
        pass

    async def stop(self):
        pass


class ControllerManager:
    def __init__(self, host: ControllerHost):
        self.sb = host
        self.controllers: list[Controller] = []
        self.queues: dict[Controller, asyncio.Queue] = {}
        self.pending: dict[Controller, set] = {}
        self.tasks: list[asyncio.Task] = []
        self.timers: set[asyncio.TimerHandle] = set()
        self.running = False

    def add(self, ctrl: Controller):
        ctrl.manager = self
        self.controllers.append(ctrl)
        self.queues[ctrl] = asyncio.Queue()
        self.pending[ctrl] = set()
        if self.running:
            self._start_ctrl(ctrl)

    def _start_ctrl(self, ctrl):
        self.tasks.append(asyncio.get_running_loop().create_task(self._worker(ctrl)))
        asyncio.get_running_loop().create_task(ctrl.start())
        # initial sync of everything that exists
        try:
            for obj in self.sb.store.iter_raw(ctrl.kind):
                md = obj["metadata"]
                self.enqueue(ctrl, md.get("namespace", ""), md["name"])
        except KeyError:
            pass

    async def start(self):
        self.running = True
        self.sb.store.listeners.append(self.on_event)
        for c in self.controllers:
            self._start_ctrl(c)

    async def stop(self):
        self.running = False
        if self.on_event in self.sb.store.listeners:
            self.sb.store.listeners.remove(self.on_event)
        for h in self.timers:
            h.cancel()
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:  # noqa: BLE001 - a worker's bug is logged, and must not stop the others stopping
                log.exception("controller worker failed while stopping")
        self.tasks.clear()
        for c in self.controllers:
            await c.stop()

    def enqueue(self, ctrl: Controller, namespace: str, name: str, after: float = 0.0):
        if not self.running:
            return
        if after > 0:
            loop = asyncio.get_running_loop()
            h = None

            def fire():
                self.timers.discard(h)
                self.enqueue(ctrl, namespace, name)

            h = loop.call_later(after, fire)
            self.timers.add(h)
            return
        key = (namespace or "", name)
        if key in self.pending[ctrl]:
            return
        self.pending[ctrl].add(key)
        self.queues[ctrl].put_nowait(key)

    def on_event(self, ev: Event):
        md = ev.obj.get("metadata", {})
        for c in self.controllers:
            if ev.key == c.primary and (ev.type != "MODIFIED" or ev.old is None or c.wants_update(ev.old, ev.obj)):
                self.enqueue(c, md.get("namespace", ""), md.get("name"))
            if ev.key in c.owns:
                for ref in md.get("ownerReferences") or []:
                    if ref.get("kind") == c.kind.kind:
                        self.enqueue(c, md.get("namespace", ""), ref.get("name"))
            if ev.key in c.resync_on:
                for obj in self.sb.store.iter_raw(c.kind):
                    omd = obj["metadata"]
                    if omd.get("namespace", "") == md.get("namespace", ""):
                        self.enqueue(c, omd.get("namespace", ""), omd["name"])

    async def _worker(self, ctrl: Controller):
        q = self.queues[ctrl]
        failures: dict[tuple[str, str], int] = {}
        while True:
            key = await q.get()
            ns, name = key
            self.pending[ctrl].discard(key)
            try:
                await ctrl.reconcile(ns, name)
                failures.pop(key, None)
            except asyncio.CancelledError:
                raise
            except ApiError as e:
                if e.code not in (404, 409):
                    log.warning("%s reconcile %s: %s", type(ctrl).__name__, key, e)
                n = failures[key] = failures.get(key, 0) + 1
                self.enqueue(ctrl, ns, name, after=min(0.05 * 2**n, 2.0))
            except Exception:  # noqa: BLE001 - a controller bug is logged and retried with back-off, as controller-runtime does
                log.exception("%s reconcile %s failed", type(ctrl).__name__, key)
                n = failures[key] = failures.get(key, 0) + 1
                self.enqueue(ctrl, ns, name, after=min(0.1 * 2**n, 5.0))


# ---------------------------------------------------------------------------------------
# garbage collection and namespaces


class GarbageCollector:
    """Deletes dependents (ownerReferences) of deleted objects, unless orphaned."""

    def __init__(self, host: ControllerHost):
        self.sb = host
        self.orphans: set[str] = set()

    def orphan(self, uid: str):
        self.orphans.add(uid)

    def attach(self):
        self.sb.store.listeners.append(self.on_event)

    def on_event(self, ev: Event):
        if ev.type != "DELETED":
            return
        uid = ev.obj["metadata"].get("uid")
        if not uid:
            return
        orphan = uid in self.orphans
        self.orphans.discard(uid)
        asyncio.get_running_loop().call_soon(self._collect, uid, orphan)

    def _collect(self, uid: str, orphan: bool):
        store = self.sb.store
        for k in kinds.all_kinds():
            for obj in list(store.iter_raw(k)):
                refs = obj["metadata"].get("ownerReferences") or []
                if not any(r.get("uid") == uid for r in refs):
                    continue
                md = obj["metadata"]
                try:
                    if orphan:
                        new = copy.deepcopy(obj)
                        new["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid]
                        store.update(k, new, require_rv=False)
                    else:
                        store.delete(k, md.get("namespace"), md["name"])
                except ApiError:
                    pass


class NamespaceController(Controller):
    primary = ("", "namespaces")

    async def reconcile(self, namespace, name):
        ns = self.store.try_get(self.kind, None, name)
        if ns is None:
            return
        if not ns["metadata"].get("deletionTimestamp"):
            self._activate(ns, name)
            return
        if ns.get("status", {}).get("phase") != "Terminating":
            ns["status"] = {"phase": "Terminating"}
            self.store.update(self.kind, ns, subresource="status", require_rv=False)
        if self._delete_contents(name):
            self.requeue("", name, after=0.2)
            return
        ns = self.store.get(self.kind, None, name)
        ns.setdefault("spec", {})["finalizers"] = []
        ns["metadata"]["finalizers"] = []
        self.store.update(self.kind, ns, require_rv=False)
        self.store.remove_now(self.kind, None, name)

    def _activate(self, ns: dict, name: str) -> None:
        """A live namespace: phase Active, and its `default` ServiceAccount."""
        if ns.get("status", {}).get("phase") != "Active":
            ns["status"] = {"phase": "Active"}
            self.store.update(self.kind, ns, subresource="status", require_rv=False)
        sa = K("", "serviceaccounts")
        if self.store.try_get(sa, name, "default") is None:
            self.store.create(sa, {"metadata": {"name": "default", "namespace": name}})

    def _delete_contents(self, name: str) -> int:
        """Deletes what the namespace still holds; how many objects are left in it."""
        remaining = 0
        for k in kinds.all_kinds():
            if not k.namespaced:
                continue
            for obj in list(self.store.iter_raw(k)):
                if obj["metadata"].get("namespace") != name:
                    continue
                remaining += 1
                if not obj["metadata"].get("deletionTimestamp"):
                    try:
                        self.store.delete(k, name, obj["metadata"]["name"])
                    except ApiError:
                        pass
        return remaining


def namespace_defaults(obj):
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]


kinds.builtin("", "v1", "namespaces").defaults = namespace_defaults


# ---------------------------------------------------------------------------------------
# workload helpers


def template_hash(template: dict) -> str:
    data = json.dumps(template, sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()[:10]


def owner_ref(obj: dict) -> dict:
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned_pods(store, owner: dict) -> list[dict]:
    pods = K("", "pods")
    uid = owner["metadata"]["uid"]
    ns = owner["metadata"]["namespace"]
    out = []
    for p in store.iter_raw(pods):
        if p["metadata"].get("namespace") != ns:
            continue
        if any(r.get("uid") == uid and r.get("controller") for r in p["metadata"].get("ownerReferences") or []):
            out.append(copy.deepcopy(p))
    return out


def pod_ready(p: dict) -> bool:
    for c in p.get("status", {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def pod_active(p: dict) -> bool:
    return not p["metadata"].get("deletionTimestamp") and p.get("status", {}).get("phase") not in (
        "Succeeded",
        "Failed",
    )


def new_pod_from_template(owner: dict, template: dict, name: str, extra_labels: dict) -> dict:
    t = copy.deepcopy(template)
    md = t.get("metadata") or {}
    labels = dict(md.get("labels") or {})
    labels.update(extra_labels)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": owner["metadata"]["namespace"],
            "labels": labels,
            "annotations": dict(md.get("annotations") or {}),
            "ownerReferences": [owner_ref(owner)],
        },
        "spec": t.get("spec") or {},
    }
    return pod


def set_condition(conds: list, type_: str, status: str, reason: str = "", message: str = ""):
    now = now_iso()
    for c in conds:
        if c["type"] == type_:
            if c.get("status") != status:
                c["lastTransitionTime"] = now
            c.update(status=status, reason=reason, message=message, lastUpdateTime=now)
            return conds
    conds.append(
        {
            "type": type_,
            "status": status,
            "reason": reason,
            "message": message,
            "lastTransitionTime": now,
            "lastUpdateTime": now,
        }
    )
    return conds


def _int_or_percent(v, total: int, round_up: bool) -> int:
    if v is None:
        return 0
    if isinstance(v, str) and v.endswith("%"):
        import math

        x = total * int(v[:-1]) / 100.0
        return math.ceil(x) if round_up else math.floor(x)
    return int(v)


class DeploymentController(Controller):
    """Deployment -> pods (no ReplicaSet objects): pod-template-hash label, Recreate and
    RollingUpdate (maxSurge / maxUnavailable), status counts and conditions."""

    primary = ("apps", "deployments")
    owns = [("", "pods")]

    async def reconcile(self, namespace, name):
        store = self.store
        d = store.try_get(self.kind, namespace, name)
        if d is None or d["metadata"].get("deletionTimestamp"):
            return
        spec = d.get("spec", {})
        replicas = int(spec.get("replicas", 1))
        h = template_hash(spec.get("template", {}))
        pods = [p for p in owned_pods(store, d) if not p["metadata"].get("deletionTimestamp")]
        # pods that ended (e.g. restartPolicy Never) are replaced
        for p in pods:
            if p.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                store.delete(K("", "pods"), namespace, p["metadata"]["name"])
        pods = [p for p in pods if pod_active(p)]
        new = [p for p in pods if p["metadata"].get("labels", {}).get("pod-template-hash") == h]
        old = [p for p in pods if p not in new]
        terminating = [p for p in owned_pods(store, d) if p["metadata"].get("deletionTimestamp")]
        strategy = (spec.get("strategy") or {}).get("type", "RollingUpdate")
        paused = bool(spec.get("paused"))

        def create_pod():
            pod = new_pod_from_template(
                d, spec.get("template", {}), f"{name}-{h}-{rand_suffix()}", {"pod-template-hash": h}
            )
            store.create(K("", "pods"), pod)

        def delete_pod(p, why):
            store.delete(K("", "pods"), namespace, p["metadata"]["name"])

        if not paused and strategy == "Recreate":
            self._recreate(d, h, new, old, terminating, replicas, create_pod, delete_pod)
        elif not paused:
            self._rolling_update(d, new, old, replicas, create_pod, delete_pod)
        self._write_status(d, h, replicas)

    def _recreate(self, d, h, new, old, terminating, replicas, create_pod, delete_pod):
        """Recreate: all old pods go first; the new ones start once none of the old is left."""
        if old:
            for p in old:
                delete_pod(p, "recreate")
            self.event(d, "ScalingReplicaSet", f"Scaled down old pods of {d['metadata']['name']} to 0")
        elif not terminating or all(t["metadata"].get("labels", {}).get("pod-template-hash") == h for t in terminating):
            self._scale_new(d, new, replicas, create_pod, delete_pod)

    def _rolling_update(self, d, new, old, replicas, create_pod, delete_pod):
        """RollingUpdate: new pods within maxSurge, old ones removed while maxUnavailable allows."""
        ru = (d.get("spec", {}).get("strategy") or {}).get("rollingUpdate") or {}
        surge = _int_or_percent(ru.get("maxSurge", "25%"), replicas, True)
        unavail = _int_or_percent(ru.get("maxUnavailable", "25%"), replicas, False)
        if surge == 0 and unavail == 0:
            unavail = 1
        if not old:
            self._scale_new(d, new, replicas, create_pod, delete_pod)
            return
        total = len(new) + len(old)
        # scale up new within the surge budget
        can_add = max(0, min(replicas + surge - total, replicas - len(new)))
        for _ in range(can_add):
            create_pod()
        # scale down old while keeping replicas - maxUnavailable ready
        ready = sum(1 for p in new + old if pod_ready(p))
        removable = ready - (replicas - unavail)
        # old pods that are not ready can always go
        for p in sorted(old, key=pod_ready):
            if not pod_ready(p):
                delete_pod(p, "unready old")
            elif removable > 0:
                delete_pod(p, "rolling")
                removable -= 1
        if len(new) > replicas:
            self._scale_new(d, new, replicas, create_pod, delete_pod)

    def _write_status(self, d, h, replicas):
        """Counts and conditions from the pods as they are now; written only when they changed."""
        store = self.store
        namespace, name = d["metadata"].get("namespace", ""), d["metadata"]["name"]
        pods = [p for p in owned_pods(store, d) if pod_active(p)]
        newp = [p for p in pods if p["metadata"].get("labels", {}).get("pod-template-hash") == h]
        ready = sum(1 for p in pods if pod_ready(p))
        st = copy.deepcopy(d.get("status") or {})
        st.update(
            {
                "observedGeneration": d["metadata"].get("generation", 1),
                "replicas": len(pods),
                "updatedReplicas": len(newp),
                "readyReplicas": ready,
                "availableReplicas": ready,
            }
        )
        unavailable = max(0, replicas - ready)
        if unavailable:
            st["unavailableReplicas"] = unavailable
        else:
            st.pop("unavailableReplicas", None)
        for k in ("readyReplicas", "availableReplicas", "updatedReplicas", "replicas"):
            if st.get(k) == 0:
                st.pop(k)
        conds = st.setdefault("conditions", [])
        if ready >= replicas:
            set_condition(
                conds, "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."
            )
        else:
            set_condition(
                conds,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        done = len(newp) == replicas and len(pods) == replicas and ready >= replicas
        set_condition(
            conds,
            "Progressing",
            "True",
            "NewReplicaSetAvailable" if done else "ReplicaSetUpdated",
            f'ReplicaSet "{name}-{h}" has successfully progressed.'
            if done
            else f'ReplicaSet "{name}-{h}" is progressing.',
        )
        if st != (d.get("status") or {}):
            cur = store.get(self.kind, namespace, name)
            cur["status"] = st
            store.update(self.kind, cur, subresource="status", require_rv=False)

    def _scale_new(self, d, new, replicas, create_pod, delete_pod):
        if len(new) < replicas:
            for _ in range(replicas - len(new)):
                create_pod()
            self.event(d, "ScalingReplicaSet", f"Scaled up {d['metadata']['name']} to {replicas}")
        elif len(new) > replicas:
            extra = sorted(new, key=lambda p: (pod_ready(p), p["metadata"]["creationTimestamp"]))
            for p in extra[: len(new) - replicas]:
                delete_pod(p, "scale down")
            self.event(d, "ScalingReplicaSet", f"Scaled down {d['metadata']['name']} to {replicas}")


class StatefulSetController(Controller):
    """StatefulSet -> pods name-0..N-1; pods with an outdated template are replaced one at a time."""

    primary = ("apps", "statefulsets")
    owns = [("", "pods")]

    async def reconcile(self, namespace, name):
        store = self.store
        s = store.try_get(self.kind, namespace, name)
        if s is None or s["metadata"].get("deletionTimestamp"):
            return
        spec = s.get("spec", {})
        replicas = int(spec.get("replicas", 1))
        rev = f"{name}-{template_hash(spec.get('template', {}))}"
        pods = {p["metadata"]["name"]: p for p in owned_pods(store, s)}
        busy = self._start_next(s, pods, replicas, rev)
        if not busy:
            for i in reversed(range(replicas)):
                p = pods.get(f"{name}-{i}")
                if p and p["metadata"].get("labels", {}).get("controller-revision-hash") != rev:
                    store.delete(K("", "pods"), namespace, p["metadata"]["name"])
                    break
        for pn, p in pods.items():
            try:
                idx = int(pn.rsplit("-", 1)[1])
            except ValueError:
                continue
            if idx >= replicas and not p["metadata"].get("deletionTimestamp"):
                store.delete(K("", "pods"), namespace, pn)
        live = [p for p in owned_pods(store, s) if pod_active(p)]
        ready = sum(1 for p in live if pod_ready(p))
        updated = sum(1 for p in live if p["metadata"].get("labels", {}).get("controller-revision-hash") == rev)
        st = {
            "observedGeneration": s["metadata"].get("generation", 1),
            "replicas": len(live),
            "readyReplicas": ready,
            "currentReplicas": updated,
            "updatedReplicas": updated,
            "availableReplicas": ready,
            "currentRevision": rev,
            "updateRevision": rev,
            "collisionCount": 0,
        }
        if st != s.get("status"):
            cur = store.get(self.kind, namespace, name)
            cur["status"] = st
            store.update(self.kind, cur, subresource="status", require_rv=False)

    def _start_next(self, s: dict, pods: dict[str, dict], replicas: int, rev: str) -> bool:
        """OrderedReady, one at a time: creates the first missing pod; whether one was created or
        one is still stopping or starting."""
        name = s["metadata"]["name"]
        for i in range(replicas):
            pn = f"{name}-{i}"
            p = pods.get(pn)
            if p is None:
                pod = new_pod_from_template(
                    s,
                    s.get("spec", {}).get("template", {}),
                    pn,
                    {
                        "controller-revision-hash": rev,
                        "statefulset.kubernetes.io/pod-name": pn,
                        "apps.kubernetes.io/pod-index": str(i),
                    },
                )
                pod["spec"].setdefault("hostname", pn)
                self.store.create(K("", "pods"), pod)
                return True
            if p["metadata"].get("deletionTimestamp"):
                return True
            if not pod_ready(p) and p.get("status", {}).get("phase") != "Running":
                return True
        return False


class DaemonSetController(Controller):
    """DaemonSet -> one pod on the single sandbox node."""

    primary = ("apps", "daemonsets")
    owns = [("", "pods")]

    async def reconcile(self, namespace, name):
        store = self.store
        ds = store.try_get(self.kind, namespace, name)
        if ds is None or ds["metadata"].get("deletionTimestamp"):
            return
        spec = ds.get("spec", {})
        h = template_hash(spec.get("template", {}))
        pods = [p for p in owned_pods(store, ds) if not p["metadata"].get("deletionTimestamp")]
        cur = [p for p in pods if p["metadata"].get("labels", {}).get("controller-revision-hash") == h]
        for p in pods:
            if p not in cur:
                store.delete(K("", "pods"), namespace, p["metadata"]["name"])
        terminating = [p for p in owned_pods(store, ds) if p["metadata"].get("deletionTimestamp")]
        if not cur and not terminating:
            pod = new_pod_from_template(
                ds, spec.get("template", {}), f"{name}-{rand_suffix()}", {"controller-revision-hash": h}
            )
            store.create(K("", "pods"), pod)
        live = [p for p in owned_pods(store, ds) if pod_active(p)]
        ready = sum(1 for p in live if pod_ready(p))
        st = {
            "observedGeneration": ds["metadata"].get("generation", 1),
            "desiredNumberScheduled": 1,
            "currentNumberScheduled": len(live),
            "numberReady": ready,
            "numberAvailable": ready,
            "updatedNumberScheduled": sum(
                1 for p in live if p["metadata"].get("labels", {}).get("controller-revision-hash") == h
            ),
            "numberMisscheduled": 0,
        }
        if st != ds.get("status"):
            c = store.get(self.kind, namespace, name)
            c["status"] = st
            store.update(self.kind, c, subresource="status", require_rv=False)


class JobController(Controller):
    """Job -> pods run to completion (completions, parallelism, backoffLimit)."""

    primary = ("batch", "jobs")
    owns = [("", "pods")]

    async def reconcile(self, namespace, name):
        store = self.store
        j = store.try_get(self.kind, namespace, name)
        if j is None or j["metadata"].get("deletionTimestamp"):
            return
        spec = j.get("spec", {})
        completions = int(spec.get("completions", 1) or 1)
        parallelism = int(spec.get("parallelism", 1) or 1)
        backoff = int(spec.get("backoffLimit", 6))
        st = copy.deepcopy(j.get("status") or {})
        conds = st.get("conditions") or []
        finished = any(c["type"] in ("Complete", "Failed") and c["status"] == "True" for c in conds)
        pods = owned_pods(store, j)
        succeeded = sum(1 for p in pods if p.get("status", {}).get("phase") == "Succeeded")
        failed = sum(1 for p in pods if p.get("status", {}).get("phase") == "Failed")
        failed += sum(
            int(cs.get("restartCount", 0)) for p in pods for cs in p.get("status", {}).get("containerStatuses") or []
        )
        active = [p for p in pods if pod_active(p)]
        if not finished:
            st.setdefault("startTime", now_iso())
            if succeeded >= completions:
                st["completionTime"] = now_iso()
                set_condition(
                    conds,
                    "SuccessCriteriaMet",
                    "True",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                )
                set_condition(
                    conds, "Complete", "True", "CompletionsReached", "Reached expected number of succeeded pods"
                )
                self.event(j, "Completed", "Job completed")
                finished = True
            elif failed > backoff:
                set_condition(
                    conds,
                    "FailureTarget",
                    "True",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                )
                set_condition(
                    conds, "Failed", "True", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
                )
                self.event(j, "BackoffLimitExceeded", "Job has reached the specified backoff limit", "Warning")
                finished = True
                for p in active:
                    store.delete(K("", "pods"), namespace, p["metadata"]["name"])
            else:
                self._start_pods(j, min(parallelism, completions - succeeded) - len(active))
        active = [p for p in owned_pods(store, j) if pod_active(p)]
        st["active"] = len(active)
        st["succeeded"] = succeeded
        st["failed"] = sum(1 for p in pods if p.get("status", {}).get("phase") == "Failed")
        st["ready"] = sum(1 for p in active if pod_ready(p))
        for k in ("active", "succeeded", "failed"):
            if not st.get(k):
                st.pop(k, None)
        if conds:
            st["conditions"] = conds
        if st != (j.get("status") or {}):
            c = store.get(self.kind, namespace, name)
            c["status"] = st
            store.update(self.kind, c, subresource="status", require_rv=False)

    def _start_pods(self, j: dict, want: int) -> None:
        """Starts `want` more pods of the Job (restartPolicy Never unless its template says otherwise)."""
        name = j["metadata"]["name"]
        tmpl = j.get("spec", {}).get("template", {})
        for _ in range(max(0, want)):
            pod = new_pod_from_template(
                j,
                tmpl,
                f"{name}-{rand_suffix()}",
                {"job-name": name, "batch.kubernetes.io/job-name": name, "controller-uid": j["metadata"]["uid"]},
            )
            pod["spec"].setdefault("restartPolicy", "Never")
            self.store.create(K("", "pods"), pod)
            self.event(j, "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}")


class ServiceController(Controller):
    """Assigns a (fake) clusterIP; Services do not route traffic in the sandbox."""

    primary = ("", "services")
    _next = 10

    async def reconcile(self, namespace, name):
        svc = self.store.try_get(self.kind, namespace, name)
        if svc is None:
            return
        spec = svc.setdefault("spec", {})
        if spec.get("type", "ClusterIP") != "ExternalName" and not spec.get("clusterIP"):
            used = {s.get("spec", {}).get("clusterIP") for s in self.store.iter_raw(self.kind)}
            while True:
                ServiceController._next += 1
                ip = f"10.96.{ServiceController._next // 250}.{ServiceController._next % 250 + 1}"
                if ip not in used:
                    break
            spec["clusterIP"] = ip
            spec["clusterIPs"] = [ip]
            spec.setdefault("type", "ClusterIP")
            self.store.update(self.kind, svc, require_rv=False)


def builtin_controllers(sb: ControllerHost) -> list[Controller]:
    return [
        NamespaceController(sb),
        DeploymentController(sb),
        StatefulSetController(sb),
        DaemonSetController(sb),
        JobController(sb),
        ServiceController(sb),
    ]
