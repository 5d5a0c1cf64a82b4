"""The seed's delivery flow on real sandbox pods: the example Application deploys to `test`,
suspends, resumes, deploys to `prod`; the VelaUX trigger ships a pushed commit to `test`
while `prod` keeps the old one until resume; state-keep reverts drift unless paused or
covered by apply-once (sandbox/README.md cites the KubeVela sources)."""

import re

import pytest
from kubernetes.client.exceptions import ApiException

from kv_helpers import (
    app_obj,
    commit_version,
    example_app,
    serves,
    step_phase,
    steps_of,
    ux,
    ux_login,
    wait_for_passes,
    wf_of,
)
from sandbox_helpers import WEB_IMAGE, ensure_web_image

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("need_pods")]


def _gone(fn):
    try:
        fn()
        return False
    except ApiException as e:
        return e.status == 404


def test_example_app_test_suspend_resume_prod_then_trigger_and_promote(sandbox, apps, sandbox_ns, frontend_repo):
    ns, core = sandbox_ns, apps.core
    app = example_app()
    app["metadata"]["namespace"] = ns
    apps.create(ns, app)

    # 1. deploy-test, then the workflow suspends before prod
    a = apps.wait_phase(ns, "frontend", "workflowSuspending", timeout=90)
    assert step_phase(a, "deploy-test") == "succeeded" and step_phase(a, "approve-prod") == "suspending"
    assert "deploy-prod" not in steps_of(a)
    svc = a["status"]["services"]
    assert [(s["name"], s["namespace"], s["healthy"], s["message"]) for s in svc] == [
        ("frontend", "test", True, "Ready:1/1")
    ]
    d = apps.apps.read_namespaced_deployment("frontend", "test")
    labels = d.metadata.labels
    assert (labels["app.oam.dev/name"], labels["app.oam.dev/namespace"], labels["app.oam.dev/component"]) == (
        "frontend",
        ns,
        "frontend",
    )
    assert d.spec.selector.match_labels == {"app.oam.dev/component": "frontend"}
    assert d.metadata.annotations["dev.nocalhost/application-name"] == "frontend"
    assert '"portForward":["8080:80"]' in d.metadata.annotations["dev.nocalhost"]
    assert core.read_namespaced_service("frontend", "test").spec.type == "ClusterIP"
    assert _gone(lambda: apps.apps.read_namespaced_deployment("frontend", "prod"))
    serves(sandbox, core, "test", "frontend", "frontend v1.0.0")

    # 2. flipping only `suspend` re-suspends; nothing reaches prod
    rv = int(
        apps.patch_status(ns, "frontend", {"status": {"workflow": {"suspend": False}}})["metadata"]["resourceVersion"]
    )
    a = apps.wait(
        ns, "frontend", lambda x: int(x["metadata"]["resourceVersion"]) > rv and wf_of(x)["suspend"], "re-suspended"
    )
    assert step_phase(a, "approve-prod") == "suspending"
    assert _gone(lambda: apps.apps.read_namespaced_deployment("frontend", "prod"))

    # 3. the real resume: prod gets v1.0.0
    apps.resume(ns, "frontend")
    a = apps.wait_phase(ns, "frontend", "running", timeout=90)
    assert [step_phase(a, s) for s in ("deploy-test", "approve-prod", "deploy-prod")] == ["succeeded"] * 3
    assert {s["namespace"] for s in a["status"]["services"]} == {"test", "prod"}
    serves(sandbox, core, "prod", "frontend", "frontend v1.0.0")

    # 4. push v2.0.0 and call the VelaUX trigger: test runs the commit, prod keeps v1
    commit = commit_version(frontend_repo, "v2.0.0")
    token = sandbox.velaux.create_trigger("frontend", ns)
    st, body = ux(
        sandbox,
        "POST",
        f"/api/v1/webhook/{token}",
        {
            "upgrade": {"frontend": {"image": f"sandbox.local/frontend:{commit}"}},
            "codeInfo": {"commit": commit, "branch": "main", "user": "dev"},
        },
    )
    assert st == 200, body
    version = body["version"]
    assert re.fullmatch(r"workflow-default-\d{17}", version) and body["record"]["name"] == version
    assert body["codeInfo"]["commit"] == commit
    a = apps.get(ns, "frontend")
    assert a["metadata"]["annotations"]["app.oam.dev/publishVersion"] == version
    assert a["metadata"]["labels"]["app.oam.dev/source-of-truth"] == "from-velaux"
    assert a["spec"]["components"][0]["properties"] == {
        "image": f"sandbox.local/frontend:{commit}",
        "ports": [{"port": 80}],
    }
    a = apps.wait(
        ns,
        "frontend",
        lambda x: wf_of(x).get("appRevision") == version and x["status"]["status"] == "workflowSuspending",
        "the triggered run suspended",
        timeout=90,
    )
    serves(sandbox, core, "test", "frontend", "frontend v2.0.0")
    assert "frontend v1.0.0" in serves(sandbox, core, "prod", "frontend", "frontend v1.0.0")
    tok = ux_login(sandbox)
    st, recs = ux(sandbox, "GET", "/api/v1/applications/frontend/workflows/workflow-default/records", token=tok)
    assert st == 200 and recs["records"][-1]["codeInfo"]["commit"] == commit
    assert recs["records"][-1]["status"] == "suspending"

    # 5. promote through VelaUX's record resume endpoint: prod runs v2.0.0
    st, _ = ux(sandbox, "GET", f"/api/v1/applications/frontend/workflows/workflow-default/records/{version}/resume")
    assert st == 401
    st, body = ux(
        sandbox, "GET", f"/api/v1/applications/frontend/workflows/workflow-default/records/{version}/resume", token=tok
    )
    assert (st, body) == (200, {})
    apps.wait_phase(ns, "frontend", "running", timeout=90)
    serves(sandbox, core, "prod", "frontend", "frontend v2.0.0")

    # 6. deleting the Application deletes what it deployed
    apps.delete(ns, "frontend")
    for target in ("test", "prod"):
        sandbox.wait_for(
            lambda ns=target: _gone(lambda: apps.apps.read_namespaced_deployment("frontend", ns)),
            what=f"frontend removed from {target}",
        )
        sandbox.wait_for(
            lambda ns=target: not core.list_namespaced_pod(ns).items, timeout=60, what=f"no pod left in {target}"
        )


def _web_app(name, target, replicas=2, policies=(), probe=True):
    props = {"image": WEB_IMAGE, "ports": [{"port": 80}]}
    if probe:
        props["readinessProbe"] = {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 1}
    comp = [
        {
            "name": "web",
            "type": "webservice",
            "properties": props,
            "traits": [{"type": "scaler", "properties": {"replicas": replicas}}],
        }
    ]
    pol = [{"name": "here", "type": "topology", "properties": {"clusters": ["local"], "namespace": target}}, *policies]
    return app_obj(name, comp, [{"name": "deploy", "type": "deploy", "properties": {"policies": ["here"]}}], pol)


def _deployment_is(apps, ns, pred, what):
    return apps.sb.wait_for(
        lambda: (lambda d: d if pred(d) else None)(apps.apps.read_namespaced_deployment("web", ns)),
        timeout=30,
        what=what,
    )


def test_state_keep_reverts_drift_until_paused(sandbox, apps, sandbox_ns, fast_resync):
    ensure_web_image(sandbox)
    ns = sandbox_ns
    apps.create(ns, _web_app("drift", ns))
    apps.wait_phase(ns, "drift", "running", timeout=60)
    # swap the image, scale, drop the probe: all rendered fields, all put back
    apps.apps.patch_namespaced_deployment(
        "web",
        ns,
        {
            "spec": {
                "replicas": 3,
                "template": {
                    "spec": {
                        "containers": [{"name": "web", "image": "sandbox.local/toolchain", "readinessProbe": None}]
                    }
                },
            }
        },
    )
    d = _deployment_is(
        apps,
        ns,
        lambda d: (
            d.spec.template.spec.containers[0].image == WEB_IMAGE
            and d.spec.replicas == 2
            and d.spec.template.spec.containers[0].readiness_probe is not None
        ),
        "drift reverted",
    )
    assert d.spec.template.spec.containers[0].readiness_probe.http_get.path == "/"
    # what KubeVela never rendered survives (a hand-added annotation)
    apps.apps.patch_namespaced_deployment("web", ns, {"metadata": {"annotations": {"by-hand": "yes"}}})
    apps.apps.patch_namespaced_deployment("web", ns, {"spec": {"replicas": 5}})
    d = _deployment_is(apps, ns, lambda d: d.spec.replicas == 2, "replicas reverted")
    assert d.metadata.annotations["by-hand"] == "yes"

    # pause: the controller leaves the app alone (no state-keep)
    apps.patch(ns, "drift", {"metadata": {"labels": {"controller.core.oam.dev/pause": "true"}}})
    apps.apps.patch_namespaced_deployment(
        "web",
        ns,
        {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [{"name": "web", "image": "sandbox.local/toolchain", "readinessProbe": None}]
                    }
                }
            }
        },
    )
    d = apps.apps.read_namespaced_deployment("web", ns)
    assert d.spec.template.spec.containers[0].readiness_probe is None
    # two resyncs visit the paused app (observed through its events), and the drift survives them
    wait_for_passes(apps, ns, "drift", "ReconcilePaused")
    d = apps.apps.read_namespaced_deployment("web", ns)
    assert d.spec.template.spec.containers[0].image == "sandbox.local/toolchain"
    assert d.spec.template.spec.containers[0].readiness_probe is None
    # unpause: the next reconcile restores the desired state, probe included
    apps.patch(ns, "drift", {"metadata": {"labels": {"controller.core.oam.dev/pause": None}}})
    _deployment_is(
        apps,
        ns,
        lambda d: (
            d.spec.template.spec.containers[0].image == WEB_IMAGE
            and d.spec.template.spec.containers[0].readiness_probe is not None
        ),
        "restored after unpause",
    )


def test_apply_once_rule_keeps_the_live_image_but_state_keep_still_runs(sandbox, apps, sandbox_ns, fast_resync):
    ensure_web_image(sandbox)
    ns = sandbox_ns
    once = {
        "name": "once",
        "type": "apply-once",
        "properties": {
            "enable": True,
            "rules": [
                {
                    "selector": {"componentNames": ["web"], "resourceTypes": ["Deployment"]},
                    "strategy": {"path": ["spec.template.spec.containers[0].image"], "affect": "onStateKeep"},
                }
            ],
        },
    }
    apps.create(ns, _web_app("once", ns, policies=[once]))
    apps.wait_phase(ns, "once", "running", timeout=60)
    apps.apps.patch_namespaced_deployment(
        "web",
        ns,
        {
            "spec": {
                "replicas": 4,
                "template": {"spec": {"containers": [{"name": "web", "image": "sandbox.local/toolchain"}]}},
            }
        },
    )
    # replicas are reverted (state-keep ran) while the image the rule covers is kept
    d = _deployment_is(apps, ns, lambda d: d.spec.replicas == 2, "replicas reverted")
    assert d.spec.template.spec.containers[0].image == "sandbox.local/toolchain"


def test_apply_once_whole_app_means_no_state_keep(sandbox, apps, sandbox_ns, fast_resync):
    ensure_web_image(sandbox)
    ns = sandbox_ns
    apps.create(
        ns,
        _web_app(
            "never", ns, replicas=1, policies=[{"name": "once", "type": "apply-once", "properties": {"enable": True}}]
        ),
    )
    apps.wait_phase(ns, "never", "running", timeout=60)
    apps.apps.patch_namespaced_deployment("web", ns, {"spec": {"replicas": 2}})
    # two state-keep passes run after the drift (observed through the app's events) and keep it
    wait_for_passes(apps, ns, "never", "StateKeep")
    assert apps.apps.read_namespaced_deployment("web", ns).spec.replicas == 2


def test_rerun_garbage_collects_what_is_no_longer_rendered(sandbox, apps, sandbox_ns):
    ensure_web_image(sandbox)
    ns = sandbox_ns
    apps.create(ns, _web_app("gc", ns, replicas=1, probe=False))
    a = apps.wait_phase(ns, "gc", "running", timeout=60)
    d = apps.apps.read_namespaced_deployment("web", ns)
    assert d.metadata.labels["app.oam.dev/appRevision"] == "gc-v1"
    spec = a["spec"]
    spec["components"][0]["name"] = "web2"
    apps.patch(ns, "gc", {"spec": {"components": spec["components"]}})
    a = apps.wait(
        ns,
        "gc",
        lambda x: x["status"]["status"] == "running" and wf_of(x)["appRevision"] == "gc-v2",
        "the second run",
        timeout=60,
    )
    assert [r["name"] for r in a["status"]["appliedResources"]] == ["web2"]
    sandbox.wait_for(lambda: _gone(lambda: apps.apps.read_namespaced_deployment("web", ns)), what="web collected")
    assert apps.apps.read_namespaced_deployment("web2", ns).metadata.labels["app.oam.dev/appRevision"] == "gc-v2"


def test_override_policy_and_component_depends_on(sandbox, apps, sandbox_ns):
    ensure_web_image(sandbox)
    ns = sandbox_ns
    comps = [
        {
            "name": "web",
            "type": "webservice",
            "dependsOn": ["db"],
            "properties": {"image": WEB_IMAGE, "env": [{"name": "STAGE", "value": "dev"}]},
        },
        {"name": "db", "type": "worker", "properties": {"image": WEB_IMAGE}},
    ]
    pol = [
        {"name": "here", "type": "topology", "properties": {"clusters": ["local"], "namespace": ns}},
        {
            "name": "prod-like",
            "type": "override",
            "properties": {
                "components": [
                    {
                        "name": "web",
                        "properties": {"env": [{"name": "STAGE", "value": "prod"}]},
                        "traits": [{"type": "scaler", "properties": {"replicas": 2}}],
                    }
                ]
            },
        },
    ]
    steps = [{"name": "deploy", "type": "deploy", "properties": {"policies": ["prod-like", "here"]}}]
    apps.create(ns, app_obj("ovr", comps, steps, pol))
    a = apps.wait_phase(ns, "ovr", "running", timeout=60)
    web = apps.apps.read_namespaced_deployment("web", ns)
    assert web.spec.replicas == 2
    assert [(e.name, e.value) for e in web.spec.template.spec.containers[0].env] == [("STAGE", "prod")]
    assert {s["name"]: s["healthy"] for s in a["status"]["services"]} == {"web": True, "db": True}
    assert apps.apps.read_namespaced_deployment("db", ns).status.ready_replicas == 1
