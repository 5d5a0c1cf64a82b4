"""Small helpers shared by the sandbox tests."""

import contextlib
import re
import subprocess
import time

from kubernetes import client

WEB_IMAGE = "velasandbox-test/web:1"


def ensure_web_image(sandbox):
    """An image whose entrypoint serves its files over HTTP on :80."""
    sandbox.images.add_image(
        WEB_IMAGE,
        files={"index.html": "hello from the pod\n"},
        entrypoint=["python3", "-m", "http.server", "80"],
        working_dir="/srv/www",
        env={"FROM_IMAGE": "yes"},
    )
    return WEB_IMAGE


def web_deployment(name, image=WEB_IMAGE, replicas=1, strategy=None):
    labels = {"app": name}
    spec = {
        "replicas": replicas,
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": image,
                        "ports": [{"containerPort": 80, "name": "http"}],
                        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
                    }
                ]
            },
        },
    }
    if strategy:
        spec["strategy"] = strategy
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels}, "spec": spec}


def pod_ready(p):
    return any(c.type == "Ready" and c.status == "True" for c in (p.status.conditions or []))


def wait_ready_pods(sandbox, core, ns, selector, n, timeout=60):
    def ok():
        pods = [
            p for p in core.list_namespaced_pod(ns, label_selector=selector).items if not p.metadata.deletion_timestamp
        ]
        ready = [p for p in pods if pod_ready(p)]
        return ready if len(ready) == n and len(pods) == n else None

    return sandbox.wait_for(ok, timeout=timeout, what=f"{n} ready pods {selector}")


def wait_phase(sandbox, core, ns, name, phases, timeout=60):
    return sandbox.wait_for(
        lambda: (lambda p: p if p.status.phase in phases else None)(core.read_namespaced_pod(name, ns)),
        timeout=timeout,
        what=f"pod {name} in {phases}",
    )


def simple_pod(name, image="sandbox.local/toolchain", command=None, **extra):
    c = {"name": "main", "image": image}
    if command:
        c["command"] = command
    c.update(extra)
    return {"metadata": {"name": name}, "spec": {"containers": [c]}}


def http_get_through(sock_recv_all):
    return sock_recv_all


def recv_all(sock, timeout=20):
    sock.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = sock.recv(65536)
        if not d:
            break
        data += d
    return data


def core_api(sandbox):
    return client.CoreV1Api(sandbox.api_client())


def pod_exec(core, pod, ns, command, stdin=False, preload=True):
    """`command` in the pod over the exec WebSocket (kubernetes.stream): the output when
    `preload`, else the open WSClient."""
    from kubernetes.stream import stream

    return stream(
        core.connect_get_namespaced_pod_exec,
        pod,
        ns,
        command=command,
        stderr=True,
        stdin=stdin,
        stdout=True,
        tty=False,
        _preload_content=preload,
    )


@contextlib.contextmanager
def kubectl_port_forward(argv, remote_port=80):
    """Run `kubectl ... port-forward ... :<remote_port>` (argv) and yield the local port it
    listens on; the forward ends with the block."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        line = proc.stdout.readline()
        m = re.search(rf"127\.0\.0\.1:(\d+) -> {remote_port}", line)
        assert m, (line, proc.stderr.read() if proc.poll() is not None else "")
        yield int(m.group(1))
    finally:
        proc.terminate()
        proc.wait(20)


def portforward_get(core, pod, ns, path="/index.html"):
    """An HTTP/1.0 GET of `path` on the pod's port 80 through the port-forward WebSocket:
    (the raw response, the PortForward for its error channel)."""
    from kubernetes.stream import portforward

    pf = portforward(core.connect_get_namespaced_pod_portforward, pod, ns, ports="80")
    s = pf.socket(80)
    s.setblocking(True)
    s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
    data = recv_all(s)
    s.close()
    return data, pf
