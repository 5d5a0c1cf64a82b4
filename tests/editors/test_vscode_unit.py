"""The VS Code extension's own checks (`npm test`: tsc --noEmit, then node:test unit tests of
the pure modules), so that CI runs them too. Needs the node_modules that setup installed."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from editors_support import ROOT, SETUP_FAILED

EXT = ROOT / "editor-clients" / "vscode"


@pytest.mark.skipif(
    not SETUP_FAILED.exists() and (not (EXT / "node_modules").is_dir() or not shutil.which("npm")),
    reason="editor-clients/vscode/node_modules missing; run ./dev setup",
)
def test_npm_test_lint_and_unit_tests(tmp_path):
    # npm's cache and debug logs go to this test's folder, not ~/.npm.
    proc = subprocess.run(
        ["npm", "test", "--silent"],
        cwd=EXT,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
        env=dict(os.environ, npm_config_cache=str(tmp_path / "npm")),
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "# fail 0" in proc.stdout, proc.stdout[-4000:]
