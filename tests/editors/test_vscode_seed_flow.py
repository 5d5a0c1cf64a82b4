"""The seed's flow from the VS Code UI alone, in code-server driven by Playwright, against the
sandbox: Deploy from its lens, steps' states update, dev mode from the lens with the sync state
in the status bar, a dev terminal listing the workDir, Run, an edit of server.js to v2.0.0
saved in the editor and served through the forward, Debug with a breakpoint hit, End dev mode,
Push & trigger to a local bare repository, Promote from the lens; then prod serves v2.0.0.
Screenshots of each step go to artifacts/editors/vscode-seed-flow/."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_vscode import CHROMIUM, HARNESS, CodeServer, _missing

from editors_support import ROOT

sys.path.insert(0, str(ROOT / "tests" / "sandbox"))
from devmode_app_helpers import example_in  # noqa: E402

from kv_helpers import git, make_frontend_repo  # noqa: E402

DRIVER = Path(__file__).with_name("vscode_seed_flow.mjs")
README_SHOT = ROOT / "editor-clients" / "vscode" / "screenshot-oneclick.png"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}

pytestmark = [pytest.mark.sandbox, pytest.mark.skipif(_missing() is not None, reason=_missing() or "")]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _line(text: str, needle: str, after: int = 0) -> int:
    lines = text.splitlines()
    return next(i for i in range(after, len(lines)) if needle in lines[i]) + 1


def test_seed_flow_from_the_vscode_ui(sandbox, sandbox_ns, need_pods, veladev_cmd, artifacts, tmp_path):
    if not shutil.which("node"):
        pytest.skip("node not found (the frontend example runs `node server.js`)")
    ws = tmp_path / "ws"
    repo = Path(make_frontend_repo(str(ws / "frontend")))
    sandbox.register_repo("frontend", str(repo))
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    app = example_in(sandbox_ns)
    forward_port = 8080 if _port_free(8080) else 0
    app["spec"]["components"][0]["traits"][0]["properties"]["portForward"] = [f"{forward_port}:80"]
    text = yaml.safe_dump(app, sort_keys=False)
    (repo / "vela-app.yaml").write_text(text)
    git(str(repo), "commit", "-qam", "deploy to the test's namespaces")
    git(str(repo), "remote", "add", "origin", str(bare))
    branch = git(str(repo), "rev-parse", "--abbrev-ref", "HEAD")
    git(str(repo), "push", "-q", "-u", "origin", branch)

    logs = artifacts / "vscode-seed-flow"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    (tmp_path / "cs").mkdir()
    cs = CodeServer(tmp_path / "cs", repo, veladev_cmd, logs)
    cs.set_settings(
        {
            "veladev.kubeconfig": sandbox.kubeconfig,
            "veladev.imageTemplate": "sandbox.local/frontend:{commit}",
            "veladev.namespaces": [sandbox_ns],
            "terminal.integrated.gpuAcceleration": "off",
            "editor.fontSize": 12,
            "workbench.editor.enablePreview": False,
        }
    )
    cs.install_extension()
    cs.start()
    server_js = (repo / "server.js").read_text()
    comps = _line(text, "components:")
    steps = _line(text, "steps:")
    opts = {
        "url": cs.url,
        "harness": str(HARNESS),
        "chromium": str(CHROMIUM),
        "shots": str(logs),
        "out": str(logs / "result.json"),
        "repo": str(repo),
        "gitEnv": GIT_ENV,
        "workDir": app["spec"]["components"][0]["traits"][0]["properties"]["workDir"],
        "forwardUrl": f"http://127.0.0.1:{forward_port}/" if forward_port else "auto",
        "versionLine": _line(server_js, "const version ="),
        "versionEdit": 'const version = "v2.0.0";',
        "breakpointLine": _line(server_js, "res.writeHead("),
        "lines": {
            "kind": _line(text, "kind: Application"),
            "component": _line(text, "- name: frontend", comps),
            "approve": _line(text, "- name: approve-prod", steps),
            "deployProd": _line(text, "- name: deploy-prod", steps),
        },
    }
    try:
        output = cs.run_node(DRIVER, json.dumps(opts), timeout=1800)
    finally:
        cs.stop()
    (logs / "driver.log").write_text(output)
    result = json.loads((logs / "result.json").read_text())
    assert result.get("ok"), (
        f"{result.get('error')}\nsteps: {result.get('steps')}\nlenses: {result.get('lensesAtFailure')}"
        f"\nstatus: {result.get('statusAtFailure')}\ntoasts: {result.get('toastsAtFailure')}"
    )
    if os.environ.get("VELADEV_UPDATE_SCREENSHOT") == "1":
        # the README's picture is refreshed on request only: a test run leaves the source tree alone
        shutil.copy(next(p for p in result["screenshots"] if "deployed-steps-and-view" in p), README_SHOT)

    before = "\n".join(result["lensesBefore"])
    assert "Deploy" in before and "phase: not deployed" in before, before
    assert any("frontend" in r and "workflowSuspending" in r for r in result["viewSuspended"]), result["viewSuspended"]
    assert "sync idle" in result["statusDevOn"]
    assert opts["workDir"] in result["terminal"] and "server.js" in result["terminal"]
    assert "v2.0.0" in result["pageV2"]
    assert result["commit"] == git(str(bare), "rev-parse", branch)  # pushed to the bare repository
    assert result["commit"][:7] in result["pushMessage"]

    from veladev.cluster.pods import http_get, ready_pod

    api = sandbox.api_client()
    try:
        prod = f"{sandbox_ns}-prod"
        page = sandbox.wait_for(
            lambda: (lambda body: body if "v2.0.0" in body else None)(
                http_get(api, prod, ready_pod(api, prod, "frontend"))
            ),
            timeout=180,
            what="prod serving v2.0.0",
        )
    finally:
        api.close()
    assert "v2.0.0" in page
    (logs / "debug.json").write_text(json.dumps(result.get("debug"), indent=2))
    # Debug: VS Code's JavaScript debugger (shipped with code-server) attached with the server's
    # configuration, paused on the breakpoint in server.js, and the request finished on continue.
    debug = result["debug"]
    assert "error" not in debug, debug
    assert "paused on breakpoint" in debug["paused"].lower(), debug
    assert "v2.0.0" in debug["bodyAfterContinue"], debug
