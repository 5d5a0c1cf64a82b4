"""``velasandbox`` command line: up, down, status, serve, cluster, register-repo, add-image, kubeconfig."""

from __future__ import annotations

import argparse
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request


def default_state_dir() -> str:
    env = os.environ.get("VELASANDBOX_STATE_DIR")
    if env:
        return env
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "velasandbox")


#: Sandboxes run inside another program (`veladev demo`) announce their state directory here,
#: under the default state directory, so that `status` and `down` find them too.
EMBEDDED = "embedded"


def _pid(state_dir: str) -> int | None:
    try:
        with open(os.path.join(state_dir, "server.pid")) as f:
            pid = int(f.read().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _alive(pid) else None


def _alive(pid: int) -> bool:
    """Whether `pid` runs; a process that exited but was not yet reaped by its parent does not."""
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


def _admin(state_dir: str, path: str, body: dict | None = None, timeout: float = 5.0):
    with open(os.path.join(state_dir, "token")) as f:
        token = f.read().strip()
    with open(os.path.join(state_dir, "port")) as f:
        port = int(f.read().strip())
    ctx = ssl.create_default_context(cafile=os.path.join(state_dir, "ca.crt"))
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"https://127.0.0.1:{port}{path}",
        data=data,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST" if data is not None else "GET",
    )
    with urllib.request.urlopen(req, context=ctx, timeout=timeout) as r:
        return json.loads(r.read())


def _write_server_files(state_dir: str, port: int) -> None:
    """What `status` and `down` read: the API port and the pid of the process serving it."""
    with open(os.path.join(state_dir, "port"), "w") as f:
        f.write(str(port))
    with open(os.path.join(state_dir, "server.pid"), "w") as f:
        f.write(str(os.getpid()))


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class Announcement:
    """A sandbox served by this process, visible to `velasandbox status` and `velasandbox down`.

    `down` sends SIGTERM, which here sets `terminated` and raises KeyboardInterrupt in the main
    thread, so the program stops its sandbox as on Ctrl-C. `close()` (or `with`) withdraws it.
    """

    def __init__(self, sandbox, registry: str | None = None):
        self.state_dir = sandbox.state_dir
        _write_server_files(self.state_dir, sandbox.port)
        embedded = os.path.join(registry or default_state_dir(), EMBEDDED)
        os.makedirs(embedded, exist_ok=True)
        self.entry = os.path.join(embedded, str(os.getpid()))
        with open(self.entry, "w") as f:
            f.write(self.state_dir)
        #: Set once `velasandbox down` asked this process to stop: it should not linger.
        self.terminated = False
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._terminate)

    def _terminate(self, signum, frame):
        # Once: the program now stops its sandbox; a second SIGTERM ends it at once.
        signal.signal(signal.SIGTERM, self._previous if self._previous is not None else signal.SIG_DFL)
        self._previous = None
        self.terminated = True
        raise KeyboardInterrupt

    def close(self) -> None:
        _remove(self.entry)
        _remove(os.path.join(self.state_dir, "server.pid"))
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _embedded_state_dirs(registry: str) -> list[str]:
    """State directories of running embedded sandboxes (stale entries are removed)."""
    found = []
    embedded = os.path.join(registry, EMBEDDED)
    for name in sorted(os.listdir(embedded)) if os.path.isdir(embedded) else ():
        entry = os.path.join(embedded, name)
        try:
            with open(entry) as f:
                state_dir = f.read().strip()
        except OSError:
            continue
        if name.isdigit() and _pid(state_dir) == int(name):
            found.append(state_dir)
        else:
            _remove(entry)
    return found


def _running_state_dir(a) -> str:
    """The state directory given, or else the default one, or else a running embedded sandbox's."""
    if a.state_dir_given or _pid(a.state_dir):
        return a.state_dir
    embedded = _embedded_state_dirs(a.state_dir)
    return embedded[0] if embedded else a.state_dir


def cmd_serve(a) -> int:
    import logging

    logging.basicConfig(
        level=logging.INFO if a.verbose else logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    from .runtime import namespace_support
    from .sandbox import Sandbox

    reason = namespace_support()
    if reason:
        print(f"velasandbox: {reason}; the API runs but pods will stay Pending", file=sys.stderr)
    sb = Sandbox(a.state_dir, port=a.port, pods=reason is None, extensions=a.extension or [])
    for name, labels in a.cluster or []:
        sb.add_cluster(name, labels)
    sb.start()
    _write_server_files(a.state_dir, sb.port)
    print(f"velasandbox serving {sb.server_url}; kubeconfig {sb.kubeconfig}", flush=True)
    for c in sb.cluster_status():
        print(f"managed cluster {c['name']} at {c['server']}; kubeconfig {c['stateDir']}/kubeconfig", flush=True)
    print(f"VelaUX stand-in {sb.velaux.url} (user admin, password in {sb.velaux.dir}/admin-password)", flush=True)
    stop = threading.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    sb.stop()
    _remove(os.path.join(a.state_dir, "server.pid"))
    return 0


def cmd_up(a) -> int:
    os.makedirs(a.state_dir, exist_ok=True)
    if _pid(a.state_dir):
        print(f"velasandbox already running (state {a.state_dir}); kubeconfig {a.state_dir}/kubeconfig")
        return 0
    port = a.port
    if port is None:
        try:
            with open(os.path.join(a.state_dir, "port")) as f:
                port = int(f.read().strip())
        except (FileNotFoundError, ValueError):
            port = 0
    log = open(os.path.join(a.state_dir, "server.log"), "ab")
    for name in ("server.pid",):
        try:
            os.unlink(os.path.join(a.state_dir, name))
        except FileNotFoundError:
            pass
    ext = [x for e in (a.extension or []) for x in ("--extension", e)]
    ext += [x for name, labels in (a.cluster or []) for x in ("--cluster", _cluster_arg(name, labels))]
    proc = subprocess.Popen(
        [sys.executable, "-m", "velasandbox.cli", "serve", "--state-dir", a.state_dir, "--port", str(port), *ext],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(f"velasandbox failed to start; see {a.state_dir}/server.log", file=sys.stderr)
            return 1
        if _pid(a.state_dir) == proc.pid:
            try:
                _admin(a.state_dir, "/sandbox/status")
                break
            except Exception:  # noqa: BLE001
                pass
        time.sleep(0.1)
    else:
        print("velasandbox did not become ready in 60s", file=sys.stderr)
        return 1
    kc = os.path.join(a.state_dir, "kubeconfig")
    print(f"velasandbox up (pid {proc.pid}); kubeconfig: {kc}\n  export KUBECONFIG={kc}")
    return 0


def cmd_down(a) -> int:
    a.state_dir = _running_state_dir(a)
    pid = _pid(a.state_dir)
    if not pid:
        print("velasandbox is not running")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not _alive(pid):
            # Exited; give its parent a moment to reap it (a parent that never does, e.g. a
            # program that embeds the sandbox and is still running, must not hold us up).
            for _ in range(50):
                if not os.path.exists(f"/proc/{pid}"):
                    break
                time.sleep(0.1)
            print("velasandbox stopped")
            return 0
        time.sleep(0.1)
    print(f"velasandbox (pid {pid}) did not stop in 60s", file=sys.stderr)
    return 1


def cmd_status(a) -> int:
    a.state_dir = _running_state_dir(a)
    pid = _pid(a.state_dir)
    if not pid:
        print(f"velasandbox: not running (state {a.state_dir})")
        return 3
    try:
        st = _admin(a.state_dir, "/sandbox/status")
    except Exception as e:  # noqa: BLE001
        print(f"velasandbox: pid {pid} but the API does not answer: {e}")
        return 1
    print(
        f"velasandbox: running (pid {pid}) at {st['server']}, state {st['stateDir']}, "
        f"resourceVersion {st['resourceVersion']}, {len(st['pods'])} pod(s) running"
    )
    for p in st["pods"]:
        print(f"  {p['namespace']}/{p['name']}  pids {p['pids']}")
    for c in st.get("clusters") or []:
        labels = ",".join(f"{k}={v}" for k, v in c["labels"].items()) or "-"
        state = "listening" if c["listening"] else "stopped"
        print(f"  cluster {c['name']}  {c['server']}  {state}  labels {labels}")
    return 0


def cmd_cluster(a) -> int:
    """`velasandbox cluster stop|start NAME`: the fault of a managed cluster cut off, and back."""
    a.state_dir = _running_state_dir(a)
    if not _pid(a.state_dir):
        print(f"velasandbox: not running (state {a.state_dir})", file=sys.stderr)
        return 1
    try:
        st = _admin(a.state_dir, f"/sandbox/clusters/{a.name}/{a.action}", {}, timeout=30)
    except urllib.error.HTTPError as e:
        try:
            message = json.loads(e.read()).get("message", str(e))
        except ValueError:
            message = str(e)
        return _usage(a, message)
    print(f"cluster {st['cluster']} {'listening' if st['listening'] else 'stopped'}")
    return 0


def cmd_register_repo(a) -> int:
    from .images import ImageRegistry

    if not os.path.isdir(a.path):
        return _usage(a, f"{a.path} is not a directory (give a git repository's path)")
    try:
        ImageRegistry(os.path.join(a.state_dir, "registry")).register_repo(a.name, a.path)
    except subprocess.CalledProcessError:
        return _usage(a, f"{a.path} is not a git repository (run `git init` there first)")
    print(f"registered {a.name} -> {os.path.abspath(a.path)}; use image sandbox.local/{a.name}:<commit>")
    return 0


def cmd_add_image(a) -> int:
    from .images import ImageRegistry

    if a.files is not None and not os.path.isdir(a.files):
        return _usage(a, f"--files {a.files} is not a directory")
    ref = ImageRegistry(os.path.join(a.state_dir, "registry")).add_image(
        a.ref, files=a.files, entrypoint=a.entrypoint, env=dict(a.env or []), working_dir=a.workdir
    )
    print(f"added image {ref}")
    return 0


def _usage(a, message: str) -> int:
    print(f"velasandbox {a.cmd}: {message}", file=sys.stderr)
    return 2


def _cluster_spec(value: str) -> tuple[str, dict[str, str]]:
    """``NAME`` or ``NAME:KEY=VALUE,KEY=VALUE`` (the cluster's labels)."""
    from .clusters import check_cluster_name, check_labels

    name, _, rest = value.partition(":")
    try:
        labels = dict(_key_value(kv) for kv in rest.split(",")) if rest else {}
        check_cluster_name(name)
        check_labels(labels)
    except (ValueError, argparse.ArgumentTypeError) as e:
        raise argparse.ArgumentTypeError(f"--cluster {value}: {e}") from None
    return name, labels


def _cluster_arg(name: str, labels: dict[str, str]) -> str:
    return name + (":" + ",".join(f"{k}={v}" for k, v in labels.items()) if labels else "")


def _key_value(value: str) -> tuple[str, str]:
    key, eq, val = value.partition("=")
    if not eq or not key:
        raise argparse.ArgumentTypeError(f"{value!r} is not KEY=VALUE")
    return key, val


class _OneLineErrorParser(argparse.ArgumentParser):
    """A usage error is one line (what is wrong, and where help is), exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def main(argv: list[str] | None = None) -> int:
    p = _OneLineErrorParser(
        prog="velasandbox", description="Local stand-in Kubernetes API with real pods (test/demo only)."
    )
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_OneLineErrorParser)

    def add(name, fn, help_):
        sp = sub.add_parser(name, help=help_)
        sp.add_argument("--state-dir", default=None, help=f"default: {default_state_dir()}")
        sp.set_defaults(fn=fn)
        return sp

    ext_help = "MODULE:FUNCTION called with the Sandbox before it serves (repeatable)"
    cluster_help = "start a managed cluster NAME beside the hub, registered with these labels (repeatable)"
    sp = add("up", cmd_up, "start the sandbox in the background")
    sp.add_argument("--port", type=int, default=None)
    sp.add_argument("--extension", action="append", help=ext_help)
    sp.add_argument("--cluster", action="append", type=_cluster_spec, metavar="NAME[:K=V,...]", help=cluster_help)
    add("down", cmd_down, "stop the sandbox (kills every pod process)")
    add("status", cmd_status, "show whether the sandbox runs")
    sp = add("serve", cmd_serve, "run the sandbox in the foreground")
    sp.add_argument("--port", type=int, default=0)
    sp.add_argument("--extension", action="append", help=ext_help)
    sp.add_argument("--cluster", action="append", type=_cluster_spec, metavar="NAME[:K=V,...]", help=cluster_help)
    sp.add_argument("-v", "--verbose", action="store_true")
    sp = add("cluster", cmd_cluster, "stop or start a managed cluster's API server (a fault; pods keep running)")
    sp.add_argument("action", choices=["stop", "start"])
    sp.add_argument("name")
    sp = add("register-repo", cmd_register_repo, "register a git repo for sandbox.local/<name>:<commit>")
    sp.add_argument("name")
    sp.add_argument("path")
    sp = add("add-image", cmd_add_image, "add an image (files + entrypoint + env) to the local registry")
    sp.add_argument("ref")
    sp.add_argument("--files", help="directory copied into the container's working directory")
    sp.add_argument("--workdir", default="/app")
    sp.add_argument("--env", action="append", type=_key_value, help="KEY=VALUE")
    sp.add_argument("entrypoint", nargs="*")
    sp = add("kubeconfig", lambda a: print(os.path.join(a.state_dir, "kubeconfig")) or 0, "print the kubeconfig path")
    argv = list(sys.argv[1:] if argv is None else argv)
    rest: list[str] = []
    if "--" in argv:  # add-image REF ... -- ENTRYPOINT ARGS...
        i = argv.index("--")
        argv, rest = argv[:i], argv[i + 1 :]
    a = p.parse_args(argv)
    if rest:
        if a.cmd != "add-image":
            p.error("'--' is only used by add-image")
        a.entrypoint = list(a.entrypoint or []) + rest
    names = [name for name, _ in getattr(a, "cluster", None) or []]
    if len(set(names)) != len(names):
        p.error(f"--cluster names must differ ({', '.join(names)})")
    a.state_dir_given = a.state_dir is not None
    a.state_dir = os.path.abspath(a.state_dir or default_state_dir())
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
