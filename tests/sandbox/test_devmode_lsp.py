"""Dev mode through the language server (pytest-lsp, real protocol, sandbox cluster):
executeCommand start/status/end with work-done progress and veladev/devState notifications;
mistakes answer with one sentence and the server keeps serving."""
import sys

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from devmode_app_helpers import DEV_IMAGE, comparable, deployed, frontend_image  # noqa: F401

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("need_pods")]


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "veladev", "lsp"]))
async def editor(lsp_client: LanguageClient, sandbox):
    lsp_client.set_configuration({"kubeconfig": sandbox.kubeconfig}, section="veladev")
    lsp_client.dev_states = []
    lsp_client.run_output = []

    @lsp_client.feature("veladev/devState")
    def dev_state(params):
        lsp_client.dev_states.append(params)

    @lsp_client.feature("veladev/runOutput")
    def run_output(params):
        lsp_client.run_output.append(params)

    await lsp_client.initialize_session(lsp.InitializeParams(capabilities=client_capabilities("visual-studio-code")))
    yield
    await lsp_client.shutdown_session()


async def command(client, name, arg=None):
    return await client.workspace_execute_command_async(
        lsp.ExecuteCommandParams(command=f"veladev.dev.{name}", arguments=[arg] if arg is not None else []))


def _get(obj, key):
    return obj[key] if isinstance(obj, dict) else getattr(obj, key)


async def test_start_status_end_with_progress_and_state_notifications(editor, deployed):
    d = deployed
    original = d.deployment()
    arg = {"uri": d.file.as_uri()}
    result = await command(editor, "start", arg)
    assert _get(result, "namespace") == d.ns and _get(result, "workload") == "frontend"
    assert _get(result, "pod").startswith("frontend-")
    assert d.deployment()["spec"]["template"]["spec"]["containers"][0]["image"] == DEV_IMAGE
    # progress: begin, at least one report, end
    reports = [r for rs in editor.progress_reports.values() for r in rs]
    assert any(isinstance(r, lsp.WorkDoneProgressBegin) and r.title == "veladev: dev start" for r in reports)
    assert any(isinstance(r, lsp.WorkDoneProgressReport) and "dev pod" in (r.message or "") for r in reports)
    assert any(isinstance(r, lsp.WorkDoneProgressEnd) for r in reports)
    states = [_get(s, "state") for s in editor.dev_states]
    assert states[0] == "starting" and states[-1] == "on", states
    last = editor.dev_states[-1]
    assert (_get(last, "uri"), _get(last, "component"), _get(last, "namespace")) == (arg["uri"], "frontend", d.ns)

    status = await command(editor, "status", {})
    mine = [s for s in status if _get(s, "namespace") == d.ns]
    assert [(_get(s, "application"), _get(s, "component"), _get(s, "workload")) for s in mine] == [
        (f"{d.ns}/frontend", "frontend", "frontend")]

    terminal = await command(editor, "terminal", arg)
    assert _get(terminal, "command")[:4] == ["veladev", "dev", "terminal", str(d.file)]

    ended = await command(editor, "end", arg)
    assert _get(ended, "state") == "off"
    assert _get(editor.dev_states[-1], "state") == "off"
    assert comparable(d.deployment()) == comparable(original)


async def test_mistakes_answer_with_a_sentence_and_the_server_keeps_serving(editor, deployed):
    d = deployed
    with pytest.raises(JsonRpcException, match=r"has no component 'backend' \(components: frontend\)"):
        await command(editor, "start", {"uri": d.file.as_uri(), "component": "backend"})
    with pytest.raises(JsonRpcException, match="is not in dev mode"):
        await command(editor, "end", {"uri": d.file.as_uri()})
    with pytest.raises(JsonRpcException, match='one object'):
        await command(editor, "start")
    with pytest.raises(JsonRpcException, match="not deployed in namespace elsewhere"):
        await command(editor, "start", {"uri": d.file.as_uri(), "namespace": "elsewhere"})
    # still serving
    assert await command(editor, "status", {}) is not None
