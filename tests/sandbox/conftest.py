"""Fixtures shared by the sandbox tests; pytest hands them to tests by name (no imports).
The helpers they build on stay in kv_helpers, devmode_helpers and devmode_app_helpers."""

import copy
import shutil

import pytest
from devmode_app_helpers import DeployedApp, example_in

from devmode_helpers import DevTarget
from kv_helpers import GROUP, VERSION, Apps, make_frontend_repo


@pytest.fixture(scope="module")
def frontend_repo(sandbox, tmp_path_factory):
    """examples/frontend as a git repository registered as image `sandbox.local/frontend:<commit>`."""
    if getattr(sandbox, "pods_unsupported", None):
        pytest.skip(sandbox.pods_unsupported)
    if not shutil.which("node"):
        pytest.skip("node not found on this host (the frontend example runs `node server.js`)")
    repo = make_frontend_repo(str(tmp_path_factory.mktemp("frontend-repo")))
    sandbox.register_repo("frontend", repo)
    return repo


@pytest.fixture
def apps(sandbox, sandbox_ns):
    """Applications in the test's namespace; at the end they are deleted and their pods waited
    for, so no pod of this test is still stopping while the next one runs."""
    a = Apps(sandbox)
    yield a
    try:
        for app in a.co.list_namespaced_custom_object(GROUP, VERSION, sandbox_ns, "applications")["items"]:
            a.delete(sandbox_ns, app["metadata"]["name"])
        sandbox.wait_for(
            lambda: not a.core.list_namespaced_pod(sandbox_ns).items, timeout=60, what=f"pods of {sandbox_ns} gone"
        )
    finally:
        a.api.close()


@pytest.fixture
def fast_resync(sandbox):
    """State-keep every second in this test (KubeVela's default is 5 minutes)."""
    old = sandbox.kubevela.resync_period
    sandbox.kubevela.resync_period = 1.0
    yield 1.0
    sandbox.kubevela.resync_period = old


@pytest.fixture
def deployed(sandbox, sandbox_ns, frontend_repo, tmp_path):
    """The example deployed to the test's namespace (workflow suspended before prod), with its
    folder (a copy of examples/frontend) and Application file; deleted afterwards."""
    folder = tmp_path / "frontend"
    shutil.copytree(frontend_repo, folder, ignore=shutil.ignore_patterns(".git"))
    d = DeployedApp(sandbox, sandbox_ns, folder, example_in(sandbox_ns))
    d.write()
    d.apps.create(sandbox_ns, copy.deepcopy(d.app))
    d.apps.wait_phase(sandbox_ns, "frontend", "workflowSuspending", timeout=120)
    sandbox.wait_for(
        lambda: (d.deployment().get("status") or {}).get("readyReplicas") == 1, timeout=60, what="frontend ready"
    )
    yield d
    try:
        d.apps.delete(sandbox_ns, "frontend")
        sandbox.wait_for(
            lambda: not d.apps.core.list_namespaced_pod(sandbox_ns).items, timeout=60, what=f"pods of {sandbox_ns} gone"
        )
    finally:
        d.apps.api.close()


@pytest.fixture
def dev(sandbox, sandbox_ns):
    """A dev pod in the test's namespace."""
    t = DevTarget(sandbox, sandbox_ns)
    yield t
    t.close()
