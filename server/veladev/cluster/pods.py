"""Pods of a component, and one HTTP request into a pod through the port-forward API."""

from __future__ import annotations

import time

from .connection import ClusterError


def ready_pod(api_client, namespace: str, component: str, timeout: float = 120) -> str:
    """The name of the one ready, current pod of a KubeVela component (after a rollout settles)."""
    return wait_ready_pod(
        api_client, namespace, f"app.oam.dev/component={component}", timeout, what=f"component {component}"
    )


def _live_name(pod) -> str | None:
    """The pod's name, None when it is being deleted."""
    meta = pod.metadata
    return meta.name if meta and not meta.deletion_timestamp else None


def _is_ready(pod) -> bool:
    conditions = pod.status.conditions if pod.status else None
    return any(c.type == "Ready" and c.status == "True" for c in conditions or ())


def wait_ready_pod(api_client, namespace: str, selector: str, timeout: float = 120, what: str = "") -> str:
    """The name of the one ready pod (not being deleted) matching the label selector, waiting
    up to `timeout` seconds for it."""
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    deadline = time.monotonic() + timeout
    seen = "no pod"
    while True:
        pods = [
            (name, p)
            for p in core.list_namespaced_pod(namespace, label_selector=selector).items
            if (name := _live_name(p))
        ]
        ready = [name for name, p in pods if _is_ready(p)]
        if len(pods) == 1 and ready:
            return ready[0]
        seen = ", ".join(f"{name} {p.status.phase if p.status else '?'}" for name, p in pods) or "no pod"
        if time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    raise ClusterError(f"{what or selector} in {namespace} has no single ready pod after {timeout:.0f}s ({seen})")


def pod_images(api_client, namespace: str, pod: str) -> list[str]:
    """The images of the pod's containers, as its spec names them."""
    from kubernetes import client

    from .apps import _call

    obj = _call(f"read pod {namespace}/{pod}", lambda: client.CoreV1Api(api_client).read_namespaced_pod(pod, namespace))
    return [c.image for c in (obj.spec.containers if obj.spec else None) or () if c.image]


def http_get(api_client, namespace: str, pod: str, port: int = 80, path: str = "/", timeout: float = 20) -> str:
    """The response body of `GET path` on the pod's port, through the port-forward WebSocket."""
    from .streams import open_port

    conn = open_port(api_client, namespace, pod, port, timeout=timeout)
    data = b""
    try:
        conn.send(f"GET {path} HTTP/1.0\r\nHost: {pod}\r\n\r\n".encode())
        while (chunk := conn.recv()) is not None:
            data += chunk
    except OSError as exc:
        raise ClusterError(f"GET {path} on {namespace}/{pod}:{port} failed: {exc}") from None
    finally:
        conn.close()
    head, _, body = data.decode(errors="replace").partition("\r\n\r\n")
    if not head.startswith("HTTP/"):
        raise ClusterError(f"GET {path} on {namespace}/{pod}:{port}: no HTTP answer")
    return body
