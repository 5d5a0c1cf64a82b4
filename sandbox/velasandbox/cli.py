"""``velasandbox`` command line: up, down, status, serve, register-repo, add-image, kubeconfig."""
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
import urllib.request


def default_state_dir() -> str:
    env = os.environ.get("VELASANDBOX_STATE_DIR")
    if env:
        return env
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "velasandbox")


def _pid(state_dir: str) -> int | None:
    try:
        with open(os.path.join(state_dir, "server.pid")) as f:
            pid = int(f.read().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid


def _admin(state_dir: str, path: str, body: dict | None = None, timeout: float = 5.0):
    with open(os.path.join(state_dir, "token")) as f:
        token = f.read().strip()
    with open(os.path.join(state_dir, "port")) as f:
        port = int(f.read().strip())
    ctx = ssl.create_default_context(cafile=os.path.join(state_dir, "ca.crt"))
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"https://127.0.0.1:{port}{path}", data=data,
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/json"},
                                 method="POST" if data is not None else "GET")
    with urllib.request.urlopen(req, context=ctx, timeout=timeout) as r:
        return json.loads(r.read())


def cmd_serve(a) -> int:
    import logging
    logging.basicConfig(level=logging.INFO if a.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from .runtime import namespace_support
    from .sandbox import Sandbox
    reason = namespace_support()
    if reason:
        print(f"velasandbox: {reason}; the API runs but pods will stay Pending", file=sys.stderr)
    sb = Sandbox(a.state_dir, port=a.port, pods=reason is None, extensions=a.extension or [])
    sb.start()
    with open(os.path.join(a.state_dir, "port"), "w") as f:
        f.write(str(sb.port))
    with open(os.path.join(a.state_dir, "server.pid"), "w") as f:
        f.write(str(os.getpid()))
    print(f"velasandbox serving {sb.server_url}; kubeconfig {sb.kubeconfig}", flush=True)
    print(f"VelaUX stand-in {sb.velaux.url} (user admin, password in {sb.velaux.dir}/admin-password)", flush=True)
    stop = threading.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    sb.stop()
    try:
        os.unlink(os.path.join(a.state_dir, "server.pid"))
    except FileNotFoundError:
        pass
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
    for f in ("server.pid",):
        try:
            os.unlink(os.path.join(a.state_dir, f))
        except FileNotFoundError:
            pass
    ext = [x for e in (a.extension or []) for x in ("--extension", e)]
    proc = subprocess.Popen([sys.executable, "-m", "velasandbox.cli", "serve", "--state-dir", a.state_dir,
                             "--port", str(port), *ext], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                            start_new_session=True)
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
    pid = _pid(a.state_dir)
    if not pid:
        print("velasandbox is not running")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            print("velasandbox stopped")
            return 0
        time.sleep(0.1)
    print(f"velasandbox (pid {pid}) did not stop in 60s", file=sys.stderr)
    return 1


def cmd_status(a) -> int:
    pid = _pid(a.state_dir)
    if not pid:
        print(f"velasandbox: not running (state {a.state_dir})")
        return 3
    try:
        st = _admin(a.state_dir, "/sandbox/status")
    except Exception as e:  # noqa: BLE001
        print(f"velasandbox: pid {pid} but the API does not answer: {e}")
        return 1
    print(f"velasandbox: running (pid {pid}) at {st['server']}, state {st['stateDir']}, "
          f"resourceVersion {st['resourceVersion']}, {len(st['pods'])} pod(s) running")
    for p in st["pods"]:
        print(f"  {p['namespace']}/{p['name']}  pids {p['pids']}")
    return 0


def cmd_register_repo(a) -> int:
    from .images import ImageRegistry
    ImageRegistry(os.path.join(a.state_dir, "registry")).register_repo(a.name, a.path)
    print(f"registered {a.name} -> {os.path.abspath(a.path)}; use image sandbox.local/{a.name}:<commit>")
    return 0


def cmd_add_image(a) -> int:
    from .images import ImageRegistry
    env = dict(kv.split("=", 1) for kv in a.env or [])
    ref = ImageRegistry(os.path.join(a.state_dir, "registry")).add_image(
        a.ref, files=a.files, entrypoint=a.entrypoint, env=env, working_dir=a.workdir)
    print(f"added image {ref}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="velasandbox",
                                description="Local stand-in Kubernetes API with real pods (test/demo only).")
    sub = p.add_subparsers(dest="cmd", required=True)

    def add(name, fn, help_):
        sp = sub.add_parser(name, help=help_)
        sp.add_argument("--state-dir", default=default_state_dir())
        sp.set_defaults(fn=fn)
        return sp
    ext_help = "MODULE:FUNCTION called with the Sandbox before it serves (repeatable)"
    sp = add("up", cmd_up, "start the sandbox in the background")
    sp.add_argument("--port", type=int, default=None)
    sp.add_argument("--extension", action="append", help=ext_help)
    add("down", cmd_down, "stop the sandbox (kills every pod process)")
    add("status", cmd_status, "show whether the sandbox runs")
    sp = add("serve", cmd_serve, "run the sandbox in the foreground")
    sp.add_argument("--port", type=int, default=0)
    sp.add_argument("--extension", action="append", help=ext_help)
    sp.add_argument("-v", "--verbose", action="store_true")
    sp = add("register-repo", cmd_register_repo, "register a git repo for sandbox.local/<name>:<commit>")
    sp.add_argument("name")
    sp.add_argument("path")
    sp = add("add-image", cmd_add_image, "add an image (files + entrypoint + env) to the local registry")
    sp.add_argument("ref")
    sp.add_argument("--files", help="directory copied into the container's working directory")
    sp.add_argument("--workdir", default="/app")
    sp.add_argument("--env", action="append", help="KEY=VALUE")
    sp.add_argument("entrypoint", nargs="*")
    sp = add("kubeconfig", lambda a: print(os.path.join(a.state_dir, "kubeconfig")) or 0, "print the kubeconfig path")
    argv = list(sys.argv[1:] if argv is None else argv)
    rest: list[str] = []
    if "--" in argv:                      # add-image REF ... -- ENTRYPOINT ARGS...
        i = argv.index("--")
        argv, rest = argv[:i], argv[i + 1:]
    a = p.parse_args(argv)
    if rest:
        if a.cmd != "add-image":
            p.error("'--' is only used by add-image")
        a.entrypoint = list(a.entrypoint or []) + rest
    a.state_dir = os.path.abspath(a.state_dir)
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
