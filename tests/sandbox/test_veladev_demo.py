"""The README's main job, `veladev demo`, runs the whole delivery flow and says so."""

import os
import subprocess
import sys
import time

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


def test_demo_keep_sandbox_is_seen_by_velasandbox_status_and_down(tmp_path):
    """`velasandbox status` and `down` (no --state-dir) find the sandbox `veladev demo` runs."""
    from velasandbox.runtime import namespace_support

    from support import run_cli

    reason = namespace_support()
    if reason:
        pytest.skip(reason)
    env = dict(os.environ, PYTHONUNBUFFERED="1", VELASANDBOX_STATE_DIR=str(tmp_path / "state"))
    # Files, not pipes: nobody reads the demo's output while it runs, and a full pipe would block it.
    out, err = (tmp_path / "demo.out").open("w+"), (tmp_path / "demo.err").open("w+")
    demo = subprocess.Popen([sys.executable, "-m", "veladev", "demo", "--keep"], stdout=out, stderr=err, env=env)
    try:
        for _ in range(600):  # the demo says where its cluster is once the sandbox is up
            if "[sandbox] local cluster at" in (tmp_path / "demo.out").read_text() or demo.poll() is not None:
                break
            time.sleep(0.5)
        status = run_cli("velasandbox", "status", env=env, timeout=60)
        assert status.returncode == 0, (status.stdout, status.stderr, demo.poll())
        assert f"running (pid {demo.pid})" in status.stdout
        down = run_cli("velasandbox", "down", env=env, timeout=120)
        assert (down.returncode, down.stdout.strip()) == (0, "velasandbox stopped"), \
            (down.stderr, (tmp_path / "demo.out").read_text(), (tmp_path / "demo.err").read_text()[-3000:])
        # Stopped by `down` (SIGTERM) as by Ctrl-C: during the flow (130) or while kept at its end (0).
        assert demo.wait(timeout=120) in (0, 130), (tmp_path / "demo.err").read_text()[-3000:]
        after = run_cli("velasandbox", "status", env=env, timeout=60)
        assert after.returncode == 3 and "not running" in after.stdout
        assert not os.listdir(tmp_path / "state" / "embedded")
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        out.close()
        err.close()
