"""veladev's delivery engine against the sandbox's KubeVela and VelaUX stand-ins: promote with
KubeVela's resume semantics, the VelaUX trigger, and the errors a user sees."""

import uuid

import pytest

from kv_helpers import Apps, app_obj, wf_of
from veladev.cluster import ClusterError
from veladev.cluster.apps import apply_application, get_application, update_status
from veladev.delivery.promote import promote
from veladev.delivery.trigger import TriggerError, trigger_webhook
from veladev.delivery.workflow import WorkflowError, read_workflow, resumed_workflow_status

pytestmark = pytest.mark.sandbox


@pytest.fixture
def api(sandbox):
    client = sandbox.api_client()
    yield client
    client.close()


def gated_app(name: str) -> dict:
    """A workflow that waits for approval, then notifies (no pods needed)."""
    comps = [{"name": "web", "type": "worker", "properties": {"image": "sandbox.local/toolchain"}}]
    steps = [
        {"name": "gate", "type": "suspend", "properties": {"message": "approve me"}},
        {
            "name": "announce",
            "type": "notification",
            "properties": {"slack": {"url": {"value": "http://127.0.0.1:9/hook"}, "message": {"text": "done"}}},
        },
    ]
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

    result = trigger_webhook(
        sandbox.velaux.url,
        token,
        {"web": {"image": "sandbox.local/toolchain:v3"}},
        {"commit": "abc123", "branch": "main", "user": "dev"},
    )
    assert result["codeInfo"]["commit"] == "abc123"
    app = get_application(api, sandbox_ns, name)
    assert app["spec"]["components"][0]["properties"]["image"] == "sandbox.local/toolchain:v3"
    assert app["metadata"]["annotations"]["app.oam.dev/publishVersion"] == result["version"]
    # The new publishVersion starts a new run, which suspends at the gate again.
    rerun = apps.wait(
        sandbox_ns,
        name,
        lambda a: wf_of(a).get("appRevision") == result["version"] and read_workflow(a).suspending_steps(),
        "the rerun to reach the gate",
    )
    assert [(s.name, s.phase) for s in read_workflow(rerun).steps] == [("gate", "suspending")]


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
    first = Apps(sandbox, api).wait(
        sandbox_ns, name, lambda a: read_workflow(a).suspending_steps(), "the gate to suspend"
    )
    first_revision = wf_of(first)["appRevision"]

    def veladev(*args, env=None):
        return subprocess.run(
            [sys.executable, "-m", "veladev", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **(env or {})},
        )

    out = veladev("status", f"{sandbox_ns}/{name}", "--kubeconfig", sandbox.kubeconfig)
    assert out.returncode == 0, out.stderr
    assert "workflowSuspending" in out.stdout and "gate" in out.stdout and "suspending" in out.stdout

    token = sandbox.velaux.create_trigger(name, sandbox_ns)
    out = veladev(
        "trigger",
        "--velaux",
        sandbox.velaux.url,
        "--component",
        "web",
        "--image",
        "sandbox.local/toolchain:v9",
        env={"VELAUX_TRIGGER_TOKEN": token},
    )
    assert out.returncode == 0, out.stderr
    assert token not in out.stdout + out.stderr
    out = veladev(
        "trigger",
        "--velaux",
        sandbox.velaux.url,
        "--component",
        "web",
        "--image",
        "x",
        env={"VELAUX_TRIGGER_TOKEN": ""},
    )
    assert out.returncode == 2 and "VELAUX_TRIGGER_TOKEN" in out.stderr

    # The trigger changed the image and started a new run (a new appRevision), now at the gate.
    apps = Apps(sandbox, api)
    new_run = apps.wait(
        sandbox_ns,
        name,
        lambda a: wf_of(a).get("appRevision") not in (None, first_revision) and read_workflow(a).suspending_steps(),
        "the new run to suspend",
    )
    assert new_run["spec"]["components"][0]["properties"]["image"] == "sandbox.local/toolchain:v9"
    assert wf_of(new_run)["appRevision"] == new_run["metadata"]["annotations"]["app.oam.dev/publishVersion"]
    out = veladev("promote", f"{sandbox_ns}/{name}", "--kubeconfig", sandbox.kubeconfig)
    assert out.returncode == 0, out.stderr
    # promote resumed that run: it reaches its end, every step succeeded.
    done = apps.wait(sandbox_ns, name, lambda a: wf_of(a).get("finished"), "the promoted run to finish")
    assert wf_of(done)["appRevision"] == wf_of(new_run)["appRevision"]
    assert [(s.name, s.phase) for s in read_workflow(done).steps] == [("gate", "succeeded"), ("announce", "succeeded")]
    out = veladev("promote", f"{sandbox_ns}/missing-app", "--kubeconfig", sandbox.kubeconfig)
    assert out.returncode == 1 and "not found" in out.stderr and "Traceback" not in out.stderr


def test_promote_one_step_resumes_only_that_step(sandbox, api, sandbox_ns):
    """`promote(step=...)` (`vela workflow resume --step`): one of two suspended sub-steps."""
    name = f"step-{uuid.uuid4().hex[:6]}"
    comps = [{"name": "web", "type": "worker", "properties": {"image": "sandbox.local/toolchain"}}]
    steps = [
        {
            "name": "approvals",
            "type": "step-group",
            "subSteps": [{"name": "approve-a", "type": "suspend"}, {"name": "approve-b", "type": "suspend"}],
        },
        {"name": "done", "type": "print-message-in-status", "properties": {"message": "end"}},
    ]
    apply_application(api, app_obj(name, comps, steps=steps), sandbox_ns)
    apps = Apps(sandbox, api)

    def subs(a):
        return {s["name"]: s["phase"] for s in wf_of(a)["steps"][0].get("subSteps") or []}

    apps.wait(
        sandbox_ns,
        name,
        lambda a: subs(a) == {"approve-a": "suspending", "approve-b": "suspending"},
        "both approvals to suspend",
    )
    promote(api, sandbox_ns, name, step="approve-a")
    a = apps.wait(sandbox_ns, name, lambda a: subs(a).get("approve-a") == "succeeded", "approve-a to succeed")
    assert subs(a)["approve-b"] == "suspending" and "done" not in [s["name"] for s in wf_of(a)["steps"]]
    a = apps.wait(
        sandbox_ns,
        name,
        lambda a: a["status"]["status"] == "workflowSuspending" and wf_of(a)["suspend"],
        "the workflow to wait for approve-b",
    )
    assert subs(a) == {"approve-a": "succeeded", "approve-b": "suspending"}
    promote(api, sandbox_ns, name, step="approve-b")
    done = apps.wait(sandbox_ns, name, lambda a: wf_of(a).get("finished"), "the workflow to finish")
    assert subs(done) == {"approve-a": "succeeded", "approve-b": "succeeded"}
    assert [(s.name, s.phase) for s in read_workflow(done).steps] == [("approvals", "succeeded"), ("done", "succeeded")]


def test_status_update_retries_a_conflict(sandbox, api, sandbox_ns):
    """Someone changes the Application between update_status's read and its patch: the
    patch (guarded by the resourceVersion read) conflicts, and update_status reads again."""
    name = f"race-{uuid.uuid4().hex[:6]}"
    apply_application(api, gated_app(name), sandbox_ns)
    apps = Apps(sandbox, api)
    apps.wait(sandbox_ns, name, lambda a: read_workflow(a).suspending_steps(), "the gate to suspend")
    seen = []

    def change(app):
        seen.append(app["metadata"]["resourceVersion"])
        if len(seen) == 1:  # the other writer, after our read
            apps.patch(sandbox_ns, name, {"metadata": {"annotations": {"other-writer": "1"}}})
        return {"workflow": resumed_workflow_status(app["status"]["workflow"])}

    update_status(api, sandbox_ns, name, change)
    assert len(seen) == 2 and seen[0] != seen[1]
    done = apps.wait(sandbox_ns, name, lambda a: wf_of(a).get("finished"), "the workflow to finish")
    assert done["metadata"]["annotations"]["other-writer"] == "1"
