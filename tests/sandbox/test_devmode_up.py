"""`veladev dev up` end to end on the sandbox: sync and forward in the foreground; the veladev
process killed mid-dev, then `dev end` from a new process restores exactly; the dev pod killed
during dev mode (sync and forwards recover by themselves); ignored files never reach the pod;
Ctrl-C leaves the workload in dev mode."""

import pytest
from devmode_app_helpers import (
    Foreground,
    comparable,
    dev_pod_name,
    dev_state,
    kubectl_sh,
    local_get,
    remote_file,
)

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("need_pods")]
PAUSE = "controller.core.oam.dev/pause"


def test_up_killed_mid_dev_then_end_from_a_new_process_restores_exactly(deployed, sandbox):
    d = deployed
    original = d.deployment()
    up = Foreground(d)
    try:
        up.local_port()
        sandbox.wait_for(lambda: remote_file(d, "VERSION") == "v1.0.0\n", timeout=60, what="the initial sync")
        (d.folder / "VERSION").write_text("v1.1.0\n")
        sandbox.wait_for(lambda: remote_file(d, "VERSION") == "v1.1.0\n", timeout=60, what="the edit synced")
        assert any(line.startswith("[sync] sent 1 file(s), deleted 0") for line in up.lines), up.lines
        assert any(line.startswith("[sync] initial sync: sent ") for line in up.lines), up.lines
    finally:
        up.kill()
    assert dev_state(d.deployment()) is not None  # killed: still in dev mode

    end = d.cli("end", str(d.file))
    assert end.returncode == 0, end.stderr
    assert comparable(d.deployment()) == comparable(original)
    assert PAUSE not in (d.application()["metadata"].get("labels") or {})


def test_pod_killed_during_dev_mode_sync_and_forwards_recover(deployed, sandbox):
    d = deployed
    up = Foreground(d)
    try:
        port = up.local_port()
        sandbox.wait_for(lambda: remote_file(d, "VERSION") == "v1.0.0\n", timeout=60, what="the initial sync")
        first = dev_pod_name(d)
        sandbox.delete_pod(d.ns, first)
        second = sandbox.wait_for(
            lambda: (lambda p: p if p not in (None, first) else None)(dev_pod_name(d)), timeout=60, what="a new dev pod"
        )
        # the new pod's empty work dir is filled again, and later edits keep flowing
        sandbox.wait_for(lambda: remote_file(d, "server.js") is not None, timeout=60, what="re-sync into the new pod")
        (d.folder / "after-restart.txt").write_text("still syncing\n")
        sandbox.wait_for(
            lambda: remote_file(d, "after-restart.txt") == "still syncing\n",
            timeout=60,
            what="an edit after the restart",
        )
        # the same local port now reaches the new pod
        kubectl_sh(d, second, "cd /home/nocalhost-dev && (nohup node server.js >/dev/null 2>&1 &)")
        page = sandbox.wait_for(
            lambda: local_get(f"http://127.0.0.1:{port}/"),
            timeout=60,
            interval=0.2,
            what="the page through the forward",
        )
        assert "frontend v1.0.0" in page
    finally:
        up.kill()
    assert d.cli("end", str(d.file)).returncode == 0


def test_ignored_files_never_reach_the_pod(deployed, sandbox):
    d = deployed
    (d.folder / "node_modules").mkdir()
    (d.folder / "node_modules" / "left-pad.js").write_text("module.exports = 1\n")
    (d.folder / ".git").mkdir()
    (d.folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    up = Foreground(d)
    try:
        up.local_port()
        sandbox.wait_for(lambda: remote_file(d, "VERSION") == "v1.0.0\n", timeout=60, what="the initial sync")
        (d.folder / "node_modules" / "later.js").write_text("x\n")
        (d.folder / "marker.txt").write_text("after the ignored one\n")
        sandbox.wait_for(lambda: remote_file(d, "marker.txt"), timeout=60, what="the marker synced")
        listing = kubectl_sh(d, dev_pod_name(d), "cd /home/nocalhost-dev && find . | sort")
        assert "./server.js" in listing and "./marker.txt" in listing
        assert "node_modules" not in listing and ".git" not in listing, listing
    finally:
        code = up.interrupt()
    # Ctrl-C: the process ends cleanly and the workload stays in dev mode
    assert code == 0 and any("Ctrl-C" in line for line in up.lines)
    assert dev_state(d.deployment()) is not None
    assert d.cli("end", str(d.file)).returncode == 0
