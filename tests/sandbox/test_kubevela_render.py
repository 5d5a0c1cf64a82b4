"""The sandbox's own rendering of the built-ins (velasandbox.kubevela.render): pure functions,
no pods. The last test holds it against veladev's nocalhost dev config, written separately."""

import json
from typing import Any

import pytest
import yaml

from support import EXAMPLE
from veladev.appmodel.render import nocalhost_dev_config
from veladev.catalog import bundled_catalog
from velasandbox.kubevela.definitions import builtin_schema
from velasandbox.kubevela.render import (
    RenderContext,
    RenderError,
    apply_override,
    mergo_override,
    render_component,
    with_defaults,
)

CTX = RenderContext(
    app="frontend",
    app_namespace="default",
    namespace="test",
    app_revision="frontend-v1",
    app_labels={"team": "web"},
    app_annotations={"app.oam.dev/publishVersion": "v1"},
)


def example_component():
    return yaml.safe_load(EXAMPLE.read_text())["spec"]["components"][0]


def test_webservice_deployment_named_after_component_with_kubevela_labels():
    deploy, service = render_component(CTX, example_component())
    assert deploy["kind"] == "Deployment" and deploy["metadata"]["name"] == "frontend"
    assert deploy["metadata"]["namespace"] == "test"
    labels = deploy["metadata"]["labels"]
    assert labels["app.oam.dev/name"] == "frontend" and labels["app.oam.dev/component"] == "frontend"
    assert labels["workload.oam.dev/type"] == "webservice" and labels["app.oam.dev/resourceType"] == "WORKLOAD"
    assert labels["team"] == "web" and labels["app.oam.dev/appRevision"] == "frontend-v1"
    assert deploy["metadata"]["annotations"]["app.oam.dev/publishVersion"] == "v1"
    assert deploy["spec"]["selector"] == {"matchLabels": {"app.oam.dev/component": "frontend"}}
    assert "replicas" not in deploy["spec"]  # only the scaler trait sets replicas
    (c,) = deploy["spec"]["template"]["spec"]["containers"]
    assert c["name"] == "frontend" and c["ports"] == [{"containerPort": 80, "protocol": "TCP", "name": "port-80"}]
    # The nocalhost trait's Service, not webservice's (no expose: true in the example).
    assert service["kind"] == "Service" and service["metadata"]["name"] == "frontend"
    assert service["spec"] == {
        "selector": {"app.oam.dev/component": "frontend"},
        "ports": [{"port": 80, "targetPort": 80}],
        "type": "ClusterIP",
    }
    assert service["metadata"]["labels"]["trait.oam.dev/type"] == "nocalhost"


def test_nocalhost_annotation_is_the_compact_json_kubevela_writes():
    deploy = render_component(CTX, example_component())[0]
    ann = deploy["metadata"]["annotations"]
    assert ann["dev.nocalhost/application-name"] == "frontend"
    assert ann["dev.nocalhost/application-namespace"] == "test"
    raw = ann["dev.nocalhost"]
    # The text KubeVela writes: the template's field order, the alias resolved, the trait's
    # defaults (shell, resources) filled in where the example leaves them out.
    assert raw == (
        '{"name":"frontend","serviceType":"deployment","containers":[{"name":"frontend","dev":{'
        '"image":"nocalhost-docker.pkg.coding.net/nocalhost/dev-images/node:latest","shell":"bash",'
        '"workDir":"/home/nocalhost-dev","resources":{"limits":{"memory":"2Gi","cpu":"2"},'
        '"requests":{"memory":"512Mi","cpu":"0.5"}},"command":{"run":["node","server.js"],'
        '"debug":["node","--inspect=0.0.0.0:9229","server.js"]},"debug":{"remoteDebugPort":9229},'
        '"hotReload":true,"sync":{"type":"sendReceive","filePattern":["./"],'
        '"ignoreFilePattern":[".git","node_modules"]},"portForward":["8080:80"]}}]}'
    )


def test_webservice_expose_service_and_traits():
    comp = {
        "name": "api",
        "type": "webservice",
        "properties": {
            "image": "api:1",
            "ports": [{"port": 8080, "expose": True}],
            "env": [{"name": "A", "value": "1"}],
        },
        "traits": [
            {"type": "scaler", "properties": {"replicas": 3}},
            {"type": "env", "properties": {"env": {"A": "2", "B": "3"}}},
            {"type": "labels", "properties": {"tier": "backend"}},
            {"type": "command", "properties": {"command": ["serve"], "args": ["--port", "8080"]}},
            {"type": "container-image", "properties": {"image": "api:2"}},
        ],
    }
    deploy, svc = render_component(CTX, comp)
    assert deploy["spec"]["replicas"] == 3
    c = deploy["spec"]["template"]["spec"]["containers"][0]
    assert c["env"] == [{"name": "A", "value": "2"}, {"name": "B", "value": "3"}]
    assert c["command"] == ["serve"] and c["args"] == ["--port", "8080"] and c["image"] == "api:2"
    assert (
        deploy["metadata"]["labels"]["tier"] == "backend"
        and deploy["spec"]["template"]["metadata"]["labels"]["tier"] == "backend"
    )
    assert svc["spec"]["ports"] == [{"port": 8080, "targetPort": 8080, "name": "port-8080"}]


def test_task_is_a_job_named_app_dash_component():
    job = render_component(CTX, {"name": "migrate", "type": "task", "properties": {"image": "m:1", "count": 2}})[0]
    assert job["kind"] == "Job" and job["metadata"]["name"] == "frontend-migrate"
    assert job["spec"]["parallelism"] == 2 and job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_unknown_types_fail_like_kubevela():
    with pytest.raises(RenderError, match='ComponentDefinition "nope" not found'):
        render_component(CTX, {"name": "x", "type": "nope", "properties": {}})
    with pytest.raises(RenderError, match='container "other" not found'):
        render_component(
            CTX,
            {
                "name": "x",
                "type": "worker",
                "properties": {"image": "i"},
                "traits": [{"type": "env", "properties": {"containerName": "other", "env": {"A": "1"}}}],
            },
        )


def test_override_policy_merges_properties_and_traits():
    comps: list[dict[str, Any]] = [
        {
            "name": "web",
            "type": "webservice",
            "properties": {"image": "a:1", "ports": [{"port": 80}]},
            "traits": [{"type": "scaler", "properties": {"replicas": 1}}, {"type": "labels", "properties": {"x": "y"}}],
        },
        {"name": "db", "type": "worker", "properties": {"image": "pg"}},
    ]
    out = apply_override(
        comps,
        {
            "components": [
                {
                    "name": "web",
                    "properties": {"image": "a:2"},
                    "traits": [{"type": "scaler", "properties": {"replicas": 3}}, {"type": "labels", "disable": True}],
                }
            ]
        },
    )
    assert out[0]["properties"] == {"image": "a:2", "ports": [{"port": 80}]}
    assert out[0]["traits"] == [{"type": "scaler", "properties": {"replicas": 3}}]
    assert comps[0]["properties"]["image"] == "a:1"  # inputs untouched
    assert [c["name"] for c in apply_override(comps, {"selector": ["db"]})] == ["db"]


def test_mergo_override_replaces_lists_and_merges_objects():
    assert mergo_override({"a": {"b": 1, "c": [1, 2]}}, {"a": {"c": [3]}, "d": 4}) == {"a": {"b": 1, "c": [3]}, "d": 4}


def test_with_defaults_fills_nested_defaults_only_where_absent():
    out = with_defaults(builtin_schema("trait", "nocalhost"), {"sync": {"type": "sendReceive"}, "port": 80})
    assert out["sync"]["type"] == "sendReceive" and out["sync"]["filePattern"] == ["./"]
    assert out["hotReload"] is True and out["port"] == 80


def test_sandbox_annotation_agrees_with_veladev_dev_config():
    """Two separate implementations of nocalhost.cue: the text the stand-in writes on the
    workload is the text veladev's dev mode expects to find there."""
    comp = example_component()
    trait = next(t for t in comp["traits"] if t["type"] == "nocalhost")
    deploy = render_component(CTX, comp)[0]
    expected = nocalhost_dev_config(comp["name"], trait["properties"], bundled_catalog())
    assert deploy["metadata"]["annotations"]["dev.nocalhost"] == json.dumps(expected, separators=(",", ":"))
