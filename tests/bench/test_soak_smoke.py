"""Smoke test of bench/soak_lsp.py: a short soak through the protocol ends with no crash and no
unanswered edit, and prints its figures (never asserting on their values)."""

import json
import subprocess
import sys

from support import ROOT


def test_soak_short_run_has_no_crash(tmp_path):
    out_json = tmp_path / "soak.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "soak_lsp.py"), "--quick", "--seed", "7", "--json", str(out_json)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads(out_json.read_text())["summary"]
    assert summary["edits"] >= 300
    assert (summary["crashes"], summary["no_answer"]) == (0, 0), proc.stdout
    for row in ("crashes (server exited)", "slowest answer", "peak RSS (VmHWM)", "reproduce: python bench/soak_lsp.py"):
        assert row in proc.stdout, proc.stdout
