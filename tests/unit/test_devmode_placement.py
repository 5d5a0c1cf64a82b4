"""Which placement dev mode works in (no cluster): the only one; the user's --cluster and
--namespace; the one already in dev mode; several clusters are the user's choice; one
cluster with several namespaces keeps the first deploy target's, as before."""

import pytest

from veladev.cluster.clusters import LOCAL, Placement
from veladev.devmode.config import choose_placement
from veladev.devmode.errors import DevModeError, PlacementChoice

E1, E2, E3 = Placement("edge-1", "test"), Placement("edge-2", "prod"), Placement("edge-3", "prod")


def choose(placements, cluster=None, namespace=None, recorded=(), default="test"):
    return choose_placement("web", placements, recorded, cluster, namespace, default)


def test_one_placement_is_used_whatever_its_cluster():
    assert choose([E2]) == E2
    assert choose([Placement(LOCAL, "test")]) == Placement(LOCAL, "test")


def test_not_deployed_yet_is_the_hub_and_the_first_deploy_namespace_as_before():
    assert choose([]) == Placement(LOCAL, "test")
    assert choose([], namespace="other") == Placement(LOCAL, "other")
    assert choose([], cluster="edge-1") == Placement("edge-1", "test")


def test_several_clusters_without_a_choice_is_one_sentence_listing_them():
    with pytest.raises(PlacementChoice) as err:
        choose([E1, E2, E3])
    assert str(err.value) == (
        "component web runs in several clusters (edge-1/test, edge-2/prod, edge-3/prod); "
        "choose one with --cluster (and --namespace)"
    )
    assert isinstance(err.value, DevModeError)
    with pytest.raises(PlacementChoice, match=r"\(edge-2/prod, edge-3/prod\)"):
        choose([E1, E2, E3], namespace="prod")


def test_the_named_cluster_and_namespace_choose():
    assert choose([E1, E2, E3], cluster="edge-3") == E3
    assert choose([E1, E2, E3], namespace="test") == E1  # the only one in that namespace
    both = [Placement("edge-1", "test"), Placement("edge-1", "prod")]
    assert choose(both, cluster="edge-1", namespace="prod") == Placement("edge-1", "prod")
    assert choose(both, cluster="edge-1") == Placement("edge-1", "test")  # the first deploy target's


def test_a_cluster_where_the_component_does_not_run_is_refused_naming_where_it_runs():
    with pytest.raises(PlacementChoice, match=r"^component web does not run in cluster edge-9; it runs in edge-1/test"):
        choose([E1, E2], cluster="edge-9")
    with pytest.raises(PlacementChoice, match="does not run in cluster edge-2 namespace test"):
        choose([E1, E2], cluster="edge-2", namespace="test")


def test_the_placement_in_dev_mode_wins_when_no_cluster_is_named():
    assert choose([E1, E2, E3], recorded=[E2]) == E2
    with pytest.raises(PlacementChoice):  # two in dev mode: still the user's choice
        choose([E1, E2, E3], recorded=[E2, E3])
    assert choose([E1, E2, E3], cluster="edge-1", recorded=[E2]) == E1


def test_one_cluster_with_several_namespaces_keeps_the_first_deploy_target():
    hub = [Placement(LOCAL, "test"), Placement(LOCAL, "prod")]
    assert choose(hub) == Placement(LOCAL, "test")
    assert choose(hub, default="prod") == Placement(LOCAL, "prod")
    assert choose(hub, namespace="prod") == Placement(LOCAL, "prod")
    assert choose(hub, namespace="elsewhere") == Placement(LOCAL, "elsewhere")
