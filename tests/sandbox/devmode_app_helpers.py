"""Helpers for the dev-mode tests: the example Application deployed to the test's own
namespace (so tests never share a `test` namespace), its file on disk, and the veladev CLI."""
import copy
import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from kv_helpers import Apps, example_app, make_frontend_repo

DEV_IMAGE = "nocalhost-docker.pkg.coding.net/nocalhost/dev-images/node:latest"


@pytest.fixture(scope="module")
def frontend_image(sandbox, tmp_path_factory):
    """`sandbox.local/frontend:v1.0.0` from a git copy of examples/frontend."""
    if getattr(sandbox, "pods_unsupported", None):
        pytest.skip(sandbox.pods_unsupported)
    if not shutil.which("node"):
        pytest.skip("node not found on this host (the frontend example runs `node server.js`)")
    repo = make_frontend_repo(str(tmp_path_factory.mktemp("frontend-repo")))
    sandbox.register_repo("frontend", repo)
    return repo


class DeployedApp:
    """The example app, targeted at the test's namespace, applied and deployed there."""

    def __init__(self, sandbox, ns, folder, app):
        self.sb, self.ns, self.folder, self.app = sandbox, ns, folder, app
        self.file = folder / "vela-app.yaml"
        self.apps = Apps(sandbox)

    def write(self):
        self.file.write_text(yaml.safe_dump(self.app, sort_keys=False))

    def deployment(self):
        return self.apps.api.sanitize_for_serialization(self.apps.apps.read_namespaced_deployment("frontend", self.ns))

    def application(self):
        return self.apps.get(self.ns, "frontend")

    def cli(self, *args, env=None, timeout=180):
        """`veladev dev ...` in a new process."""
        return subprocess.run([sys.executable, "-m", "veladev", "dev", *args, "--kubeconfig", self.sb.kubeconfig],
                              capture_output=True, text=True, timeout=timeout,
                              env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})))


def example_in(ns):
    app = example_app()
    app["metadata"]["namespace"] = ns
    for p in app["spec"]["policies"]:
        p["properties"]["namespace"] = ns if p["name"] == "target-test" else f"{ns}-prod"
    return app


@pytest.fixture
def deployed(sandbox, sandbox_ns, frontend_image, tmp_path):
    """The example deployed to the test's namespace (workflow suspended before prod), with its
    folder (a copy of examples/frontend) and Application file; deleted afterwards."""
    folder = tmp_path / "frontend"
    shutil.copytree(frontend_image, folder, ignore=shutil.ignore_patterns(".git"))
    d = DeployedApp(sandbox, sandbox_ns, folder, example_in(sandbox_ns))
    d.write()
    d.apps.create(sandbox_ns, copy.deepcopy(d.app))
    d.apps.wait_phase(sandbox_ns, "frontend", "workflowSuspending", timeout=120)
    sandbox.wait_for(lambda: (d.deployment().get("status") or {}).get("readyReplicas") == 1, timeout=60,
                     what="frontend ready")
    yield d
    try:
        d.apps.delete(sandbox_ns, "frontend")
        sandbox.wait_for(lambda: not d.apps.core.list_namespaced_pod(sandbox_ns).items, timeout=60,
                         what=f"pods of {sandbox_ns} gone")
    finally:
        d.apps.api.close()


def comparable(obj):
    """What dev end must restore exactly: labels, annotations, spec."""
    md = obj["metadata"]
    return {"labels": md.get("labels"), "annotations": md.get("annotations"), "spec": obj["spec"]}


def dev_state(obj):
    text = (obj["metadata"].get("annotations") or {}).get("dev.veladev.io/state")
    return json.loads(text) if text else None
