"""veladev's delivery engine against the sandbox's KubeVela and VelaUX stand-ins: promote with
KubeVela's resume semantics, the VelaUX trigger, and the errors a user sees."""

import uuid

import pytest

from kv_helpers import Apps, app_obj, wf_of
from veladev.cluster import ClusterError
from veladev.cluster.apps import apply_application, get_application
from veladev.delivery.promote import promote
from veladev.delivery.trigger import TriggerError, trigger_webhook
from veladev.delivery.workflow import WorkflowError, read_workflow

pytestmark = pytest.mark.sandbox


@pytest.fixture
def api(sandbox):
    client = sandbox.api_client()
    yield client
    client.close()


def gated_app(name: str) -> dict:
    """A workflow that waits for approval, then notifies (no pods needed)."""
    comps = [{"name": "web", "type": "worker", "properties": {"image": "sandbox.local/toolchain"}}]
    steps = [{"name": "gate", "type": "suspend", "properties": {"message": "approve me"}},
             {"name": "announce", "type": "notification",
              "properties": {"slack": {"url": {"value": "http://127.0.0.1:9/hook"}, "message": {"text": "done"}}}}]
    return app_obj(name, comps, steps=steps)


def test_promote_resumes_the_suspended_workflow(sandbox, api, sandbox_ns):
    name = f"gated-{uuid.uuid4().hex[:6]}"
    apply_application(api, gated_app(name), sandbox_ns)
    apps = Apps(sandbox, api)
    apps.wait(sandbox_ns, name, lambda a: read_workflow(a).suspending_steps(), "the gate to suspend")

    state = promote(api, sandbox_ns, name)
    assert not state.suspended
    done = apps.wait(sandbox_ns, name, lambda a: wf_of(a).get("finished"), "the workflow to finish")
    assert [(s.name, s.phase) for s in read_workflow(done).steps] == [("gate", "succeeded"), ("announce", "succeeded")]

    with pytest.raises(WorkflowError, match="not waiting for approval"):
        promote(api, sandbox_ns, name)


def test_apply_updates_an_existing_application(sandbox, api, sandbox_ns):
    name = f"upd-{uuid.uuid4().hex[:6]}"
    app = gated_app(name)
    apply_application(api, app, sandbox_ns)
    app["spec"]["components"][0]["properties"]["image"] = "sandbox.local/toolchain:v2"
    apply_application(api, app, sandbox_ns)
    got = get_application(api, sandbox_ns, name)
    assert got["spec"]["components"][0]["properties"]["image"] == "sandbox.local/toolchain:v2"


def test_missing_application_is_a_clear_error(api, sandbox_ns):
    with pytest.raises(ClusterError, match="not found"):
        promote(api, sandbox_ns, "does-not-exist")


def test_webhook_trigger_upgrades_the_component_and_reruns(sandbox, api, sandbox_ns):
    name = f"trig-{uuid.uuid4().hex[:6]}"
    apply_application(api, gated_app(name), sandbox_ns)
    apps = Apps(sandbox, api)
    apps.wait(sandbox_ns, name, lambda a: read_workflow(a).suspending_steps(), "the gate to suspend")
    token = sandbox.velaux.create_trigger(name, sandbox_ns)

    result = trigger_webhook(sandbox.velaux.url, token, {"web": {"image": "sandbox.local/toolchain:v3"}},
                             {"commit": "abc123", "branch": "main", "user": "dev"})
    assert result["codeInfo"]["commit"] == "abc123"
    app = get_application(api, sandbox_ns, name)
    assert app["spec"]["components"][0]["properties"]["image"] == "sandbox.local/toolchain:v3"
    assert app["metadata"]["annotations"]["app.oam.dev/publishVersion"] == result["version"]


def test_webhook_errors_never_show_the_token(sandbox, api, sandbox_ns):
    secret = "q" * 16
    with pytest.raises(TriggerError) as err:
        trigger_webhook(sandbox.velaux.url, secret, {"web": {"image": "x"}})
    assert secret not in str(err.value) and "token" in str(err.value).lower()

    with pytest.raises(TriggerError, match="cannot reach VelaUX") as err:
        trigger_webhook("http://127.0.0.1:9", secret, {"web": {"image": "x"}}, timeout=5)
    assert secret not in str(err.value)


def test_cli_status_promote_and_trigger(sandbox, api, sandbox_ns):
    import os
    import subprocess
    import sys

    name = f"cli-{uuid.uuid4().hex[:6]}"
    apply_application(api, gated_app(name), sandbox_ns)
    Apps(sandbox, api).wait(sandbox_ns, name, lambda a: read_workflow(a).suspending_steps(), "the gate to suspend")

    def veladev(*args, env=None):
        return subprocess.run([sys.executable, "-m", "veladev", *args], capture_output=True, text=True, timeout=120,
                              env={**os.environ, **(env or {})})

    out = veladev("status", f"{sandbox_ns}/{name}", "--kubeconfig", sandbox.kubeconfig)
    assert out.returncode == 0, out.stderr
    assert "workflowSuspending" in out.stdout and "gate" in out.stdout and "suspending" in out.stdout

    token = sandbox.velaux.create_trigger(name, sandbox_ns)
    out = veladev("trigger", "--velaux", sandbox.velaux.url, "--component", "web", "--image", "sandbox.local/toolchain:v9",
                  env={"VELAUX_TRIGGER_TOKEN": token})
    assert out.returncode == 0, out.stderr
    assert token not in out.stdout + out.stderr
    out = veladev("trigger", "--velaux", sandbox.velaux.url, "--component", "web", "--image", "x",
                  env={"VELAUX_TRIGGER_TOKEN": ""})
    assert out.returncode == 2 and "VELAUX_TRIGGER_TOKEN" in out.stderr

    Apps(sandbox, api).wait(sandbox_ns, name, lambda a: read_workflow(a).suspending_steps(), "the new run to suspend")
    out = veladev("promote", f"{sandbox_ns}/{name}", "--kubeconfig", sandbox.kubeconfig)
    assert out.returncode == 0, out.stderr
    out = veladev("promote", f"{sandbox_ns}/missing-app", "--kubeconfig", sandbox.kubeconfig)
    assert out.returncode == 1 and "not found" in out.stderr and "Traceback" not in out.stderr
