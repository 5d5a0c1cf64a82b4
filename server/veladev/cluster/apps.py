"""Applications in the cluster: read, create or update, and patch their status."""

from __future__ import annotations

import time
from typing import Any, Callable

from .connection import ClusterError

GROUP, VERSION, PLURAL = "core.oam.dev", "v1beta1", "applications"
# The client would pick JSON Patch for a dict body on custom objects; these are merge patches.
MERGE_PATCH = "application/merge-patch+json"


def _api(api_client):
    from kubernetes import client

    return client.CustomObjectsApi(api_client)


def _explain(exc, what: str) -> ClusterError:
    status = getattr(exc, "status", None)
    if status == 404:
        return ClusterError(f"{what}: not found (is KubeVela installed, and does the application exist?)")
    if status in (401, 403):
        return ClusterError(f"{what}: the cluster refused the credentials ({status})")
    if status is not None:
        return ClusterError(f"{what}: {status} {getattr(exc, 'reason', '')}".strip())
    return ClusterError(f"{what}: cannot reach the cluster ({type(exc).__name__})")


def _call(what: str, fn: Callable[[], Any]) -> Any:
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        return fn()
    except (ApiException, HTTPError, OSError) as exc:
        raise _explain(exc, what) from None


def get_application(api_client, namespace: str, name: str) -> dict[str, Any]:
    return _call(f"read application {namespace}/{name}",
                 lambda: _api(api_client).get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name))


def apply_application(api_client, app: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
    """Create the Application, or replace its spec, labels and annotations if it exists."""
    from kubernetes.client.exceptions import ApiException

    ns = namespace or app.get("metadata", {}).get("namespace") or "default"
    name = app["metadata"]["name"]
    api = _api(api_client)
    body = {**app, "metadata": {**app["metadata"], "namespace": ns}}
    try:
        return api.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)
    except ApiException as exc:
        if exc.status != 409:
            raise _explain(exc, f"create application {ns}/{name}") from None
    patch = {"metadata": {k: v for k, v in body["metadata"].items() if k in ("labels", "annotations")},
             "spec": body.get("spec", {})}
    return _call(f"update application {ns}/{name}",
                 lambda: api.patch_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name, patch,
                                                            _content_type=MERGE_PATCH))


def update_status(api_client, namespace: str, name: str, change: Callable[[dict[str, Any]], dict[str, Any]],
                  attempts: int = 5) -> dict[str, Any]:
    """Merge-patch `/status` with what `change(app)` returns, guarded by the resourceVersion
    it was computed from (a conflict re-reads and tries again)."""
    from kubernetes.client.exceptions import ApiException

    api = _api(api_client)
    for attempt in range(attempts):
        app = get_application(api_client, namespace, name)
        status = change(app)
        body = {"metadata": {"resourceVersion": app["metadata"]["resourceVersion"]}, "status": status}
        try:
            return api.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, PLURAL, name, body,
                                                             _content_type=MERGE_PATCH)
        except ApiException as exc:
            if exc.status == 409 and attempt < attempts - 1:
                time.sleep(0.05 * (attempt + 1))
                continue
            raise _explain(exc, f"update status of {namespace}/{name}") from None
    raise ClusterError(f"update status of {namespace}/{name}: kept conflicting")  # pragma: no cover
