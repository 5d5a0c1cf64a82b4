"""Smoke test of bench/bench_lsp.py: a --quick run of veladev alone completes and prints its rows.

Checks only that figures are printed, never their values (no timing assertions).
"""

import json
import re
import subprocess
import sys

from support import ROOT

ROWS = [
    "small app: diag latency median (ms)",
    "small app: diag latency p95 (ms)",
    "large app: diag latency median (ms)",
    "large app: diag latency p95 (ms)",
    "start-up median (s)",
    "start-up p95 (s)",
    "peak RSS after all edits (MB)",
]


def test_bench_quick_veladev(tmp_path):
    out_json = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_lsp.py"), "--quick", "--only", "veladev", "--json", str(out_json)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for row in ROWS:
        line = next((text for text in proc.stdout.splitlines() if text.startswith(row)), None)
        assert line is not None, f"row {row!r} missing:\n{proc.stdout}"
        # The veladev column holds a number (the first value after the label).
        assert re.match(r"\s+\d+(\.\d+)?\s", line[len(row) :]), line
    assert "reproduce: python bench/bench_lsp.py" in proc.stdout
    summary = json.loads(out_json.read_text())["summary"]["veladev"]
    assert summary["small_n"] == summary["large_n"] == 10
