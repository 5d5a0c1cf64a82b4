"""A dev pod for the dev-mode engine tests: a Deployment running a Nocalhost dev image (in
velasandbox: the host toolchain, an empty /home/nocalhost-dev, `sleep infinity`)."""

import shlex

from kubernetes import client

from veladev.cluster import ClusterError
from veladev.cluster.pods import wait_ready_pod
from veladev.devmode import DevModeError, DevPod

DEV_IMAGE = "nocalhost-docker.pkg.coding.net/nocalhost/dev-images/python:3.9"
WORK_DIR = "/home/nocalhost-dev"


class DevTarget:
    """The Deployment `dev` in a namespace, its resolver and a few checks through kubectl."""

    def __init__(self, sandbox, namespace, env=None, command=None):
        self.sandbox, self.ns = sandbox, namespace
        self.api = sandbox.api_client()
        self.core = client.CoreV1Api(self.api)
        container = {
            "name": "dev",
            "image": DEV_IMAGE,
            "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
        }
        if command:
            container["command"] = command
        labels = {"app": "dev"}
        client.AppsV1Api(self.api).create_namespaced_deployment(
            namespace,
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "dev", "labels": labels},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": labels},
                    "strategy": {"type": "Recreate"},
                    "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
                },
            },
        )
        self.pod_name = self.resolve(120).name

    def resolve(self, timeout: float) -> DevPod:
        try:
            name = wait_ready_pod(self.api, self.ns, "app=dev", timeout, what="dev pod")
        except ClusterError as exc:
            raise DevModeError(str(exc)) from None
        return DevPod(self.ns, name, "dev", WORK_DIR)

    def sh(self, script: str, check: bool = True, pod: str | None = None):
        """Runs a shell script in the dev container with kubectl (independent of veladev)."""
        pod = pod or self.resolve(60).name
        r = self.sandbox.kubectl("exec", "-n", self.ns, pod, "-c", "dev", "--", "sh", "-c", script, check=check)
        return r.stdout

    def read(self, rel: str, pod: str | None = None):
        """The file's content in the work dir, or None if it does not exist."""
        out = self.sh(
            f"cd {WORK_DIR} && if [ -e {shlex.quote(rel)} ]; then echo Y; cat {shlex.quote(rel)}; else echo N; fi",
            pod=pod,
        )
        return out[2:] if out.startswith("Y\n") else None

    def files(self, pod: str | None = None):
        out = self.sh(f"cd {WORK_DIR} && find . -type f -o -type l", pod=pod)
        return sorted(line[2:] for line in out.split("\n") if line.startswith("./"))

    def close(self):
        self.api.close()
