"""VS Code (code-server) with the veladev extension, driven headless by Playwright + Chromium.

Setup (tools/setup-editors.sh) builds .cache/editors/veladev.vsix and installs
code-server and playwright-core in .cache/editors/harness. Each test runs one scenario of
vscode_driver.mjs against one code-server, then asserts on what the driver saw.
Screenshots and code-server's logs go to artifacts/editors/.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from editors_support import (
    BAD_SYNC,
    CACHE,
    DIAGNOSTIC_CODE,
    EXAMPLE,
    FIX_TITLE,
    GOOD_SYNC,
    ROOT,
    SETUP_FAILED,
    free_port,
    make_broken_app,
)

HARNESS = CACHE / "harness"
CODE_SERVER = HARNESS / "node_modules" / ".bin" / "code-server"
VSIX = CACHE / "veladev.vsix"
CHROMIUM = Path(os.environ.get("VELADEV_CHROMIUM", "/usr/bin/chromium"))
DRIVER = Path(__file__).with_name("vscode_driver.mjs")


def _missing() -> str | None:
    if SETUP_FAILED.exists():
        return None  # run, and fail with the set-up's reason (conftest)
    for path, what in [(CODE_SERVER, "code-server"), (VSIX, "the built .vsix"), (CHROMIUM, "chromium")]:
        if not path.exists():
            return f"{what} not installed ({path}); run ./dev setup"
    if not shutil.which("node"):
        return "node not installed"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")


class CodeServer:
    def __init__(self, base: Path, workspace: Path, server_cmd: list[str], logs: Path):
        self.base, self.workspace, self.logs = base, workspace, logs
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/?folder={workspace}"
        self.env = dict(os.environ, HOME=str(base / "home"))
        for var in ("CONFIG", "DATA", "CACHE", "STATE"):
            self.env[f"XDG_{var}_HOME"] = str(base / "xdg" / var.lower())
        # VS Code's IPC sockets (vscode-ipc-*.sock) go to XDG_RUNTIME_DIR, else to the system temp
        # folder, where nobody removes them. A short path: socket paths are limited to 107 bytes.
        self.runtime = Path(tempfile.mkdtemp(prefix="vsrun-"))
        self.env.update(XDG_RUNTIME_DIR=str(self.runtime), TMPDIR=str(self.runtime))
        self.env.pop("VSCODE_IPC_HOOK_CLI", None)
        self.config = base / "config.yaml"
        self.config.write_text(f"bind-addr: 127.0.0.1:{self.port}\nauth: none\ncert: false\n")
        self.user_data = base / "user-data"
        self.extensions = base / "extensions"
        settings = {
            "veladev.server.command": server_cmd[:-1] if server_cmd[-1] == "lsp" else server_cmd,
            "veladev.trace.server": "verbose",  # the trace (with URIs) shows what reached the server
            "workbench.startupEditor": "none",
            "security.workspace.trust.enabled": False,
            "editor.wordBasedSuggestions": "off",
            "editor.quickSuggestions": {"other": "off", "comments": "off", "strings": "off"},
            "files.autoSave": "off",
            "workbench.tips.enabled": False,
            "workbench.enableExperiments": False,
            "telemetry.telemetryLevel": "off",
            "extensions.autoUpdate": False,
            "extensions.autoCheckUpdates": False,
            "update.mode": "none",
            "git.enabled": False,
            "chat.disableAIFeatures": True,
        }
        (self.user_data / "User").mkdir(parents=True)
        (self.user_data / "User" / "settings.json").write_text(json.dumps(settings, indent=2))
        self.proc: subprocess.Popen | None = None

    def set_settings(self, extra: dict) -> None:
        """User settings beside the defaults above. veladev's settings are machine-overridable:
        in a remote window (code-server) VS Code takes them from the machine's settings once
        the configuration is re-read (it is, when a debug session starts), so they go there
        too, as a code-server user would put them."""
        settings_file = self.user_data / "User" / "settings.json"
        settings = {**json.loads(settings_file.read_text()), **extra}
        settings_file.write_text(json.dumps(settings, indent=2))
        (self.user_data / "Machine").mkdir(exist_ok=True)
        (self.user_data / "Machine" / "settings.json").write_text(json.dumps(settings, indent=2))

    def run_node(self, script: Path, *args: str, timeout: float) -> str:
        """Run a Playwright driver script against this code-server; its output (stdout, then
        stderr). With the code-server's environment: Chromium's profile, crash reports and
        dconf go to the code-server's own folders too."""
        proc = subprocess.run(
            ["node", str(script), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            env=self.env,
        )
        return proc.stdout + proc.stderr

    def _args(self) -> list[str]:
        return [
            str(CODE_SERVER),
            "--config",
            str(self.config),
            "--user-data-dir",
            str(self.user_data),
            "--extensions-dir",
            str(self.extensions),
            "--disable-telemetry",
            "--disable-update-check",
            "--disable-workspace-trust",
            "--disable-getting-started-override",
        ]

    def install_extension(self) -> str:
        out = subprocess.run(
            self._args() + ["--install-extension", str(VSIX)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        listed = subprocess.run(
            self._args() + ["--list-extensions", "--show-versions"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
        assert "veladev.veladev@" in listed.stdout, listed.stdout + listed.stderr
        return listed.stdout.strip()

    def start(self) -> None:
        self.log_file = open(self.logs / "code-server.log", "w")
        self.proc = subprocess.Popen(
            self._args() + ["--bind-addr", f"127.0.0.1:{self.port}", "--auth", "none", str(self.workspace)],
            env=self.env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 180
        while True:
            assert self.proc.poll() is None, f"code-server exited: see {self.logs / 'code-server.log'}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            assert time.monotonic() < deadline, "code-server did not answer /healthz"
            time.sleep(0.5)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=20)
        if getattr(self, "log_file", None):
            self.log_file.close()
        # Keep the workbench and extension-host logs (the veladev output channel is among them).
        if (self.user_data / "logs").exists():
            shutil.copytree(self.user_data / "logs", self.logs / "code-server-logs", dirs_exist_ok=True)
        shutil.rmtree(self.runtime, ignore_errors=True)


@pytest.fixture(scope="module")
def code_server(tmp_path_factory, veladev_cmd, artifacts):
    base = tmp_path_factory.mktemp("code-server")
    workspace = base / "ws"
    apps = {name: make_broken_app(workspace / name) for name in ("fix", "complete", "navigate")}
    # Distinct file names, so that Quick Open finds exactly one of each.
    for name, app in apps.items():
        new = app.path.with_name(f"{name}-app.yaml")
        app.path.rename(new)
        app.path = new
    logs = artifacts / "vscode"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    cs = CodeServer(base, workspace, veladev_cmd, logs)
    (logs / "extensions.txt").write_text(cs.install_extension())
    cs.start()
    try:
        yield cs, apps
    finally:
        cs.stop()


def drive(cs: CodeServer, scenario: str, **options) -> dict:
    out = cs.logs / f"{scenario}.json"
    opts = {
        "url": cs.url,
        "harness": str(HARNESS),
        "chromium": str(CHROMIUM),
        "shots": str(cs.logs),
        "out": str(out),
        **options,
    }
    output = cs.run_node(DRIVER, scenario, json.dumps(opts), timeout=600)
    (cs.logs / f"{scenario}.driver.log").write_text(output)
    assert out.exists(), output
    result = json.loads(out.read_text())
    assert result.get("ok"), (
        f"driver scenario {scenario} failed: {result.get('error')}\nsteps: {result.get('steps')}\n"
        f"problems: {result.get('problemsAtFailure')}\nscreenshots: {result.get('screenshots')}"
    )
    return result


def test_diagnostic_in_problems_panel_and_quick_fix(code_server):
    cs, apps = code_server
    app = apps["fix"]
    result = drive(cs, "quickfix", file=app.path.name, code=DIAGNOSTIC_CODE, fixTitle=FIX_TITLE, fixedText=GOOD_SYNC)

    # The Problems panel lists the diagnostic, from veladev, at the misspelt value.
    rows = [r for r in result["problemsBefore"] if DIAGNOSTIC_CODE in r["text"]]
    assert len(rows) == 1, result["problemsBefore"]
    assert f"[Ln {app.bad_line}, Col {app.bad_col}]" in rows[0]["text"], rows[0]
    assert "veladev" in rows[0]["text"], rows[0]

    # Its quick fix was offered, applied, and the saved file is corrected.
    assert any(FIX_TITLE in item for item in result["quickFixes"]), result["quickFixes"]
    text = app.path.read_text()
    assert BAD_SYNC not in text and text.splitlines()[app.bad_line - 1].strip() == GOOD_SYNC
    assert text == EXAMPLE.read_text(), "the quick fix changed more than the misspelt value"

    # And the diagnostic is gone from the Problems panel.
    assert not any(DIAGNOSTIC_CODE in r["text"] for r in result["problemsAfter"]["rows"])


def test_completion_offers_trait_parameters(code_server):
    cs, apps = code_server
    app = apps["complete"]
    # Parameters of the nocalhost definition that the trait does not set yet are offered.
    wanted = app.missing_params[:2]
    result = drive(cs, "completion", file=app.path.name, line=app.props_line, expect=wanted[0])
    labels = " ".join(result["suggestions"])
    for param in wanted:
        assert param in labels, (param, result["suggestions"])


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_hover_outline_and_go_to_definition(code_server):
    cs, apps = code_server
    path = apps["navigate"].path
    hover_line = _line_of(path, "- type: nocalhost")
    ref_line = _line_of(path, 'policies: ["target-test"]')
    def_line = _line_of(path, "- name: target-test")
    result = drive(
        cs,
        "navigation",
        file=path.name,
        hoverLine=hover_line,
        hoverExpect="nocalhost",
        refLine=ref_line,
        defLine=def_line,
    )
    assert "nocalhost" in result["hover"]
    assert "nocalhost" in result["breadcrumbs"] and "frontend" in result["breadcrumbs"], result["breadcrumbs"]
    assert result["definitionLine"] == def_line


def test_server_commands_in_palette(code_server):
    cs, apps = code_server
    result = drive(
        cs,
        "commands",
        file=apps["navigate"].path.name,
        serverCommand="veladev.reloadCatalog",
        serverCommandTitle="Reload Catalog",
        expectMessage="bundled",
    )
    assert any("Run a Server Command" in r for r in result["palette"]), result["palette"]
    assert any("veladev.reloadCatalog" in r for r in result["serverCommands"]), result["serverCommands"]
    # The server ran it and answered with a window/showMessage, shown as a notification.
    assert "veladev:" in result["notification"]


def test_plain_yaml_never_reaches_the_server(code_server):
    cs, apps = code_server
    plain = apps["navigate"].workspace / "pod.yaml"
    plain.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n")
    # An Application never opened before: its diagnostics can only follow its didOpen, which
    # the client sends after anything it would have sent for pod.yaml, opened first.
    later = apps["navigate"].workspace / "later-app.yaml"
    later.write_text(apps["navigate"].path.read_text())
    drive(cs, "plain", file=later.name, plainFile=plain.name)
    traces = [p.read_text() for p in (cs.user_data / "logs").rglob("*veladev.log")]
    assert traces, "no veladev output channel log"
    trace = "\n".join(traces)
    assert later.name in trace  # the Application was sent (the verbose trace has URIs)
    assert "pod.yaml" not in trace, "a plain Kubernetes YAML file was sent to the server"


def test_missing_server_is_explained(code_server):
    cs, _ = code_server
    # Another window on another folder, whose workspace settings name a server that is not there.
    ws = cs.base / "ws-missing"
    app = make_broken_app(ws)
    (ws / ".vscode").mkdir()
    (ws / ".vscode" / "settings.json").write_text(json.dumps({"veladev.server.command": ["/nonexistent/bin/veladev"]}))
    result = drive(
        cs, "missing", file=app.path.name, url=f"http://127.0.0.1:{cs.port}/?folder={ws}", expectMessage="was not found"
    )
    text = result["notification"]
    assert "/nonexistent/bin/veladev" in text and "veladev.server.command" in text, text
    assert "Open install guide" in text and "Open settings" in text, text


def test_settings_reach_the_server_when_changed(code_server):
    cs, apps = code_server
    kubeconfig = "/nonexistent/veladev-test-kubeconfig"
    result = drive(
        cs,
        "settings",
        file=apps["navigate"].path.name,
        kubeconfig=kubeconfig,
        settingsFile=str(cs.user_data / "User" / "settings.json"),
    )
    # The server read veladev.kubeconfig through workspace/configuration after the change,
    # tried it, and said so.
    assert kubeconfig in result["notification"]
