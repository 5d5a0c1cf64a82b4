"""Smoke tests of bench/bench_devmode_sync.py, bench_devmode_forward.py and bench_devmode_start.py: a --quick run
completes and prints its rows and the command to reproduce. Never asserts on the figures."""

import re
import subprocess
import sys

import pytest

from support import ROOT

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("need_pods")]

NUMBER = r"\s+\d+(\.\d+)?\s+\d+(\.\d+)?(\s|$)"  # the two figure columns


def run(script):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def rows(out, labels):
    for label in labels:
        line = next((row for row in out.splitlines() if row.startswith(label)), None)
        assert line is not None, f"row {label!r} missing:\n{out}"
        assert re.match(NUMBER, line[len(label) :]), line


def test_bench_devmode_sync_quick():
    out = run("bench_devmode_sync.py")
    rows(
        out,
        [
            "edit -> visible in pod (ms), 10 edits",
            "initial sync, veladev (s), 200 files / 2 MB",
            "kubectl cp of the same folder (s)",
            "no-op re-sync, veladev (s)",
        ],
    )
    assert "reproduce: python bench/bench_devmode_sync.py --quick" in out


def test_bench_devmode_forward_quick():
    out = run("bench_devmode_forward.py")
    rows(
        out,
        [
            "new-connection request median (ms)",
            "keep-alive round trip median (ms)",
            "download 8 MB, median (MB/s)",
            "16 concurrent clients, wall time median (s)",
        ],
    )
    assert "reproduce: python bench/bench_devmode_forward.py --quick" in out


def test_bench_devmode_start_quick():
    out = run("bench_devmode_start.py")
    rows(out, ["dev start -> dev pod Ready (s)", "dev end -> original pod Ready (s)"])
    assert "reproduce: python bench/bench_devmode_start.py --quick" in out
