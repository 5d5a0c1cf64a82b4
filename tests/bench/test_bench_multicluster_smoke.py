"""Smoke test of bench/bench_multicluster_gateway.py: a --quick run completes and prints, for
each figure, the direct and the gateway value, the hop's cost and the ratio, then the machine's
load and the command to reproduce. Never asserts on the figures."""

import re
import subprocess
import sys

import pytest

from support import ROOT

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("need_pods")]

FIGURES = r"\s+\d+\.\d\d\s+\d+\.\d\d\s+[+-]\d+\.\d\d\s+\d+\.\d\dx$"  # direct, gateway, hop cost, ratio


def test_bench_multicluster_gateway_quick():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_multicluster_gateway.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    for label in [
        "exec `true` round trip, veladev (ms) median",
        "exec `true` round trip, veladev (ms) p95",
        "port-forward new connection, tunnel (ms) median",
        "port-forward new connection, tunnel (ms) p95",
        "port-forward new WebSocket per connection (ms) median",
        "port-forward download 8 MB, tunnel (MB/s) median",
        "kubectl exec `true`, wall time (ms) median",
        "kubectl port-forward download 8 MB (MB/s) median",
    ]:
        line = next((row for row in lines if row.startswith(label)), None)
        assert line is not None, f"row {label!r} missing:\n{proc.stdout}"
        assert re.match(FIGURES, line[len(label) :]), line
    assert any(re.match(r"machine: \d+ CPUs, load average [\d. ]+ at start, [\d. ]+ at end$", row) for row in lines)
    assert "reproduce: python bench/bench_multicluster_gateway.py --quick" in lines
