"""The clusters the KubeVela stand-in dispatches to: the hub's own store (``local``) or a managed
cluster reached over HTTPS with the credentials of its registration Secret, as the
cluster-gateway does (``oam-dev/cluster-gateway`` ``pkg/apis/cluster/v1alpha1/
clustergateway_types_secret.go``: Secret ``vela-system/<name>`` labelled
``cluster.core.oam.dev/cluster-credential-type``, data ``endpoint``, ``ca.crt``, ``token``).

Both targets answer the same five calls (:class:`ClusterTarget`), so apply, health, state-keep
and garbage collection are one code path whatever the cluster. The local target never
suspends (its coroutines finish without yielding to the loop), so a reconcile that touches only
the hub still reads and writes the store without interleaving.
"""

from __future__ import annotations

import json
import os
import ssl
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp

from .. import kinds
from ..clusters import LOCAL, SECRET_NAMESPACE, ClusterAccess, access_of, is_cluster_secret
from ..errors import ApiError
from .placement import CONTROL_PLANE_LABEL

#: a managed cluster that does not answer within this many seconds counts as unreachable
REQUEST_TIMEOUT = 10.0


class ClusterUnreachable(Exception):
    """The managed cluster's API did not answer (worded like Go's net errors: ``dial tcp ...``)."""


class NoSuchCluster(Exception):
    def __init__(self, name: str):
        super().__init__(f"no such cluster {name}")


class ClusterTarget(Protocol):
    name: str

    async def get(self, kind: kinds.Kind, namespace: str | None, name: str) -> dict | None: ...

    async def create(self, kind: kinds.Kind, obj: dict) -> dict: ...

    async def update(self, kind: kinds.Kind, obj: dict) -> dict:
        """An update guarded by ``metadata.resourceVersion`` (409 when it moved on)."""
        ...

    async def delete(self, kind: kinds.Kind, namespace: str | None, name: str) -> None:
        """Delete; an object already gone is fine."""
        ...

    async def ensure_namespace(self, namespace: str) -> None: ...


class LocalTarget:
    """The hub itself: its store, called synchronously."""

    name = LOCAL

    def __init__(self, store):
        self.store = store

    async def get(self, kind: kinds.Kind, namespace: str | None, name: str) -> dict | None:
        return self.store.try_get(kind, namespace, name)

    async def create(self, kind: kinds.Kind, obj: dict) -> dict:
        return self.store.create(kind, obj)

    async def update(self, kind: kinds.Kind, obj: dict) -> dict:
        return self.store.update(kind, obj, require_rv=True)

    async def delete(self, kind: kinds.Kind, namespace: str | None, name: str) -> None:
        try:
            self.store.delete(kind, namespace, name)
        except ApiError as e:
            if e.code != 404:
                raise

    async def ensure_namespace(self, namespace: str) -> None:
        if not self.store.namespace_exists(namespace):
            self.store.create(kinds.builtin("", "v1", "namespaces"), {"metadata": {"name": namespace}})


def resource_path(kind: kinds.Kind, namespace: str | None, name: str = "") -> str:
    path = f"/apis/{kind.group}/{kind.version}" if kind.group else f"/api/{kind.version}"
    if kind.namespaced and namespace:
        path += f"/namespaces/{namespace}"
    path += f"/{kind.plural}"
    return f"{path}/{name}" if name else path


class RemoteTarget:
    """A managed cluster's API server, with the bearer token and CA of its Secret."""

    def __init__(
        self, name: str, endpoint: str, token: str, ssl_context: ssl.SSLContext, session: aiohttp.ClientSession
    ):
        self.name = name
        self.endpoint = endpoint.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._ssl = ssl_context
        self._session = session

    def _dial_error(self, reason: str) -> ClusterUnreachable:
        parts = urlsplit(self.endpoint)
        return ClusterUnreachable(f"dial tcp {parts.hostname}:{parts.port or 443}: {reason}")

    async def _call(self, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
        # A pooled keep-alive connection the cluster has dropped fails at once; like Go's
        # transport, an idempotent request is sent once more on a fresh connection.
        attempts = 1 if method == "POST" else 2
        for attempt in range(1, attempts + 1):
            try:
                status, text = await self._send(method, path, body)
                break
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as e:
                if attempt == attempts:
                    raise self._broken(method, path, e) from None
        try:
            payload = json.loads(text) if text else {}
        except ValueError:
            payload = {"message": text[:200]}
        if status >= 400:
            payload = payload if isinstance(payload, dict) else {}
            raise ApiError(status, payload.get("reason", ""), payload.get("message") or f"HTTP {status}")
        return status, payload

    async def _send(self, method: str, path: str, body: dict | None) -> tuple[int, str]:
        data = None if body is None else json.dumps(body)
        headers = dict(self._headers, **({"Content-Type": "application/json"} if data else {}))
        try:
            async with self._session.request(
                method,
                self.endpoint + path,
                data=data,
                headers=headers,
                ssl=self._ssl,
                timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
            ) as resp:
                return resp.status, await resp.text()
        except aiohttp.ClientConnectorError as e:
            # Go's wording of the errno ("connection refused"), not asyncio's "Connect call failed"
            errno = e.os_error.errno if e.os_error else None
            raise self._dial_error(f"connect: {os.strerror(errno).lower() if errno else 'connection failed'}") from None
        except TimeoutError:
            raise self._dial_error("i/o timeout") from None

    def _broken(self, method: str, path: str, e: aiohttp.ClientError) -> ClusterUnreachable:
        """A connection lost mid-request, worded as Go's client does (aiohttp's text never
        holds the request's headers)."""
        errno = getattr(e, "errno", None)
        reason = os.strerror(errno).lower() if errno else "EOF"
        return ClusterUnreachable(f'{method.capitalize()} "{self.endpoint}{path}": {reason}')

    async def get(self, kind: kinds.Kind, namespace: str | None, name: str) -> dict | None:
        try:
            return (await self._call("GET", resource_path(kind, namespace, name)))[1]
        except ApiError as e:
            if e.code == 404:
                return None
            raise

    async def create(self, kind: kinds.Kind, obj: dict) -> dict:
        return (await self._call("POST", resource_path(kind, obj["metadata"].get("namespace")), obj))[1]

    async def update(self, kind: kinds.Kind, obj: dict) -> dict:
        md = obj["metadata"]
        return (await self._call("PUT", resource_path(kind, md.get("namespace"), md["name"]), obj))[1]

    async def delete(self, kind: kinds.Kind, namespace: str | None, name: str) -> None:
        try:
            await self._call("DELETE", resource_path(kind, namespace, name))
        except ApiError as e:
            if e.code != 404:
                raise

    async def ensure_namespace(self, namespace: str) -> None:
        nsk = kinds.builtin("", "v1", "namespaces")
        if await self.get(nsk, None, namespace) is None:
            try:
                await self.create(nsk, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
            except ApiError as e:
                if e.code != 409:
                    raise


class ClusterRegistry:
    """The clusters registered on the hub (its ``vela-system`` Secrets) and a target for each."""

    def __init__(self, store):
        self.store = store
        self.local = LocalTarget(store)
        self._session: aiohttp.ClientSession | None = None
        self._ssl: dict[bytes | None, ssl.SSLContext] = {}  # CA bundle -> context

    def _secrets(self) -> list[dict]:
        items, _ = self.store.list(kinds.builtin("", "v1", "secrets"), SECRET_NAMESPACE)
        return [s for s in items if is_cluster_secret(s)]

    def labels(self) -> dict[str, dict[str, str]]:
        """name -> labels of every cluster, ``local`` first (as the cluster listing shows them)."""
        out: dict[str, dict[str, str]] = {LOCAL: {CONTROL_PLANE_LABEL: "true"}}
        for s in self._secrets():
            out[s["metadata"]["name"]] = dict(s["metadata"].get("labels") or {})
        return out

    def target(self, cluster: str) -> ClusterTarget:
        if cluster in ("", LOCAL):
            return self.local
        secret = self.store.try_get(kinds.builtin("", "v1", "secrets"), SECRET_NAMESPACE, cluster)
        if secret is None or not is_cluster_secret(secret):
            raise NoSuchCluster(cluster)
        access = access_of(secret)
        if not access.endpoint:
            raise ClusterUnreachable("missing label key: api-endpoint")
        return RemoteTarget(cluster, access.endpoint, access.token, self._context(access), self._client())

    def _context(self, access: ClusterAccess) -> ssl.SSLContext:
        ctx = self._ssl.get(access.ca_pem)
        if ctx is None:
            try:
                ctx = ssl.create_default_context(cadata=access.ca_pem.decode()) if access.ca_pem else None
            except (ssl.SSLError, ValueError):
                raise ClusterUnreachable(f"the ca.crt of cluster {access.name} is not a PEM certificate") from None
            if ctx is None:  # no CA in the Secret: the gateway connects without verifying
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            self._ssl[access.ca_pem] = ctx
        return ctx

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
