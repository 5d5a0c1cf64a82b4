"""The VelaUX stand-in without pods: webhook errors as VelaUX's code returns them, login and
bearer auth, the record resume endpoint, trigger management (kubevela/velaux v1.9.5:
pkg/server/interfaces/api/webhook.go, pkg/server/domain/service/webhook.go)."""

import logging
import re

import pytest

from kv_helpers import Apps, app_obj, step_phase, steps_of, ux, ux_login, wf_of

pytestmark = pytest.mark.sandbox

COMP = [{"name": "web", "type": "webservice", "properties": {"image": "sandbox.local/toolchain", "cpu": "1"}}]
HOLD = [
    {"name": "hold", "type": "suspend"},
    {"name": "after", "type": "print-message-in-status", "properties": {"message": "ok"}},
]


def test_unknown_token_is_400_10021_and_never_logged(sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    token = "zz" + "9" * 14
    st, body = ux(sandbox, "POST", f"/api/v1/webhook/{token}", {"upgrade": {}})
    # VelaUX's code (ux:pkg/server/domain/service/webhook.go), not the 404 the issue text says
    assert (st, body) == (400, {"BusinessCode": 10021, "Message": "Invalid webhook token"})
    assert token not in caplog.text


def test_webhook_merges_into_the_component_and_reruns_the_workflow(sandbox, apps, sandbox_ns, caplog):
    caplog.set_level(logging.DEBUG)
    apps.create(sandbox_ns, app_obj("hooked", COMP, HOLD))
    apps.wait_phase(sandbox_ns, "hooked", "workflowSuspending")
    token = sandbox.velaux.create_trigger("hooked", sandbox_ns, workflow="workflow-test")
    assert re.fullmatch(r"[a-z0-9]{16}", token)
    st, body = ux(sandbox, "POST", f"/api/v1/webhook/{token}", {"upgrade": {"nope": {"image": "x"}}})
    assert (st, body) == (404, {"BusinessCode": 10008, "Message": "application component is not exist"})
    st, body = ux(
        sandbox,
        "POST",
        f"/api/v1/webhook/{token}",
        {
            "upgrade": {"web": {"image": "sandbox.local/other:1", "env": [{"name": "A", "value": "1"}]}},
            "codeInfo": {"commit": "abc123", "branch": "main", "user": "ci"},
        },
    )
    assert st == 200, body
    assert re.fullmatch(r"workflow-test-\d{17}", body["version"]) and body["triggerType"] == "webhook"
    a = apps.get(sandbox_ns, "hooked")
    # deep merge: the new keys, the untouched `cpu` kept
    assert a["spec"]["components"][0]["properties"] == {
        "image": "sandbox.local/other:1",
        "cpu": "1",
        "env": [{"name": "A", "value": "1"}],
    }
    assert a["metadata"]["annotations"]["app.oam.dev/publishVersion"] == body["version"]
    assert a["metadata"]["labels"]["app.oam.dev/source-of-truth"] == "from-velaux"
    a = apps.wait(
        sandbox_ns,
        "hooked",
        lambda x: wf_of(x).get("appRevision") == body["version"] and x["status"]["status"] == "workflowSuspending",
        "the new run",
    )
    assert step_phase(a, "hold") == "suspending"
    # `action: approve` resumes through the same operation
    st, rec = ux(sandbox, "POST", f"/api/v1/webhook/{token}", {"action": "approve"})
    assert st == 200 and rec["name"] == body["version"]
    a = apps.wait_phase(sandbox_ns, "hooked", "running")
    assert step_phase(a, "after") == "succeeded"
    assert token not in caplog.text


def test_login_bearer_auth_and_record_resume(sandbox, apps, sandbox_ns):
    st, body = ux(sandbox, "POST", "/api/v1/auth/login", {"username": "admin", "password": "wrong"})
    assert st == 401
    path = "/api/v1/applications/gated/workflows/workflow-default/records/any/resume"
    assert ux(sandbox, "GET", path)[0] == 401
    assert ux(sandbox, "GET", path, token="not-a-token")[0] == 401
    st, body = ux(
        sandbox, "POST", "/api/v1/auth/login", {"username": "admin", "password": sandbox.velaux.admin_password}
    )
    assert st == 200 and body["accessToken"] and body["refreshToken"] and body["user"]["name"] == "admin"
    tok = body["accessToken"]
    st, again = ux(sandbox, "GET", "/api/v1/auth/refresh_token", headers={"RefreshToken": body["refreshToken"]})
    assert st == 200 and again["accessToken"] != tok

    apps.create(sandbox_ns, app_obj("gated", COMP, HOLD))
    apps.wait_phase(sandbox_ns, "gated", "workflowSuspending")
    st, body = ux(sandbox, "GET", path, token=tok)
    assert (st, body) == (200, {})
    a = apps.wait_phase(sandbox_ns, "gated", "running")
    assert step_phase(a, "hold") == "succeeded" and step_phase(a, "after") == "succeeded"


def test_operating_a_running_workflow_is_refused(sandbox, apps, sandbox_ns):
    # a deploy that waits forever: its image does not exist
    comp = [{"name": "web", "type": "worker", "properties": {"image": "no-such/image:1"}}]
    apps.create(sandbox_ns, app_obj("busy", comp, [{"name": "deploy", "type": "deploy"}] + HOLD))
    a = apps.wait(sandbox_ns, "busy", lambda x: step_phase(x, "deploy") == "running", "deploy running")
    # KubeVela's wait reason (multicluster deploy.go): <cluster>/<namespace>/<replicaKey>/<component>
    assert (steps_of(a)["deploy"]["reason"], steps_of(a)["deploy"]["message"]) == (
        "Wait",
        f"local/{sandbox_ns}//web is not healthy",
    )
    tok = ux_login(sandbox)
    st, body = ux(sandbox, "GET", "/api/v1/applications/busy/workflows/workflow-default/records/r/resume", token=tok)
    assert st == 500 and body["Message"] == "workflow is still running, can not operate a running workflow"
    assert steps_of(apps.get(sandbox_ns, "busy"))["deploy"]["phase"] == "running"


def test_trigger_api(sandbox, apps, sandbox_ns):
    apps.create(sandbox_ns, app_obj("trig", COMP, HOLD))
    tok = ux_login(sandbox)
    assert ux(sandbox, "POST", "/api/v1/applications/trig/triggers", {"name": "t"})[0] == 401
    st, t = ux(
        sandbox,
        "POST",
        "/api/v1/applications/trig/triggers",
        {"name": "ci", "workflowName": "workflow-default", "type": "webhook", "payloadType": "custom"},
        token=tok,
    )
    assert st == 200 and re.fullmatch(r"[a-z0-9]{16}", t["token"]) and t["payloadType"] == "custom"
    st, lst = ux(sandbox, "GET", "/api/v1/applications/trig/triggers", token=tok)
    assert st == 200 and [x["name"] for x in lst["triggers"]] == ["ci"]
    st, body = ux(sandbox, "POST", "/api/v1/applications/missing-app/triggers", {"name": "x"}, token=tok)
    assert (st, body["BusinessCode"]) == (404, 10012)


def test_state_survives_a_sandbox_restart(tmp_path):
    """Workflow context, triggers, the admin password and the VelaUX port live in the state dir."""
    from velasandbox.testing import start_sandbox

    sb = start_sandbox(str(tmp_path / "state"), pods=False)
    try:
        a = Apps(sb)
        a.create("default", app_obj("keep", COMP, HOLD))
        a.wait_phase("default", "keep", "workflowSuspending")
        token = sb.velaux.create_trigger("keep", "default")
        port, password = sb.velaux.port, sb.velaux.admin_password
        a.api.close()
    finally:
        sb.stop()
    sb = start_sandbox(str(tmp_path / "state"), pods=False)
    try:
        assert (sb.velaux.port, sb.velaux.admin_password) == (port, password)
        st, body = ux(sb, "POST", f"/api/v1/webhook/{token}", {"action": "approve"})
        assert st == 200, body
        a = Apps(sb)
        got = a.wait_phase("default", "keep", "running")
        assert step_phase(got, "hold") == "succeeded" and step_phase(got, "after") == "succeeded"
        a.api.close()
    finally:
        sb.stop()


def test_terminate_through_the_webhook_and_the_record_endpoint(sandbox, apps, sandbox_ns):
    for name in ("t-hook", "t-rec"):
        apps.create(sandbox_ns, app_obj(name, COMP, HOLD))
        apps.wait_phase(sandbox_ns, name, "workflowSuspending")
    token = sandbox.velaux.create_trigger("t-hook", sandbox_ns)
    st, _ = ux(sandbox, "POST", f"/api/v1/webhook/{token}", {"action": "terminate"})
    assert st == 200
    sandbox.velaux.create_trigger("t-rec", sandbox_ns)  # tells VelaUX the app's namespace
    tok = ux_login(sandbox)
    st, _ = ux(sandbox, "GET", "/api/v1/applications/t-rec/workflows/workflow-default/records/x/terminate", token=tok)
    assert st == 200
    for name in ("t-hook", "t-rec"):
        a = apps.wait_phase(sandbox_ns, name, "workflowTerminated")
        hold = steps_of(a)["hold"]
        assert (hold["phase"], hold["reason"]) == ("failed", "Terminate") and wf_of(a)["terminated"] is True
    # VelaUX resumes without the CLI's terminated check: accepted, and nothing changes
    st, body = ux(sandbox, "POST", f"/api/v1/webhook/{token}", {"action": "approve"})
    assert st == 200
    a = apps.get(sandbox_ns, "t-hook")
    assert a["status"]["status"] == "workflowTerminated" and steps_of(a)["hold"]["reason"] == "Terminate"
