"""Where an Application's deploy steps place it, and the topology check against the hub's
registered clusters. Pure: the clusters come in as data (name -> labels), nothing is fetched.

Placement follows KubeVela's topology policy (`kubevela/kubevela: pkg/policy/topology.go`,
`vela-templates/definitions/internal/policy/topology.cue`, v1.10): `clusters` names clusters
that must exist (`local`, the hub, always does) and takes precedence over
`clusterLabelSelector`, which must match a cluster unless `allowEmpty` is true; neither means
the hub; `namespace` empty means the Application's. A deploy step places its components by the
topology policies it names (none: the hub); without a workflow, KubeVela makes one deploy step
per topology policy, named `deploy-<policy>` (`pkg/workflow/step/generator.go`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .findings import Severity
from .model import AppModel, Item
from .report import Reporter, did_you_mean

LOCAL = "local"
TOPOLOGY = "topology"

#: Registered clusters: name -> labels, in the hub's listing order (`local` first).
Clusters = Mapping[str, Mapping[str, str]]


class TopologyError(Exception):
    """A topology policy KubeVela would fail on; the message uses KubeVela's words."""


@dataclass(frozen=True, slots=True)
class PlacementDecision:
    cluster: str
    namespace: str  # "" means the Application's namespace

    def label(self, app_namespace: str) -> str:
        return f"{self.cluster}/{self.namespace or app_namespace}"


def _selector(props: dict[str, Any]) -> dict[str, str] | None:
    sel = props.get("clusterLabelSelector")
    return {str(k): str(v) for k, v in sel.items()} if isinstance(sel, dict) else None


def _names(props: dict[str, Any]) -> list[str]:
    names = props.get("clusters")
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


def matching(selector: Mapping[str, str], clusters: Clusters) -> list[str]:
    """The clusters whose labels have every key and value of the selector."""
    return [name for name, labels in clusters.items() if all(labels.get(k) == v for k, v in selector.items())]


def resolve_topology(name: str, props: Any, clusters: Clusters) -> list[PlacementDecision]:
    """The placements of one topology policy; TopologyError where KubeVela fails."""
    if not isinstance(props, dict) or not props:
        raise TopologyError(f"topology policy {name} must not have empty properties")
    ns = props.get("namespace")
    namespace = ns if isinstance(ns, str) else ""
    names, selector = _names(props), _selector(props)
    if names:
        for n in names:
            if n != LOCAL and n not in clusters:
                raise TopologyError(f"failed to get cluster {n}: no such cluster")
        found = names
    elif selector is not None:
        found = matching(selector, clusters)
        if not found and props.get("allowEmpty") is not True:
            raise TopologyError("failed to find any cluster matches given labels")
    else:
        found = [LOCAL]
    out: list[PlacementDecision] = []
    for n in found:
        p = PlacementDecision(n, namespace)
        if p not in out:
            out.append(p)
    return out


@dataclass(frozen=True, slots=True)
class StepPlacements:
    """One deploy step's placements, or why KubeVela cannot place it (`error`)."""

    step: str
    placements: tuple[PlacementDecision, ...] = ()
    error: str = ""


def _topologies(model: AppModel, refs: list[str]) -> list[Item]:
    out = []
    for ref in refs:
        policy = model.policy(ref)
        if policy is not None and policy.type == TOPOLOGY:
            out.append(policy)
    return out


def _place(step: str, policies: list[Item], clusters: Clusters) -> StepPlacements:
    if not policies:
        return StepPlacements(step, (PlacementDecision(LOCAL, ""),))
    out: list[PlacementDecision] = []
    try:
        for policy in policies:
            for p in resolve_topology(policy.name or "", policy.properties, clusters):
                if p not in out:
                    out.append(p)
    except TopologyError as exc:
        return StepPlacements(step, (), str(exc))
    return StepPlacements(step, tuple(out))


def deploy_placements(model: AppModel, clusters: Clusters) -> list[StepPlacements]:
    """Each deploy step's placements, in workflow order (the implicit steps when there is no
    workflow)."""
    if not model.steps and not model.workflow_ref:
        tops = [p for p in model.policies if p.type == TOPOLOGY and p.name]
        if not tops:
            return [StepPlacements("deploy", (PlacementDecision(LOCAL, ""),))]
        return [_place(f"deploy-{p.name}", [p], clusters) for p in tops]
    out = []
    for step in model.all_steps():
        if step.type != "deploy" or not step.name:
            continue
        props = step.properties if isinstance(step.properties, dict) else {}
        refs = props.get("policies")
        out.append(_place(step.name, _topologies(model, [r for r in refs or () if isinstance(r, str)]), clusters))
    return out


# --- the check ------------------------------------------------------------------------------


def check_topology(rep: Reporter, model: AppModel, clusters: Clusters) -> None:
    """Topology policies against the registered clusters: unknown names in `clusters`, and a
    `clusterLabelSelector` that matches none unless `allowEmpty: true`."""
    registered = [LOCAL, *(n for n in clusters if n != LOCAL)]
    for policy in model.policies:
        props = policy.properties
        if policy.type != TOPOLOGY or not isinstance(props, dict):
            continue
        names = props.get("clusters")
        if isinstance(names, list) and names:
            _unknown_names(rep, policy, names, registered)
            continue  # `clusters` takes precedence: the selector is not used
        selector = _selector(props)
        if selector is not None and not matching(selector, clusters) and props.get("allowEmpty") is not True:
            rep.add(
                "cluster-selector-empty",
                Severity.ERROR,
                f"topology policy '{policy.name or ''}': clusterLabelSelector {_labels(selector)} matches "
                f"no registered cluster (KubeVela: failed to find any cluster matches given labels); "
                f"set allowEmpty: true if that is intended (clusters: {_with_labels(clusters)})",
                rep.key_span((*policy.path, "properties", "clusterLabelSelector")),
            )


def _unknown_names(rep: Reporter, policy: Item, names: list, registered: list[str]) -> None:
    for i, n in enumerate(names):
        if not isinstance(n, str) or n in registered:
            continue
        path = (*policy.path, "properties", "clusters", i)
        s = did_you_mean(n, registered)
        fix = rep.replace_value_fix(path, s) if s else None
        rep.add(
            "unknown-cluster",
            Severity.ERROR,
            f"topology policy '{policy.name or ''}' names cluster '{n}', which is not registered on the hub"
            + (f" (did you mean '{s}'?)" if s else "")
            + f"; registered clusters: {_listing(registered)}",
            rep.value_span(path),
            [fix] if fix else [],
        )


#: How many cluster names a message lists (a hub may have hundreds).
LISTED = 12


def _listing(items: list[str]) -> str:
    more = len(items) - LISTED
    return ", ".join(items[:LISTED]) + (f" and {more} more" if more > 0 else "")


def _labels(selector: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"{k}={v}" for k, v in selector.items()) + "}"


def _with_labels(clusters: Clusters) -> str:
    return _listing([f"{n} {_labels(labels)}" if labels else n for n, labels in clusters.items()])
