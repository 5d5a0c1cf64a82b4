"""The KubeVela stand-in delivering to managed clusters: topology placement by names and labels,
override policies per deploy step, dispatch with the registration Secret's credentials,
per-cluster status and ResourceTrackers, step failures for unknown and stopped clusters
(kubevela/kubevela v1.10.9 pkg/policy/topology.go, pkg/workflow/providers/multicluster/deploy.go,
apis/core.oam.dev/common/types.go). Every check on a managed cluster uses that cluster's own
client; the Application lives on the hub."""

import uuid

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kv_helpers import GROUP, VERSION, Apps, app_obj, event_count, step_phase, steps_of, wait_for_passes, wf_of
from sandbox_helpers import WEB_IMAGE, ensure_web_image

pytestmark = pytest.mark.sandbox

DEPLOY_ERROR = "run step(provider=multicluster,do=deploy): "
CLUSTER_LABEL = "app.oam.dev/cluster"
WAIT = 120  # pods start in three clusters on a shared machine


class Edges:
    """One client per managed cluster (never through the hub)."""

    def __init__(self, hub):
        self.hub = hub
        self.api = {name: c.api_client() for name, c in hub.clusters.items()}

    def apps(self, cluster):
        return client.AppsV1Api(self.api[cluster])

    def core(self, cluster):
        return client.CoreV1Api(self.api[cluster])

    def deployment(self, cluster, ns, name="web"):
        try:
            return self.apps(cluster).read_namespaced_deployment(name, ns)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def ready(self, cluster, ns, replicas=1, name="web"):
        """Wait until the Deployment in `cluster` has `replicas` ready pods, which run there."""

        def check():
            d = self.deployment(cluster, ns, name)
            if d is None or (d.status.ready_replicas or 0) != replicas:
                return None
            pods = self.core(cluster).list_namespaced_pod(ns, label_selector=f"app.oam.dev/component={name}").items
            running = [p for p in pods if p.status.phase == "Running" and not p.metadata.deletion_timestamp]
            return d if len(running) == replicas else None

        return self.hub.wait_for(check, timeout=WAIT, what=f"{replicas} ready pod(s) of {ns}/{name} in {cluster}")

    def gone(self, cluster, ns, name="web"):
        self.hub.wait_for(
            lambda: self.deployment(cluster, ns, name) is None, timeout=WAIT, what=f"{ns}/{name} gone from {cluster}"
        )

    def env(self, deployment):
        return {e.name: e.value for e in deployment.spec.template.spec.containers[0].env or []}

    def close(self):
        for api in self.api.values():
            api.close()


@pytest.fixture
def mc(multicluster):
    """(hub namespace for the Applications, Apps on the hub, Edges); everything removed after."""
    if multicluster.pods_unsupported:
        pytest.skip(multicluster.pods_unsupported)
    for cluster in multicluster.clusters.values():
        ensure_web_image(cluster)
    ns = "mc-" + uuid.uuid4().hex[:8]
    apps = Apps(multicluster)
    edges = Edges(multicluster)
    apps.core.create_namespace({"metadata": {"name": ns}})
    yield ns, apps, edges
    try:
        for app in apps.co.list_namespaced_custom_object(GROUP, VERSION, ns, "applications")["items"]:
            apps.delete(ns, app["metadata"]["name"])
        for name in multicluster.clusters:
            multicluster.wait_for(
                lambda n=name: (
                    not [
                        d
                        for d in edges.apps(n).list_deployment_for_all_namespaces().items
                        if d.metadata.namespace == ns
                    ]
                ),
                timeout=WAIT,
                what=f"the test's deployments gone from {name}",
            )
        apps.core.delete_namespace(ns)
    finally:
        edges.close()
        apps.api.close()


def web(replicas=1, **props):
    return {
        "name": "web",
        "type": "webservice",
        "properties": {"image": WEB_IMAGE, "ports": [{"port": 80}], **props},
        "traits": [{"type": "scaler", "properties": {"replicas": replicas}}],
    }


def topology(name, **props):
    return {"name": name, "type": "topology", "properties": props}


def deploy(name, *policies, **extra):
    return {"name": name, "type": "deploy", "properties": {"policies": list(policies), **extra}}


def rt_entries(apps, ns, name):
    rt = apps.co.get_cluster_custom_object(GROUP, VERSION, "resourcetrackers", f"{name}-{ns}")
    return rt["spec"]["managedResources"]


def test_placement_by_names_dispatches_to_each_named_cluster_with_per_cluster_status(mc):
    ns, apps, edges = mc
    target = ns + "-app"  # the managed clusters' namespace differs from the hub's
    app = app_obj("names", [web()], policies=[topology("two", clusters=["edge-1", "edge-3"], namespace=target)])
    apps.create(ns, app)
    a = apps.wait_phase(ns, "names", "running", timeout=WAIT)
    for cluster in ("edge-1", "edge-3"):
        d = edges.ready(cluster, target)
        assert d.metadata.labels[CLUSTER_LABEL] == cluster
        assert d.metadata.labels["app.oam.dev/name"] == "names"
    assert edges.deployment("edge-2", target) is None
    assert [d for d in apps.apps.list_deployment_for_all_namespaces().items if d.metadata.name == "web"] == []

    # the implicit workflow: one deploy step per topology policy
    assert [(s["name"], s["phase"]) for s in wf_of(a)["steps"]] == [("deploy-two", "succeeded")]
    services = a["status"]["services"]
    assert [(s["name"], s["cluster"], s["namespace"], s["healthy"]) for s in services] == [
        ("web", "edge-1", target, True),
        ("web", "edge-3", target, True),
    ]
    assert {(r["cluster"], r["kind"], r["namespace"]) for r in a["status"]["appliedResources"]} == {
        ("edge-1", "Deployment", target),
        ("edge-3", "Deployment", target),
    }
    assert {(e["cluster"], e["kind"], e["name"]) for e in rt_entries(apps, ns, "names")} == {
        ("edge-1", "Deployment", "web"),
        ("edge-3", "Deployment", "web"),
    }

    # deleting the Application removes what it deployed in every managed cluster
    apps.delete(ns, "names")
    for cluster in ("edge-1", "edge-3"):
        edges.gone(cluster, target)


def test_placement_by_labels_and_a_changed_topology_moves_the_component(mc):
    ns, apps, edges = mc
    target = ns + "-prod"
    pol = [topology("prod", clusterLabelSelector={"env": "prod"}, namespace=target)]
    apps.create(ns, app_obj("labels", [web()], policies=pol))
    a = apps.wait_phase(ns, "labels", "running", timeout=WAIT)
    assert sorted(s["cluster"] for s in a["status"]["services"]) == ["edge-2", "edge-3"]
    for cluster in ("edge-2", "edge-3"):
        edges.ready(cluster, target)
    assert edges.deployment("edge-1", target) is None

    # a narrower selector: the next run deploys to edge-3 only and collects edge-2's Deployment
    apps.patch(
        ns,
        "labels",
        {"spec": {"policies": [topology("prod", clusterLabelSelector={"region": "west"}, namespace=target)]}},
    )
    edges.gone("edge-2", target)
    a = apps.wait(
        ns, "labels", lambda x: [s["cluster"] for s in x["status"].get("services") or []] == ["edge-3"], "only edge-3"
    )
    assert {e["cluster"] for e in rt_entries(apps, ns, "labels")} == {"edge-3"}
    edges.ready("edge-3", target)


def test_overrides_per_deploy_step_differ_in_each_cluster(mc):
    ns, apps, edges = mc
    policies = [
        topology("test", clusters=["edge-1"]),
        topology("prod", clusterLabelSelector={"env": "prod"}),
        {
            "name": "test-env",
            "type": "override",
            "properties": {
                "components": [{"name": "web", "properties": {"env": [{"name": "STAGE", "value": "test"}]}}]
            },
        },
        {
            "name": "prod-env",
            "type": "override",
            "properties": {
                "components": [
                    {
                        "name": "w*",
                        "properties": {"env": [{"name": "STAGE", "value": "prod"}]},
                        "traits": [{"type": "scaler", "properties": {"replicas": 2}}],
                    }
                ]
            },
        },
    ]
    steps = [deploy("deploy-test", "test", "test-env"), deploy("deploy-prod", "prod", "prod-env")]
    apps.create(ns, app_obj("over", [web(env=[{"name": "STAGE", "value": "none"}])], steps, policies))
    apps.wait_phase(ns, "over", "running", timeout=WAIT)
    test = edges.ready("edge-1", ns, replicas=1)
    assert edges.env(test) == {"STAGE": "test"}
    for cluster in ("edge-2", "edge-3"):
        prod = edges.ready(cluster, ns, replicas=2)
        assert edges.env(prod) == {"STAGE": "prod"}
    # the running pods carry what their cluster's override set
    pod = edges.core("edge-2").list_namespaced_pod(ns, label_selector="app.oam.dev/component=web").items[0]
    assert {e.name: e.value for e in pod.spec.containers[0].env} == {"STAGE": "prod"}


def test_unknown_cluster_and_a_selector_matching_nothing_fail_the_step_in_kubevelas_words(mc):
    ns, apps, _ = mc
    apps.create(ns, app_obj("nowhere", [web()], policies=[topology("t", clusters=["edge-1", "edge-9"])]))
    a = apps.wait(ns, "nowhere", lambda x: step_phase(x, "deploy-t") == "failed", "deploy step failed")
    st = steps_of(a)["deploy-t"]
    assert st["message"] == DEPLOY_ERROR + "failed to get cluster edge-9: no such cluster"
    # retried with back-off until KubeVela's limit; nothing was dispatched meanwhile
    a = apps.wait(
        ns, "nowhere", lambda x: steps_of(x)["deploy-t"].get("reason") == "FailedAfterRetries", "retries exhausted"
    )
    assert wf_of(a)["terminated"] is True and not a["status"].get("appliedResources")

    apps.create(ns, app_obj("nolabel", [web()], policies=[topology("t", clusterLabelSelector={"env": "staging"})]))
    a = apps.wait(ns, "nolabel", lambda x: step_phase(x, "deploy-t") == "failed", "deploy step failed")
    assert steps_of(a)["deploy-t"]["message"] == DEPLOY_ERROR + "failed to find any cluster matches given labels"


def seed_shape(name):
    """The user story's workflow: test in edge-1, approval, prod in edge-2 and edge-3."""
    policies = [topology("test", clusters=["edge-1"]), topology("prod", clusters=["edge-2", "edge-3"])]
    steps = [deploy("deploy-test", "test"), {"name": "approve", "type": "suspend"}, deploy("deploy-prod", "prod")]
    return app_obj(name, [web()], steps, policies)


def test_suspend_then_resume_promotes_from_the_test_cluster_to_both_prod_clusters(mc):
    ns, apps, edges = mc
    apps.create(ns, seed_shape("promote"))
    a = apps.wait_phase(ns, "promote", "workflowSuspending", timeout=WAIT)
    edges.ready("edge-1", ns)
    assert edges.deployment("edge-2", ns) is None and edges.deployment("edge-3", ns) is None
    assert [s["cluster"] for s in a["status"]["services"]] == ["edge-1"]
    apps.resume(ns, "promote")
    a = apps.wait_phase(ns, "promote", "running", timeout=WAIT)
    for cluster in ("edge-2", "edge-3"):
        edges.ready(cluster, ns)
    assert [s["cluster"] for s in a["status"]["services"]] == ["edge-1", "edge-2", "edge-3"]


@pytest.fixture
def fast_hub_resync(multicluster):
    """The hub reconciles (health read-back, state-keep) every second (KubeVela: 5 minutes);
    nothing watches the managed clusters, so that is how their changes are seen."""
    old = multicluster.kubevela.resync_period
    multicluster.kubevela.resync_period = 1.0
    yield
    multicluster.kubevela.resync_period = old


def service_in(app, cluster):
    return next(s for s in app["status"]["services"] if s["cluster"] == cluster)


def test_a_cluster_stopped_mid_workflow_fails_the_step_until_it_is_back(mc, multicluster, fast_hub_resync):
    ns, apps, edges = mc
    apps.create(ns, seed_shape("cut"))
    apps.wait_phase(ns, "cut", "workflowSuspending", timeout=WAIT)
    edges.ready("edge-1", ns)
    port = multicluster.clusters["edge-3"].port
    multicluster.stop_cluster("edge-3")
    try:
        apps.resume(ns, "cut")
        a = apps.wait(ns, "cut", lambda x: step_phase(x, "deploy-prod") == "failed", "deploy-prod failed")
        st = steps_of(a)["deploy-prod"]
        assert st["reason"] == "Execute"  # to be retried
        assert st["message"] == (
            DEPLOY_ERROR + "Found 1 errors. [(error encountered in cluster edge-3: Dispatch: Found 1 errors. "
            f"[(cannot get object: dial tcp 127.0.0.1:{port}: connect: connection refused)])]"
        )
    finally:
        multicluster.start_cluster("edge-3")
    # the other prod cluster was served all along; after the restart the retry succeeds
    a = apps.wait_phase(ns, "cut", "running", timeout=WAIT)
    for cluster in ("edge-2", "edge-3"):
        edges.ready(cluster, ns)
    assert step_phase(a, "deploy-prod") == "succeeded"

    # cut off after the rollout: that placement turns unhealthy with the reason, the others stay healthy
    multicluster.stop_cluster("edge-2")
    try:
        a = apps.wait(ns, "cut", lambda x: not service_in(x, "edge-2")["healthy"], "edge-2 unhealthy", timeout=WAIT)
        assert "connect: connection refused" in service_in(a, "edge-2")["message"]
        assert service_in(a, "edge-3")["healthy"] and service_in(a, "edge-1")["healthy"]
        assert a["status"]["status"] == "unhealthy"
    finally:
        multicluster.start_cluster("edge-2")
    apps.wait_phase(ns, "cut", "running", timeout=WAIT)


def test_state_keep_reverts_drift_in_a_managed_cluster_unless_the_app_is_paused(mc, multicluster, fast_hub_resync):
    ns, apps, edges = mc
    apps.create(ns, app_obj("keep", [web()], policies=[topology("t", clusters=["edge-2"])]))
    apps.wait_phase(ns, "keep", "running", timeout=WAIT)
    edges.ready("edge-2", ns)
    drift = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "drifted:1"}]}}}}
    edges.apps("edge-2").patch_namespaced_deployment("web", ns, drift)
    multicluster.wait_for(
        lambda: edges.deployment("edge-2", ns).spec.template.spec.containers[0].image == WEB_IMAGE,
        timeout=WAIT,
        what="state-keep reverted the image in edge-2",
    )
    apps.patch(ns, "keep", {"metadata": {"labels": {"controller.core.oam.dev/pause": "true"}}})
    wait_for_passes(apps, ns, "keep", "ReconcilePaused", passes=1)
    edges.apps("edge-2").patch_namespaced_deployment("web", ns, drift)
    wait_for_passes(apps, ns, "keep", "ReconcilePaused", passes=2)
    assert edges.deployment("edge-2", ns).spec.template.spec.containers[0].image == "drifted:1"
    before = event_count(apps, ns, "keep", "StateKeep")
    apps.patch(ns, "keep", {"metadata": {"labels": {"controller.core.oam.dev/pause": None}}})
    multicluster.wait_for(
        lambda: edges.deployment("edge-2", ns).spec.template.spec.containers[0].image == WEB_IMAGE,
        timeout=WAIT,
        what="state-keep reverted the image after the pause",
    )
    assert event_count(apps, ns, "keep", "StateKeep") > before


def test_apply_component_step_with_a_cluster(mc):
    ns, apps, edges = mc

    def step(cluster):
        return {"name": "one", "type": "apply-component", "properties": {"component": "web", "cluster": cluster}}

    apps.create(ns, app_obj("single", [web()], [step("edge-1")]))
    a = apps.wait_phase(ns, "single", "running", timeout=WAIT)
    assert edges.ready("edge-1", ns).metadata.labels[CLUSTER_LABEL] == "edge-1"
    assert [(s["cluster"], s["namespace"]) for s in a["status"]["services"]] == [("edge-1", ns)]

    apps.create(ns, app_obj("lost", [web()], [step("edge-9")]))
    a = apps.wait(ns, "lost", lambda x: step_phase(x, "one") == "failed", "apply-component failed")
    assert steps_of(a)["one"]["message"] == (
        "run step(provider=oam,do=component-apply): Found 1 errors. [(error encountered in cluster edge-9: "
        "Dispatch: Found 1 errors. [(cannot get object: no such cluster edge-9)])]"
    )
