"""The hub's ``cluster.core.oam.dev/v1alpha1`` API, as oam-dev/cluster-gateway serves it:
``clustergateways`` (cluster-scoped, GET and LIST derived from the cluster Secrets; no watch)
and their ``proxy`` subresource, which forwards any request to the managed cluster with the
Secret's endpoint, CA and token (``pkg/apis/cluster/v1alpha1/clustergateway_proxy.go``).

The caller's own credentials are checked by the hub and never forwarded. Ordinary responses,
watches and log follows included, are copied as they arrive; ``Connection: Upgrade``
requests (WebSocket exec and port-forward, SPDY tunnelled in WebSocket) are forwarded and
then spliced both ways byte for byte, as apimachinery's ``UpgradeAwareHandler`` does.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from . import errors, kinds, tables
from .apiserver import GATEWAY_GROUP, GATEWAY_PATH, GATEWAY_VERSION, _json
from .clusters import LOCAL, SECRET_NAMESPACE, ClusterAccess, access_of, cluster_gateway, is_cluster_secret
from .errors import ApiError
from .store import Store

GROUP, VERSION = GATEWAY_GROUP, GATEWAY_VERSION
PREFIX = f"{GATEWAY_PATH}/clustergateways"

# request headers that belong to the hop to the hub, not to the managed cluster
_HOP_REQUEST = {"authorization", "host", "content-length", "transfer-encoding", "proxy-authorization", "keep-alive"}
_HOP_RESPONSE = {"content-length", "transfer-encoding", "connection", "keep-alive", "date", "server"}
_HIGH_WATER = 1 << 20  # bytes buffered towards the managed cluster before the caller is paused

tables._COLS["ClusterGateway"] = [
    tables._col("Name", fmt="name"),
    tables._col("Provider"),
    tables._col("Credential-Type"),
    tables._col("Endpoint-Type"),
    tables._col("Healthy"),
]
tables.ROWS["ClusterGateway"] = lambda o, age: [
    o["metadata"]["name"],
    o["spec"].get("provider", ""),
    o["spec"]["access"]["credential"]["type"],
    o["spec"]["access"]["endpoint"]["type"],
    bool((o.get("status") or {}).get("healthy")),  # without the HealthinessCheck gate: never set
]


def _discovery_resources() -> list[dict]:
    return [
        {
            "name": "clustergateways",
            "singularName": "clustergateway",
            "namespaced": False,
            "kind": "ClusterGateway",
            "verbs": ["get", "list"],
        },
        {
            "name": "clustergateways/proxy",
            "singularName": "",
            "namespaced": False,
            "kind": "ClusterGatewayProxyOptions",
            "verbs": ["create", "delete", "get", "patch", "update"],
        },
    ]


class _ProxiedStream:
    """A proxied request in flight, so that the fault hooks and stop() can cut it."""

    def __init__(self, request: web.Request):
        self.request = request
        self.upstream: asyncio.StreamWriter | None = None

    async def drop(self) -> None:
        if self.upstream is not None:
            self.upstream.transport.abort()
        if self.request.transport is not None:
            self.request.transport.abort()


class _ToUpstream:
    """Takes the caller's bytes after an upgrade (in place of aiohttp's WebSocket reader) and
    writes them to the managed cluster, pausing the caller while too much is buffered."""

    def __init__(self, request: web.Request, upstream: asyncio.StreamWriter):
        self.request = request
        self.upstream = upstream
        self.eof = asyncio.get_running_loop().create_future()
        self._draining = False

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if self.upstream.is_closing():
            return False, b""
        self.upstream.write(data)
        if self.upstream.transport.get_write_buffer_size() > _HIGH_WATER and not self._draining:
            self._draining = True
            if self.request.transport is not None:
                self.request.transport.pause_reading()
            asyncio.get_running_loop().create_task(self._drain())
        return False, b""

    async def _drain(self) -> None:
        try:
            await self.upstream.drain()
        except ConnectionError:
            pass
        finally:
            self._draining = False
            if self.request.transport is not None and not self.request.transport.is_closing():
                self.request.transport.resume_reading()

    def feed_eof(self) -> None:
        if not self.eof.done():
            self.eof.set_result(None)


class _Switched(web.StreamResponse):
    """The managed cluster's ``101 Switching Protocols``, passed on without framing."""

    _length_check = False


def unreachable(cluster: str, endpoint: str, err: OSError) -> ApiError:
    """503 in Go's words (`dial tcp …: connect: connection refused`), which KubeVela reads as
    a disconnected cluster (pkg/multicluster/errors.go)."""
    hostport = urlsplit(endpoint).netloc
    what = "connection refused" if isinstance(err, ConnectionRefusedError) else (err.strerror or type(err).__name__)
    return ApiError(
        503,
        "ServiceUnavailable",
        f"cluster {cluster} is unreachable: dial tcp {hostport}: connect: {what.lower()}",
    )


class Gateway:
    """Serves ``/apis/cluster.core.oam.dev/v1alpha1/...`` on the hub."""

    def __init__(self, store: Store, local: Callable[[], ClusterAccess]):
        self.store = store
        self.local = local  # how the hub reaches itself: `local` is served by the hub
        self._session: aiohttp.ClientSession | None = None
        self._contexts: dict[bytes | None, ssl.SSLContext] = {}

    @staticmethod
    def discovery() -> list[dict]:
        return _discovery_resources()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ------------------------------------------------------------------ objects
    def _secrets(self) -> list[dict]:
        items, _ = self.store.list(kinds.builtin("", "v1", "secrets"), SECRET_NAMESPACE, None, None)
        return [s for s in items if is_cluster_secret(s)]

    def _secret(self, name: str) -> dict | None:
        s = self.store.try_get(kinds.builtin("", "v1", "secrets"), SECRET_NAMESPACE, name)
        return s if s is not None and is_cluster_secret(s) else None

    def access(self, name: str) -> ClusterAccess:
        if name == LOCAL:
            return self.local()
        secret = self._secret(name)
        if secret is None:
            raise ApiError(404, "NotFound", f"no such cluster {name}")
        return access_of(secret)

    async def handle(self, request: web.Request, path: str, open_streams: set) -> web.StreamResponse:
        segs = [s for s in path.split("/") if s][3:]  # after apis/<group>/<version>
        if not segs or segs[0] != "clustergateways" or len(segs) == 2 and segs[1] == "":
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        accept = request.headers.get("Accept", "")
        if len(segs) == 1:
            if request.method != "GET":
                raise errors.method_not_allowed(f"{request.method} is not supported")
            if "watch" in request.query and request.query["watch"] not in ("", "0", "false"):
                raise errors.method_not_allowed("watch not supported")
            objs = [cluster_gateway(s) for s in self._secrets()]
            rv = str(self.store.rv)
            if tables.wants_table(accept):
                return _json(tables.to_table("ClusterGateway", objs, rv))
            kind = {"kind": "ClusterGatewayList", "apiVersion": f"{GROUP}/{VERSION}"}
            return _json({**kind, "metadata": {"resourceVersion": rv}, "items": objs})
        name = segs[1]
        if len(segs) >= 3 and segs[2] == "proxy":
            return await self.proxy(request, name, open_streams)
        if len(segs) > 2:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if request.method != "GET":
            raise errors.method_not_allowed(f"{request.method} is not supported")
        secret = self._secret(name)
        if secret is None:
            raise ApiError(404, "NotFound", f'clustergateways.{GROUP} "{name}" not found', {"name": name})
        obj = cluster_gateway(secret)
        return _json(tables.to_table("ClusterGateway", [obj]) if tables.wants_table(accept) else obj)

    # ------------------------------------------------------------------ proxy
    async def proxy(self, request: web.Request, cluster: str, open_streams: set) -> web.StreamResponse:
        access = self.access(cluster)
        prefix = f"{PREFIX}/{cluster}/proxy"
        raw_path, _, raw_query = request.raw_path.partition("?")
        rest = raw_path[len(prefix) :] if raw_path.startswith(prefix) else request.path[len(prefix) :]
        base = urlsplit(access.endpoint)
        target = (base.path.rstrip("/") + "/" + rest.lstrip("/")) + (f"?{raw_query}" if raw_query else "")
        handle = _ProxiedStream(request)
        open_streams.add(handle)
        try:
            if "upgrade" in request.headers.get("Connection", "").lower() and "Upgrade" in request.headers:
                return await self._splice(request, access, target, handle)
            return await self._forward(request, access, target)
        finally:
            open_streams.discard(handle)

    def _ssl(self, access: ClusterAccess) -> ssl.SSLContext:
        ctx = self._contexts.get(access.ca_pem)
        if ctx is None:
            if access.ca_pem:
                ctx = ssl.create_default_context(cadata=access.ca_pem.decode())
            else:  # no CA in the Secret: upstream connects without verifying
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            self._contexts[access.ca_pem] = ctx
        return ctx

    def _headers(self, request: web.Request, access: ClusterAccess, upgrade: bool) -> list[tuple[str, str]]:
        """The caller's headers minus its credentials and the hop's own (an upgrade keeps
        `Connection` and `Upgrade`: they are the request), plus the Secret's token."""
        hop = _HOP_REQUEST if upgrade else _HOP_REQUEST | {"connection", "upgrade"}
        out = [(k, v) for k, v in request.headers.items() if k.lower() not in hop]
        if access.token:
            out.append(("Authorization", f"Bearer {access.token}"))
        return out

    async def _forward(self, request: web.Request, access: ClusterAccess, target: str) -> web.StreamResponse:
        if self._session is None:
            # no total timeout: watches and log follows last as long as the caller wants
            self._session = aiohttp.ClientSession(
                auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None, sock_connect=10)
            )
        body = await request.read()
        base = urlsplit(access.endpoint)
        url = f"{base.scheme}://{base.netloc}{target}"
        try:
            upstream = await self._session.request(
                request.method,
                url,
                headers=self._headers(request, access, upgrade=False),
                data=body or None,
                ssl=self._ssl(access) if base.scheme == "https" else False,
                allow_redirects=False,
            )
        except aiohttp.ClientConnectorError as e:
            raise unreachable(access.name, access.endpoint, e.os_error) from None
        except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as e:
            raise unreachable(access.name, access.endpoint, ConnectionResetError(104, str(e))) from None
        async with upstream:
            resp = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for k, v in upstream.headers.items():
                if k.lower() not in _HOP_RESPONSE:
                    resp.headers.add(k, v)
            if upstream.headers.get("Content-Length") is not None and request.method != "HEAD":
                resp.content_length = int(upstream.headers["Content-Length"])
            await resp.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await resp.write(chunk)  # written (and so flushed) as it comes: watches, follows
                await resp.write_eof()
            except (ConnectionResetError, aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError):
                if request.transport is not None:
                    request.transport.abort()  # a cut stream is cut for the caller too
        return resp

    async def _splice(
        self, request: web.Request, access: ClusterAccess, target: str, handle: _ProxiedStream
    ) -> web.StreamResponse:
        base = urlsplit(access.endpoint)
        host = base.hostname or "127.0.0.1"
        port = base.port or (443 if base.scheme == "https" else 80)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    host,
                    port,
                    ssl=self._ssl(access) if base.scheme == "https" else None,
                    server_hostname=host if base.scheme == "https" else None,
                ),
                10,
            )
        except OSError as e:
            raise unreachable(access.name, access.endpoint, e) from None
        handle.upstream = writer
        try:
            head = [f"{request.method} {target} HTTP/1.1", f"Host: {base.netloc}"]
            head += [f"{k}: {v}" for k, v in self._headers(request, access, upgrade=True)]
            body = await request.read() if request.can_read_body else b""
            if body:
                head.append(f"Content-Length: {len(body)}")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            status, reason, headers = await _read_head(reader)
            if status != 101:
                return await _plain_answer(reader, status, reason, headers)
            return await self._pipe(request, reader, writer, status, reason, headers)
        finally:
            writer.close()

    async def _pipe(self, request, reader, writer, status, reason, headers) -> web.StreamResponse:
        resp = _Switched(status=status, reason=reason)
        for k, v in headers:
            if k.lower() not in ("content-length", "transfer-encoding", "date", "server"):
                resp.headers.add(k, v)
        await resp.prepare(request)
        to_upstream = _ToUpstream(request, writer)
        request.protocol.set_parser(cast(Any, to_upstream))  # duck-typed: feed_data / feed_eof
        request.protocol.keep_alive(False)

        async def from_upstream():
            try:
                while data := await reader.read(65536):
                    await resp.write(data)
            except (ConnectionError, RuntimeError):
                pass

        down = asyncio.ensure_future(from_upstream())
        try:
            await asyncio.wait([down, to_upstream.eof], return_when=asyncio.FIRST_COMPLETED)
        finally:
            down.cancel()
            if request.transport is not None:
                request.transport.close()
        return resp


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, str, list[tuple[str, str]]]:
    try:
        raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
        raise ApiError(502, "InternalError", "the managed cluster sent no valid response to the upgrade") from None
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 502
    headers = []
    for line in lines[1:]:
        if ":" in line:
            k, _, v = line.partition(":")
            headers.append((k.strip(), v.strip()))
    return status, parts[2] if len(parts) > 2 else "", headers


async def _plain_answer(reader: asyncio.StreamReader, status: int, reason: str, headers) -> web.Response:
    """The managed cluster refused the upgrade (e.g. 404 for a missing pod): pass its answer on."""
    length = next((int(v) for k, v in headers if k.lower() == "content-length" and v.isdigit()), None)
    try:
        body = await asyncio.wait_for(
            reader.readexactly(min(length, 1 << 20)) if length is not None else reader.read(1 << 20), 30
        )
    except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
        body = b""
    resp = web.Response(status=status, reason=reason or None, body=body)
    for k, v in headers:
        if k.lower() not in _HOP_RESPONSE:
            resp.headers[k] = v
    return resp
