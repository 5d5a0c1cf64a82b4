"""The HTTP side: an aiohttp application that serves discovery, CRUD, patch, watch, the
status/scale/log subresources and (through :mod:`velasandbox.streams`) exec and
port-forward, with bearer-token authentication and Status error bodies."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

import yaml
from aiohttp import web

from . import errors, kinds, podlogs, streams, tables
from . import patch as patchmod
from .errors import ApiError
from .parts import PodProcesses
from .store import Store

if TYPE_CHECKING:  # pragma: no cover
    from .gateway import Gateway

log = logging.getLogger("velasandbox.api")

VERSION_INFO = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0-velasandbox",
    "gitCommit": "0" * 40,
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.22.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}


GATEWAY_GROUP = "cluster.core.oam.dev"
GATEWAY_VERSION = "v1alpha1"
GATEWAY_PATH = f"/apis/{GATEWAY_GROUP}/{GATEWAY_VERSION}"


def _is_true(v: str | None) -> bool:
    return v is not None and v.lower() not in ("", "0", "false")


async def _watch_response(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    return resp


async def _next_event(queue: asyncio.Queue, deadline: float | None):
    """The next (type, object) of a watch; None once it ends or `deadline` (loop time) has passed."""
    remaining = None if deadline is None else deadline - asyncio.get_running_loop().time()
    if remaining is not None and remaining <= 0:
        return None
    try:
        return await asyncio.wait_for(queue.get(), remaining)
    except TimeoutError:
        return None


def _subresource(k: kinds.Kind, sub: str) -> dict:
    """The discovery entry of a kind's subresource."""
    sr = {
        "name": f"{k.plural}/{sub}",
        "singularName": "",
        "namespaced": k.namespaced,
        "kind": k.kind,
        "verbs": ["get", "patch", "update"],
    }
    if sub == "scale":
        sr.update(group="autoscaling", version="v1", kind="Scale")
    elif sub in ("exec", "portforward", "attach"):
        sr.update(kind="PodExecOptions" if sub != "portforward" else "PodPortForwardOptions", verbs=["create", "get"])
    elif sub == "log":
        sr.update(kind="Pod", verbs=["get"])
    elif sub == "finalize":
        sr.update(verbs=["update"])
    return sr


def _json(obj, status=200) -> web.Response:
    return web.Response(text=json.dumps(obj), status=status, content_type="application/json")


def error_response(e: ApiError) -> web.Response:
    return _json(e.status(), e.code)


class Query:
    """Form-decoded query with repeated keys (``command=sh&command=-c``)."""

    def __init__(self, qs: str):
        self.pairs = parse_qsl(qs, keep_blank_values=True)

    def get(self, k, default=None):
        for a, b in self.pairs:
            if a == k:
                return b
        return default

    def getall(self, k):
        return [b for a, b in self.pairs if a == k]

    def flag(self, k) -> bool:
        return _is_true(self.get(k))


class Target:
    def __init__(self, kind, namespace, name, sub):
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.sub = sub


def parse_resource_path(path: str) -> Target | None:
    segs = [s for s in path.split("/") if s]
    if not segs:
        return None
    if segs[0] == "api" and len(segs) >= 3:
        group, version, rest = "", segs[1], segs[2:]
    elif segs[0] == "apis" and len(segs) >= 4:
        group, version, rest = segs[1], segs[2], segs[3:]
    else:
        return None
    ns = None
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
        ns = rest[1]
        rest = rest[2:]
    kind = kinds.lookup(group, version, rest[0])
    if kind is None:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    if ns is not None and not kind.namespaced:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    name = rest[1] if len(rest) >= 2 else None
    sub = rest[2] if len(rest) >= 3 else None
    if len(rest) > 3 or (sub and sub not in kind.subresources):
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    return Target(kind, ns, name, sub)


async def read_body(request: web.Request):
    raw = await request.read()
    if not raw.strip():
        return None
    ctype = (request.headers.get("Content-Type") or "application/json").split(";")[0].strip()
    if "protobuf" in ctype or "cbor" in ctype:
        raise errors.unsupported_media_type(ctype)
    try:
        if "yaml" in ctype:
            return yaml.safe_load(raw)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise errors.bad_request(f"unable to decode body: {e}") from None


Handler = Callable[[web.Request, "Target", Query], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class ApiParts:
    """What the HTTP side uses of the sandbox."""

    store: Store
    token: str
    pods: PodProcesses
    orphan: Callable[[str], None]  # the garbage collector: leave this uid's dependents alone
    admin: Callable[[web.Request, str, Query], Awaitable[web.Response]]  # /sandbox/... endpoints
    address: Callable[[], str]  # host:port as clients reach the server
    gateway: Gateway | None = None  # the hub's cluster.core.oam.dev API (managed clusters)


class ApiServer:
    def __init__(self, parts: ApiParts):
        self.parts = parts
        self.store = parts.store
        self.app = web.Application(middlewares=[self._auth_mw], client_max_size=1024**3)
        self.app.router.add_route("*", "/{tail:.*}", self.dispatch)
        self.open_streams: set = set()  # live exec / port-forward / attach / log-follow responses
        self.open_watches: set = set()
        # handle_resource's dispatch: collections by method, subresources with a handler of
        # their own, then single objects by method
        self._collection: dict[str, Handler] = {
            "GET": self.list_or_watch,
            "POST": self.create,
            "DELETE": self.delete_collection,
        }
        self._subresource: dict[str, Handler] = {
            "exec": self.exec,
            "attach": self.attach,
            "portforward": self.portforward,
            "log": self.log,
            "scale": self.scale,
        }
        self._object: dict[str, Handler] = {
            "GET": self.get,
            "PUT": self.replace,
            "PATCH": self.patch,
            "DELETE": self.delete,
        }

    # ------------------------------------------------------------------ auth
    @web.middleware
    async def _auth_mw(self, request: web.Request, handler):
        if request.path in ("/healthz", "/livez", "/readyz"):
            return web.Response(text="ok")
        auth = request.headers.get("Authorization", "")
        if auth != f"Bearer {self.parts.token}":
            return error_response(errors.unauthorized())
        try:
            return await handler(request)
        except ApiError as e:
            return error_response(e)
        except web.HTTPException:
            raise
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception as e:  # noqa: BLE001 - any bug answers 500, as the API server's panic recovery does
            log.exception("internal error on %s %s", request.method, request.path)
            return error_response(errors.internal(str(e)))

    # ------------------------------------------------------------------ routing
    async def dispatch(self, request: web.Request):
        path = request.path.rstrip("/") or "/"
        q = Query(request.query_string)
        if path == "/version":
            return _json(VERSION_INFO)
        if path == "/api":
            return _json(
                {
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": self.parts.address()}],
                }
            )
        if path == "/apis":
            return _json(self._group_list())
        if path == "/openapi/v3":
            return _json(self._openapi_v3_index())
        if path.startswith("/openapi/v3/"):
            return _json(self._openapi_v3_gv(path[len("/openapi/v3/") :]))
        if path.startswith("/sandbox/") or path == "/sandbox":
            return await self.parts.admin(request, path, q)
        gateway = self.parts.gateway
        if gateway is not None and path.startswith(GATEWAY_PATH + "/"):
            return await gateway.handle(request, path, self.open_streams)
        discovery = self._discovery(path)
        if discovery is not None:
            return _json(discovery)
        t = parse_resource_path(path)
        if t is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return await self.handle_resource(request, t, q)

    def _discovery(self, path: str) -> dict | None:
        """The discovery document at /api/<version>, /apis/<group>, /apis/<group>/<version>; None for other paths."""
        segs = [s for s in path.split("/") if s]
        if segs and segs[0] == "api" and len(segs) == 2:
            return self._resource_list("", segs[1])
        if segs and segs[0] == "apis" and len(segs) == 2:
            g = self._group(segs[1])
            if g is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
            return g
        if segs and segs[0] == "apis" and len(segs) == 3:
            return self._resource_list(segs[1], segs[2])
        return None

    # ------------------------------------------------------------------ openapi (minimal)
    # kubectl create/apply with the default --validate=strict asks /openapi/v3 whether PATCH
    # declares the fieldValidation parameter; we declare it (and do not validate fields).
    def _openapi_v3_index(self):
        paths = {}
        for group, versions in kinds.group_versions().items():
            for v in versions:
                gv = f"apis/{group}/{v}" if group else f"api/{v}"
                paths[gv] = {"serverRelativeURL": f"/openapi/v3/{gv}?hash=velasandbox{self.store.rv}"}
        return {"paths": paths}

    def _openapi_v3_gv(self, gv: str):
        segs = gv.split("/")
        if segs[0] == "api" and len(segs) == 2:
            group, version = "", segs[1]
        elif segs[0] == "apis" and len(segs) == 3:
            group, version = segs[1], segs[2]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        paths = {}
        prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
        for k in kinds.all_kinds():
            if k.group != group or k.version != version:
                continue
            item = (
                f"{prefix}/namespaces/{{namespace}}/{k.plural}/{{name}}"
                if k.namespaced
                else f"{prefix}/{k.plural}/{{name}}"
            )
            params = [
                {"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
                for n in ("dryRun", "fieldManager", "fieldValidation", "force")
            ]
            paths[item] = {
                "patch": {
                    "operationId": f"patch{k.kind}",
                    "parameters": params,
                    "responses": {"200": {"description": "OK"}},
                    "x-kubernetes-action": "patch",
                    "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": k.kind},
                }
            }
        if not paths:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return {
            "openapi": "3.0.0",
            "info": {"title": "velasandbox", "version": VERSION_INFO["gitVersion"]},
            "paths": paths,
            "components": {"schemas": {}},
        }

    # ------------------------------------------------------------------ discovery
    def _group_versions(self) -> dict[str, list[str]]:
        gvs = kinds.group_versions()
        if self.parts.gateway is not None:
            gvs[GATEWAY_GROUP] = [GATEWAY_VERSION]
        return gvs

    def _group(self, name: str):
        vs = self._group_versions().get(name)
        if not vs:
            return None
        versions = [{"groupVersion": f"{name}/{v}", "version": v} for v in vs]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": name,
            "versions": versions,
            "preferredVersion": versions[0],
        }

    def _group_list(self):
        groups = []
        for name in self._group_versions():
            if name:
                g = self._group(name)
                g.pop("kind")
                g.pop("apiVersion")
                groups.append(g)
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def _resource_list(self, group: str, version: str):
        if self.parts.gateway is not None and (group, version) == (GATEWAY_GROUP, GATEWAY_VERSION):
            return {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": f"{group}/{version}",
                "resources": self.parts.gateway.discovery(),
            }
        res = []
        found = False
        for k in kinds.all_kinds():
            if k.group != group or k.version != version:
                continue
            found = True
            r = {
                "name": k.plural,
                "singularName": k.singular,
                "namespaced": k.namespaced,
                "kind": k.kind,
                "verbs": k.verbs,
            }
            if k.short_names:
                r["shortNames"] = k.short_names
            if k.categories:
                r["categories"] = k.categories
            res.append(r)
            res += [_subresource(k, sub) for sub in k.subresources]
        if not found:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        gv = f"{group}/{version}" if group else version
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": res}

    # ------------------------------------------------------------------ resources
    async def handle_resource(self, request: web.Request, t: Target, q: Query):
        if t.name is None:
            handler = self._collection.get(request.method)
        else:
            handler = self._subresource.get(t.sub or "") or self._object.get(request.method)
        if handler is None:
            raise errors.method_not_allowed(f"{request.method} is not supported")
        return await handler(request, t, q)

    async def list_or_watch(self, request: web.Request, t: Target, q: Query):
        if q.flag("watch"):
            return await self.watch(request, t, q)
        kind = t.kind
        items, rv = self.store.list(kind, t.namespace, q.get("labelSelector"), q.get("fieldSelector"))
        if tables.wants_table(request.headers.get("Accept", "")):
            return _json(tables.to_table(kind.kind, items, rv))
        return _json(
            {
                "kind": kind.kind + "List",
                "apiVersion": kind.api_version,
                "metadata": {"resourceVersion": rv},
                "items": items,
            }
        )

    async def create(self, request: web.Request, t: Target, q: Query):
        kind = t.kind
        if t.namespace is None and kind.namespaced:
            raise errors.method_not_allowed("POST is not supported on a cluster-scoped collection path")
        obj = self._check_body(kind, await read_body(request), t.namespace, None)
        if obj.get("metadata", {}).get("resourceVersion"):
            raise errors.bad_request("resourceVersion should not be set on objects to be created")
        if kind.has_status:
            obj.pop("status", None)
        if q.get("dryRun"):
            return _json(obj, 201)
        return _json(self.store.create(kind, obj), 201)

    async def delete_collection(self, request: web.Request, t: Target, q: Query):
        kind = t.kind
        items, _ = self.store.list(kind, t.namespace, q.get("labelSelector"), q.get("fieldSelector"))
        out = []
        for it in items:
            md = it["metadata"]
            try:
                o, _ = self.store.delete(kind, md.get("namespace"), md["name"])
                out.append(o)
            except ApiError:
                pass  # gone meanwhile, or held by a finalizer: not in the list of deleted objects
        return _json(
            {
                "kind": kind.kind + "List",
                "apiVersion": kind.api_version,
                "metadata": {"resourceVersion": str(self.store.rv)},
                "items": out,
            }
        )

    async def exec(self, request: web.Request, t: Target, q: Query):
        pod = self.store.get(t.kind, t.namespace, t.name)
        return await streams.handle_exec(self.parts.pods, self.open_streams, request, pod, q)

    async def attach(self, request: web.Request, t: Target, q: Query):
        self.store.get(t.kind, t.namespace, t.name)  # 404 first, as the real server
        raise errors.bad_request("attach is not supported by velasandbox")

    async def portforward(self, request: web.Request, t: Target, q: Query):
        pod = self.store.get(t.kind, t.namespace, t.name)
        return await streams.handle_portforward(self.parts.pods, self.open_streams, request, pod, q)

    async def log(self, request: web.Request, t: Target, q: Query):
        pod = self.store.get(t.kind, t.namespace, t.name)
        log_file = self.parts.pods.log_file(pod, q.get("container"), q.flag("previous"))
        return await podlogs.serve_log(request, log_file, q, self.open_streams)

    async def get(self, request: web.Request, t: Target, q: Query):
        obj = self.store.get(t.kind, t.namespace, t.name)
        if t.sub is None and tables.wants_table(request.headers.get("Accept", "")):
            return _json(tables.to_table(t.kind.kind, [obj]))
        return _json(obj)

    async def replace(self, request: web.Request, t: Target, q: Query):
        obj = self._check_body(t.kind, await read_body(request), t.namespace, t.name)
        if q.get("dryRun"):
            return _json(obj)
        return _json(self.store.update(t.kind, obj, subresource="status" if t.sub == "status" else None))

    def _check_body(self, kind, body, namespace, name):
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request must be an object")
        obj = copy.deepcopy(body)
        md = obj.setdefault("metadata", {}) or {}
        obj["metadata"] = md
        if kind.namespaced and namespace:
            if md.get("namespace") and md["namespace"] != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            md["namespace"] = namespace
        if name is not None:
            if md.get("name") and md["name"] != name:
                raise errors.bad_request(
                    f"the name of the object ({md['name']}) does not match the name on the URL ({name})"
                )
            md["name"] = name
        if obj.get("kind") and obj["kind"] != kind.kind and obj["kind"] != "Scale":
            raise errors.bad_request(f"the body kind {obj['kind']!r} does not match {kind.kind!r}")
        return obj

    def _apply_patch(self, kind, current, request_ctype, body):
        ctype = (request_ctype or "").split(";")[0].strip()
        if ctype == "application/json-patch+json":
            return patchmod.json_patch(current, body)
        if ctype == "application/merge-patch+json":
            return patchmod.merge_patch(current, body)
        if ctype == "application/strategic-merge-patch+json":
            if not kind.builtin:
                raise errors.unsupported_media_type(ctype)
            return patchmod.strategic_merge(current, body)
        if ctype == "application/apply-patch+yaml":
            # Server-side apply, approximated: merge the applied configuration into the object.
            if kind.builtin:
                return patchmod.strategic_merge(current, body)
            return patchmod.merge_patch(current, body)
        raise errors.unsupported_media_type(ctype)

    async def patch(self, request, t: Target, q: Query):
        kind = t.kind
        raw = await request.read()
        ctype = request.headers.get("Content-Type", "")
        try:
            body = yaml.safe_load(raw) if "yaml" in ctype else json.loads(raw or b"null")
        except (ValueError, yaml.YAMLError) as e:
            raise errors.bad_request(f"unable to decode patch: {e}") from None
        current = self.store.try_get(kind, t.namespace, t.name)
        if current is None:
            if ctype.startswith("application/apply-patch") and isinstance(body, dict):
                obj = self._check_body(kind, body, t.namespace, t.name)
                return _json(self.store.create(kind, obj), 201)
            raise errors.not_found(kind, t.name)
        new = self._apply_patch(kind, current, ctype, body)
        if not isinstance(new, dict):
            raise errors.bad_request("patch result is not an object")
        new.setdefault("metadata", {})
        # identity fields cannot be patched away
        new["metadata"]["name"] = t.name
        if kind.namespaced:
            new["metadata"]["namespace"] = t.namespace
        if q.get("dryRun"):
            return _json(new)
        sub = "status" if t.sub == "status" else None
        return _json(self.store.update(kind, new, subresource=sub, require_rv=False))

    async def delete(self, request, t: Target, q: Query):
        kind = t.kind
        body = None
        try:
            body = await read_body(request)
        except ApiError:
            body = None
        body = body if isinstance(body, dict) else {}
        grace = body.get("gracePeriodSeconds", q.get("gracePeriodSeconds"))
        policy = body.get("propagationPolicy") or q.get("propagationPolicy")
        if body.get("orphanDependents") is True:
            policy = "Orphan"
        cur = self.store.get(kind, t.namespace, t.name)
        if policy == "Orphan":
            self.parts.orphan(cur["metadata"]["uid"])
        obj, removed = self.store.delete(
            kind, t.namespace, t.name, body.get("preconditions"), grace=int(grace) if grace is not None else None
        )
        if kind.key == ("", "pods") or not removed:
            return _json(obj)
        return _json(
            errors.success_status(
                {"name": t.name, "group": kind.group, "kind": kind.plural, "uid": obj["metadata"].get("uid")}
            )
        )

    async def scale(self, request, t: Target, q: Query):
        kind = t.kind
        obj = self.store.get(kind, t.namespace, t.name)

        def to_scale(o):
            md = o["metadata"]
            sel = (o.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
            return {
                "kind": "Scale",
                "apiVersion": "autoscaling/v1",
                "metadata": {
                    k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in md
                },
                "spec": {"replicas": o.get("spec", {}).get("replicas", 1)},
                "status": {
                    "replicas": o.get("status", {}).get("replicas", 0),
                    "selector": ",".join(f"{k}={v}" for k, v in sel.items()),
                },
            }

        if request.method == "GET":
            return _json(to_scale(obj))
        if request.method == "PUT":
            body = await read_body(request) or {}
        elif request.method == "PATCH":
            raw = await request.read()
            ctype = request.headers.get("Content-Type", "")
            body = self._apply_patch(kind, to_scale(obj), ctype, json.loads(raw or b"null"))
        else:
            raise errors.method_not_allowed(f"{request.method} is not supported")
        rv = (body.get("metadata") or {}).get("resourceVersion")
        if rv and rv != obj["metadata"]["resourceVersion"]:
            raise errors.conflict(kind, t.name)
        obj.setdefault("spec", {})["replicas"] = int((body.get("spec") or {}).get("replicas", 0))
        new = self.store.update(kind, obj, require_rv=False)
        return _json(to_scale(new))

    # ------------------------------------------------------------------ watch
    async def watch(self, request: web.Request, t: Target, q: Query):
        rv = q.get("resourceVersion")
        timeout = q.get("timeoutSeconds")
        try:
            w = self.store.watch(
                t.kind,
                t.namespace,
                rv,
                q.get("labelSelector"),
                q.get("fieldSelector"),
                send_initial_events=q.flag("sendInitialEvents"),
                bookmarks=q.flag("allowWatchBookmarks"),
            )
        except ApiError as e:
            if e.code != 410:
                raise
            resp = await _watch_response(request)
            await resp.write((json.dumps({"type": "ERROR", "object": e.status()}) + "\n").encode())
            await resp.write_eof()
            return resp
        resp = await _watch_response(request)
        self.open_watches.add(w)
        as_table = tables.wants_table(request.headers.get("Accept", ""))
        first_table = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(timeout) if timeout else None
        try:
            while (item := await _next_event(w.queue, deadline)) is not None:
                typ, obj = item
                if as_table and typ in ("ADDED", "MODIFIED", "DELETED"):
                    obj = tables.to_table(t.kind.kind, [obj])
                    if not first_table:
                        obj["columnDefinitions"] = []  # headers only with the first event
                    first_table = False
                await resp.write((json.dumps({"type": typ, "object": obj}) + "\n").encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            w.close()
            self.open_watches.discard(w)
        try:
            await resp.write_eof()
        except (OSError, RuntimeError):  # the client has gone
            pass
        return resp
