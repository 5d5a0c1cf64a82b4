"""What both dev-mode benchmarks start with: a private velasandbox, a dev pod from a
Nocalhost dev image in its own namespace, and the venv's kubectl."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sandbox"))

from kubernetes import client  # noqa: E402 - after the sys.path set-up above

from veladev.cluster.pods import wait_ready_pod  # noqa: E402 - after the sys.path set-up above
from velasandbox.runtime import namespace_support  # noqa: E402 - after the sys.path set-up above
from velasandbox.testing import start_sandbox  # noqa: E402 - after the sys.path set-up above

DEV_IMAGE = "nocalhost-docker.pkg.coding.net/nocalhost/dev-images/python:3.9"
WORK_DIR = "/home/nocalhost-dev"


def start_dev_pod(bench: str, namespace: str, command: list[str] | None = None):
    """(sandbox, api client, pod name, kubectl path), or SystemExit(2) where pods cannot run."""
    reason = namespace_support()
    if reason:
        print(f"{bench}: pods cannot run here: {reason}")
        raise SystemExit(2)
    kubectl = shutil.which("kubectl", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    sb = start_sandbox()
    try:
        api = sb.api_client()
        client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
        labels = {"app": "dev"}
        container = {"name": "dev", "image": DEV_IMAGE, **({"command": command} if command else {})}
        client.AppsV1Api(api).create_namespaced_deployment(
            namespace,
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "dev"},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": labels},
                    "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
                },
            },
        )
        return sb, api, wait_ready_pod(api, namespace, "app=dev", 120), kubectl
    except BaseException:
        stop(sb)
        raise


def stop(sb) -> None:
    sb.stop()
    shutil.rmtree(sb.state_dir, ignore_errors=True)
