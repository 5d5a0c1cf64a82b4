"""Putting a workload into dev mode and back, exactly.

Everything dev mode needs to undo itself lives on the workload, so `end` works from any
process, after a crash or a killed editor:

- `dev.veladev.io/original`: the workload's labels, annotations and spec as they were before
  dev mode touched anything (written first, in the same guarded patch as the lock);
- `dev.veladev.io/state`: the lock (user, host, since), the Application and the earlier value
  of its pause label;
- label `dev.veladev.io/dev-mode: "true"`, so `status` can list dev workloads cluster-wide.

The Application is the hub's, also when the workload runs in a managed cluster: its pause
label and `dev.veladev.io/placements` (where its workloads are in dev mode: cluster,
namespace, component) are written there. That record lets a new process find the cluster of a
dev workload with one read of the hub, and resume the Application only when its last dev
workload in any cluster ends.

Start pauses the Application's reconciliation (`controller.core.oam.dev/pause: "true"`,
KubeVela v1.9+, kubevela `pkg/controller/.../application_controller.go`), otherwise KubeVela's
state-keep would put the rendered workload back within its resync period. The swap follows
Nocalhost's replace mode (nocalhost `internal/nhctl/controller/dev_start.go`,
`PatchDevModeManifest`): dev image, keep-alive command, probes removed, one replica,
Recreate, the work dir on an emptyDir (PVCs for `persistentVolumeDirs`), dev env and
resources; everything else is inherited. Unlike Nocalhost, no sidecar: sync goes over exec.
"""

from __future__ import annotations

import copy
import getpass
import hashlib
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..cluster import ClusterError
from ..cluster import workloads as wl
from ..cluster.apps import get_application, patch_application
from ..cluster.clusters import LOCAL, Placement, is_local
from .config import APP_NAMESPACE_LABEL, COMPONENT_LABEL, NAME_LABEL, AppTarget, DevConfig
from .errors import DevModeError
from .pod import DevPod

ORIGINAL_ANNOTATION = "dev.veladev.io/original"
STATE_ANNOTATION = "dev.veladev.io/state"
DEV_LABEL = "dev.veladev.io/dev-mode"
PLACEMENTS_ANNOTATION = "dev.veladev.io/placements"
PAUSE_LABEL = "controller.core.oam.dev/pause"
KEEP_ALIVE = ["/bin/sh", "-c", "tail -f /dev/null"]
WORKDIR_VOLUME = "veladev-workdir"
PROBES = ("readinessProbe", "livenessProbe", "startupProbe")
IMAGE_PULL_FAILURES = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
POLL = 0.1
CONFLICT_RETRIES = 8

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a workload in dev mode."""

    user: str
    host: str

    @classmethod
    def me(cls) -> Holder:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return cls(user, socket.gethostname())

    def __str__(self) -> str:
        return f"{self.user}@{self.host}"


@dataclass(frozen=True, slots=True)
class WorkloadRef:
    service_type: str  # deployment | statefulset
    namespace: str
    name: str
    cluster: str = LOCAL

    @property
    def kind(self) -> str:
        return wl.KINDS[self.service_type][0]

    def __str__(self) -> str:
        where = "" if is_local(self.cluster) else f" in cluster {self.cluster}"
        return f"{self.kind} {self.namespace}/{self.name}{where}"


@dataclass(frozen=True, slots=True)
class DevState:
    """The `dev.veladev.io/state` annotation."""

    holder: Holder
    since: str
    app_namespace: str
    app: str
    component: str
    pause_before: str | None  # the Application's pause label before dev mode (None: absent)

    def to_json(self) -> str:
        return json.dumps(
            {
                "user": self.holder.user,
                "host": self.holder.host,
                "since": self.since,
                "application": f"{self.app_namespace}/{self.app}",
                "component": self.component,
                "pauseBefore": self.pause_before,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_workload(cls, obj: dict[str, Any]) -> DevState | None:
        text = ((obj.get("metadata") or {}).get("annotations") or {}).get(STATE_ANNOTATION)
        if not text:
            return None
        try:
            d = json.loads(text)
            app_ns, _, app = str(d["application"]).partition("/")
            return cls(
                Holder(str(d["user"]), str(d["host"])),
                str(d.get("since", "")),
                app_ns,
                app,
                str(d.get("component", "")),
                d.get("pauseBefore"),
            )
        except (ValueError, KeyError, TypeError):
            raise DevModeError(
                f"the {STATE_ANNOTATION} annotation of {obj['metadata'].get('name')} is damaged; "
                "restore the workload by re-deploying the Application"
            ) from None


@dataclass(frozen=True, slots=True)
class DevWorkloadInfo:
    """One workload in dev mode, for `status`."""

    ref: WorkloadRef
    state: DevState


# --- finding the workload ---------------------------------------------------------------------


def find_workload(api_client, target: AppTarget) -> tuple[WorkloadRef, dict[str, Any]]:
    """The component's workload in the target namespace, by KubeVela's labels."""
    selector = f"{NAME_LABEL}={target.app},{COMPONENT_LABEL}={target.component}"
    found: list[tuple[str, dict[str, Any]]] = []
    for service_type in wl.KINDS:
        found += [(service_type, o) for o in wl.list_workloads(api_client, service_type, target.namespace, selector)]
    if len(found) > 1:  # the same app name in two namespaces deploying here: prefer the file's
        found = [
            f for f in found if (f[1]["metadata"].get("labels") or {}).get(APP_NAMESPACE_LABEL) == target.app_namespace
        ] or found
    if not found:
        raise DevModeError(
            f"component {target.component} of Application {target.app} is not deployed in namespace "
            f"{target.namespace}: deploy the Application and wait for its workflow to deploy there, "
            f"or name the namespace where it runs with --namespace"
        )
    if len(found) > 1:
        names = ", ".join(f"{o['kind']} {o['metadata']['name']}" for _, o in found)
        raise DevModeError(
            f"component {target.component} has several workloads in {target.namespace} ({names}); "
            "dev mode needs exactly one"
        )
    service_type, obj = found[0]
    return WorkloadRef(service_type, target.namespace, obj["metadata"]["name"], target.cluster), obj


def check_matches(ref: WorkloadRef, obj: dict[str, Any], cfg: DevConfig) -> str:
    """The name of the container dev mode swaps; a clear error when the config does not fit."""
    if cfg.service_type != ref.service_type:
        raise DevModeError(
            f"the dev config ({cfg.source}) says serviceType {cfg.service_type}, but component "
            f"{cfg.component} runs as {ref}; set serviceType: {ref.service_type} in the dev config"
        )
    containers = [c.get("name") for c in _pod_spec(obj).get("containers") or []]
    if cfg.container in containers:
        return cfg.container
    if len(containers) == 1:
        return containers[0]
    raise DevModeError(
        f"the dev config ({cfg.source}) names container {cfg.container!r}, but {ref} has "
        f"containers {', '.join(containers)}; name one of them in the dev config"
    )


# --- the swap (pure) --------------------------------------------------------------------------


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}


def snapshot(obj: dict[str, Any]) -> dict[str, Any]:
    """What `end` puts back: labels, annotations and spec."""
    md = obj["metadata"]
    return {
        "metadata": {k: copy.deepcopy(md[k]) for k in ("labels", "annotations") if md.get(k) is not None},
        "spec": copy.deepcopy(obj.get("spec") or {}),
    }


def pvc_name(workload: str, path: str) -> str:
    return f"{workload}-dev-{hashlib.sha1(path.encode()).hexdigest()[:10]}"


def dev_spec(original_spec: dict[str, Any], ref: WorkloadRef, container: str, cfg: DevConfig) -> dict[str, Any]:
    """The workload spec in dev mode, computed from the original (so resuming is idempotent)."""
    spec = copy.deepcopy(original_spec)
    spec["replicas"] = 1
    if ref.service_type == "deployment":
        spec["strategy"] = {"type": "Recreate"}
    pod = spec.setdefault("template", {}).setdefault("spec", {})
    for c in pod.get("containers") or []:
        for probe in PROBES:
            c.pop(probe, None)
    c = next(c for c in pod["containers"] if c.get("name") == container)
    c["image"] = cfg.image
    c["command"] = list(KEEP_ALIVE)
    c.pop("args", None)
    c["workingDir"] = cfg.work_dir
    if cfg.resources:
        c["resources"] = copy.deepcopy(cfg.resources)
    if cfg.env:
        names = {n for n, _ in cfg.env}
        c["env"] = [e for e in c.get("env") or [] if e.get("name") not in names] + [
            {"name": n, "value": v} for n, v in cfg.env
        ]
    mounts = {cfg.work_dir: WORKDIR_VOLUME}
    volumes: list[dict[str, Any]] = []
    for i, (path, _) in enumerate(cfg.persistent_volume_dirs):
        name = f"veladev-pv-{i}"
        mounts[path] = name
        volumes.append({"name": name, "persistentVolumeClaim": {"claimName": pvc_name(ref.name, path)}})
    if mounts[cfg.work_dir] == WORKDIR_VOLUME:
        volumes.append({"name": WORKDIR_VOLUME, "emptyDir": {}})
    ours = {v["name"] for v in volumes}
    c["volumeMounts"] = [m for m in c.get("volumeMounts") or [] if m.get("mountPath") not in mounts] + [
        {"name": name, "mountPath": path} for path, name in mounts.items()
    ]
    pod["volumes"] = [v for v in pod.get("volumes") or [] if v.get("name") not in ours] + volumes
    return spec


def is_dev_container(pod: dict[str, Any], container: str, image: str) -> bool:
    for c in (pod.get("spec") or {}).get("containers") or []:
        if c.get("name") == container:
            return c.get("image") == image and c.get("command") == KEEP_ALIVE
    return False


def _selector(obj: dict[str, Any]) -> str:
    labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _ready(pod: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or ()
    )


def _waiting(pod: dict[str, Any], container: str) -> tuple[str, str]:
    for cs in (pod.get("status") or {}).get("containerStatuses") or ():
        if cs.get("name") == container:
            w = (cs.get("state") or {}).get("waiting") or {}
            return str(w.get("reason") or ""), str(w.get("message") or "")
    return "", ""


def _describe(pod: dict[str, Any], container: str) -> str:
    reason, _ = _waiting(pod, container)
    phase = (pod.get("status") or {}).get("phase") or "Pending"
    return (
        f"pod {pod['metadata']['name']}: {phase}"
        + (f" ({reason})" if reason else "")
        + (", ready" if _ready(pod) else "")
    )


class ImagePullFailed(DevModeError):
    pass


# --- the hub's record of dev placements -------------------------------------------------------


def _record(app: dict[str, Any]) -> tuple[str | None, list[dict[str, str]]]:
    """(the pause label before dev mode, the workloads in dev mode) from the Application's
    `dev.veladev.io/placements`; a damaged or missing record is an empty one."""
    text = ((app.get("metadata") or {}).get("annotations") or {}).get(PLACEMENTS_ANNOTATION)
    try:
        d = json.loads(text or "{}")
        entries = [
            {k: str(e.get(k) or "") for k in ("cluster", "namespace", "component", "kind", "name")}
            for e in d.get("workloads") or []
            if isinstance(e, dict)
        ]
        pause = d.get("pauseBefore")
        return (pause if isinstance(pause, str) else None), entries
    except (ValueError, TypeError, AttributeError):
        return None, []


def _record_json(pause_before: str | None, entries: list[dict[str, str]]) -> str:
    return json.dumps({"pauseBefore": pause_before, "workloads": entries}, separators=(",", ":"))


def recorded_placements(app: dict[str, Any], component: str) -> list[Placement]:
    """Where the component's workloads are in dev mode, as the hub's Application records it."""
    out: list[Placement] = []
    for e in _record(app)[1]:
        p = Placement(e["cluster"] or LOCAL, e["namespace"])
        if e["component"] == component and p not in out:
            out.append(p)
    return out


# --- the engine -------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _say(progress: Progress | None, text: str) -> None:
    if progress is not None:
        progress(text)


class DevWorkload:
    """One component's workload in dev mode: start, resolve the dev pod, end."""

    def __init__(
        self,
        api_client,
        ref: WorkloadRef,
        container: str,
        cfg: DevConfig,
        holder: Holder | None = None,
        hub_api=None,
    ):
        self.api = api_client  # the workload's cluster
        self.hub = hub_api if hub_api is not None else api_client  # the Application's (the hub)
        self.ref = ref
        self.container = container
        self.cfg = cfg
        self.holder = holder or Holder.me()

    @classmethod
    def locate(
        cls,
        api_client,
        target: AppTarget,
        cfg_for: Callable[[dict[str, Any]], DevConfig],
        holder: Holder | None = None,
        hub_api=None,
    ) -> DevWorkload:
        """Find the workload (in `api_client`'s cluster, `target.cluster`) and check the dev
        config (which may come from it) fits. `hub_api`: the hub's client, when that is another."""
        ref, obj = find_workload(api_client, target)
        cfg = cfg_for(obj)
        return cls(api_client, ref, check_matches(ref, obj, cfg), cfg, holder, hub_api)

    # -- reading
    def read(self) -> dict[str, Any]:
        obj = wl.get_workload(self.api, self.ref.service_type, self.ref.namespace, self.ref.name)
        if obj is None:
            raise DevModeError(f"{self.ref} no longer exists; was the Application deleted?")
        return obj

    def state(self) -> DevState | None:
        return DevState.from_workload(self.read())

    def _check_holder(self, state: DevState, takeover: bool, action: str) -> None:
        if state.holder != self.holder and not takeover:
            raise DevModeError(
                f"{self.ref} is in dev mode by {state.holder} since {state.since}; "
                f"ask them to end it, or {action} anyway with --takeover"
            )

    # -- start
    def start(self, takeover: bool = False, progress: Progress | None = None, timeout: float = 120) -> DevPod:
        """Swap the workload to the dev container and wait for the dev pod to be Ready.
        Starting again as the holder resumes (and re-applies a changed dev config)."""
        for attempt in range(CONFLICT_RETRIES):
            try:
                said = progress if attempt == 0 else None  # a retry after a conflict says nothing new
                obj = self._lock(takeover, said)
                self._pause(DevState.from_workload(obj))
                self._swap(obj, said)
                break
            except wl.Conflict:
                continue  # someone wrote the workload meanwhile: decide again on a fresh read
        else:
            raise DevModeError(f"{self.ref} kept changing while dev mode started; try again")
        try:
            return self.wait_dev_pod(timeout, progress)
        except ImagePullFailed as exc:
            _say(progress, "the dev image cannot be pulled; restoring the workload")
            self.end(takeover=True, progress=progress, wait=False)
            raise DevModeError(
                f"{exc}; dev mode did not start and {self.ref} is restored. Set a pullable image "
                "in the dev config (the nocalhost trait's `image`: node, python, go, java, ruby "
                "or a full image reference)"
            ) from None

    def _lock(self, takeover: bool, progress: Progress | None) -> dict[str, Any]:
        obj = self.read()
        md = obj["metadata"]
        state = DevState.from_workload(obj)
        if state is not None:
            self._check_holder(state, takeover, "take it over")
            if state.holder == self.holder:
                _say(progress, f"{self.ref} is already in dev mode by you; resuming")
                return obj
            _say(progress, f"taking {self.ref} over from {state.holder}")
            new = DevState(self.holder, _now(), state.app_namespace, state.app, state.component, state.pause_before)
            return wl.patch_workload_metadata(
                self.api,
                self.ref.service_type,
                self.ref.namespace,
                self.ref.name,
                md["resourceVersion"],
                annotations={STATE_ANNOTATION: new.to_json()},
            )
        labels = md.get("labels") or {}
        app_ns = labels.get(APP_NAMESPACE_LABEL) or self.ref.namespace
        app = labels.get(NAME_LABEL, "")
        new = DevState(self.holder, _now(), app_ns, app, self.cfg.component, self._pause_before(app_ns, app))
        _say(progress, f"saving the original {self.ref} and taking the dev lock")
        # The original and the lock in one patch guarded by the resourceVersion just read: two
        # developers starting at once cannot both win, and nothing is touched before the save.
        return wl.patch_workload_metadata(
            self.api,
            self.ref.service_type,
            self.ref.namespace,
            self.ref.name,
            md["resourceVersion"],
            labels={DEV_LABEL: "true"},
            annotations={
                ORIGINAL_ANNOTATION: json.dumps(snapshot(obj), separators=(",", ":")),
                STATE_ANNOTATION: new.to_json(),
            },
        )

    def _entry(self) -> dict[str, str]:
        """This workload in the hub's record."""
        return {
            "cluster": self.ref.cluster,
            "namespace": self.ref.namespace,
            "component": self.cfg.component,
            "kind": self.ref.service_type,
            "name": self.ref.name,
        }

    def _pause_before(self, app_ns: str, app: str) -> str | None:
        """The Application's pause label before dev mode: if another of its workloads (in any
        cluster) is in dev mode already, the app is paused by us and the record keeps the real
        earlier value."""
        try:
            obj = get_application(self.hub, app_ns, app)
        except ClusterError as exc:
            raise DevModeError(f"cannot read Application {app_ns}/{app} to pause it: {exc}") from None
        pause_before, entries = _record(obj)
        if [e for e in entries if e != self._entry()]:
            return pause_before
        return (obj["metadata"].get("labels") or {}).get(PAUSE_LABEL)

    def _pause(self, state: DevState | None) -> None:
        """Pause the hub's Application and record this workload there (one guarded patch)."""
        if state is None or not state.app:
            return
        me = self._entry()

        def change(app: dict[str, Any]) -> dict[str, Any]:
            pause_before, entries = _record(app)
            if not entries:
                pause_before = state.pause_before
            return {
                "metadata": {
                    "labels": {PAUSE_LABEL: "true"},
                    "annotations": {
                        PLACEMENTS_ANNOTATION: _record_json(
                            pause_before, [*entries, me] if me not in entries else entries
                        )
                    },
                }
            }

        try:
            patch_application(self.hub, state.app_namespace, state.app, change)
        except ClusterError as exc:
            raise DevModeError(f"cannot pause Application {state.app_namespace}/{state.app}: {exc}") from None

    def _release(self, state: DevState, progress: Progress | None) -> None:
        """Take this workload off the hub's record; the last one out resumes the Application
        (its pause label as it was before dev mode)."""
        me = self._entry()
        resumed: list[bool] = []

        def change(app: dict[str, Any]) -> dict[str, Any]:
            pause_before, entries = _record(app)
            rest = [e for e in entries if e != me]
            resumed[:] = [not rest]
            if rest:
                return {"metadata": {"annotations": {PLACEMENTS_ANNOTATION: _record_json(pause_before, rest)}}}
            before = pause_before if entries else state.pause_before
            return {"metadata": {"labels": {PAUSE_LABEL: before}, "annotations": {PLACEMENTS_ANNOTATION: None}}}

        try:
            patch_application(self.hub, state.app_namespace, state.app, change)
        except ClusterError as exc:
            raise DevModeError(
                f"{self.ref} is restored, but the pause label of Application "
                f"{state.app_namespace}/{state.app} could not be reset: {exc}"
            ) from None
        if resumed and resumed[0]:
            _say(progress, f"resumed Application {state.app_namespace}/{state.app}")

    def _swap(self, obj: dict[str, Any], progress: Progress | None) -> None:
        original = json.loads(obj["metadata"]["annotations"][ORIGINAL_ANNOTATION])
        spec = dev_spec(original["spec"], self.ref, self.container, self.cfg)
        for path, capacity in self.cfg.persistent_volume_dirs:
            wl.ensure_pvc(
                self.api,
                self.ref.namespace,
                pvc_name(self.ref.name, path),
                {DEV_LABEL: "true", COMPONENT_LABEL: self.cfg.component},
                capacity,
                self.cfg.storage_class,
            )
        if obj.get("spec") == spec:
            return
        _say(progress, f"swapping {self.ref} to the dev image {self.cfg.image}")
        wl.replace_workload(self.api, self.ref.service_type, {**obj, "spec": spec})

    # -- the dev pod
    def wait_dev_pod(self, timeout: float, progress: Progress | None = None) -> DevPod:
        """The Ready dev pod; `ImagePullFailed` when its image cannot be pulled."""
        deadline = time.monotonic() + timeout
        selector = _selector(self.read())
        last = ""
        while True:
            pods = [
                p
                for p in wl.list_pods(self.api, self.ref.namespace, selector)
                if not p["metadata"].get("deletionTimestamp")
            ]
            dev = [p for p in pods if is_dev_container(p, self.container, self.cfg.image)]
            for p in dev:
                if _ready(p):
                    _say(progress, f"dev pod {p['metadata']['name']} is ready")
                    return DevPod(self.ref.namespace, p["metadata"]["name"], self.container, self.cfg.work_dir)
                reason, message = _waiting(p, self.container)
                if reason in IMAGE_PULL_FAILURES:
                    raise ImagePullFailed(
                        f"the dev image {self.cfg.image} cannot be pulled ({reason}"
                        + (f": {message}" if message else "")
                        + ")"
                    )
            seen = "; ".join(_describe(p, self.container) for p in pods) or "no pod yet"
            if seen != last:
                _say(progress, seen)
                last = seen
            if time.monotonic() > deadline:
                raise DevModeError(
                    f"the dev pod of {self.ref} is not Ready after {timeout:.0f}s ({seen}); "
                    "it stays in dev mode: `veladev dev end` restores it"
                )
            time.sleep(POLL)

    def resolver(self) -> Callable[[float], DevPod]:
        """A `PodResolver`: the current dev pod, or DevModeError once dev mode has ended or
        another developer took it over (their sync, not ours, owns the pod then)."""

        def resolve(timeout: float) -> DevPod:
            state = self.state()
            if state is None:
                raise DevModeError(f"{self.ref} is no longer in dev mode")
            if state.holder != self.holder:
                raise DevModeError(f"{state.holder} took dev mode on {self.ref} over")
            return self.wait_dev_pod(timeout)

        return resolve

    # -- end
    def end(
        self, takeover: bool = False, progress: Progress | None = None, wait: bool = True, timeout: float = 120
    ) -> None:
        """Put the saved workload back exactly, restore the pause label, release the lock."""
        for _ in range(CONFLICT_RETRIES):
            obj = self.read()
            state = DevState.from_workload(obj)
            if state is None:
                raise DevModeError(f"{self.ref} is not in dev mode")
            self._check_holder(state, takeover, "end it")
            text = (obj["metadata"].get("annotations") or {}).get(ORIGINAL_ANNOTATION)
            try:
                original = json.loads(text or "")
            except ValueError:
                raise DevModeError(
                    f"the saved original of {self.ref} is missing or damaged; re-deploy the Application to restore it"
                ) from None
            md = {k: v for k, v in obj["metadata"].items() if k not in ("labels", "annotations", "managedFields")}
            restored = {**obj, "metadata": {**md, **original["metadata"]}, "spec": original["spec"]}
            restored.pop("status", None)
            _say(progress, f"restoring the original {self.ref}")
            try:
                wl.replace_workload(self.api, self.ref.service_type, restored)
            except wl.Conflict:
                continue
            break
        else:
            raise DevModeError(f"{self.ref} kept changing while dev mode ended; try again")
        if state.app:
            self._release(state, progress)
        if wait:
            self.wait_restored(timeout, progress)

    def wait_restored(self, timeout: float, progress: Progress | None = None) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            obj = self.read()
            st, spec = obj.get("status") or {}, obj.get("spec") or {}
            want = int(spec.get("replicas", 1))
            pods = [
                p
                for p in wl.list_pods(self.api, self.ref.namespace, _selector(obj))
                if not p["metadata"].get("deletionTimestamp")
            ]
            ready = [p for p in pods if _ready(p) and not is_dev_container(p, self.container, self.cfg.image)]
            settled = int(st.get("observedGeneration", 0)) >= int(obj["metadata"].get("generation", 1))
            if settled and len(ready) == want == len(pods):
                _say(progress, f"{self.ref} is back: {want} ready pod(s)")
                return
            seen = "; ".join(_describe(p, self.container) for p in pods) or "no pod yet"
            if seen != last:
                _say(progress, seen)
                last = seen
            if time.monotonic() > deadline:
                raise DevModeError(f"{self.ref} is restored but its pods are not Ready after {timeout:.0f}s ({seen})")
            time.sleep(POLL)


def list_dev_workloads(api_client, extra_selector: str = "", cluster: str = LOCAL) -> list[DevWorkloadInfo]:
    """Every workload in dev mode in the cluster (all namespaces); `cluster`: its name."""
    selector = f"{DEV_LABEL}=true" + (f",{extra_selector}" if extra_selector else "")
    out = []
    for service_type in wl.KINDS:
        for obj in wl.list_workloads(api_client, service_type, None, selector):
            state = DevState.from_workload(obj)
            if state is not None:
                md = obj["metadata"]
                out.append(DevWorkloadInfo(WorkloadRef(service_type, md["namespace"], md["name"], cluster), state))
    return sorted(out, key=lambda i: (i.ref.namespace, i.ref.name))


def dev_workloads_everywhere(hub_api, connect_to: Callable[[str], Any]) -> tuple[list[DevWorkloadInfo], dict[str, str]]:
    """The workloads in dev mode on the hub and in every registered cluster (reached with
    `connect_to(name)`), and for each cluster that could not be asked, why."""
    from ..cluster.clusters import list_clusters

    found = list_dev_workloads(hub_api)
    unreachable: dict[str, str] = {}
    for c in list_clusters(hub_api)[1:]:
        try:
            api = connect_to(c.name)
        except ClusterError as exc:
            unreachable[c.name] = str(exc)
            continue
        try:
            found += list_dev_workloads(api, cluster=c.name)
        except ClusterError as exc:
            unreachable[c.name] = str(exc)
        finally:
            api.close()
    return found, unreachable
