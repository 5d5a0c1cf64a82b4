"""The table of resource kinds the API server serves.

Every served resource is one :class:`Kind` entry.  The API server, discovery, the store
and the patch machinery are driven entirely by this table, so a new kind (for example
``core.oam.dev/v1beta1`` Applications) is served by one :func:`register_kind` call::

    from velasandbox.kinds import Kind, register_kind
    register_kind(Kind(group="core.oam.dev", version="v1beta1", plural="applications",
                       kind="Application", namespaced=True, short_names=["app"],
                       categories=["oam"], subresources=["status"], builtin=False))

``builtin=False`` marks a custom resource: strategic merge patch is refused with 415 and an
update without ``metadata.resourceVersion`` is refused with 422, as kube-apiserver does for CRDs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass
class Kind:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    short_names: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    verbs: list[str] = field(default_factory=lambda: list(ALL_VERBS))
    # "status", "scale", "log", "exec", "portforward", "attach" ...
    subresources: list[str] = field(default_factory=list)
    builtin: bool = True
    singular: str = ""
    # Optional hooks:
    #  defaults(obj) fills defaults on create/update (in place)
    #  validate(obj) -> list of field causes ({"reason","message","field"}) for 422
    defaults: Callable[[dict], None] | None = None
    validate: Callable[[dict], list[dict]] | None = None

    def __post_init__(self):
        if not self.singular:
            self.singular = self.kind.lower()

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        return self.group_version

    @property
    def key(self) -> tuple[str, str]:
        """(group, plural): the storage key of the kind."""
        return (self.group, self.plural)

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources


_KINDS: dict[tuple[str, str, str], Kind] = {}
_listeners: list[Callable[[Kind], None]] = []


def register_kind(kind: Kind) -> Kind:
    """Serve a new kind (idempotent for the same group/version/plural)."""
    _KINDS[(kind.group, kind.version, kind.plural)] = kind
    for cb in list(_listeners):
        cb(kind)
    return kind


def all_kinds() -> list[Kind]:
    return list(_KINDS.values())


def lookup(group: str, version: str, plural: str) -> Kind | None:
    return _KINDS.get((group, version, plural))


def builtin(group: str, version: str, plural: str) -> Kind:
    """A kind the sandbox always serves (KeyError would be a bug in the sandbox)."""
    return _KINDS[(group, version, plural)]


def by_kind(api_version: str, kind: str) -> Kind | None:
    for k in _KINDS.values():
        if k.api_version == api_version and k.kind == kind:
            return k
    return None


def group_versions() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k in _KINDS.values():
        vs = out.setdefault(k.group, [])
        if k.version not in vs:
            vs.append(k.version)
    return out


def _builtin():
    core = functools.partial(Kind, group="", version="v1")
    register_kind(
        core(
            plural="namespaces",
            kind="Namespace",
            namespaced=False,
            short_names=["ns"],
            subresources=["status", "finalize"],
            verbs=["create", "delete", "get", "list", "patch", "update", "watch"],
        )
    )
    register_kind(
        core(
            plural="pods",
            kind="Pod",
            short_names=["po"],
            categories=["all"],
            subresources=["status", "log", "exec", "portforward", "attach"],
        )
    )
    register_kind(
        core(plural="services", kind="Service", short_names=["svc"], categories=["all"], subresources=["status"])
    )
    register_kind(core(plural="configmaps", kind="ConfigMap", short_names=["cm"]))
    register_kind(core(plural="secrets", kind="Secret"))
    register_kind(core(plural="events", kind="Event", short_names=["ev"]))
    register_kind(core(plural="serviceaccounts", kind="ServiceAccount", short_names=["sa"]))
    register_kind(core(plural="endpoints", kind="Endpoints", short_names=["ep"]))
    register_kind(
        core(
            plural="persistentvolumeclaims", kind="PersistentVolumeClaim", short_names=["pvc"], subresources=["status"]
        )
    )
    register_kind(core(plural="nodes", kind="Node", namespaced=False, short_names=["no"], subresources=["status"]))
    apps = functools.partial(Kind, group="apps", version="v1")
    register_kind(
        apps(
            plural="deployments",
            kind="Deployment",
            short_names=["deploy"],
            categories=["all"],
            subresources=["status", "scale"],
        )
    )
    register_kind(
        apps(
            plural="replicasets",
            kind="ReplicaSet",
            short_names=["rs"],
            categories=["all"],
            subresources=["status", "scale"],
        )
    )
    register_kind(
        apps(
            plural="statefulsets",
            kind="StatefulSet",
            short_names=["sts"],
            categories=["all"],
            subresources=["status", "scale"],
        )
    )
    register_kind(
        apps(plural="daemonsets", kind="DaemonSet", short_names=["ds"], categories=["all"], subresources=["status"])
    )
    register_kind(
        Kind(group="batch", version="v1", plural="jobs", kind="Job", categories=["all"], subresources=["status"])
    )


_builtin()


# ---------------------------------------------------------------------------------------
# defaults and validation for built-in kinds (a small subset of the real rules)


def _secret_defaults(obj):
    import base64

    sd = obj.pop("stringData", None) or {}
    if sd:
        data = obj.setdefault("data", {}) or {}
        obj["data"] = data
        for k, v in sd.items():
            data[k] = base64.b64encode(str(v).encode()).decode()
    obj.setdefault("type", "Opaque")


def _container_causes(spec: dict, prefix: str) -> list[dict]:
    causes = []
    cs = spec.get("containers")
    if not cs:
        causes.append({"reason": "FieldValueRequired", "message": "Required value", "field": f"{prefix}.containers"})
    names = set()
    for i, c in enumerate(cs or []):
        if not c.get("name"):
            causes.append(
                {"reason": "FieldValueRequired", "message": "Required value", "field": f"{prefix}.containers[{i}].name"}
            )
        elif c["name"] in names:
            causes.append(
                {
                    "reason": "FieldValueDuplicate",
                    "message": f'Duplicate value: "{c["name"]}"',
                    "field": f"{prefix}.containers[{i}].name",
                }
            )
        names.add(c.get("name"))
        if not c.get("image"):
            causes.append(
                {
                    "reason": "FieldValueRequired",
                    "message": "Required value",
                    "field": f"{prefix}.containers[{i}].image",
                }
            )
    return causes


def _pod_defaults(obj):
    spec = obj.setdefault("spec", {})
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        c.setdefault("imagePullPolicy", "IfNotPresent")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("resources", {})
    obj.setdefault("status", {}).setdefault("phase", "Pending")


def _pod_validate(obj):
    return _container_causes(obj.get("spec") or {}, "spec")


def _workload_defaults(obj):
    spec = obj.setdefault("spec", {})
    if obj["kind"] in ("Deployment", "StatefulSet", "ReplicaSet"):
        spec.setdefault("replicas", 1)
    if obj["kind"] == "Deployment":
        st = spec.setdefault("strategy", {"type": "RollingUpdate"})
        if st.get("type", "RollingUpdate") == "RollingUpdate":
            st.setdefault("type", "RollingUpdate")
            st.setdefault("rollingUpdate", {"maxSurge": "25%", "maxUnavailable": "25%"})
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
    if obj["kind"] == "Job":
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completions", 1)
        spec.setdefault("parallelism", 1)
        tmpl = spec.setdefault("template", {})
        tmpl.setdefault("spec", {}).setdefault("restartPolicy", "Never")
        tmpl.setdefault("metadata", {}).setdefault("labels", {})
    tspec = (spec.get("template") or {}).get("spec")
    if isinstance(tspec, dict):
        _pod_defaults({"spec": tspec})
        (spec.get("template") or {}).setdefault("metadata", {})
    if obj["kind"] != "Job":
        st = obj.setdefault("status", {})
        # fields the API marks required (strictly typed clients reject objects without them)
        if obj["kind"] in ("StatefulSet", "ReplicaSet"):
            st.setdefault("replicas", 0)
        if obj["kind"] == "DaemonSet":
            for f in ("currentNumberScheduled", "desiredNumberScheduled", "numberMisscheduled", "numberReady"):
                st.setdefault(f, 0)


def _workload_validate(obj):
    spec = obj.get("spec") or {}
    causes = []
    tmpl = spec.get("template") or {}
    if obj["kind"] != "Job":
        sel = spec.get("selector")
        if not sel:
            causes.append({"reason": "FieldValueRequired", "message": "Required value", "field": "spec.selector"})
        else:
            from .selectors import match_labels_selector

            if not match_labels_selector(sel)((tmpl.get("metadata") or {}).get("labels")):
                causes.append(
                    {
                        "reason": "FieldValueInvalid",
                        "message": "Invalid value: selector does not match template labels",
                        "field": "spec.template.metadata.labels",
                    }
                )
    causes += _container_causes(tmpl.get("spec") or {}, "spec.template.spec")
    return causes


def _install_builtin_hooks():
    builtin("", "v1", "secrets").defaults = _secret_defaults
    pods = builtin("", "v1", "pods")
    pods.defaults = _pod_defaults
    pods.validate = _pod_validate
    for g, v, p in (
        ("apps", "v1", "deployments"),
        ("apps", "v1", "statefulsets"),
        ("apps", "v1", "daemonsets"),
        ("apps", "v1", "replicasets"),
        ("batch", "v1", "jobs"),
    ):
        k = builtin(g, v, p)
        k.defaults = _workload_defaults
        k.validate = _workload_validate


_install_builtin_hooks()
