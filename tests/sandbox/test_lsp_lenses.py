"""Code lenses, delivery commands and the drift hint through the protocol (pytest-lsp), against
the sandbox: the lenses follow the live cluster (workspace/codeLens/refresh), a lens's command
runs with work-done progress and one final message, and without a cluster they say so once."""

import asyncio
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_lsp
import yaml
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from kv_helpers import Apps, git
from support import lsp_client_factory

pytestmark = pytest.mark.sandbox
SERVER = [sys.executable, "-m", "veladev", "lsp"]


class LensClient(LanguageClient):
    """pytest-lsp's client, also counting the server's workspace/codeLens/refresh requests."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lens_refreshes = 0
        self.feature(lsp.WORKSPACE_CODE_LENS_REFRESH)(lambda params: self._refreshed())

    def _refreshed(self) -> None:
        self.lens_refreshes += 1

    def progress_ends(self) -> list[lsp.WorkDoneProgressEnd]:
        """The work-done progress ends received (pytest-lsp keeps each progress value, a
        WorkDoneProgressBegin, Report or End, in progress_reports)."""
        values: list[object] = [value for values in self.progress_reports.values() for value in values]
        return [value for value in values if isinstance(value, lsp.WorkDoneProgressEnd)]


CONFIG = ClientServerConfig(server_command=SERVER, client_factory=lsp_client_factory(LensClient))
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "frontend" / "vela-app.yaml"


def gated_text(name: str, ns: str, image: str = "sandbox.local/toolchain") -> str:
    return f"""apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: {name}
  namespace: {ns}
spec:
  components:
    - name: web
      type: worker
      properties:
        image: {image}
      traits:
        - type: nocalhost
          properties:
            image: node
            command:
              run: ["node", "server.js"]
  workflow:
    steps:
      - name: gate
        type: suspend
      - name: announce
        type: notification
        properties:
          slack:
            url:
              value: http://127.0.0.1:9/hook
            message:
              text: done
"""


def pushed_repo(tmp_path: Path, app_text: str) -> tuple[Path, Path]:
    """A clone holding app.yaml, its branch main pushed to a local bare repository (upstream set)."""
    bare, work = tmp_path / "origin.git", tmp_path / "work"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    work.mkdir()
    (work / "app.yaml").write_text(app_text)
    git(str(work), "init", "-q", "-b", "main")
    git(str(work), "add", "-A")
    git(str(work), "commit", "-qm", "v1")
    git(str(work), "remote", "add", "origin", str(bare))
    git(str(work), "push", "-q", "-u", "origin", "main")
    return bare, work


async def started(client: LensClient, settings: dict) -> LensClient:
    client.set_configuration(settings, section="veladev")
    await client.initialize_session(
        lsp.InitializeParams(capabilities=client_capabilities("visual_studio_code@v1.65.2"))
    )
    return client


@pytest_lsp.fixture(config=CONFIG)
async def offline(lsp_client: LensClient):
    yield await started(lsp_client, {"kubeconfig": "/nonexistent/kubeconfig"})
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=CONFIG)
async def live(lsp_client: LensClient, sandbox, tmp_path):
    yield await started(
        lsp_client,
        {"kubeconfig": sandbox.kubeconfig, "imageTemplate": "sandbox.local/frontend:{short_commit}-{component}"},
    )
    await lsp_client.shutdown_session()


async def lenses(client: LanguageClient, uri: str) -> list[lsp.CodeLens]:
    return list(await client.text_document_code_lens_async(lsp.CodeLensParams(lsp.TextDocumentIdentifier(uri))) or [])


def command_of(lens: lsp.CodeLens) -> lsp.Command:
    """A lens's command: the server sends every lens resolved."""
    assert lens.command is not None, lens
    return lens.command


async def wait_lenses(client, uri, pred, what, timeout=60):
    deadline = asyncio.get_running_loop().time() + timeout
    got = []
    while asyncio.get_running_loop().time() < deadline:
        got = await lenses(client, uri)
        if pred(got):
            return got
        await asyncio.sleep(0.2)
    raise AssertionError(
        f"lenses never showed {what}: {[(lens.range.start.line, command_of(lens).title) for lens in got]}"
    )


def titles(ls, line=None):
    return [command_of(lens).title for lens in ls if line is None or lens.range.start.line == line]


def open_doc(client, path: Path, text: str) -> str:
    path.write_text(text)
    uri = path.as_uri()
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(uri, "yaml", 1, text)))
    return uri


async def run(client, lens_or_command, arguments=None):
    if isinstance(lens_or_command, lsp.CodeLens):
        cmd = command_of(lens_or_command)
        return await client.workspace_execute_command_async(lsp.ExecuteCommandParams(cmd.command, cmd.arguments))
    return await client.workspace_execute_command_async(lsp.ExecuteCommandParams(lens_or_command, arguments))


async def test_without_a_cluster_the_lenses_say_so_once(offline: LensClient, tmp_path):
    uri = open_doc(offline, tmp_path / "app.yaml", EXAMPLE.read_text())
    got = await lenses(offline, uri)
    all_titles = titles(got)
    assert all_titles.count("no cluster configured (set veladev.kubeconfig)") == 1
    kind_line = EXAMPLE.read_text().splitlines().index("kind: Application")
    assert titles(got, kind_line) == ["Deploy", "no cluster configured (set veladev.kubeconfig)"]
    comp_line = EXAMPLE.read_text().splitlines().index("    - name: frontend")
    assert titles(got, comp_line) == ["Start dev mode", "Push & trigger"]
    assert not any("suspending" in t or "Promote" in t for t in all_titles)

    # Running a lens's command without a cluster: one clear error, the server keeps serving.
    deploy = next(lens for lens in got if command_of(lens).title == "Deploy")
    result = await run(offline, deploy)
    assert result["ok"] is False and "no kubeconfig" in result["message"]
    assert offline.messages[-1].type == lsp.MessageType.Error and "Deploy failed" in offline.messages[-1].message
    assert await lenses(offline, uri)


async def test_lenses_follow_the_cluster_and_promote_runs_from_a_lens(live: LensClient, sandbox, sandbox_ns, tmp_path):
    name = f"lens-{uuid.uuid4().hex[:6]}"
    text = gated_text(name, sandbox_ns)
    lines = text.splitlines()
    uri = open_doc(live, tmp_path / "app.yaml", text)
    kind, comp, gate = (
        lines.index("kind: Application"),
        lines.index("    - name: web"),
        lines.index("      - name: gate"),
    )

    got = await wait_lenses(live, uri, lambda ls: "phase: not deployed" in titles(ls, kind), "not deployed")
    assert titles(got, comp) == ["Start dev mode", "Push & trigger"]
    assert titles(got, gate) == []

    deploy = next(lens for lens in got if command_of(lens).title == "Deploy")
    assert command_of(deploy).command == "veladev.deploy"
    refreshes = live.lens_refreshes
    result = await run(live, deploy)
    assert result["ok"] and result["created"], result
    assert f"created application {sandbox_ns}/{name}" in live.messages[-1].message
    # Work-done progress: begun and ended with the final message.
    ends = live.progress_ends()
    assert any(f"created application {sandbox_ns}/{name}" in (e.message or "") for e in ends)

    got = await wait_lenses(live, uri, lambda ls: "Promote" in titles(ls, gate), "the gate suspended")
    for _ in range(300):  # the watch asks the client to refresh (coalesced, so shortly after)
        if live.lens_refreshes > refreshes:
            break
        await asyncio.sleep(0.1)
    assert live.lens_refreshes > refreshes
    assert "phase: workflowSuspending" in titles(got, kind)
    assert any(t.startswith("⏸ suspending") for t in titles(got, gate))
    announce = lines.index("      - name: announce")
    assert titles(got, announce) == ["not run yet"] or any("pending" in t for t in titles(got, announce))

    promote = next(lens for lens in got if command_of(lens).title == "Promote")
    promote_command = command_of(promote)
    assert promote_command.command == "veladev.promote"
    assert promote_command.arguments is not None
    promote_argument = promote_command.arguments[0]
    assert isinstance(promote_argument, dict) and promote_argument["step"] == "gate"
    result = await run(live, promote)
    assert result["ok"], result
    got = await wait_lenses(
        live, uri, lambda ls: any("succeeded" in t for t in titles(ls, announce)), "the workflow finished"
    )
    assert "Promote" not in titles(got)
    assert any(t.startswith("✓ succeeded") for t in titles(got, gate))

    # A second Promote has nothing to resume: one clear error, the server keeps running.
    result = await run(live, "veladev.promote", [{"uri": uri}])
    assert result["ok"] is False and "not waiting for approval" in result["message"]


async def test_drift_hint_offers_the_live_image(live: LensClient, sandbox, sandbox_ns, tmp_path):
    name = f"drift-{uuid.uuid4().hex[:6]}"
    text = gated_text(name, sandbox_ns)
    uri = open_doc(live, tmp_path / "app.yaml", text)
    result = await run(live, "veladev.deploy", [{"uri": uri}])
    assert result["ok"], result
    Apps(sandbox).patch(
        sandbox_ns,
        name,
        {
            "spec": {
                "components": [
                    {
                        **yaml.safe_load(text)["spec"]["components"][0],
                        "properties": {"image": "sandbox.local/frontend:abc1234"},
                    }
                ]
            }
        },
    )

    deadline = asyncio.get_running_loop().time() + 60
    drift: list[lsp.Diagnostic] = []
    while asyncio.get_running_loop().time() < deadline and not drift:
        drift = [d for d in live.diagnostics.get(uri, []) if d.code == "live-image-differs"]
        await asyncio.sleep(0.1)
    assert drift, live.diagnostics.get(uri)
    d = drift[0]
    image_line = text.splitlines().index("        image: sandbox.local/toolchain")
    assert d.severity == lsp.DiagnosticSeverity.Information and d.range.start.line == image_line
    assert "sandbox.local/frontend:abc1234" in d.message
    actions = await live.text_document_code_action_async(
        lsp.CodeActionParams(lsp.TextDocumentIdentifier(uri), d.range, lsp.CodeActionContext([d]))
    )
    assert actions is not None
    fix = next(
        a
        for a in actions
        if isinstance(a, lsp.CodeAction) and a.title == "Take the live image sandbox.local/frontend:abc1234"
    )
    assert fix.edit is not None and fix.edit.changes is not None
    (edit,) = fix.edit.changes[uri]
    assert edit.new_text == "sandbox.local/frontend:abc1234" and edit.range == d.range


async def test_push_and_trigger_from_the_lens(live: LensClient, sandbox, sandbox_ns, tmp_path):
    name = f"push-{uuid.uuid4().hex[:6]}"
    text = gated_text(name, sandbox_ns)
    bare, work = pushed_repo(tmp_path, text)
    uri = open_doc(live, work / "app.yaml", text)
    assert (await run(live, "veladev.deploy", [{"uri": uri}]))["ok"]

    push = next(lens for lens in await lenses(live, uri) if command_of(lens).title == "Push & trigger")
    result = await run(live, push)
    assert result["ok"] is False and "nothing to push" in result["message"]

    (work / "server.js").write_text("// v2\n")
    git(str(work), "add", "-A")
    git(str(work), "commit", "-qm", "v2")
    sha = git(str(work), "rev-parse", "HEAD")
    result = await run(live, push)
    assert result["ok"], result
    assert git(str(bare), "rev-parse", "main") == sha
    image = f"sandbox.local/frontend:{sha[:7]}-web"
    app = Apps(sandbox).get(sandbox_ns, name)
    assert app["spec"]["components"][0]["properties"]["image"] == image and result["via"] == "patch"


@dataclass
class VelauxTrigger:
    app_name: str  # the VelaUX application the trigger deploys
    token: str  # the trigger's token, which nothing may show
    token_file: Path  # where the editor's settings point the server for it


@pytest.fixture
def velaux_trigger(sandbox, sandbox_ns, tmp_path) -> VelauxTrigger:
    name = f"vx-{uuid.uuid4().hex[:6]}"
    token = sandbox.velaux.create_trigger(name, sandbox_ns)
    (tmp_path / "token").write_text(token + "\n")
    return VelauxTrigger(name, token, tmp_path / "token")


@pytest_lsp.fixture(config=CONFIG)
async def velaux_client(lsp_client: LensClient, sandbox, velaux_trigger: VelauxTrigger):
    yield await started(
        lsp_client,
        {
            "kubeconfig": sandbox.kubeconfig,
            "velauxUrl": sandbox.velaux.url,
            "velauxTokenFile": str(velaux_trigger.token_file),
            "imageTemplate": "sandbox.local/frontend:{branch}-{short_commit}",
        },
    )
    await lsp_client.shutdown_session()


async def test_push_and_trigger_through_velaux_never_shows_the_token(
    velaux_client: LensClient, velaux_trigger: VelauxTrigger, sandbox, sandbox_ns, tmp_path
):
    client = velaux_client
    text = gated_text(velaux_trigger.app_name, sandbox_ns)
    bare, work = pushed_repo(tmp_path, text)
    uri = open_doc(client, work / "app.yaml", text)
    assert (await run(client, "veladev.deploy", [{"uri": uri}]))["ok"]
    (work / "server.js").write_text("// v2\n")
    git(str(work), "add", "-A")
    git(str(work), "commit", "-qm", "v2")
    sha = git(str(work), "rev-parse", "HEAD")

    result = await run(client, "veladev.pushAndTrigger", [{"uri": uri, "component": "web"}])
    assert result["ok"] and result["via"] == "velaux", result
    assert "VelaUX started" in result["message"]
    app = Apps(sandbox).get(sandbox_ns, velaux_trigger.app_name)
    assert app["spec"]["components"][0]["properties"]["image"] == f"sandbox.local/frontend:main-{sha[:7]}"
    shown = " ".join(m.message for m in client.messages) + " ".join(m.message for m in client.log_messages)
    token = velaux_trigger.token
    assert token not in shown and token not in str(result)
