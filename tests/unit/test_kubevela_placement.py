"""The KubeVela stand-in's placement and override rules, as pure functions (kubevela/kubevela
pkg/policy/topology.go and pkg/policy/envbinding/patch.go, v1.10.9)."""

from typing import Any

import pytest

from velasandbox.kubevela.controller import aggregate, in_cluster
from velasandbox.kubevela.placement import Placement, PlacementError, topology_placements
from velasandbox.kubevela.render import apply_override

CLUSTERS = {
    "local": {"cluster.core.oam.dev/control-plane": "true"},
    "edge-1": {"env": "test"},
    "edge-2": {"env": "prod", "region": "east"},
    "edge-3": {"env": "prod", "region": "west"},
}


def topo(name: str, **props: Any) -> dict:
    return {"name": name, "type": "topology", "properties": props}


def test_clusters_by_name_in_order_with_the_app_namespace():
    got = topology_placements([topo("t", clusters=["edge-3", "local", "edge-1"])], CLUSTERS, "app-ns")
    assert got == [Placement("edge-3", "app-ns"), Placement("local", "app-ns"), Placement("edge-1", "app-ns")]


def test_clusters_by_label_selector():
    got = topology_placements([topo("prod", clusterLabelSelector={"env": "prod"})], CLUSTERS, "ns")
    assert [p.cluster for p in got] == ["edge-2", "edge-3"]
    got = topology_placements([topo("west", clusterLabelSelector={"env": "prod", "region": "west"})], CLUSTERS, "ns")
    assert [p.cluster for p in got] == ["edge-3"]


def test_names_take_precedence_over_the_selector():
    got = topology_placements([topo("t", clusters=["edge-1"], clusterLabelSelector={"env": "prod"})], CLUSTERS, "ns")
    assert got == [Placement("edge-1", "ns")]


def test_namespace_placement_and_deduplication_across_policies():
    policies = [
        topo("a", clusters=["edge-1"], namespace="prod"),
        topo("b", clusterLabelSelector={"env": "test"}, namespace="prod"),
        topo("c", clusters=["edge-1"]),
    ]
    assert topology_placements(policies, CLUSTERS, "ns") == [Placement("edge-1", "prod"), Placement("edge-1", "ns")]


def test_unknown_cluster_in_kubevelas_words():
    with pytest.raises(PlacementError, match="^failed to get cluster edge-9: no such cluster$"):
        topology_placements([topo("t", clusters=["edge-1", "edge-9"])], CLUSTERS, "ns")


def test_selector_matching_nothing_fails_unless_allow_empty():
    with pytest.raises(PlacementError, match="^failed to find any cluster matches given labels$"):
        topology_placements([topo("t", clusterLabelSelector={"env": "staging"})], CLUSTERS, "ns")
    got = topology_placements([topo("t", clusterLabelSelector={"env": "staging"}, allowEmpty=True)], CLUSTERS, "ns")
    assert got == []


def test_empty_properties_and_the_defaults():
    with pytest.raises(PlacementError, match="^topology policy t must not have empty properties$"):
        topology_placements([{"name": "t", "type": "topology"}], CLUSTERS, "ns")
    # neither clusters nor a selector: the hub, in the policy's namespace
    assert topology_placements([topo("t", namespace="x")], CLUSTERS, "ns") == [Placement("local", "x")]
    # no topology at all: the hub in the app's namespace; `clusters: []` places nothing
    assert topology_placements([{"name": "o", "type": "override"}], CLUSTERS, "ns") == [Placement("local", "ns")]
    assert topology_placements([topo("t", clusters=[])], CLUSTERS, "ns") == []


def test_task_keys_and_error_texts_as_kubevela_writes_them():
    assert Placement("edge-1", "prod").key("web") == "edge-1/prod//web"
    assert aggregate(["a", "b"]) == "Found 2 errors. [(a), (b)]"
    assert in_cluster("edge-2", "cannot get object: x") == (
        "error encountered in cluster edge-2: Dispatch: Found 1 errors. [(cannot get object: x)]"
    )


COMPONENTS: list[dict[str, Any]] = [
    {"name": "web-a", "type": "webservice", "properties": {"image": "a:1", "env": [{"name": "X", "value": "1"}]}},
    {"name": "web-b", "type": "webservice", "properties": {"image": "b:1"}, "traits": [{"type": "scaler"}]},
    {"name": "job", "type": "worker", "properties": {"image": "j:1"}},
]


def test_override_star_names_and_type_only_entries():
    out = apply_override(COMPONENTS, {"components": [{"name": "web-*", "properties": {"image": "prod:2"}}]})
    assert [c["properties"]["image"] for c in out] == ["prod:2", "prod:2", "j:1"]
    out = apply_override(COMPONENTS, {"components": [{"type": "worker", "properties": {"cpu": "1"}}]})
    assert out[2]["properties"] == {"image": "j:1", "cpu": "1"} and "cpu" not in out[0]["properties"]
    out = apply_override(COMPONENTS, {"components": [{"properties": {"memory": "1Gi"}}]})  # no name: every one
    assert all(c["properties"]["memory"] == "1Gi" for c in out)


def test_override_replaces_a_component_of_another_type_and_adds_a_new_name():
    out = apply_override(COMPONENTS, {"components": [{"name": "job", "type": "task", "properties": {"image": "t"}}]})
    assert out[2] == {"name": "job", "type": "task", "properties": {"image": "t"}, "traits": []}
    out = apply_override(
        COMPONENTS, {"components": [{"name": "extra", "type": "worker", "properties": {"image": "e"}}]}
    )
    assert [c["name"] for c in out] == ["web-a", "web-b", "job", "extra"]


def test_override_traits_add_merge_and_disable():
    out = apply_override(
        COMPONENTS,
        {
            "components": [
                {"name": "web-b", "traits": [{"type": "scaler", "disable": True}]},
                {"name": "web-a", "traits": [{"type": "scaler", "properties": {"replicas": 3}}]},
            ]
        },
    )
    assert out[1]["traits"] == []
    assert out[0]["traits"] == [{"type": "scaler", "properties": {"replicas": 3}}]


@pytest.mark.parametrize(
    "props, field, got, go_type",
    [
        ({"clusters": "edge-1"}, "clusters", "string", "[]string"),
        ({"clusters": ["edge-1", 3]}, "clusters", "number", "string"),
        ({"clusterLabelSelector": ["env=prod"]}, "clusterLabelSelector", "array", "map[string]string"),
        ({"clusterLabelSelector": {"env": True}}, "clusterLabelSelector", "bool", "string"),
        ({"clusters": ["edge-1"], "namespace": 5}, "namespace", "number", "string"),
    ],
)
def test_mistyped_topology_fields_are_refused_as_kubevelas_strict_unmarshal_does(props, field, got, go_type):
    with pytest.raises(PlacementError) as e:
        topology_placements([topo("t", **props)], CLUSTERS, "ns")
    assert str(e.value) == (
        f"failed to parse topology policy t: json: cannot unmarshal {got} "
        f"into Go struct field TopologyPolicySpec.{field} of type {go_type}"
    )
