"""Fault hooks, API server restart, the CLI, and clean shutdown."""

import json
import os
import subprocess
import sys
import threading
import time

import kubernetes
import pytest
from kubernetes import client, watch
from kubernetes.stream import portforward, stream
from websocket import WebSocketException

from sandbox_helpers import ensure_web_image, pod_ready, recv_all, wait_ready_pods, web_deployment

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("need_pods")]


def test_kill_pod_processes_restarts_container(sandbox, sandbox_ns):
    ensure_web_image(sandbox)
    api = sandbox.api_client()
    core = client.CoreV1Api(api)
    client.AppsV1Api(api).create_namespaced_deployment(sandbox_ns, web_deployment("k", replicas=1))
    (pod,) = wait_ready_pods(sandbox, core, sandbox_ns, "app=k", 1)
    name = pod.metadata.name
    assert sandbox.kill_pod_processes(sandbox_ns, name) >= 1

    def restarted():
        p = core.read_namespaced_pod(name, sandbox_ns)
        cs = p.status.container_statuses[0]
        return p if cs.restart_count == 1 and pod_ready(p) else None

    p = sandbox.wait_for(restarted, what="container restarted and ready again")
    assert p.status.container_statuses[0].last_state.terminated.exit_code == 137


def test_delete_pod_is_replaced(sandbox, sandbox_ns):
    ensure_web_image(sandbox)
    api = sandbox.api_client()
    core = client.CoreV1Api(api)
    client.AppsV1Api(api).create_namespaced_deployment(sandbox_ns, web_deployment("d", replicas=1))
    (pod,) = wait_ready_pods(sandbox, core, sandbox_ns, "app=d", 1)
    holder = {i["name"]: i for i in sandbox.pod_info()}[pod.metadata.name]["holderPid"]
    sandbox.delete_pod(sandbox_ns, pod.metadata.name)
    (new,) = wait_ready_pods(sandbox, core, sandbox_ns, "app=d", 1)
    assert new.metadata.name != pod.metadata.name
    sandbox.wait_for(lambda: not os.path.exists(f"/proc/{holder}"), what="old pod's holder gone")


def test_restart_api_server_same_port_and_state(sandbox, sandbox_ns):
    api = sandbox.api_client()
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(sandbox_ns, {"metadata": {"name": "before"}, "data": {"k": "v"}})
    core.create_namespaced_pod(
        sandbox_ns,
        {"metadata": {"name": "keep"}, "spec": {"containers": [{"name": "main", "image": "sandbox.local/toolchain"}]}},
    )
    sandbox.wait_for(lambda: core.read_namespaced_pod("keep", sandbox_ns).status.phase == "Running", what="running")

    def holder():
        return [
            (i["uid"], i["holderPid"])
            for i in sandbox.pod_info()
            if i["namespace"] == sandbox_ns and i["name"] == "keep"
        ]

    before = holder()
    rv = core.list_namespaced_config_map(sandbox_ns).metadata.resource_version
    port = sandbox.port
    sandbox.restart_api_server()
    assert sandbox.port == port
    assert core.read_namespaced_config_map("before", sandbox_ns).data == {"k": "v"}
    assert len(before) == 1 and holder() == before  # the pod kept running
    assert core.read_namespaced_pod("keep", sandbox_ns).status.phase == "Running"
    core.create_namespaced_config_map(sandbox_ns, {"metadata": {"name": "after"}})
    # a watch from the pre-restart resourceVersion continues without a gap
    w = watch.Watch()
    ev = next(iter(w.stream(core.list_namespaced_config_map, sandbox_ns, resource_version=rv, timeout_seconds=10)))
    w.stop()
    assert ev["type"] == "ADDED" and ev["object"].metadata.name == "after"


def test_restart_api_server_ends_open_watch(sandbox, sandbox_ns):
    core = client.CoreV1Api(sandbox.api_client())
    got = []
    ended = threading.Event()

    def run():
        try:
            for ev in watch.Watch().stream(core.list_namespaced_config_map, sandbox_ns, timeout_seconds=30):
                got.append(ev["type"])
        except Exception as e:  # noqa: BLE001 - records whatever ends the watch when the API server restarts
            got.append(type(e).__name__)
        ended.set()

    core.create_namespaced_config_map(sandbox_ns, {"metadata": {"name": "x"}})
    t = threading.Thread(target=run)
    t.start()
    sandbox.wait_for(lambda: got, what="first watch event")
    sandbox.restart_api_server()
    assert ended.wait(20)
    t.join()


def test_drop_streams(sandbox, sandbox_ns):
    ensure_web_image(sandbox)
    api = sandbox.api_client()
    core = client.CoreV1Api(api)
    client.AppsV1Api(api).create_namespaced_deployment(sandbox_ns, web_deployment("s", replicas=1))
    (pod,) = wait_ready_pods(sandbox, core, sandbox_ns, "app=s", 1)
    name = pod.metadata.name
    resp = stream(
        core.connect_get_namespaced_pod_exec,
        name,
        sandbox_ns,
        command=["sh", "-c", "echo started; sleep 600"],
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
        _preload_content=False,
    )
    first = ""
    deadline = time.monotonic() + 20
    while "started" not in first and time.monotonic() < deadline:
        resp.update(timeout=1)
        first += resp.read_stdout() or ""
    assert "started" in first
    pf = portforward(
        client.CoreV1Api(sandbox.api_client()).connect_get_namespaced_pod_portforward, name, sandbox_ns, ports="80"
    )
    s = pf.socket(80)
    s.setblocking(True)
    assert sandbox.drop_streams() >= 2
    with pytest.raises((WebSocketException, OSError)):  # the connection closed under the client
        resp.run_forever(timeout=20)
    if int(kubernetes.__version__.split(".")[0]) >= 35:
        # older clients' proxy thread dies on the dropped connection without closing the
        # local socket (kubernetes-client/python before 35.0)
        assert recv_all(s, timeout=20) == b""
    # new streams work afterwards
    out = stream(
        core.connect_get_namespaced_pod_exec,
        name,
        sandbox_ns,
        command=["echo", "again"],
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
    )
    assert out == "again\n"


def _procs_in_ns(inodes):
    hits = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        for ns in ("net", "mnt"):
            try:
                if os.stat(f"/proc/{p}/ns/{ns}").st_ino in inodes:
                    hits.append(int(p))
            except OSError:
                pass
    return hits


def test_clean_shutdown_leaves_nothing_behind(tmp_path):
    from velasandbox.testing import start_sandbox

    state = tmp_path / "state"
    sb = start_sandbox(str(state))
    ensure_web_image(sb)
    api = sb.api_client()
    core = client.CoreV1Api(api)
    client.AppsV1Api(api).create_namespaced_deployment("default", web_deployment("c", replicas=2))
    pods = wait_ready_pods(sb, core, "default", "app=c", 2)
    # a process that escapes its session still dies with the pod
    stream(
        core.connect_get_namespaced_pod_exec,
        pods[0].metadata.name,
        "default",
        command=["sh", "-c", "setsid sleep 600 </dev/null >/dev/null 2>&1 &"],
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
    )
    # streams still open at shutdown
    live_exec = stream(
        core.connect_get_namespaced_pod_exec,
        pods[1].metadata.name,
        "default",
        command=["sh", "-c", "echo up; sleep 600"],
        stderr=True,
        stdin=True,
        stdout=True,
        tty=False,
        _preload_content=False,
    )
    sb.wait_for(lambda: (live_exec.update(timeout=1), live_exec.peek_stdout())[1], what="exec running")
    pf = portforward(
        client.CoreV1Api(sb.api_client()).connect_get_namespaced_pod_portforward,
        pods[1].metadata.name,
        "default",
        ports="80",
    )
    pf.socket(80).setblocking(True)
    info = sb.pod_info()
    pids = {p for i in info for p in i["pids"]} | {i["holderPid"] for i in info}
    inodes = {i["netns"] for i in info} | {i["mntns"] for i in info}
    assert len(info) == 2 and len(pids) >= 6 and len(inodes) == 4
    api.close()
    sb.stop()
    alive = [p for p in pids if os.path.exists(f"/proc/{p}") and open(f"/proc/{p}/stat").read().split()[2] != "Z"]
    assert alive == []
    assert _procs_in_ns(inodes) == []
    for mi in ("/proc/self/mountinfo", "/proc/1/mountinfo"):
        with open(mi) as f:
            assert str(state) not in f.read()
    assert not os.path.exists(state / "pods") or os.listdir(state / "pods") == []
    assert sb.thread is not None and not sb.thread.is_alive()
    # the state survives: objects are there on the next start (pods are started again)
    sb2 = start_sandbox(str(state))
    try:
        core2 = client.CoreV1Api(sb2.api_client())
        assert len(wait_ready_pods(sb2, core2, "default", "app=c", 2)) == 2
    finally:
        sb2.stop()
    assert not os.listdir(state / "pods")


def test_cli_up_status_down(tmp_path):
    state = str(tmp_path / "cli")
    exe = [sys.executable, "-m", "velasandbox.cli"]
    r = subprocess.run(exe + ["up", "--state-dir", state], capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stderr
    try:
        kc = os.path.join(state, "kubeconfig")
        assert kc in r.stdout
        from kubernetes import config

        with config.new_client_from_config(config_file=kc) as api:
            names = {n.metadata.name for n in client.CoreV1Api(api).list_namespace().items}
            client.CoreV1Api(api).create_namespaced_config_map("default", {"metadata": {"name": "kept"}})
        assert "default" in names
        # down + up: same port, same objects
        with open(os.path.join(state, "port")) as f:
            port = f.read()
        assert subprocess.run(exe + ["down", "--state-dir", state], timeout=90).returncode == 0
        assert subprocess.run(exe + ["up", "--state-dir", state], capture_output=True, timeout=90).returncode == 0
        with open(os.path.join(state, "port")) as f:
            assert f.read() == port
        with config.new_client_from_config(config_file=kc) as api:
            assert client.CoreV1Api(api).read_namespaced_config_map("kept", "default").metadata.name == "kept"
        r = subprocess.run(exe + ["status", "--state-dir", state], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and "running" in r.stdout
        with open(os.path.join(state, "server.pid")) as f:
            pid = int(f.read())
    finally:
        r = subprocess.run(exe + ["down", "--state-dir", state], capture_output=True, text=True, timeout=90)
    assert r.returncode == 0 and "stopped" in r.stdout
    assert not os.path.exists(f"/proc/{pid}")
    r = subprocess.run(exe + ["status", "--state-dir", state], capture_output=True, text=True, timeout=30)
    assert r.returncode == 3 and "not running" in r.stdout


def _admin(sandbox, path, body=None, token=True):
    import urllib.error
    import urllib.request

    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {sandbox.token}"
    req = urllib.request.Request(
        sandbox.server_url + path,
        headers=headers,
        data=json.dumps(body).encode() if body is not None else None,
        method="POST" if body is not None else "GET",
    )
    try:
        with urllib.request.urlopen(req, context=sandbox.ssl_context(), timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_admin_endpoints(sandbox, sandbox_ns):
    assert _admin(sandbox, "/sandbox/status", token=False)[0] == 401
    api = sandbox.api_client()
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(
        sandbox_ns,
        {"metadata": {"name": "a"}, "spec": {"containers": [{"name": "main", "image": "sandbox.local/toolchain"}]}},
    )
    sandbox.wait_for(lambda: core.read_namespaced_pod("a", sandbox_ns).status.phase == "Running", what="running")
    code, st = _admin(sandbox, "/sandbox/status")
    assert code == 200 and any(p["name"] == "a" and p["namespace"] == sandbox_ns for p in st["pods"])
    code, res = _admin(sandbox, "/sandbox/kill-pod", {"namespace": sandbox_ns, "name": "a"})
    assert code == 200 and res["killed"] == 1
    sandbox.wait_for(
        lambda: core.read_namespaced_pod("a", sandbox_ns).status.container_statuses[0].restart_count == 1,
        what="restart after kill",
    )
    assert _admin(sandbox, "/sandbox/drop-streams", {})[0] == 200
    port = sandbox.port
    starts = st["apiStarts"]
    assert _admin(sandbox, "/sandbox/restart-api", {})[0] == 200

    def restarted():
        try:
            return _admin(sandbox, "/sandbox/status")[1]["apiStarts"] == starts + 1
        except OSError:
            return False  # refused while the server restarts

    sandbox.wait_for(restarted, what="API server restarted")
    # it came back on the same port with the same objects
    assert core.read_namespaced_pod("a", sandbox_ns).metadata.name == "a"
    assert sandbox.port == port


def test_cli_add_image_and_register_repo(tmp_path, capsys):
    from velasandbox.cli import main
    from velasandbox.images import ImageRegistry

    files = tmp_path / "files"
    files.mkdir()
    (files / "index.html").write_text("hi")
    state = str(tmp_path / "state")
    assert (
        main(
            [
                "add-image",
                "--state-dir",
                state,
                "demo/web:1",
                "--files",
                str(files),
                "--env",
                "A=B",
                "--",
                "python3",
                "-m",
                "http.server",
                "80",
            ]
        )
        == 0
    )
    img = ImageRegistry(os.path.join(state, "registry")).resolve("demo/web:1")
    assert img is not None
    assert img.entrypoint == ["python3", "-m", "http.server", "80"] and img.env == {"A": "B"}
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    assert main(["register-repo", "--state-dir", state, "demo", str(repo)]) == 0
    assert ImageRegistry(os.path.join(state, "registry")).repos() == {"demo": str(repo)}
