"""`veladev dev ...` as separate processes against the sandbox: a veladev killed in the middle
of dev mode, then `dev end` from a new process restores the workload exactly; `dev status`;
lock contention between two users; user mistakes are one sentence and a non-zero exit."""

import os
import signal
import socket
import subprocess
import sys

import pytest
from devmode_app_helpers import DEV_IMAGE, Foreground, comparable, dev_pod_name, dev_state, kubectl_sh, remote_file

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("need_pods")]

PAUSE = "controller.core.oam.dev/pause"


def _as(user):
    return {"USER": user, "LOGNAME": user}


def test_killed_mid_start_then_end_from_a_new_process_restores_exactly(deployed, sandbox):
    d = deployed
    original = d.deployment()
    proc = subprocess.Popen(
        [sys.executable, "-m", "veladev", "dev", "start", str(d.file), "frontend", "--kubeconfig", sandbox.kubeconfig],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # kill it once it has swapped the workload (the dev pod may not be Ready yet)
        sandbox.wait_for(
            lambda: d.deployment()["spec"]["template"]["spec"]["containers"][0]["image"] == DEV_IMAGE,
            timeout=60,
            interval=0.01,
            what="the swap",
        )
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    assert dev_state(d.deployment())["user"]

    status = d.cli("status")
    assert status.returncode == 0, status.stderr
    assert f"{d.ns}/frontend (Deployment): application {d.ns}/frontend component frontend, held by " in status.stdout

    end = d.cli("end", str(d.file))
    assert end.returncode == 0, end.stderr
    assert f"dev mode ended: Deployment {d.ns}/frontend is restored" in end.stdout
    assert comparable(d.deployment()) == comparable(original)
    assert PAUSE not in (d.application()["metadata"].get("labels") or {})
    assert d.cli("status").stdout.count(f"{d.ns}/frontend") == 0


def test_lock_contention_between_two_users(deployed):
    d = deployed
    first = d.cli("start", str(d.file), env=_as("alice"))
    assert first.returncode == 0, first.stderr
    assert f"dev mode on: Deployment {d.ns}/frontend, dev pod frontend-" in first.stdout
    second = d.cli("start", str(d.file), env=_as("bob"))
    host = socket.gethostname()
    assert second.returncode == 1
    assert second.stderr.startswith(
        f"veladev dev start: Deployment {d.ns}/frontend is in dev mode by alice@{host} since "
    ), second.stderr
    assert "Traceback" not in second.stderr and "--takeover" in second.stderr
    assert d.cli("end", str(d.file), env=_as("bob")).returncode == 1
    taken = d.cli("start", str(d.file), "--takeover", env=_as("bob"))
    assert taken.returncode == 0, taken.stderr
    assert dev_state(d.deployment())["user"] == "bob"
    assert d.cli("end", str(d.file), env=_as("bob")).returncode == 0


def test_user_mistakes_are_one_sentence(deployed, tmp_path):
    d = deployed
    missing = d.cli("start", str(tmp_path / "nope.yaml"))
    assert (missing.returncode, missing.stderr.strip()) == (
        2,
        f"veladev dev start: no Application file at {tmp_path / 'nope.yaml'}",
    )
    wrong = d.cli("start", str(d.file), "backend")
    assert wrong.returncode == 1 and wrong.stderr.strip() == (
        f"veladev dev start: {d.file} has no component 'backend' (components: frontend)"
    )
    not_deployed = d.cli("start", str(d.file), "--namespace", "elsewhere")
    assert not_deployed.returncode == 1
    assert "is not deployed in namespace elsewhere: deploy the Application" in not_deployed.stderr
    not_on = d.cli("end", str(d.file))
    assert not_on.returncode == 1 and not_on.stderr.strip() == (
        f"veladev dev end: Deployment {d.ns}/frontend is not in dev mode"
    )
    usage = subprocess.run(
        [sys.executable, "-m", "veladev", "dev", "start"], capture_output=True, text=True, env=dict(os.environ)
    )
    assert usage.returncode == 2 and "Traceback" not in usage.stderr


def test_terminal_run_and_a_port_in_use(deployed, sandbox):
    d = deployed
    assert d.cli("start", str(d.file)).returncode == 0
    # terminal: a shell in the dev container, in the work dir (stdin here is a pipe, not a tty)
    term = subprocess.run(
        [sys.executable, "-m", "veladev", "dev", "terminal", str(d.file), "--kubeconfig", sandbox.kubeconfig],
        input="echo hello-$((40+2)); pwd; exit 3\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert term.returncode == 3, term.stderr
    assert "hello-42" in term.stdout and "/home/nocalhost-dev" in term.stdout

    # run: command.run in the dev container, its output here; Ctrl-C stops it (dev mode stays on)
    (d.folder / "VERSION").write_text("v1.0.0\n")
    sync = Foreground(d)  # the code must be in the pod first
    sandbox.wait_for(lambda: remote_file(d, "server.js"), timeout=60, what="the initial sync")
    assert sync.interrupt() == 0
    run = subprocess.Popen(
        [sys.executable, "-m", "veladev", "dev", "run", str(d.file), "--kubeconfig", sandbox.kubeconfig],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    lines = []
    assert run.stdout is not None
    for line in run.stdout:
        lines.append(line)
        if "frontend listening on :80" in line:
            break
    run.send_signal(signal.SIGINT)
    out, _ = run.communicate(timeout=60)
    assert run.returncode == 0, "".join(lines) + out
    pod = dev_pod_name(d)
    # the run's process group is gone from the pod (looked up by the pid veladev recorded, not by name)
    check = "p=$(cut -d' ' -f1 /tmp/veladev-run.pgid 2>/dev/null); [ -n \"$p\" ] && [ -d /proc/$p ] && echo alive || echo gone"
    assert kubectl_sh(d, pod, check).strip() == "gone"
    assert dev_state(d.deployment()) is not None

    # run ends with its command, with the command's exit code
    d.app["spec"]["components"][0]["traits"][0]["properties"]["command"]["run"] = [
        "sh",
        "-c",
        "echo ran-$((3*3)); exit 7",
    ]
    d.write()
    done = d.cli("run", str(d.file), timeout=120)
    assert done.returncode == 7 and "ran-9" in done.stdout, done.stdout + done.stderr

    # a local port in use: one sentence naming it
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        d.app["spec"]["components"][0]["traits"][0]["properties"]["portForward"] = [f"{port}:80"]
        d.write()
        up = d.cli("up", str(d.file), timeout=120)
    assert up.returncode == 1 and "Traceback" not in up.stderr
    assert str(port) in up.stderr.strip().splitlines()[-1], up.stderr
    assert d.cli("end", str(d.file)).returncode == 0
