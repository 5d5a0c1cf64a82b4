"""The README's main job, `veladev demo`, runs the whole flow and says so: the first deploy,
dev mode on `frontend` in `test` (run, GET 127.0.0.1:8080 shows v1.0.0, the working copy
edited to v2.0.0 shows through the forward and after the hot reload, dev end restores the
workload), then commit, trigger and promote."""

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

    def first(pred):
        found = [i for i, line in enumerate(lines) if pred(line)]
        assert found, out.stdout
        return found[0]

    deployed = first(lambda l: l.startswith("[test] serves:") and "frontend v1.0.0" in l)
    dev_on = first(lambda l: l.startswith("[dev] dev mode on: Deployment test/frontend, dev pod frontend-"))
    # 127.0.0.1:8080 unless another process on this machine holds it (the demo then says so)
    forwarding = lines[first(lambda l: l.startswith("[dev] synced ") and "; forwarding 127.0.0.1:" in l)]
    port = forwarding.split("forwarding 127.0.0.1:")[1].split("->")[0]
    assert port == "8080" or forwarding.endswith("(8080 is in use here)"), forwarding
    dev_v1 = first(lambda l: l.startswith(f"[dev] GET http://127.0.0.1:{port}/:") and "frontend v1.0.0" in l)
    dev_v2 = first(lambda l: l.startswith("[dev] edited VERSION to v2.0.0") and "frontend v2.0.0" in l)
    reloaded = first(lambda l: l.startswith("[dev] hot reload restarted the run") and "frontend v2.0.0" in l)
    dev_end = first(lambda l: l == "[dev] dev end: Deployment test/frontend is restored and Application "
                                  "reconciliation resumed")
    restored = first(lambda l: l.startswith("[test] serves again:") and "frontend v1.0.0" in l)
    triggered = first(lambda l: l.startswith("[trigger] pushed"))
    test_v2 = first(lambda l: l.startswith("[test] serves:") and "frontend v2.0.0" in l)
    prod_v2 = first(lambda l: l.startswith("[prod] serves:") and "frontend v2.0.0" in l and "deploy-prod:succeeded" in l)
    assert deployed < dev_on < dev_v1 < dev_v2 < reloaded < dev_end < restored < triggered < test_v2 < prod_v2
    assert sum(1 for l in lines if l == "[dev run] frontend listening on :80") >= 2  # started, then reloaded
    assert lines[-1] == "[done] test and prod run the pushed commit"
