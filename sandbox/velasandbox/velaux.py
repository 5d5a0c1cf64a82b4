"""The VelaUX stand-in: the trigger webhook, login, and the workflow-record actions, on its
own 127.0.0.1 port (plain HTTP, like VelaUX behind ``vela port-forward``).
It follows ``kubevela/velaux`` v1.9.5 (``pkg/server/interfaces/api/webhook.go``,
``pkg/server/domain/service/webhook.go``, ``pkg/server/domain/service/workflow.go``).

Routes:

* ``POST /api/v1/webhook/{token}`` -- no auth; the token is the credential. Unknown token:
  400 ``{"BusinessCode":10021,"Message":"Invalid webhook token"}``. The ``custom`` payload:
  ``upgrade`` is keyed by **component** name; each value is deep-merged (mergo override,
  lists replaced: :func:`velasandbox.kubevela.render.mergo_override`) into that component's properties; an
  unknown component gives 404 / 10008. The Application then gets a new
  ``app.oam.dev/publishVersion`` ``<workflowName>-<yyyyMMddHHmmssSSS>`` (and
  ``app.oam.dev/deployVersion``) and the label ``app.oam.dev/source-of-truth: from-velaux``,
  so the workflow runs again; ``codeInfo`` is kept in the workflow record.
  ``action: approve`` resumes, ``terminate`` terminates.
* ``POST /api/v1/auth/login`` ``{username, password}`` -> ``{user, accessToken, refreshToken}``;
  ``GET /api/v1/auth/refresh_token`` (header ``RefreshToken``).
* With ``Authorization: Bearer <accessToken>`` (401 without):
  ``GET /api/v1/applications/{app}/workflows/{wf}/records[/{record}]``,
  ``GET .../records/{record}/resume[?step=]`` and ``.../terminate`` (the same operations as
  ``vela workflow resume``/``terminate``: :mod:`velasandbox.kubevela.operations`),
  ``POST|GET /api/v1/applications/{app}/triggers``.

The stand-in's "VelaUX application" is the Application object itself: ``{app}`` is its name,
looked up in the namespace its triggers were made for, else the only namespace that has one.
Tokens, passwords and access tokens are never logged (aiohttp's access log is off).
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import logging
import os
import secrets
import string
import threading
import time
from typing import Any

from aiohttp import web

from . import kinds

log = logging.getLogger("velasandbox.velaux")

ADMIN_USER = "admin"
TOKEN_ALPHABET = string.ascii_lowercase + string.digits
PUBLISH_VERSION = "app.oam.dev/publishVersion"
DEPLOY_VERSION = "app.oam.dev/deployVersion"
SOURCE_OF_TRUTH = "app.oam.dev/source-of-truth"


class BError(Exception):
    """A VelaUX business error: HTTP status + {BusinessCode, Message}."""

    def __init__(self, status: int, code: int, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


ERR_TOKEN = BError(400, 10021, "Invalid webhook token")
ERR_PAYLOAD_TYPE = BError(400, 10022, "Invalid payload type")
ERR_PAYLOAD = BError(400, 10023, "Invalid webhook payload body")
ERR_COMPONENT = BError(404, 10008, "application component is not exist")
ERR_APP = BError(404, 10012, "application name is not exist")
ERR_NOT_AUTHORIZED = BError(401, 12006, "the user is not authorized")
ERR_UNAUTHORIZED = BError(401, 12004, "the token is invalid")
ERR_LOGIN = BError(401, 12006, "the user is not authorized")


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(obj), status=status, content_type="application/json")


def _now_ms_stamp() -> str:
    """VelaUX's publishVersion suffix: yyyyMMddHHmmssSSS."""
    t = _dt.datetime.now()
    return t.strftime("%Y%m%d%H%M%S") + f"{t.microsecond // 1000:03d}"


class VelaUX:
    def __init__(self, sandbox, port: int = 0, host: str = "127.0.0.1"):
        self.sb = sandbox
        self.host = host
        self.port = port
        self.dir = os.path.join(sandbox.state_dir, "velaux")
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self.admin_password = self._secret_file("admin-password", lambda: secrets.token_urlsafe(12))
        self.triggers: dict[str, dict] = self._load("triggers.json", {})
        self.records: dict[str, list[dict]] = self._load("records.json", {})
        self.access: dict[str, float] = {}
        self.refresh: dict[str, float] = {}
        self.runner: web.AppRunner | None = None
        self._last_stamp = ""

    # ------------------------------------------------------------------ state
    def _secret_file(self, name: str, make) -> str:
        p = os.path.join(self.dir, name)
        if os.path.exists(p):
            with open(p) as f:
                return f.read().strip()
        v = make()
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(v)
        return v

    def _load(self, name: str, default):
        try:
            with open(os.path.join(self.dir, name)) as f:
                return json.load(f)
        except (FileNotFoundError, ValueError):
            return default

    def _save(self, name: str, data):
        p = os.path.join(self.dir, name)
        fd = os.open(p + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        os.replace(p + ".tmp", p)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------ lifecycle
    async def start(self):
        app = web.Application(middlewares=[self._errors])
        r = app.router
        r.add_post("/api/v1/webhook/{token}", self.webhook)
        r.add_post("/api/v1/auth/login", self.login)
        r.add_get("/api/v1/auth/refresh_token", self.refresh_token)
        base = "/api/v1/applications/{app}"
        r.add_get(base + "/triggers", self.list_triggers)
        r.add_post(base + "/triggers", self.create_trigger_api)
        r.add_get(base + "/workflows/{wf}/records", self.list_records)
        r.add_get(base + "/workflows/{wf}/records/{record}", self.get_record)
        r.add_get(base + "/workflows/{wf}/records/{record}/resume", self.record_resume)
        r.add_get(base + "/workflows/{wf}/records/{record}/terminate", self.record_terminate)
        self.runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.5)
        await self.runner.setup()
        port = self.port or self._previous_port()
        site = web.TCPSite(self.runner, self.host, port, reuse_address=True)
        try:
            await site.start()
        except OSError:
            if self.port or not port:
                raise
            site = web.TCPSite(self.runner, self.host, 0, reuse_address=True)  # taken: any port
            await site.start()
        self.port = self.runner.addresses[0][1]  # the site that started (a failed one has no socket)
        with open(os.path.join(self.dir, "port"), "w") as f:
            f.write(str(self.port))

    def _previous_port(self) -> int:
        """The port of the last run on this state directory (stable URLs across restarts)."""
        try:
            with open(os.path.join(self.dir, "port")) as f:
                return int(f.read().strip())
        except (FileNotFoundError, ValueError):
            return 0

    async def stop(self):
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    @web.middleware
    async def _errors(self, request: web.Request, handler):
        try:
            return await handler(request)
        except BError as e:
            return _json({"BusinessCode": e.code, "Message": e.message}, e.status)
        except web.HTTPException:
            raise
        except Exception as e:  # noqa: BLE001 - never log the path: it may hold a token
            log.error("VelaUX stand-in: %s on %s", type(e).__name__, request.method)
            return _json({"BusinessCode": 500, "Message": str(e)}, 500)

    # ------------------------------------------------------------------ helpers (thread-safe API for tests/demo)
    def create_trigger(
        self,
        app: str,
        namespace: str = "default",
        workflow: str = "workflow-default",
        name: str | None = None,
        payload_type: str = "custom",
        component: str = "",
    ) -> str:
        """Create a webhook trigger for an Application; returns its token (a secret).
        Thread-safe: from another thread it runs on the sandbox loop."""
        loop = self.sb.loop
        if loop is not None and loop.is_running() and threading.get_ident() != self.sb.thread.ident:

            async def go():
                return self.create_trigger(app, namespace, workflow, name, payload_type, component)

            return self.sb.call(go())
        token = "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(16))
        now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.triggers[token] = {
            "name": name or f"{app}-trigger",
            "alias": "",
            "description": "",
            "app": app,
            "namespace": namespace,
            "workflowName": workflow,
            "type": "webhook",
            "payloadType": payload_type,
            "componentName": component,
            "registry": "",
            "createTime": now,
            "updateTime": now,
        }
        self._save("triggers.json", self.triggers)
        return token

    def _resolve_ns(self, app: str) -> str:
        for t in self.triggers.values():
            if t["app"] == app:
                return t["namespace"]
        k = kinds.lookup("core.oam.dev", "v1beta1", "applications")
        found = [o["metadata"]["namespace"] for o in self.sb.store.iter_raw(k) if o["metadata"]["name"] == app]
        if len(found) == 1:
            return found[0]
        raise ERR_APP

    def _app(self, app: str, namespace: str) -> dict:
        k = kinds.lookup("core.oam.dev", "v1beta1", "applications")
        obj = self.sb.store.try_get(k, namespace, app)
        if obj is None:
            raise ERR_APP
        return obj

    def _auth(self, request: web.Request):
        h = request.headers.get("Authorization", "")
        tok = h[len("Bearer ") :] if h.startswith("Bearer ") else ""
        if not tok:
            raise ERR_NOT_AUTHORIZED
        exp = self.access.get(tok)
        if exp is None or exp < time.time():
            raise ERR_UNAUTHORIZED

    # ------------------------------------------------------------------ auth
    async def login(self, request: web.Request):
        try:
            body = await request.json()
        except ValueError:
            raise BError(400, 10003, "the body is invalid") from None
        if not (
            isinstance(body, dict)
            and body.get("username") == ADMIN_USER
            and secrets.compare_digest(str(body.get("password", "")), self.admin_password)
        ):
            raise ERR_LOGIN
        return _json(self._tokens())

    def _tokens(self) -> dict:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.access[access] = time.time() + 12 * 3600
        self.refresh[refresh] = time.time() + 7 * 24 * 3600
        return {
            "user": {"name": ADMIN_USER, "alias": "Administrator", "disabled": False},
            "accessToken": access,
            "refreshToken": refresh,
        }

    async def refresh_token(self, request: web.Request):
        tok = request.headers.get("RefreshToken", "")
        exp = self.refresh.pop(tok, None)
        if exp is None or exp < time.time():
            raise ERR_UNAUTHORIZED
        t = self._tokens()
        return _json({"accessToken": t["accessToken"], "refreshToken": t["refreshToken"]})

    # ------------------------------------------------------------------ triggers
    async def list_triggers(self, request: web.Request):
        self._auth(request)
        app = request.match_info["app"]
        out = [
            dict({k: v for k, v in t.items() if k not in ("app", "namespace")}, token=tok)
            for tok, t in self.triggers.items()
            if t["app"] == app
        ]
        return _json({"triggers": out})

    async def create_trigger_api(self, request: web.Request):
        self._auth(request)
        app = request.match_info["app"]
        body = await request.json()
        ns = body.get("namespace") or self._resolve_ns(app)
        self._app(app, ns)
        tok = self.create_trigger(
            app,
            ns,
            body.get("workflowName") or "workflow-default",
            body.get("name"),
            body.get("payloadType") or "custom",
            body.get("componentName") or "",
        )
        t = dict({k: v for k, v in self.triggers[tok].items() if k not in ("app", "namespace")}, token=tok)
        return _json(t)

    # ------------------------------------------------------------------ webhook
    async def webhook(self, request: web.Request):
        trig = self.triggers.get(request.match_info["token"])
        if trig is None:
            raise ERR_TOKEN
        if trig["payloadType"] != "custom":
            raise ERR_PAYLOAD_TYPE
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            raise ERR_PAYLOAD from None
        if not isinstance(body, dict):
            raise ERR_PAYLOAD
        action = body.get("action") or "execute"
        ns, name = trig["namespace"], trig["app"]
        from .kubevela import operations as ops

        if action == "approve":
            self._operate(ops.resume, ns, name, body.get("step") or None, False)
            return _json(self._latest_record(name, trig["workflowName"]))
        if action == "terminate":
            self._operate(ops.terminate, ns, name)
            return _json(self._latest_record(name, trig["workflowName"]))
        if action != "execute":
            raise BError(400, 10023, f'velasandbox does not emulate the webhook action "{action}"')
        return _json(self._execute(trig, body))

    def _operate(self, op, ns: str, name: str, *args):
        from .kubevela.operations import OperationError

        app = self._app(name, ns)
        wf = (app.get("status") or {}).get("workflow")
        if wf and not wf.get("suspend") and not wf.get("terminated") and not wf.get("finished"):
            raise BError(500, 500, "workflow is still running, can not operate a running workflow")
        try:
            op(self.sb.store, ns, name, *args)
        except OperationError as e:
            raise BError(500, 500, str(e)) from None

    def _execute(self, trig: dict, body: dict) -> dict:
        from .kubevela.render import mergo_override

        ns, name, wf_name = trig["namespace"], trig["app"], trig["workflowName"]
        k = kinds.lookup("core.oam.dev", "v1beta1", "applications")
        app = self._app(name, ns)
        comps = (app.get("spec") or {}).get("components") or []
        upgrade = body.get("upgrade") or {}
        if not isinstance(upgrade, dict):
            raise ERR_PAYLOAD
        for cname, props in upgrade.items():
            comp = next((c for c in comps if c.get("name") == cname), None)
            if comp is None:
                raise ERR_COMPONENT
            comp["properties"] = mergo_override(comp.get("properties") or {}, props or {})
        stamp = _now_ms_stamp()
        while stamp <= self._last_stamp:  # two triggers in one millisecond stay distinct
            stamp = str(int(stamp) + 1)
        self._last_stamp = stamp
        version = f"{wf_name}-{stamp}"
        md = app["metadata"]
        md.setdefault("annotations", {})[PUBLISH_VERSION] = version
        md["annotations"][DEPLOY_VERSION] = stamp
        md.setdefault("labels", {})[SOURCE_OF_TRUTH] = "from-velaux"
        self.sb.store.update(k, app, require_rv=True)
        now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        record = {
            "name": version,
            "namespace": ns,
            "workflowName": wf_name,
            "workflowAlias": "",
            "applicationRevision": version,
            "startTime": now,
            "status": "initializing",
            "message": "",
            "mode": "",
            "note": "triggered by webhook custom",
            "triggerType": "webhook",
            "codeInfo": body.get("codeInfo") or None,
        }
        self.records.setdefault(name, []).append(record)
        self._save("records.json", self.records)
        return {
            "createTime": now,
            "version": version,
            "status": "running",
            "note": record["note"],
            "envName": "",
            "triggerType": "webhook",
            "workflowName": wf_name,
            "codeInfo": body.get("codeInfo") or None,
            "record": {
                k2: record[k2]
                for k2 in (
                    "name",
                    "namespace",
                    "workflowName",
                    "workflowAlias",
                    "applicationRevision",
                    "startTime",
                    "status",
                    "message",
                    "mode",
                )
            },
        }

    # ------------------------------------------------------------------ records
    def _live_record(self, app: str, rec: dict) -> dict:
        """A record, with its status from the Application when it is the current run."""
        out = copy.deepcopy(rec)
        try:
            obj = self._app(app, rec["namespace"])
        except BError:
            return out
        wf = (obj.get("status") or {}).get("workflow") or {}
        if wf.get("appRevision") == rec["name"]:
            out["status"] = wf.get("status", out["status"])
            out["mode"] = wf.get("mode", "")
            out["message"] = wf.get("message", "")
            out["steps"] = wf.get("steps") or []
            if wf.get("endTime"):
                out["endTime"] = wf["endTime"]
        return out

    def _latest_record(self, app: str, wf_name: str) -> dict:
        recs = [r for r in self.records.get(app, []) if r["workflowName"] == wf_name]
        return self._live_record(app, recs[-1]) if recs else {}

    async def list_records(self, request: web.Request):
        self._auth(request)
        app, wf = request.match_info["app"], request.match_info["wf"]
        recs = [self._live_record(app, r) for r in self.records.get(app, []) if r["workflowName"] == wf]
        return _json({"records": recs, "total": len(recs)})

    async def get_record(self, request: web.Request):
        self._auth(request)
        app, rec = request.match_info["app"], request.match_info["record"]
        for r in self.records.get(app, []):
            if r["name"] == rec:
                return _json(self._live_record(app, r))
        raise BError(404, 10016, "workflow record is not exist")

    async def record_resume(self, request: web.Request):
        """``GET .../records/{record}/resume[?step=]``: {record} is not used, as in VelaUX."""
        self._auth(request)
        app = request.match_info["app"]
        from .kubevela import operations as ops

        self._operate(ops.resume, self._resolve_ns(app), app, request.query.get("step") or None, False)
        return _json({})

    async def record_terminate(self, request: web.Request):
        self._auth(request)
        app = request.match_info["app"]
        from .kubevela import operations as ops

        self._operate(ops.terminate, self._resolve_ns(app), app)
        return _json({})
