"""A component's log in one of its placements (cluster, namespace), through the hub's
cluster-gateway for a managed cluster: which placement (the user's, or the only one), which
pod, and the log streamed to a callback piece by piece (memory bounded by one piece)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..cluster import ClusterConfig, ClusterError
from ..cluster.clusters import Placement, component_placements

#: Lines of history shown before a follow (as `kubectl logs --tail`); all without a follow.
FOLLOW_TAIL = 200


class LogsError(Exception):
    """The log cannot be shown (no pod, not deployed); one sentence for the user."""


class PlacementNeeded(LogsError):
    """The user has to name the placement: the component runs in several, or not in the one
    named (a usage error: the CLI exits with 2)."""


@dataclass(frozen=True, slots=True)
class LogSource:
    placement: Placement
    pod: str


def choose(component: str, placements: list[Placement], cluster: str | None, namespace: str | None) -> Placement:
    """The placement the user named, or the only one; LogsError names them otherwise."""
    listed = ", ".join(str(p) for p in placements)
    if not placements:
        raise LogsError(f"component {component} runs nowhere yet (the hub's Application has no status for it)")
    fits = [
        p for p in placements if (not cluster or p.cluster == cluster) and (not namespace or p.namespace == namespace)
    ]
    if not fits:
        where = " ".join(
            x for x in (f"cluster {cluster}" if cluster else "", f"namespace {namespace}" if namespace else "") if x
        )
        raise PlacementNeeded(f"component {component} does not run in {where}; it runs in {listed}")
    if len(fits) > 1:
        raise PlacementNeeded(
            f"component {component} runs in several places ({listed}); choose one with --cluster (and --namespace)"
        )
    return fits[0]


def stream_logs(
    config: ClusterConfig,
    hub_app: dict,
    component: str,
    on_text: Callable[[str], None],
    cluster: str | None = None,
    namespace: str | None = None,
    follow: bool = False,
    on_open: Callable[[LogSource, Callable[[], None]], None] | None = None,
) -> LogSource:
    """Stream the log of the component's newest pod in the chosen placement to `on_text`
    until it ends (with `follow`: until the pod's log ends or the close function handed to
    `on_open` is called)."""
    from ..cluster.clusters import connect_cluster
    from ..cluster.logs import component_pods, open_log

    place = choose(component, component_placements(hub_app, component), cluster, namespace)
    app = str((hub_app.get("metadata") or {}).get("name") or "")
    api = connect_cluster(config, place.cluster)
    try:
        pods = component_pods(api, place.namespace, app, component)
        if not pods:
            raise LogsError(f"component {component} has no pod in {place}")
        source = LogSource(place, pods[-1])
        stream = open_log(api, place.namespace, source.pod, follow, FOLLOW_TAIL if follow else None)
        if on_open is not None:
            on_open(source, stream.close)
        try:
            for text in stream:
                on_text(text)
        finally:
            stream.close()
        return source
    except ClusterError as exc:
        raise ClusterError(f"{place}: {exc}") from None
    finally:
        api.close()
