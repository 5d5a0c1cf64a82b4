"""Pods of a component, and one HTTP request into a pod through the port-forward API."""

from __future__ import annotations

import time

from .connection import ClusterError


def ready_pod(api_client, namespace: str, component: str, timeout: float = 120) -> str:
    """The name of the one ready, current pod of a KubeVela component (after a rollout settles)."""
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    deadline = time.monotonic() + timeout
    seen = "no pod"
    while time.monotonic() < deadline:
        pods = [p for p in core.list_namespaced_pod(namespace, label_selector=f"app.oam.dev/component={component}").items
                if not p.metadata.deletion_timestamp]
        ready = [p for p in pods if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or ())]
        if len(pods) == 1 and ready:
            return ready[0].metadata.name
        seen = ", ".join(f"{p.metadata.name} {p.status.phase}" for p in pods) or "no pod"
        time.sleep(0.2)
    raise ClusterError(f"component {component} in {namespace} has no single ready pod after {timeout:.0f}s ({seen})")


def http_get(api_client, namespace: str, pod: str, port: int = 80, path: str = "/", timeout: float = 20) -> str:
    """The response body of `GET path` on the pod's port, through the port-forward WebSocket."""
    from kubernetes import client
    from kubernetes.stream import portforward

    core = client.CoreV1Api(api_client)
    pf = portforward(core.connect_get_namespaced_pod_portforward, pod, namespace, ports=str(port))
    sock = pf.socket(port)
    sock.setblocking(True)
    sock.settimeout(timeout)
    try:
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {pod}\r\n\r\n".encode())
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        raise ClusterError(f"GET {path} on {namespace}/{pod}:{port} failed: {exc}") from None
    finally:
        sock.close()
        pf.close()
    head, _, body = data.decode(errors="replace").partition("\r\n\r\n")
    if not head.startswith("HTTP/"):
        raise ClusterError(f"GET {path} on {namespace}/{pod}:{port}: no HTTP answer")
    return body
