"""`veladev status` per cluster, from Application objects shaped as KubeVela writes them
(`status.services[]` per component x cluster x namespace, "" for the hub): health per
component x cluster, each deploy step's placements, and unreachable clusters shown as such."""

from veladev.delivery.status import describe_status, read_status, status_json

CLUSTERS = {"local": {}, "edge-1": {"env": "test"}, "edge-2": {"env": "prod"}, "edge-3": {"env": "prod"}}

APP = {
    "apiVersion": "core.oam.dev/v1beta1",
    "kind": "Application",
    "metadata": {"name": "shop", "namespace": "team"},
    "spec": {
        "components": [{"name": "web", "type": "webservice", "properties": {"image": "nginx"}}],
        "policies": [
            {"name": "test", "type": "topology", "properties": {"clusters": ["edge-1"]}},
            {
                "name": "prod",
                "type": "topology",
                "properties": {"clusterLabelSelector": {"env": "prod"}, "namespace": "live"},
            },
        ],
        "workflow": {
            "steps": [
                {"name": "deploy-test", "type": "deploy", "properties": {"policies": ["test"]}},
                {"name": "gate", "type": "suspend"},
                {"name": "deploy-prod", "type": "deploy", "properties": {"policies": ["prod"]}},
            ]
        },
    },
    "status": {
        "status": "running",
        "workflow": {
            "status": "succeeded",
            "finished": True,
            "steps": [
                {"name": "deploy-test", "type": "deploy", "phase": "succeeded"},
                {"name": "gate", "type": "suspend", "phase": "succeeded"},
                {"name": "deploy-prod", "type": "deploy", "phase": "succeeded"},
            ],
        },
        "services": [
            {"name": "web", "namespace": "team", "cluster": "edge-1", "healthy": True, "message": "Ready:1/1 "},
            {"name": "web", "namespace": "live", "cluster": "edge-2", "healthy": True, "message": "Ready:1/1 "},
            {"name": "web", "namespace": "live", "cluster": "edge-3", "healthy": False, "message": "Ready:0/1 "},
            {"name": "db", "namespace": "", "cluster": "", "healthy": True},
        ],
    },
}

DOWN = {"edge-2": "cluster edge-2 is unreachable: dial tcp 127.0.0.1:4711: connect: connection refused"}


def test_health_per_component_and_cluster_with_the_hub_as_local():
    s = read_status(APP, CLUSTERS)
    assert [(x.component, x.cluster, x.namespace, x.health, x.message) for x in s.services] == [
        ("web", "edge-1", "team", "healthy", "Ready:1/1"),
        ("web", "edge-2", "live", "healthy", "Ready:1/1"),
        ("web", "edge-3", "live", "unhealthy", "Ready:0/1"),
        ("db", "local", "team", "healthy", ""),
    ]
    assert s.clusters() == ["local", "edge-1", "edge-2", "edge-3"]


def test_each_deploy_step_shows_its_placements():
    s = read_status(APP, CLUSTERS)
    assert s.steps is not None
    assert [(st.step, [(p.cluster, p.namespace) for p in st.placements]) for st in s.steps] == [
        ("deploy-test", [("edge-1", "team")]),
        ("deploy-prod", [("edge-2", "live"), ("edge-3", "live")]),
    ]


def test_an_unreachable_cluster_is_shown_as_such_and_the_rest_still_is():
    s = read_status(APP, CLUSTERS, DOWN)
    health = {(x.component, x.cluster): x.health for x in s.services}
    assert health == {
        ("web", "edge-1"): "healthy",
        ("web", "edge-2"): "unreachable",
        ("web", "edge-3"): "unhealthy",
        ("db", "local"): "healthy",
    }
    text = "\n".join(describe_status(s))
    assert "team/shop: running (workflow succeeded)" in text
    assert "web  edge-2  live             ? unreachable  cluster edge-2 is unreachable: dial tcp" in text
    assert "web  edge-1  team             ✓ healthy  Ready:1/1" in text
    assert "deploy-prod  edge-2/live (unreachable), edge-3/live" in text
    j = status_json(s)
    assert j["unreachable"] == DOWN
    assert {
        "component": "web",
        "cluster": "edge-2",
        "namespace": "live",
        "health": "unreachable",
        "message": DOWN["edge-2"],
    } in j["services"]
    assert j["placements"][1] == {
        "step": "deploy-prod",
        "error": "",
        "placements": [
            {"cluster": "edge-2", "namespace": "live", "reach": "unreachable"},
            {"cluster": "edge-3", "namespace": "live", "reach": ""},
        ],
    }


def test_a_step_that_cannot_be_placed_says_why_in_kubevelas_words():
    clusters = {"local": {}, "edge-1": {"env": "test"}}
    text = "\n".join(describe_status(read_status(APP, clusters)))
    assert "deploy-prod  failed to find any cluster matches given labels" in text


def test_without_the_cluster_list_placements_are_left_out_and_health_still_shows():
    s = read_status(APP, None)
    assert s.steps is None and len(s.services) == 4
    assert "placements:" not in "\n".join(describe_status(s))
    assert status_json(s)["placements"] is None


def test_an_app_without_services_yet_shows_its_workflow_only():
    app = {"metadata": {"name": "new", "namespace": "team"}, "spec": {"components": []}}
    assert describe_status(read_status(app, CLUSTERS)) == [
        "team/new: no status yet (workflow -)",
        "placements:",
        "  deploy  local/team",
    ]
