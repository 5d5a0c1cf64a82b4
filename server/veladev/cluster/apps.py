"""Applications in the cluster: read, create or update, and patch their status."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .connection import ClusterError

GROUP, VERSION, PLURAL = "core.oam.dev", "v1beta1", "applications"
# The client would pick JSON Patch for a dict body on custom objects; these are merge patches.
MERGE_PATCH = "application/merge-patch+json"


def _api(api_client):
    from kubernetes import client

    return client.CustomObjectsApi(api_client)


def _status_message(exc) -> str:
    """The message of the Kubernetes Status object in an error body (admission and validation
    errors say what is wrong there); it names fields, never credentials."""
    import json

    try:
        body = json.loads(getattr(exc, "body", None) or "{}")
    except (TypeError, ValueError):
        return ""
    message = body.get("message") if isinstance(body, dict) else None
    return message[:500] if isinstance(message, str) else ""


def _explain(exc, what: str) -> ClusterError:
    status = getattr(exc, "status", None)
    if status in (400, 409, 422) and _status_message(exc):
        # The code first: callers tell a conflict (409) from a refusal by it.
        return ClusterError(f"{what}: {status} {_status_message(exc)}")
    message = _status_message(exc)
    if message and ("no such cluster" in message or status in (502, 503)):
        # the cluster-gateway's own words: `no such cluster <c>`, or why <c> is unreachable
        return ClusterError(f"{what}: {message}")
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
    return _call(
        f"read application {namespace}/{name}",
        lambda: _api(api_client).get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name),
    )


def find_application(api_client, namespace: str, name: str) -> dict[str, Any] | None:
    """The Application, or None when it does not exist (not deployed yet)."""
    from kubernetes.client.exceptions import ApiException

    def read() -> dict[str, Any] | None:
        try:
            return _api(api_client).get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        except ApiException as exc:
            if exc.status == 404 and "no such cluster" not in _status_message(exc):
                return None
            raise

    return _call(f"read application {namespace}/{name}", read)


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
    patch = {
        "metadata": {k: v for k, v in body["metadata"].items() if k in ("labels", "annotations")},
        "spec": body.get("spec", {}),
    }
    return _call(
        f"update application {ns}/{name}",
        lambda: api.patch_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name, patch, _content_type=MERGE_PATCH),
    )


def list_applications(api_client, namespace: str) -> list[dict[str, Any]]:
    return _call(
        f"list applications in {namespace}",
        lambda: _api(api_client).list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL),
    ).get("items", [])


def _retrying(what: str, attempt: Callable[[], dict[str, Any]], attempts: int = 5) -> dict[str, Any]:
    """`attempt()` (a read, then a write guarded by the read's resourceVersion), again on a 409."""
    from kubernetes.client.exceptions import ApiException

    for n in range(attempts):
        try:
            return attempt()
        except ApiException as exc:
            if exc.status == 409 and n < attempts - 1:
                time.sleep(0.05 * (n + 1))
                continue
            raise _explain(exc, what) from None
    raise ClusterError(f"{what}: kept conflicting")  # pragma: no cover


def patch_application(
    api_client, namespace: str, name: str, change: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """Merge-patch the Application with what `change(app)` returns (metadata and spec),
    guarded by the resourceVersion it was computed from; a conflict re-reads and retries."""

    def attempt() -> dict[str, Any]:
        app = get_application(api_client, namespace, name)
        body = change(app)
        body.setdefault("metadata", {})["resourceVersion"] = app["metadata"]["resourceVersion"]
        return _api(api_client).patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, body, _content_type=MERGE_PATCH
        )

    return _retrying(f"update application {namespace}/{name}", attempt)


def replace_status(
    api_client, namespace: str, name: str, change: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """PUT `/status` with the whole status `change(app)` returns (as controller-runtime's
    `Status().Update`), so fields left out are removed; a conflict re-reads and retries."""

    def attempt() -> dict[str, Any]:
        app = get_application(api_client, namespace, name)
        return _api(api_client).replace_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, name, {**app, "status": change(app)}
        )

    return _retrying(f"update status of {namespace}/{name}", attempt)


def _list_applications(
    api,
    namespace: str,
    selector: str | None,
    on_event: Callable[[str, dict[str, Any]], None],
    on_synced: Callable[[], None] | None,
) -> str:
    """Report every listed Application as "ADDED"; the list's resourceVersion to watch from."""
    listed = api.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, field_selector=selector)
    for app in listed.get("items", []):
        on_event("ADDED", app)
    version = listed.get("metadata", {}).get("resourceVersion", "")
    if on_synced is not None:
        on_synced()
    return version


def watch_applications(
    api_client,
    namespace: str,
    on_event: Callable[[str, dict[str, Any]], None],
    stop: Callable[[], bool],
    name: str | None = None,
    poll: float = 5.0,
    on_synced: Callable[[], None] | None = None,
    on_quiet: Callable[[], None] | None = None,
) -> None:
    """Call `on_event(type, app)` for the current Applications (type "ADDED") and every change
    until `stop()`; the watch is re-opened from the last resourceVersion when it ends (servers
    close watches after a while), and re-listed when that version is too old (410).
    `on_quiet()` is called each time a watch ends, at least every `poll` seconds."""
    from kubernetes import watch
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    api = _api(api_client)
    selector = f"metadata.name={name}" if name else None
    version = ""
    while not stop():
        try:
            if not version:
                version = _list_applications(api, namespace, selector, on_event, on_synced)
            w = watch.Watch()
            for event in w.stream(
                api.list_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                field_selector=selector,
                resource_version=version,
                timeout_seconds=int(poll),
                _request_timeout=poll + 5,
            ):
                obj = event["object"]
                if event["type"] == "ERROR":
                    version = ""
                    break
                version = obj.get("metadata", {}).get("resourceVersion", version)
                on_event(event["type"], obj)
                if stop():
                    w.stop()
                    return
            if on_quiet is not None:
                on_quiet()
        except ApiException as exc:
            if exc.status == 410:
                version = ""
                continue
            raise _explain(exc, f"watch applications in {namespace}") from None
        except (HTTPError, OSError) as exc:
            raise _explain(exc, f"watch applications in {namespace}") from None


def update_status(
    api_client, namespace: str, name: str, change: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """Merge-patch `/status` with what `change(app)` returns, guarded by the resourceVersion
    it was computed from (a conflict re-reads and tries again)."""

    def attempt() -> dict[str, Any]:
        app = get_application(api_client, namespace, name)
        body = {"metadata": {"resourceVersion": app["metadata"]["resourceVersion"]}, "status": change(app)}
        return _api(api_client).patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, PLURAL, name, body, _content_type=MERGE_PATCH
        )

    return _retrying(f"update status of {namespace}/{name}", attempt)
