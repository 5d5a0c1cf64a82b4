"""Dev config sources and the deploy target, from files on disk (no cluster): the trait with
its defaults and aliases, the live annotation, `.nocalhost/config.yaml`; the first deploy
target's namespace; component choice; the dev-mode swap computed from the original spec."""

import json
from typing import Any

import pytest
import yaml

from support import EXAMPLE
from veladev.devmode import DevModeError
from veladev.devmode.config import app_target, first_deploy_namespace, resolve_dev_config
from veladev.devmode.workload import KEEP_ALIVE, WorkloadRef, dev_spec, pvc_name

NODE_IMAGE = "nocalhost-docker.pkg.coding.net/nocalhost/dev-images/node:latest"


def _write(tmp_path, app):
    path = tmp_path / "app.yaml"
    path.write_text(yaml.safe_dump(app))
    return path


def _example():
    return yaml.safe_load(EXAMPLE.read_text())


def test_the_trait_gives_the_config_with_defaults_and_aliases(tmp_path):
    target = app_target(EXAMPLE, None)
    assert (target.app, target.app_namespace, target.component, target.namespace) == (
        "frontend",
        "default",
        "frontend",
        "test",
    )
    cfg = resolve_dev_config(target, None, tmp_path, EXAMPLE)
    assert cfg.image == NODE_IMAGE and cfg.service_type == "deployment" and cfg.container == "frontend"
    assert (cfg.run, cfg.debug, cfg.debug_port) == (
        ("node", "server.js"),
        ("node", "--inspect=0.0.0.0:9229", "server.js"),
        9229,
    )
    assert (cfg.sync_type, cfg.ignore_patterns, cfg.port_forwards) == (
        "sendReceive",
        (".git", "node_modules"),
        ("8080:80",),
    )
    assert cfg.hot_reload and cfg.work_dir == "/home/nocalhost-dev" and cfg.shell == "bash"  # trait default
    assert cfg.resources["limits"] == {"memory": "2Gi", "cpu": "2"}
    assert cfg.source == "nocalhost trait in vela-app.yaml"


def test_without_the_trait_the_live_annotation_then_the_local_file(tmp_path):
    app = _example()
    app["spec"]["components"][0]["traits"] = []
    path = _write(tmp_path, app)
    target = app_target(path, "frontend")
    assert target.trait_config is None
    annotation = {
        "name": "frontend",
        "serviceType": "deployment",
        "containers": [
            {
                "name": "frontend",
                "dev": {
                    "image": "python:3.12",
                    "workDir": "/src",
                    "command": {"run": ["python", "a.py"]},
                    "sync": {"type": "send", "filePattern": ["."]},
                },
            }
        ],
    }
    workload = {"metadata": {"annotations": {"dev.nocalhost": json.dumps(annotation)}}}
    cfg = resolve_dev_config(target, workload, tmp_path, path)
    assert (cfg.image, cfg.work_dir, cfg.run, cfg.source) == (
        "python:3.12",
        "/src",
        ("python", "a.py"),
        "the workload's dev.nocalhost annotation",
    )
    (tmp_path / ".nocalhost").mkdir()
    (tmp_path / ".nocalhost" / "config.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "frontend",
                "serviceType": "deployment",
                "containers": [
                    {
                        "name": "frontend",
                        "dev": {
                            "image": "golang:1.22",
                            "debug": {"remoteDebugPort": 2345, "language": "go"},
                            "portForward": ["9000:9000"],
                        },
                    }
                ],
            }
        )
    )
    cfg = resolve_dev_config(target, {"metadata": {}}, tmp_path, path)
    assert (cfg.image, cfg.debug_port, cfg.debug_language, cfg.port_forwards) == (
        "golang:1.22",
        2345,
        "go",
        ("9000:9000",),
    )
    assert cfg.source.endswith(".nocalhost/config.yaml")
    (tmp_path / ".nocalhost" / "config.yaml").unlink()
    with pytest.raises(DevModeError, match="has no dev config: add the nocalhost trait"):
        resolve_dev_config(target, {"metadata": {}}, tmp_path, path)


def test_first_deploy_target_namespace():
    app = _example()
    assert first_deploy_namespace(app) == "test"
    app["spec"]["workflow"]["steps"][0]["properties"]["policies"] = ["target-prod"]
    assert first_deploy_namespace(app) == "prod"
    del app["spec"]["workflow"]
    assert first_deploy_namespace(app) == "test"  # no workflow: the first topology policy
    app["spec"]["policies"] = []
    assert first_deploy_namespace(app) == "default"  # no topology: the app's namespace


def test_component_choice_and_mistakes(tmp_path):
    app = _example()
    app["spec"]["components"].append({"name": "worker", "type": "worker", "properties": {"image": "x"}})
    path = _write(tmp_path, app)
    assert app_target(path, None).component == "frontend"  # the only one with the trait
    assert app_target(path, "worker", "elsewhere").namespace == "elsewhere"
    with pytest.raises(DevModeError, match=r"has no component 'nope' \(components: frontend, worker\)"):
        app_target(path, "nope")
    app["spec"]["components"][1]["traits"] = [{"type": "nocalhost", "properties": {"port": 80, "image": "go"}}]
    with pytest.raises(DevModeError, match=r"several components .* \(frontend, worker\); name one"):
        app_target(_write(tmp_path, app), None)
    (tmp_path / "bad.yaml").write_text("a: [\n")
    with pytest.raises(DevModeError, match=r"bad.yaml is not valid YAML \(line 2\)"):
        app_target(tmp_path / "bad.yaml", None)
    (tmp_path / "cm.yaml").write_text("kind: ConfigMap\n")
    with pytest.raises(DevModeError, match="has no KubeVela Application"):
        app_target(tmp_path / "cm.yaml", None)


def test_dev_spec_swaps_only_what_dev_mode_needs():
    cfg = resolve_dev_config(app_target(EXAMPLE, None), None, EXAMPLE.parent, EXAMPLE)
    cfg = type(cfg)(
        **{
            **{f: getattr(cfg, f) for f in cfg.__slots__},
            "env": (("DEBUG", "1"), ("MODE", "dev")),
            "persistent_volume_dirs": (("/cache", "1Gi"),),
        }
    )
    original: dict[str, Any] = {
        "replicas": 3,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
        "selector": {"matchLabels": {"app.oam.dev/component": "frontend"}},
        "template": {
            "metadata": {"labels": {"app.oam.dev/component": "frontend"}},
            "spec": {
                "serviceAccountName": "web",
                "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}],
                "containers": [
                    {
                        "name": "frontend",
                        "image": "sandbox.local/frontend:v1",
                        "args": ["--x"],
                        "env": [{"name": "MODE", "value": "prod"}, {"name": "KEEP", "value": "y"}],
                        "envFrom": [{"secretRef": {"name": "s"}}],
                        "readinessProbe": {"httpGet": {"port": 80}},
                        "livenessProbe": {"tcpSocket": {}},
                        "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"}],
                    },
                    {"name": "sidecar", "image": "side", "startupProbe": {"exec": {}}},
                ],
            },
        },
    }
    spec = dev_spec(original, WorkloadRef("deployment", "test", "frontend"), "frontend", cfg)
    c, side = spec["template"]["spec"]["containers"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    assert (c["image"], c["command"], c["workingDir"]) == (NODE_IMAGE, KEEP_ALIVE, "/home/nocalhost-dev")
    assert "args" not in c and "readinessProbe" not in c and "livenessProbe" not in c and "startupProbe" not in side
    assert c["env"] == [
        {"name": "KEEP", "value": "y"},
        {"name": "DEBUG", "value": "1"},
        {"name": "MODE", "value": "dev"},
    ]
    assert c["envFrom"] == [{"secretRef": {"name": "s"}}] and spec["template"]["spec"]["serviceAccountName"] == "web"
    assert c["volumeMounts"] == [
        {"name": "cfg", "mountPath": "/etc/cfg"},
        {"name": "veladev-workdir", "mountPath": "/home/nocalhost-dev"},
        {"name": "veladev-pv-0", "mountPath": "/cache"},
    ]
    assert spec["template"]["spec"]["volumes"] == [
        {"name": "cfg", "configMap": {"name": "cfg"}},
        {"name": "veladev-pv-0", "persistentVolumeClaim": {"claimName": pvc_name("frontend", "/cache")}},
        {"name": "veladev-workdir", "emptyDir": {}},
    ]
    assert original["template"]["spec"]["containers"][0]["image"] == "sandbox.local/frontend:v1"  # not mutated
    sts = dev_spec(original, WorkloadRef("statefulset", "test", "db"), "frontend", cfg)
    assert sts["strategy"] == original["strategy"]  # StatefulSets have no `strategy` to set
