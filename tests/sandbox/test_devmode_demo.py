"""The demo's dev-mode part (issue 8 item 9), as a user runs it: after the first deploy, dev
mode on `frontend` in `test`, run, GET 127.0.0.1:8080 shows v1.0.0, the working copy edited to
v2.0.0 shows through the forward and after the hot reload, dev end restores the workload,
then the delivery flow goes on."""
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.sandbox


def test_demo_develops_the_frontend_in_test_then_delivers():
    from velasandbox.runtime import namespace_support

    reason = namespace_support()
    if reason:
        pytest.skip(reason)
    out = subprocess.run([sys.executable, "-m", "veladev", "demo"], capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()

    def index(pred):
        found = [i for i, line in enumerate(lines) if pred(line)]
        assert found, out.stdout
        return found[0]

    first_deploy = index(lambda l: l.startswith("[test] serves:") and "frontend v1.0.0" in l)
    on = index(lambda l: l.startswith("[dev] dev mode on: Deployment test/frontend, dev pod frontend-"))
    v1 = index(lambda l: l.startswith("[dev] GET http://127.0.0.1:8080/:") and "frontend v1.0.0" in l)
    v2 = index(lambda l: l.startswith("[dev] edited VERSION to v2.0.0") and "frontend v2.0.0" in l)
    reload_ = index(lambda l: l.startswith("[dev] hot reload restarted the run") and "frontend v2.0.0" in l)
    ended = index(lambda l: l == "[dev] dev end: Deployment test/frontend is restored and Application "
                                 "reconciliation resumed")
    restored = index(lambda l: l.startswith("[test] serves again:") and "frontend v1.0.0" in l)
    trigger = index(lambda l: l.startswith("[trigger] pushed"))
    assert first_deploy < on < v1 < v2 < reload_ < ended < restored < trigger
    assert sum(1 for l in lines if l == "[dev run] frontend listening on :80") >= 2  # started, then reloaded
    assert lines[-1] == "[done] test and prod run the pushed commit"
