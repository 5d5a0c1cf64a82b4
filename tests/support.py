"""Paths and small helpers shared by the test suites (tests/ is on pytest's pythonpath)."""

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "frontend" / "vela-app.yaml"
# Real Applications written by others, with what a correct validator reports (tests/corpus/README.md).
CORPUS = ROOT / "tests" / "corpus" / "kubevela-apps"
MUTATIONS = ROOT / "tests" / "corpus" / "MUTATIONS.tsv"


@dataclass
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    peak_rss_mb: float  # the child's own peak resident memory, from the kernel (wait4)


def run_cli(
    program: str, *args: str, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 120
) -> CliRun:
    """Run an installed entry point (`veladev`, `velasandbox`) as a user would, from its script."""
    script = Path(sys.executable).with_name(program)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as inp:
        inp.write((stdin or "").encode())
        inp.seek(0)
        proc = subprocess.Popen(
            [str(script), *args], stdin=inp, stdout=out, stderr=err, env=None if env is None else {**os.environ, **env}
        )
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                raise AssertionError(f"{program} {' '.join(args)} still running after {timeout:.0f} s")
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return CliRun(
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            usage.ru_maxrss / 1024,
        )
