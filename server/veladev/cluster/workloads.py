"""Workloads (Deployments, StatefulSets), their pods and PVCs, as plain dicts.

Dev mode rewrites whole objects and puts saved copies back, so everything here reads and
writes the JSON form (the client's `sanitize_for_serialization`), never typed models.
"""

from __future__ import annotations

from typing import Any

from .apps import GROUP, MERGE_PATCH, PLURAL, VERSION
from .apps import _call as call
from .connection import ClusterError

#: Workload kinds dev mode handles: serviceType (Nocalhost's name) -> (Kind, AppsV1Api infix).
KINDS = {"deployment": ("Deployment", "deployment"), "statefulset": ("StatefulSet", "stateful_set")}


class Conflict(ClusterError):
    """The object changed since it was read (409): read it again and decide again."""


def _apps(api_client):
    from kubernetes import client

    return client.AppsV1Api(api_client)


def _core(api_client):
    from kubernetes import client

    return client.CoreV1Api(api_client)


def _plain(api_client, obj) -> dict[str, Any]:
    return api_client.sanitize_for_serialization(obj)


def _guarded(what: str, fn):
    """`call`, with a 409 as `Conflict` so callers can retry on a fresh read."""
    try:
        return call(what, fn)
    except ClusterError as exc:
        if str(exc).startswith(f"{what}: 409"):
            raise Conflict(str(exc)) from None
        raise


def list_workloads(api_client, service_type: str, namespace: str | None, label_selector: str) -> list[dict[str, Any]]:
    """Workloads of one kind matching the labels, in a namespace or (None) in all namespaces."""
    kind, infix = KINDS[service_type]
    api = _apps(api_client)
    if namespace:
        fn = getattr(api, f"list_namespaced_{infix}")
        result = call(f"list {kind}s in {namespace}", lambda: fn(namespace, label_selector=label_selector))
    else:
        fn = getattr(api, f"list_{infix}_for_all_namespaces")
        result = call(f"list {kind}s", lambda: fn(label_selector=label_selector))
    items = _plain(api_client, result).get("items") or []
    for item in items:  # list items carry no kind
        item.setdefault("kind", kind)
        item.setdefault("apiVersion", "apps/v1")
    return items


def _read_or_none(what: str, fn) -> Any:
    """`fn()`, or None when the object does not exist."""
    from kubernetes.client.exceptions import ApiException

    def read():
        try:
            return fn()
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    return call(what, read)


def get_workload(api_client, service_type: str, namespace: str, name: str) -> dict[str, Any] | None:
    kind, infix = KINDS[service_type]
    fn = getattr(_apps(api_client), f"read_namespaced_{infix}")
    obj = _read_or_none(f"read {kind} {namespace}/{name}", lambda: fn(name, namespace))
    return None if obj is None else _plain(api_client, obj)


def replace_workload(api_client, service_type: str, obj: dict[str, Any]) -> dict[str, Any]:
    """PUT the whole object; its `metadata.resourceVersion` makes a concurrent change a `Conflict`."""
    kind, infix = KINDS[service_type]
    md = obj["metadata"]
    fn = getattr(_apps(api_client), f"replace_namespaced_{infix}")
    return _plain(
        api_client,
        _guarded(f"replace {kind} {md['namespace']}/{md['name']}", lambda: fn(md["name"], md["namespace"], obj)),
    )


def patch_workload_metadata(
    api_client,
    service_type: str,
    namespace: str,
    name: str,
    resource_version: str,
    labels: dict[str, str | None] | None = None,
    annotations: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """Merge-patch labels/annotations (None deletes a key), only if the object is still at
    `resource_version` (else `Conflict`)."""
    kind, infix = KINDS[service_type]
    md: dict[str, Any] = {"resourceVersion": resource_version}
    if labels is not None:
        md["labels"] = labels
    if annotations is not None:
        md["annotations"] = annotations
    fn = getattr(_apps(api_client), f"patch_namespaced_{infix}")
    return _plain(
        api_client,
        _guarded(
            f"patch {kind} {namespace}/{name}", lambda: fn(name, namespace, {"metadata": md}, _content_type=MERGE_PATCH)
        ),
    )


def list_pods(api_client, namespace: str, label_selector: str) -> list[dict[str, Any]]:
    result = call(
        f"list pods in {namespace}",
        lambda: _core(api_client).list_namespaced_pod(namespace, label_selector=label_selector),
    )
    return _plain(api_client, result).get("items") or []


def get_pod(api_client, namespace: str, name: str) -> dict[str, Any] | None:
    obj = _read_or_none(f"read pod {namespace}/{name}", lambda: _core(api_client).read_namespaced_pod(name, namespace))
    return None if obj is None else _plain(api_client, obj)


def pod_events(api_client, namespace: str, pod: str) -> list[dict[str, Any]]:
    """Events about one pod, oldest first."""
    result = call(
        f"list events in {namespace}",
        lambda: _core(api_client).list_namespaced_event(namespace, field_selector=f"involvedObject.name={pod}"),
    )
    items = _plain(api_client, result).get("items") or []
    return sorted(items, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")


def ensure_pvc(
    api_client, namespace: str, name: str, labels: dict[str, str], capacity: str, storage_class: str = ""
) -> None:
    """Create the claim unless it exists (a dev PVC outlives dev sessions on purpose)."""
    from kubernetes.client.exceptions import ApiException

    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "labels": labels},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": capacity}}},
    }
    if storage_class:
        body["spec"]["storageClassName"] = storage_class
    try:
        _core(api_client).create_namespaced_persistent_volume_claim(namespace, body)
    except ApiException as exc:
        if exc.status != 409:
            raise ClusterError(f"create PersistentVolumeClaim {namespace}/{name}: {exc.status} {exc.reason}") from None


def set_application_label(api_client, namespace: str, name: str, key: str, value: str | None) -> None:
    """Set (or with None remove) one label of an Application."""
    from kubernetes import client

    api = client.CustomObjectsApi(api_client)
    call(
        f"label application {namespace}/{name}",
        lambda: api.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, {"metadata": {"labels": {key: value}}}, _content_type=MERGE_PATCH
        ),
    )
