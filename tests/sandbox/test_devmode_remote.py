"""RemoteProcess, hot reload and the terminal against a real dev pod. velasandbox's pods
share the host's PID namespace, which makes "never by name" checkable from here."""

import os
import subprocess
import threading

import pytest

from devmode_helpers import WORK_DIR
from veladev.devmode.remote import RemoteProcess, terminal
from veladev.devmode.sync import FileSync

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("need_pods")]


class Output:
    def __init__(self):
        self.text, self.exits = "", []
        self.lock = threading.Lock()

    def add(self, t):
        with self.lock:
            self.text += t

    def exit(self, code):
        self.exits.append(code)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def test_run_streams_output_and_stop_kills_its_group_only(sandbox, dev):
    # an unrelated process with the very same command line, outside the pod
    bystander = subprocess.Popen(["sleep", "4242"])
    out = Output()
    cmd = ["sh", "-c", "echo in $(pwd); sleep 4242 & echo child $!; wait"]
    p = RemoteProcess(dev.api, dev.resolve, cmd, on_output=out.add, on_exit=out.exit)
    try:
        p.start()
        sandbox.wait_for(
            lambda: "child " in out.text and out.text.rstrip().endswith(tuple("0123456789")),
            timeout=30,
            what="run output",
        )
        assert f"in {WORK_DIR}\n" in out.text
        child = int(out.text.split("child ")[1].split()[0])
        assert alive(child)
        assert p.running
        assert p.stop() is True
        sandbox.wait_for(lambda: not alive(child), timeout=20, what="the run's child gone")
        sandbox.wait_for(lambda: out.exits, timeout=20, what="exit reported")
        assert not p.running
        assert bystander.poll() is None, "a process outside the group was killed"
    finally:
        bystander.kill()
        bystander.wait()


def test_a_new_process_stops_a_run_it_did_not_start(sandbox, dev):
    """After a crash, a fresh RemoteProcess (same name) finds the group through the pid file."""
    out = Output()
    first = RemoteProcess(dev.api, dev.resolve, ["sh", "-c", "echo pid $$; exec sleep 4243"], on_output=out.add)
    first.start()
    sandbox.wait_for(lambda: "pid " in out.text, timeout=30, what="first run")
    pid = int(out.text.split("pid ")[1].split()[0])
    assert alive(pid)
    later = RemoteProcess(dev.api, dev.resolve, ["true"])
    assert later.stop() is True
    sandbox.wait_for(lambda: not alive(pid), timeout=20, what="first run gone")
    # the pid file is gone: a stale number is never signalled again
    assert dev.sh("ls /tmp/veladev-run.pgid 2>/dev/null || echo none").strip() == "none"


def test_hot_reload_restarts_the_command_after_a_synced_batch(sandbox, dev, tmp_path):
    local = tmp_path / "src"
    local.mkdir()
    (local / "version.txt").write_text("v1\n")
    out = Output()
    proc = RemoteProcess(
        dev.api,
        dev.resolve,
        ["sh", "-c", "echo serving $(cat version.txt); exec sleep 4244"],
        on_output=out.add,
        settle=0.1,
    )
    sync = FileSync(dev.api, dev.resolve, local, on_batch=proc.on_synced)
    sync.start()
    try:
        assert sync.wait_idle(60).state == "idle"
        proc.start()
        sandbox.wait_for(lambda: "serving v1" in out.text, timeout=30, what="v1 served")
        (local / "version.txt").write_text("v2\n")
        sandbox.wait_for(lambda: "serving v2" in out.text, timeout=30, what="v2 served after hot reload")
        assert proc.restarts >= 1
    finally:
        sync.stop()
        proc.stop()


def test_terminal_falls_back_to_bash_and_returns_the_exit_code(dev):
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    os.write(in_w, b"echo shell=$0 dir=$PWD tty=$(tty >/dev/null && echo yes); exit 3\n")
    code = terminal(dev.api, dev.resolve(60), "no-such-shell", stdin_fd=in_r, stdout_fd=out_w)
    os.close(out_w)
    text = b""
    while chunk := os.read(out_r, 65536):
        text += chunk
    for fd in (in_r, in_w, out_r):
        os.close(fd)
    assert code == 3
    assert f"shell=bash dir={WORK_DIR} tty=yes" in text.decode()


def test_launch_makes_its_own_group_when_the_exec_shell_does_not_lead_one(dev):
    """velasandbox starts exec'd commands as session leaders; elsewhere the launcher goes
    through setsid. Nesting it under another shell takes that path here."""
    from veladev.cluster import streams
    from veladev.devmode.remote import _LAUNCH

    pod = dev.resolve(60)
    r = streams.exec_run(
        dev.api,
        pod.namespace,
        pod.name,
        pod.container,
        [
            "sh",
            "-c",
            'sh -c "$0" "$0" "$@"; echo outer $(cut -d" " -f5 /proc/$$/stat); cat /tmp/nested.pgid',
            _LAUNCH,
            "/tmp/nested.pgid",
            "tok",
            WORK_DIR,
            "sh",
            "-c",
            'echo inner $$ $(cut -d" " -f5 /proc/$$/stat) $(pwd) $VELADEV_RUN',
        ],
    )
    assert r.code == 0, r.stderr
    lines = r.stdout.decode().split("\n")
    _, pid, pgid, cwd, token = lines[0].split()
    assert pid == pgid and cwd == WORK_DIR and token == "tok"
    assert lines[1].split()[1] != pgid  # not the exec'd shell's group
    assert lines[2] == f"{pid} tok"  # the pid file names the new group
