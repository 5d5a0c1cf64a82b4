"""An Application's state across clusters: the workflow, each component's health per cluster
(`status.services[]`, one entry per component x cluster x namespace; KubeVela writes "" for
the hub, kubevela `apis/core.oam.dev/common/types.go`) and each deploy step's placements.
A cluster the hub cannot reach shows as `unreachable`; the rest of the app is still shown.

`read_status` is pure (the Application, the registered clusters and the unreachable ones in);
`application_status` fetches them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..appmodel.model import read_model
from ..appmodel.topology import LOCAL, Clusters, deploy_placements
from .workflow import WorkflowState, read_workflow

UNREACHABLE = "unreachable"


@dataclass(frozen=True, slots=True)
class ServiceHealth:
    component: str
    cluster: str
    namespace: str
    health: str  # healthy | unhealthy | unreachable
    message: str = ""


@dataclass(frozen=True, slots=True)
class Placed:
    cluster: str
    namespace: str
    reach: str = ""  # "" or "unreachable"


@dataclass(frozen=True, slots=True)
class StepPlacement:
    step: str
    placements: tuple[Placed, ...] = ()
    error: str = ""  # why KubeVela cannot place the step (an unknown cluster, an empty selector)


@dataclass(frozen=True, slots=True)
class AppStatus:
    namespace: str
    name: str
    workflow: WorkflowState
    services: tuple[ServiceHealth, ...] = ()
    #: None when the registered clusters could not be listed (placements unknown).
    steps: tuple[StepPlacement, ...] | None = None
    unreachable: Mapping[str, str] = field(default_factory=dict)  # cluster -> why

    def clusters(self) -> list[str]:
        """The clusters the app is placed on or reported from, each once, `local` first."""
        seen = [s.cluster for s in self.services] + [p.cluster for s in self.steps or () for p in s.placements]
        return sorted(set(seen), key=lambda c: (c != LOCAL, c))


NOWHERE: Mapping[str, str] = {}  # no cluster is unreachable


def services(app: dict[str, Any], unreachable: Mapping[str, str] = NOWHERE) -> tuple[ServiceHealth, ...]:
    """Each component's health per cluster and namespace, in status order."""
    app_ns = str((app.get("metadata") or {}).get("namespace") or "default")
    out: list[ServiceHealth] = []
    for s in ((app.get("status") or {}).get("services")) or ():
        if not isinstance(s, dict) or not isinstance(s.get("name"), str):
            continue
        cluster = str(s.get("cluster") or LOCAL)
        if cluster in unreachable:
            health, message = UNREACHABLE, unreachable[cluster]
        else:
            health, message = ("healthy" if s.get("healthy") else "unhealthy"), str(s.get("message") or "").strip()
        out.append(ServiceHealth(s["name"], cluster, str(s.get("namespace") or app_ns), health, message))
    return tuple(out)


def step_placements(
    app: dict[str, Any], clusters: Clusters, unreachable: Mapping[str, str] = NOWHERE
) -> tuple[StepPlacement, ...]:
    """Each deploy step's placements, resolved against the registered clusters."""
    app_ns = str((app.get("metadata") or {}).get("namespace") or "default")
    return tuple(
        StepPlacement(
            s.step,
            tuple(
                Placed(p.cluster, p.namespace or app_ns, UNREACHABLE if p.cluster in unreachable else "")
                for p in s.placements
            ),
            s.error,
        )
        for s in deploy_placements(read_model(app), clusters)
    )


def read_status(
    app: dict[str, Any],
    clusters: Clusters | None,
    unreachable: Mapping[str, str] = NOWHERE,
) -> AppStatus:
    meta = app.get("metadata") or {}
    return AppStatus(
        str(meta.get("namespace") or "default"),
        str(meta.get("name") or ""),
        read_workflow(app),
        services(app, unreachable),
        None if clusters is None else step_placements(app, clusters, unreachable),
        dict(unreachable),
    )


def _registered(api_client) -> Clusters | None:
    from ..cluster import ClusterError
    from ..cluster.clusters import list_clusters

    try:
        return {c.name: dict(c.labels) for c in list_clusters(api_client)}
    except ClusterError:
        return None  # e.g. no right to read vela-system's Secrets: health only


def cluster_reach(api_client, apps: list[dict[str, Any]]) -> tuple[Clusters | None, dict[str, str]]:
    """(registered clusters or None, unreachable cluster -> why) for the apps: every cluster
    they are placed on is probed once through the hub."""
    from ..cluster.reach import unreachable_clusters

    clusters = _registered(api_client)
    placed = {c for app in apps for c in read_status(app, clusters).clusters()}
    return clusters, unreachable_clusters(api_client, placed)


def _with_reach(api_client, apps: list[dict[str, Any]]) -> list[AppStatus]:
    clusters, unreachable = cluster_reach(api_client, apps)
    return [read_status(app, clusters, unreachable) for app in apps]


def reached_status(api_client, app: dict[str, Any]) -> AppStatus:
    """The Application's state, with every cluster it is placed on probed through the hub."""
    return _with_reach(api_client, [app])[0]


def application_status(api_client, namespace: str, name: str) -> AppStatus:
    from ..cluster.apps import get_application

    return reached_status(api_client, get_application(api_client, namespace, name))


def applications_status(api_client, namespaces: list[str]) -> list[tuple[AppStatus, dict[str, Any]]]:
    """(state, Application) of every Application in the namespaces."""
    from ..cluster.apps import list_applications

    apps = [app for ns in namespaces for app in list_applications(api_client, ns)]
    return list(zip(_with_reach(api_client, apps), apps, strict=True))


# --- presentation ---------------------------------------------------------------------------


_HEALTH_ICON = {"healthy": "✓", "unhealthy": "✗", UNREACHABLE: "?"}


def placement_text(p: Placed) -> str:
    return f"{p.cluster}/{p.namespace}" + (f" ({UNREACHABLE})" if p.reach else "")


def describe_status(status: AppStatus | None, namespace: str = "", name: str = "") -> list[str]:
    """Lines for a terminal: the workflow (see watch.describe), then health per component x
    cluster, then each deploy step's placements; None: the app `namespace/name` was deleted."""
    from .watch import describe

    if status is None:
        return describe(namespace, name, None)
    lines = describe(status.namespace, status.name, status.workflow)
    if status.services:
        lines.append("services:")
        width = max(len(s.component) for s in status.services)
        cwidth = max(len(s.cluster) for s in status.services)
        for s in status.services:
            lines.append(
                f"  {s.component:<{width}}  {s.cluster:<{cwidth}}  {s.namespace:<16} "
                f"{_HEALTH_ICON[s.health]} {s.health}{'  ' + s.message if s.message else ''}".rstrip()
            )
    if status.steps:
        lines.append("placements:")
        width = max(len(s.step) for s in status.steps)
        for st in status.steps:
            where = st.error or ", ".join(placement_text(p) for p in st.placements) or "no cluster (allowEmpty)"
            lines.append(f"  {st.step:<{width}}  {where}")
    return lines


def status_json(status: AppStatus) -> dict[str, Any]:
    from .watch import state_json

    return {
        "namespace": status.namespace,
        "name": status.name,
        **state_json(status.workflow),
        "services": [
            {
                "component": s.component,
                "cluster": s.cluster,
                "namespace": s.namespace,
                "health": s.health,
                "message": s.message,
            }
            for s in status.services
        ],
        "placements": None
        if status.steps is None
        else [
            {
                "step": st.step,
                "error": st.error,
                "placements": [
                    {"cluster": p.cluster, "namespace": p.namespace, "reach": p.reach} for p in st.placements
                ],
            }
            for st in status.steps
        ],
        "unreachable": dict(status.unreachable),
    }
