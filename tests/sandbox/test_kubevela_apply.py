"""KubeVela's applicator as the stand-in does it: the three-way merge (kubevela/kubevela:
pkg/utils/apply/apply.go), apply-once paths and the Go duration parser. Pure functions, no sandbox."""

import copy
import json

import pytest

from velasandbox import kinds
from velasandbox.kubevela import apply as ap
from velasandbox.kubevela.workflow import eval_if, generated_steps, parse_duration

DEPLOY = kinds.builtin("apps", "v1", "deployments")


def rendered(image="img:1", env=(("A", "1"), ("B", "2"))):
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "n", "labels": {"app.oam.dev/name": "app"}},
        "spec": {
            "selector": {"matchLabels": {"app.oam.dev/component": "web"}},
            "template": {
                "metadata": {"labels": {"app.oam.dev/component": "web"}},
                "spec": {
                    "containers": [{"name": "web", "image": image, "env": [{"name": k, "value": v} for k, v in env]}]
                },
            },
        },
    }


def live_from(obj):
    live = ap.prepare(obj)
    live["metadata"]["resourceVersion"] = "7"
    live["spec"]["replicas"] = 1  # defaulted by the API server
    return live


def test_rendered_fields_are_put_back_and_unrendered_ones_survive():
    desired = rendered()
    live = live_from(desired)
    c = live["spec"]["template"]["spec"]["containers"]
    c[0]["image"] = "swapped:dev"  # drift on a rendered field
    c.append({"name": "sidecar", "image": "sc:1"})  # a container added by hand
    live["spec"]["replicas"] = 3  # replicas: no scaler trait rendered them
    live["metadata"]["annotations"]["by-hand"] = "x"
    last = json.loads(live["metadata"]["annotations"][ap.LAST_APPLIED])
    out = ap.three_way(DEPLOY, last, ap.prepare(desired), live)
    cs = {x["name"]: x for x in out["spec"]["template"]["spec"]["containers"]}
    assert cs["web"]["image"] == "img:1" and "sidecar" in cs
    assert out["spec"]["replicas"] == 3 and out["metadata"]["annotations"]["by-hand"] == "x"


def test_what_is_no_longer_rendered_is_removed():
    old = rendered()
    live = live_from(old)
    live["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "MINE", "value": "m"})
    new = rendered(env=(("A", "1"),))  # B dropped from the app
    out = ap.three_way(DEPLOY, json.loads(live["metadata"]["annotations"][ap.LAST_APPLIED]), ap.prepare(new), live)
    env = out["spec"]["template"]["spec"]["containers"][0]["env"]
    assert [e["name"] for e in env] == ["A", "MINE"]


def test_prepare_stamps_render_hash_and_last_applied_without_itself():
    obj = ap.prepare(rendered())
    last = json.loads(obj["metadata"]["annotations"][ap.LAST_APPLIED])
    assert ap.LAST_APPLIED not in (last["metadata"].get("annotations") or {})
    assert obj["metadata"]["labels"][ap.RENDER_HASH] == ap.render_hash(rendered())
    assert ap.render_hash(rendered()) != ap.render_hash(rendered(image="img:2"))


def test_ownership_guard():
    live = live_from(rendered())
    live["metadata"]["labels"].update({"app.oam.dev/name": "other", "app.oam.dev/namespace": "x"})
    with pytest.raises(ap.ApplyError, match="managed by other application x/other"):
        ap.check_owner(live, "app", "n")
    live["metadata"]["labels"] = {}
    with pytest.raises(ap.ApplyError, match="not managed by any application"):
        ap.check_owner(live, "app", "n")


def test_apply_once_paths():
    desired = rendered()
    live = copy.deepcopy(desired)
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "kept:1"
    out = ap.keep_live_paths(desired, live, ["spec.template.spec.containers[0].image", "spec.missing"])
    assert out["spec"]["template"]["spec"]["containers"][0]["image"] == "kept:1" and "missing" not in out["spec"]


def test_go_durations_and_if_expressions():
    assert parse_duration("2m15s") == 135 and parse_duration("1.5h") == 5400 and parse_duration("300ms") == 0.3
    with pytest.raises(ValueError):
        parse_duration("1d")  # Go does not accept days
    phases = {"a": "succeeded", "my-step": "failed"}
    assert eval_if("always", phases) and eval_if("status.a.succeeded", phases)
    assert eval_if('status["my-step"].phase == "failed"', phases) and not eval_if("status.a.failed", phases)
    assert eval_if("status.a.succeeded && !status.b.succeeded", phases)
    with pytest.raises(ValueError):
        eval_if('inputs["x"] == "v"', phases)


def test_generated_steps_follow_kubevela():
    topo = [
        {"name": "t1", "type": "topology", "properties": {"namespace": "a"}},
        {"name": "ov", "type": "override", "properties": {"components": []}},
        {"name": "t2", "type": "topology", "properties": {"namespace": "b"}},
    ]
    assert generated_steps({"components": [], "policies": topo}) == [
        {"name": "deploy-t1", "type": "deploy", "properties": {"policies": ["ov", "t1"]}},
        {"name": "deploy-t2", "type": "deploy", "properties": {"policies": ["ov", "t2"]}},
    ]
    assert generated_steps({"components": [], "policies": topo[1:2]}) == [
        {"name": "deploy", "type": "deploy", "properties": {"policies": ["ov"]}}
    ]
    comps = [{"name": "db", "type": "worker"}, {"name": "web", "type": "webservice", "dependsOn": ["db"]}]
    assert generated_steps({"components": comps}) == [
        {"name": "db", "type": "apply-component", "properties": {"component": "db"}},
        {"name": "web", "type": "apply-component", "properties": {"component": "web"}, "dependsOn": ["db"]},
    ]
