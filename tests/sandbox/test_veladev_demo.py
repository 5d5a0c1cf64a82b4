"""The README's main job, `veladev demo`, runs the whole delivery flow and says so."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.sandbox


def test_demo_runs_the_flow_end_to_end():
    from velasandbox.runtime import namespace_support

    reason = namespace_support()
    if reason:
        pytest.skip(reason)
    out = subprocess.run([sys.executable, "-m", "veladev", "demo"], capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert any(line.startswith("[test] serves:") and "frontend v1.0.0" in line for line in lines), out.stdout
    assert any(line.startswith("[test] serves:") and "frontend v2.0.0" in line for line in lines), out.stdout
    assert any(line.startswith("[prod] serves:") and "frontend v2.0.0" in line and "deploy-prod:succeeded" in line
               for line in lines), out.stdout
    assert lines[-1] == "[done] test and prod run the pushed commit"
