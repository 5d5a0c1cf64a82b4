"""FileSync against a real dev pod: initial sync by content hash, changes, deletions, ignore
patterns, recovery after the pod is replaced, and sendReceive's safety rules."""

import os
import threading

import pytest

from devmode_helpers import WORK_DIR, DevTarget
from veladev.devmode.sync import CONFLICT_SUFFIX, FileSync

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("need_pods")]


class Recorder:
    def __init__(self):
        self.batches, self.statuses = [], []
        self.lock = threading.Lock()

    def batch(self, b):
        with self.lock:
            self.batches.append(b)

    def status(self, s):
        with self.lock:
            self.statuses.append(s)


def make_sync(dev, local, rec=None, **kw):
    rec = rec or Recorder()
    s = FileSync(dev.api, dev.resolve, local, on_change=rec.status, on_batch=rec.batch, **kw)
    s.start()
    return s, rec


def wait_file(sandbox, dev, rel, content, timeout=30):
    return sandbox.wait_for(lambda: dev.read(rel) == content, timeout=timeout, what=f"{rel} == {content!r} in the pod")


def test_initial_sync_sends_only_files_whose_content_differs(sandbox, dev, tmp_path):
    local = tmp_path / "src"
    for i in range(30):
        (local / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
        (local / f"d{i % 3}" / f"f{i}.txt").write_text(f"content {i}\n")
    # the pod already has 20 of them: 15 identical (with other mtimes), 5 with other content
    script = [f"mkdir -p {WORK_DIR}/d0 {WORK_DIR}/d1 {WORK_DIR}/d2"]
    for i in range(20):
        text = f"content {i}\\n" if i < 15 else f"stale {i}\\n"
        script.append(
            f"printf '{text}' > {WORK_DIR}/d{i % 3}/f{i}.txt && touch -d '2001-01-01' {WORK_DIR}/d{i % 3}/f{i}.txt"
        )
    dev.sh(" && ".join(script))
    s, rec = make_sync(dev, local)
    try:
        st = s.wait_idle(60)
        assert st.state == "idle", st
        full = rec.batches[0]
        assert full.full and full.compared == 30
        assert sorted(full.sent) == sorted(f"d{i % 3}/f{i}.txt" for i in range(15, 30))
        assert dev.files() == sorted(f"d{i % 3}/f{i}.txt" for i in range(30))
        assert dev.read("d1/f16.txt") == "content 16\n"
    finally:
        s.stop()
    # a second sync of the same folder (a restart of veladev) finds nothing to send
    s2, rec2 = make_sync(dev, local)
    try:
        assert s2.wait_idle(60).state == "idle"
        assert rec2.batches[0].full and rec2.batches[0].compared == 30 and rec2.batches[0].sent == ()
    finally:
        s2.stop()


def test_changes_and_deletions_reach_the_pod_and_ignored_files_never_do(sandbox, dev, tmp_path):
    local = tmp_path / "src"
    (local / "keep").mkdir(parents=True)
    (local / "keep" / "a.txt").write_text("one\n")
    (local / ".git").mkdir()
    (local / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (local / "build").mkdir()
    (local / "build" / "out.bin").write_text("built\n")
    (local / "debug.log").write_text("log\n")
    s, rec = make_sync(dev, local, ignore_patterns=["build", "*.log"])
    try:
        assert s.wait_idle(60).state == "idle"
        assert dev.files() == ["keep/a.txt"]
        (local / "keep" / "a.txt").write_text("two\n")
        (local / "new.py").write_text("print('new')\n")
        wait_file(sandbox, dev, "keep/a.txt", "two\n")
        wait_file(sandbox, dev, "new.py", "print('new')\n")
        (local / "keep" / "a.txt").unlink()
        (local / "build" / "later.bin").write_text("x\n")
        (local / "sub" / "deep").mkdir(parents=True)
        (local / "sub" / "deep" / "z.log").write_text("ignored\n")
        (local / "sub" / "deep" / "z.txt").write_text("z\n")
        wait_file(sandbox, dev, "sub/deep/z.txt", "z\n")
        sandbox.wait_for(lambda: dev.read("keep/a.txt") is None, what="a.txt deleted in the pod")
        # a whole directory removed locally
        (local / "sub" / "deep" / "z.txt").unlink()
        (local / "sub" / "deep" / "z.log").unlink()
        (local / "sub" / "deep").rmdir()
        (local / "barrier.txt").write_text("b\n")
        wait_file(sandbox, dev, "barrier.txt", "b\n")
        sandbox.wait_for(lambda: "sub/deep/z.txt" not in dev.files(), what="sub/deep gone")
        assert s.wait_idle(30).state == "idle"
        assert dev.files() == ["barrier.txt", "new.py"]
        sent = {p for b in rec.batches for p in b.sent}
        assert not {p for p in sent if p.startswith((".git", "build")) or p.endswith(".log")}
        assert s.status.files_deleted >= 2 and s.status.last_sync is not None
        assert {"syncing", "idle"} <= {st.state for st in rec.statuses}
    finally:
        s.stop()
    assert s.status.state == "stopped"


def test_sync_follows_a_replaced_pod_by_itself(sandbox, dev, tmp_path):
    local = tmp_path / "src"
    local.mkdir()
    (local / "app.py").write_text("v1\n")
    s, rec = make_sync(dev, local, heartbeat=0.5)
    try:
        assert s.wait_idle(60).state == "idle"
        old = dev.pod_name
        sandbox.delete_pod(dev.ns, old)
        new = sandbox.wait_for(
            lambda: (lambda p: p if p != old else None)(dev.resolve(60).name), timeout=90, what="a new dev pod"
        )
        # with no local change, the new (empty) pod gets the files
        sandbox.wait_for(lambda: dev.read("app.py", pod=new) == "v1\n", timeout=60, what="app.py in the new pod")
        (local / "app.py").write_text("v2\n")
        sandbox.wait_for(lambda: dev.read("app.py", pod=new) == "v2\n", timeout=60, what="v2 in the new pod")
        assert s.status.pod == new
    finally:
        s.stop()


def test_sync_recovers_from_dropped_streams(sandbox, dev, tmp_path):
    local = tmp_path / "src"
    local.mkdir()
    s, rec = make_sync(dev, local)
    try:
        assert s.wait_idle(60).state == "idle"
        for i in range(5):
            (local / f"f{i}.txt").write_text(f"{i}\n")
            sandbox.drop_streams()
        wait_file(sandbox, dev, "f4.txt", "4\n", timeout=60)
        assert s.wait_idle(60).state == "idle"
        assert dev.files() == [f"f{i}.txt" for i in range(5)]
    finally:
        s.stop()


EVIL_TAR = r"""#!/bin/sh
# A compromised container: `tar -c` answers with an archive that climbs out of the folder.
case "$1" in
  -c*) exec python3 - "$@" <<'PY'
import io, sys, tarfile
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as tf:
    for name, data in (("../escaped.txt", b"pwned\n"), ("/tmp/abs-escape.txt", b"pwned\n"),
                       ("ok/../../up.txt", b"pwned\n"), ("good.txt", b"good from pod\n")):
        ti = tarfile.TarInfo(name); ti.size = len(data); tf.addfile(ti, io.BytesIO(data))
    ti = tarfile.TarInfo("linkout"); ti.type = tarfile.SYMTYPE; ti.linkname = "../../etc"; tf.addfile(ti)
sys.stdout.buffer.write(buf.getvalue())
PY
  ;;
  *) exec /bin/tar "$@" ;;
esac
"""


def test_send_receive_refuses_paths_that_leave_the_folder(sandbox, sandbox_ns, tmp_path):
    # the container's PATH starts with a directory whose `tar` is the evil one above
    dev = DevTarget(sandbox, sandbox_ns, env={"PATH": "/home/evil-bin:/usr/local/bin:/usr/bin:/bin"})
    try:
        dev.sh(
            "mkdir -p /home/evil-bin && cat > /home/evil-bin/tar <<'EOF'\n" + EVIL_TAR + "EOF\n"
            f"chmod +x /home/evil-bin/tar && mkdir -p {WORK_DIR}/sub && "
            f"echo good > {WORK_DIR}/good.txt && ln -s /etc {WORK_DIR}/etc-link && "
            f"ln -s ../../../etc/passwd {WORK_DIR}/sub/passwd-link"
        )
        outer = tmp_path / "outer"
        local = outer / "project"
        local.mkdir(parents=True)
        (local / "mine.txt").write_text("mine\n")
        s, rec = make_sync(dev, local, mode="sendReceive", poll_interval=0.3)
        try:
            sandbox.wait_for(lambda: s.status.refused, timeout=60, what="refused paths")
            assert s.wait_idle(60).state == "idle"
        finally:
            s.stop()
        refused = set(s.status.refused)
        # the remote symlinks that point out are refused before anything is downloaded
        assert {"etc-link", "sub/passwd-link"} <= refused
        # and so is every tar member that would leave the folder
        assert {"../escaped.txt", "/tmp/abs-escape.txt", "ok/../../up.txt"} & refused
        assert sorted(p.name for p in outer.iterdir()) == ["project"]
        assert not (tmp_path / "escaped.txt").exists() and not os.path.exists("/tmp/abs-escape.txt")
        # the one legitimate member arrived; nothing else was written
        assert sorted(p.relative_to(local).as_posix() for p in local.rglob("*")) == ["good.txt", "mine.txt"]
        assert (local / "good.txt").read_text() == "good from pod\n"
        assert not any(p.is_symlink() for p in local.rglob("*"))
    finally:
        dev.close()


def test_send_receive_brings_changes_back_and_keeps_both_on_conflict(sandbox, dev, tmp_path):
    local = tmp_path / "src"
    local.mkdir()
    (local / "a.txt").write_text("local 1\n")
    s, rec = make_sync(dev, local, mode="sendReceive", poll_interval=0.2, debounce=0.05, max_delay=0.1)
    try:
        assert s.wait_idle(60).state == "idle"
        dev.sh(f"echo from pod > {WORK_DIR}/made-in-pod.txt")
        sandbox.wait_for(lambda: (local / "made-in-pod.txt").exists(), timeout=30, what="pod file received")
        assert (local / "made-in-pod.txt").read_text() == "from pod\n"
        assert s.wait_idle(30).state == "idle"
        # received files are not sent back
        assert not any("made-in-pod.txt" in b.sent for b in rec.batches)
    finally:
        s.stop()
    # conflict: the pod changes a.txt while a local edit of a.txt is not synced yet (a 10 s
    # debounce keeps it pending while kubectl, slow on a loaded machine, edits the pod's copy)
    s, rec = make_sync(dev, local, mode="sendReceive", poll_interval=0.2, debounce=10, max_delay=10)
    try:
        assert s.wait_idle(60).state == "idle"
        (local / "a.txt").write_text("local 2\n")
        dev.sh(f"echo remote 2 > {WORK_DIR}/a.txt")
        conflict = local / ("a.txt" + CONFLICT_SUFFIX)
        sandbox.wait_for(lambda: conflict.exists(), timeout=30, what="conflict copy")
        assert (local / "a.txt").read_text() == "local 2\n"
        assert conflict.read_text() == "remote 2\n"
        assert s.status.conflicts == ("a.txt" + CONFLICT_SUFFIX,)
        # then the local edit is sent; the conflict copy never is
        wait_file(sandbox, dev, "a.txt", "local 2\n", timeout=60)
        assert dev.read("a.txt" + CONFLICT_SUFFIX) is None
    finally:
        s.stop()
