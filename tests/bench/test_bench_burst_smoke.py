"""Smoke test of bench/bench_lsp_burst.py: a --quick run of veladev alone completes and prints
its figures (never checks their values)."""

import re
import subprocess
import sys

from support import ROOT

ROWS = [
    "one analysis (edit after a pause) ms",
    "burst: last change -> last diagnostics",
    "hover on another document during it",
]


def test_burst_bench_quick_veladev():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_lsp_burst.py"), "--quick", "--only", "veladev"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for row in ROWS:
        line = next((ln for ln in proc.stdout.splitlines() if ln.strip().startswith(row)), None)
        assert line is not None and re.search(r"median\s+\d+\.\d\s+p95\s+\d+\.\d", line), (row, proc.stdout)
    assert "reproduce: python bench/bench_lsp_burst.py --quick --only veladev" in proc.stdout
