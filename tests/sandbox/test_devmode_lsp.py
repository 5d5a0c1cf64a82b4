"""Dev mode through the language server (pytest-lsp, real protocol, sandbox cluster):
executeCommand start/status/end with work-done progress and veladev/devState notifications;
mistakes answer with one sentence and the server keeps serving."""

import copy
import sys
from typing import Any

import pytest
import pytest_lsp
import yaml
from devmode_app_helpers import DEV_IMAGE, comparable
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from support import lsp_client_factory

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("need_pods")]


class DevModeClient(LanguageClient):
    """pytest-lsp's client, also recording veladev's dev-mode notifications."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.dev_states: list[Any] = []  # veladev/devState params, in order
        self.run_output: list[Any] = []  # veladev/runOutput params, in order
        self.closed = False  # the test shut the server down itself
        self.feature("veladev/devState")(lambda params: self.dev_states.append(params))
        self.feature("veladev/runOutput")(lambda params: self.run_output.append(params))


CONFIG = ClientServerConfig(
    server_command=[sys.executable, "-m", "veladev", "lsp"], client_factory=lsp_client_factory(DevModeClient)
)


async def initialized(client: DevModeClient, sandbox) -> None:
    client.set_configuration({"kubeconfig": sandbox.kubeconfig}, section="veladev")
    await client.initialize_session(lsp.InitializeParams(capabilities=client_capabilities("visual-studio-code")))


@pytest_lsp.fixture(config=CONFIG)
async def editor(lsp_client: DevModeClient, sandbox):
    await initialized(lsp_client, sandbox)
    yield
    await lsp_client.shutdown_session()


async def command(client, name, arg=None):
    return await client.workspace_execute_command_async(
        lsp.ExecuteCommandParams(command=f"veladev.dev.{name}", arguments=[arg] if arg is not None else [])
    )


def _get(obj, *keys):
    """A field of a result or notification (the client turns unknown objects into named tuples)."""
    for key in keys:
        obj = obj[key] if isinstance(obj, dict) else getattr(obj, key)
    return obj


async def test_start_status_end_with_progress_and_state_notifications(editor, deployed):
    d = deployed
    original = d.deployment()
    arg = {"uri": d.file.as_uri()}
    # the file is open with an unsaved edit of the trait: dev mode uses what the editor shows
    edited = copy.deepcopy(d.app)
    edited["spec"]["components"][0]["traits"][0]["properties"]["env"] = [{"name": "FROM_EDITOR", "value": "unsaved"}]
    unsaved = yaml.safe_dump(edited, sort_keys=False)
    editor.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(arg["uri"], "yaml", 1, unsaved)))
    result = await command(editor, "start", arg)
    assert _get(result, "namespace") == d.ns and _get(result, "workload") == "frontend"
    assert _get(result, "pod").startswith("frontend-")
    container = d.deployment()["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == DEV_IMAGE and {"name": "FROM_EDITOR", "value": "unsaved"} in container["env"]
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
        (f"{d.ns}/frontend", "frontend", "frontend")
    ]

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
    with pytest.raises(JsonRpcException, match="one object"):
        await command(editor, "start")
    with pytest.raises(JsonRpcException, match="not deployed in namespace elsewhere"):
        await command(editor, "start", {"uri": d.file.as_uri(), "namespace": "elsewhere"})
    # still serving
    assert await command(editor, "status", {}) is not None


@pytest_lsp.fixture(config=CONFIG)
async def editor_to_close(lsp_client: DevModeClient, sandbox):
    """Like `editor`, but the test shuts the server down itself."""
    await initialized(lsp_client, sandbox)
    yield
    if not lsp_client.closed:
        await lsp_client.shutdown_session()


async def test_up_run_debug_hosted_by_the_server_and_stopped_on_shutdown(editor_to_close, deployed, sandbox):
    import asyncio

    from devmode_app_helpers import local_get

    client, d = editor_to_close, deployed
    arg = {"uri": d.file.as_uri(), "component": "frontend"}
    up = await command(client, "up", arg)
    [address] = _get(up, "forwards")
    port = int(address.split(":")[1].split("->")[0])
    assert address == f"127.0.0.1:{port}->80"

    async def until(pred, what, timeout=60):
        for _ in range(int(timeout / 0.1)):
            value = await asyncio.to_thread(pred)
            if value:
                return value
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    await until(
        lambda: any(
            _get(s, "sync", "state") == "idle" and list(_get(s, "forwards")) == [address] for s in client.dev_states
        ),
        "sync idle and the forward in devState",
    )
    assert _get(await command(client, "run", arg), "run") == "running"
    await until(lambda: any("listening" in _get(o, "text") for o in client.run_output), "the run's output")
    page = await until(lambda: local_get(f"http://127.0.0.1:{port}/"), "the page through the forward")
    assert "frontend v1.0.0" in page
    assert _get(client.run_output[0], "component") == "frontend"

    # hot reload: an edit restarts the run
    started = sum("listening" in _get(o, "text") for o in client.run_output)
    (d.folder / "VERSION").write_text("v3.0.0\n")
    await until(lambda: sum("listening" in _get(o, "text") for o in client.run_output) > started, "hot reload")
    assert "frontend v3.0.0" in await until(lambda: local_get(f"http://127.0.0.1:{port}/"), "the new page")

    from devmode_app_helpers import dev_pod_name, dev_state, kubectl_sh

    def group_alive(name):
        return kubectl_sh(
            d,
            dev_pod_name(d),
            f"p=$(cut -d' ' -f1 /tmp/veladev-{name}.pgid 2>/dev/null); "
            '[ -n "$p" ] && [ -d /proc/$p ] && echo alive || echo gone',
        ).strip()

    assert group_alive("run") == "alive"
    assert _get(await command(client, "stopRun", arg), "run") == "stopped"
    assert group_alive("run") == "gone"

    debug = _get(await command(client, "debug", arg), "attach")
    assert tuple(_get(debug, k) for k in ("type", "request", "localRoot", "remoteRoot")) == (
        "node",
        "attach",
        str(d.folder),
        "/home/nocalhost-dev",
    )
    assert any(_get(s, "run") == "debugging" for s in client.dev_states)
    await until(lambda: any("Debugger listening" in _get(o, "text") for o in client.run_output), "the debugger")
    assert group_alive("debug") == "alive"

    await client.shutdown_session()
    client.closed = True
    # the server stopped what it hosted (the debug run too), and the workload stays in dev mode
    assert group_alive("debug") == "gone"
    assert local_get(f"http://127.0.0.1:{port}/") is None
    assert dev_state(d.deployment()) is not None
    end = d.cli("end", str(d.file))
    assert end.returncode == 0, end.stderr


async def test_end_without_the_component_stops_the_session_started_with_it(editor, deployed):
    from devmode_app_helpers import local_get

    d = deployed
    up = await command(editor, "up", {"uri": d.file.as_uri(), "component": "frontend", "namespace": d.ns})
    port = int(_get(up, "forwards")[0].split(":")[1].split("->")[0])
    assert _get(await command(editor, "end", {"uri": d.file.as_uri()}), "state") == "off"
    assert local_get(f"http://127.0.0.1:{port}/") is None  # its forward is closed: the same session
    states = [_get(s, "state") for s in editor.dev_states]
    assert states[-1] == "off" and _get(editor.dev_states[-1], "forwards") == []
