"""Neovim (0.11 and 0.7), headless, with editor-clients/neovim against the real `veladev lsp`
and the sandbox: the code lenses appear (Deploy, phase, step states), :VeladevDeploy deploys,
and the Promote lens, run with vim.lsp.codelens.run, resumes the workflow."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import pytest

from editors_support import NVIMS, ROOT, SETUP_FAILED, run_nvim_script

sys.path.insert(0, str(ROOT / "tests" / "sandbox"))
from test_lsp_lenses import gated_text  # noqa: E402 - one Application for both lens tests

SCRIPT = Path(__file__).with_name("nvim_lenses.lua")


@pytest.mark.sandbox
@pytest.mark.parametrize("series", sorted(NVIMS))
def test_neovim_lenses_and_promote(series, sandbox, sandbox_ns, veladev_cmd, artifacts, tmp_path):
    nvim = NVIMS[series]
    if not nvim.exists() and not SETUP_FAILED.exists():
        pytest.skip(f"no nvim {series} at {nvim}; run ./dev setup")
    name = f"nv-{uuid.uuid4().hex[:6]}"
    app = tmp_path / "app.yaml"
    app.write_text(gated_text(name, sandbox_ns))
    result = run_nvim_script(
        series,
        SCRIPT,
        app,
        cwd=tmp_path,
        tmp_path=tmp_path,
        log_dir=artifacts / f"neovim-lenses-{series}",
        variables={"VELADEV_CMD": json.dumps(veladev_cmd), "VELADEV_KUBECONFIG": sandbox.kubeconfig},
    )

    lines = app.read_text().splitlines()
    assert result["deploy_line"] == lines.index("kind: Application")
    assert result["promote_line"] == lines.index("      - name: gate")
    assert any(t["title"].startswith("⏸ suspending") for t in result["titles_suspended"]), result["titles_suspended"]
    for user in (
        "VeladevDeploy",
        "VeladevPromote",
        "VeladevPushTrigger",
        "VeladevDevStart",
        "VeladevDevTerminal",
        "VeladevLens",
    ):
        assert user in result["user_commands"]
    assert any(f"created application {sandbox_ns}/{name}" in m for m in result["messages"]), result["messages"]
    assert any("promoted" in m for m in result["messages"]), result["messages"]
    assert any(f"created application {sandbox_ns}/{name}" in p for p in result["progress"]), result["progress"]
    assert not any("Promote" == t["title"] for t in result["titles_done"])
