"""Where a deploy step puts components: KubeVela's topology resolution
(``kubevela/kubevela`` ``pkg/policy/topology.go`` ``GetPlacementsFromTopologyPolicies``, v1.10.9).

Pure: the registered clusters come in as a mapping name -> labels (``local`` included), the
placements go out as ``(cluster, namespace)`` pairs. Errors carry KubeVela's words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..clusters import LOCAL

#: the label the cluster listing gives the hub (cluster-gateway ``virtualcluster_types.go``)
CONTROL_PLANE_LABEL = "cluster.core.oam.dev/control-plane"


class PlacementError(Exception):
    """A topology policy KubeVela would refuse (its message as KubeVela writes it)."""


@dataclass(frozen=True, slots=True)
class Placement:
    cluster: str
    namespace: str  # "" means the Application's namespace in that cluster

    def key(self, component: str) -> str:
        """The deploy task key of a component here (``deploy.go``: cluster/namespace/replicaKey/component)."""
        return f"{self.cluster}/{self.namespace}//{component}"


def _matches(labels: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


_GO_TYPES = {"clusters": "[]string", "clusterLabelSelector": "map[string]string", "namespace": "string"}


def _json_type(value: object) -> str:
    return {str: "string", bool: "bool", int: "number", float: "number", list: "array", dict: "object"}.get(
        type(value), "value"
    )


def _misfit(value: object, go_type: str) -> tuple[object, str] | None:
    """The (value, Go type) encoding/json would complain about, innermost first; None if it fits."""
    if go_type == "string":
        return None if isinstance(value, str) else (value, "string")
    if go_type == "[]string" and isinstance(value, list):
        return next(((v, "string") for v in value if not isinstance(v, str)), None)
    if go_type == "map[string]string" and isinstance(value, dict):
        return next(((v, "string") for v in value.values() if not isinstance(v, str)), None)
    return value, go_type


def _check_types(name: str, props: dict) -> None:
    """What StrictUnmarshal into TopologyPolicySpec refuses, in encoding/json's words."""
    for field, go_type in _GO_TYPES.items():
        value = props.get(field)
        bad = None if value is None else _misfit(value, go_type)
        if bad is not None:
            raise PlacementError(
                f"failed to parse topology policy {name}: json: cannot unmarshal {_json_type(bad[0])} "
                f"into Go struct field TopologyPolicySpec.{field} of type {bad[1]}"
            )


def _one_topology(name: str, props: dict | None, clusters: Mapping[str, Mapping[str, str]]) -> list[Placement]:
    if not props:
        raise PlacementError(f"topology policy {name} must not have empty properties")
    _check_types(name, props)
    ns = props.get("namespace") or ""
    names = props.get("clusters")
    if names is not None:  # `clusters: []` is set, and places nothing (a nil check in topology.go)
        for cluster in names:
            if cluster not in clusters:
                raise PlacementError(f"failed to get cluster {cluster}: no such cluster")
        return [Placement(c, ns) for c in names]
    selector = props.get("clusterLabelSelector")
    if selector is not None:
        found = [Placement(c, ns) for c, labels in clusters.items() if _matches(labels, selector)]
        if not found and not props.get("allowEmpty"):
            raise PlacementError("failed to find any cluster matches given labels")
        return found
    return [Placement(LOCAL, ns)]


def topology_placements(
    policies: list[dict], clusters: Mapping[str, Mapping[str, str]], app_namespace: str
) -> list[Placement]:
    """The placements of a deploy step's topology policies, deduplicated, in order; the hub in
    the app's namespace when there is none. Namespaces come out resolved ("" -> app namespace)."""
    out: list[Placement] = []
    topologies = [p for p in policies if p.get("type") == "topology"]
    for policy in topologies:
        for p in _one_topology(policy.get("name", ""), policy.get("properties"), clusters):
            p = Placement(p.cluster, p.namespace or app_namespace)
            if p not in out:
                out.append(p)
    if not topologies:
        return [Placement(LOCAL, app_namespace)]
    return out
