"""Delivery commands: Deploy, Push & trigger, Promote, terminate and restart the workflow, the
workflow state, the Applications of namespaces (for a tree view), and the CI snippet.

Every command takes one object ({"uri", "namespace"?, "application"?, "component"?, "step"?}),
runs its blocking work in a worker thread under work-done progress, ends with one message
(information on success, error on failure) and returns {"ok", "message", ...}. A failure
never escapes as an exception: the server keeps running and nothing is left half done unsaid.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.uris import to_fs_path

from ..cluster import ClusterConfig, ClusterError, connect
from ..delivery.ci import CiError
from ..delivery.deploy import DeployError
from ..delivery.gitpush import PushError
from ..delivery.logs import LogsError
from ..delivery.trigger import TriggerError
from ..delivery.watch import state_json
from ..delivery.workflow import WorkflowError
from .server import VelaLanguageServer

log = logging.getLogger("veladev.lsp.delivery")
USER_ERRORS = (ClusterError, DeployError, PushError, TriggerError, WorkflowError, CiError, LogsError)


class CommandError(Exception):
    """Wrong arguments to a command: a sentence for the user."""


def _arg(args: tuple) -> dict[str, Any]:
    if len(args) != 1 or not isinstance(args[0], dict):
        raise CommandError('expects one object argument, e.g. {"uri": "file:///.../app.yaml"}')
    return args[0]


async def run_command(
    ls: VelaLanguageServer, title: str, work: Callable[[Callable[[str], None]], dict[str, Any]]
) -> dict[str, Any]:
    """Run `work(report)` in a worker with work-done progress; one message at the end."""
    token: str | None = None
    caps = ls.client_capabilities.window if ls.client_capabilities else None
    if caps and caps.work_done_progress:
        token = f"veladev-{uuid.uuid4().hex[:12]}"
        try:
            await ls.work_done_progress.create_async(token)
            ls.work_done_progress.begin(token, lsp.WorkDoneProgressBegin(title=title, cancellable=False))
        except Exception as exc:  # noqa: BLE001 -- any client refusal of progress; the result still comes
            log.info("no progress for %s: %s", title, exc)
            token = None
    loop = asyncio.get_running_loop()

    def report(message: str) -> None:
        if token is not None:
            loop.call_soon_threadsafe(ls.work_done_progress.report, token, lsp.WorkDoneProgressReport(message=message))

    try:
        result = await asyncio.to_thread(work, report)
        result = {"ok": True, **result}
    except (CommandError, *USER_ERRORS) as exc:
        result = {"ok": False, "message": f"{title} failed: {exc}"}
    except Exception as exc:  # a bug: logged with its traceback, reported as one line
        log.exception("%s failed", title)
        result = {"ok": False, "message": f"{title} failed: internal error ({type(exc).__name__}); see the server log"}
    if token is not None:
        ls.work_done_progress.end(token, lsp.WorkDoneProgressEnd(message=result["message"]))
    ls.window_show_message(
        lsp.ShowMessageParams(
            lsp.MessageType.Info if result["ok"] else lsp.MessageType.Error, f"veladev: {result['message']}"
        )
    )
    live = getattr(ls, "live", None)
    if live is not None:
        live.changed()
    return result


def _document(ls: VelaLanguageServer, a: dict[str, Any]) -> tuple[str, Path, str]:
    uri = a.get("uri")
    if not isinstance(uri, str) or not uri:
        raise CommandError('needs the Application file\'s "uri"')
    path = Path(to_fs_path(uri) or "")
    doc = ls.documents.get(uri)
    if doc is not None:
        return uri, path, doc.text  # what the editor shows, saved or not
    try:
        return uri, path, path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise CommandError(f"cannot read {path}") from None


def _app(ls: VelaLanguageServer, a: dict[str, Any]) -> tuple[dict[str, Any], str, str, Path]:
    from ..delivery.deploy import application_from_text

    _, path, text = _document(ls, a)
    app = application_from_text(text)
    ns = a.get("namespace") or app["metadata"].get("namespace") or "default"
    return app, ns, app["metadata"]["name"], path


def _component(app: dict[str, Any], a: dict[str, Any]) -> str:
    """The component named in the arguments, or the Application's only one."""
    comps = [c.get("name") for c in (app.get("spec") or {}).get("components") or [] if isinstance(c, dict)]
    component = a.get("component") or (comps[0] if len(comps) == 1 else None)
    if not isinstance(component, str) or component not in comps:
        raise CommandError(f"name the component (the Application has: {', '.join(map(str, comps)) or 'none'})")
    return component


def _ref(ls: VelaLanguageServer, a: dict[str, Any]) -> tuple[str, str]:
    """(namespace, name) from explicit arguments, else from the file."""
    if isinstance(a.get("application"), str) and a.get("application") and isinstance(a.get("namespace"), str):
        return a["namespace"], a["application"]
    _, ns, name, _ = _app(ls, a)
    return ns, name


def _with_cluster(ls: VelaLanguageServer, fn: Callable[[Any], Any]) -> Any:
    config = ClusterConfig(ls.settings.kubeconfig, ls.settings.context)
    api = connect(config)
    try:
        return fn(api)
    finally:
        api.close()


class Feature:
    """One concern's commands (as esbonio groups its features): `register` adds them."""

    def __init__(self, server: VelaLanguageServer):
        self.server = server

    def register(self) -> None:
        raise NotImplementedError

    def command(self, name: str, method: Callable[..., Awaitable[dict[str, Any]]]) -> None:
        # pygls marks and inspects its handlers as plain functions (a bound method takes no marks).
        async def handler(ls: VelaLanguageServer, *args) -> dict[str, Any]:
            return await method(ls, *args)

        self.server.command(name)(handler)


class ShipFeature(Feature):
    """Deploy, Push & trigger and the CI snippet: from the Application file to the cluster."""

    def register(self) -> None:
        self.command("veladev.deploy", self.deploy)
        self.command("veladev.pushAndTrigger", self.push_and_trigger)
        self.command("veladev.writeCi", self.write_ci)

    async def deploy(self, ls: VelaLanguageServer, *args) -> dict[str, Any]:
        def work(report):
            from ..delivery.deploy import deploy

            app, ns, name, _ = _app(ls, _arg(args))
            report(f"applying {ns}/{name}")
            result = _with_cluster(ls, lambda api: deploy(api, app, ns))
            return {"message": result.summary(), "created": result.created, "changes": list(result.changes)}

        return await run_command(ls, "Deploy", work)

    async def push_and_trigger(self, ls: VelaLanguageServer, *args) -> dict[str, Any]:
        def work(report):
            from ..delivery.pushtrigger import push_and_trigger, read_token

            a = _arg(args)
            app, ns, name, path = _app(ls, a)
            component = _component(app, a)
            s = ls.settings
            if not s.imageTemplate:
                raise CommandError("set veladev.imageTemplate (e.g. registry.example.com/app:{short_commit}) first")
            token = read_token(token_file=s.velauxTokenFile) if s.velauxUrl else ""
            report("git push")

            def ship(api):
                return push_and_trigger(path.parent, api, ns, name, component, s.imageTemplate, s.velauxUrl, token)

            shipped = ship(None) if s.velauxUrl else _with_cluster(ls, ship)
            return {
                "message": shipped.summary(),
                "image": shipped.image,
                "commit": shipped.pushed.commit,
                "via": shipped.via,
            }

        return await run_command(ls, "Push & trigger", work)

    async def write_ci(self, ls: VelaLanguageServer, *args) -> dict[str, Any]:
        def work(report):
            from ..delivery.ci import write_ci

            a = _arg(args)
            app, _, _, path = _app(ls, a)
            component = _component(app, a)
            template = ls.settings.imageTemplate or "registry.example.com/" + str(component) + ":{short_commit}"
            target = a.get("target") or "gitlab"
            written = write_ci(
                path.parent, target, component, template, a.get("branch") or "main", bool(a.get("overwrite"))
            )
            return {
                "message": f"wrote {written.name}; set the CI secret variable VELAUX_WEBHOOK_URL "
                f"to <VelaUX>/api/v1/webhook/<token>",
                "path": str(written),
            }

        return await run_command(ls, "Write CI snippet", work)


#: Workflow operations: (command, operation, title).
WORKFLOW_OPERATIONS = (
    ("veladev.promote", "resume", "Promote"),
    ("veladev.workflow.terminate", "terminate", "Terminate workflow"),
    ("veladev.workflow.restart", "restart", "Restart workflow"),
)


class WorkflowFeature(Feature):
    """Promote, terminate and restart the workflow, and the Application's status."""

    def register(self) -> None:
        for command, op, title in WORKFLOW_OPERATIONS:
            self.command(command, functools.partial(self.operate, op=op, title=title))
        self.command("veladev.status", self.status)

    async def operate(self, ls: VelaLanguageServer, *args, op: str, title: str) -> dict[str, Any]:
        def work(report):
            a = _arg(args)
            ns, name = _ref(ls, a)
            report(f"{op} {ns}/{name}")
            state, msg = _with_cluster(ls, lambda api: _workflow_operation(api, op, ns, name, a.get("step")))
            return {"message": msg, "state": state_json(state)}

        return await run_command(ls, title, work)

    async def status(self, ls: VelaLanguageServer, *args) -> dict[str, Any]:
        def work(report):
            from ..delivery.status import application_status, describe_status, status_json

            ns, name = _ref(ls, _arg(args))
            status = _with_cluster(ls, lambda api: application_status(api, ns, name))
            return {
                "message": " | ".join(line.strip() for line in describe_status(status)),
                "state": state_json(status.workflow),
                "status": status_json(status),
            }

        return await run_command(ls, "Status", work)


def _workflow_operation(api, op: str, ns: str, name: str, step: str | None):
    """(state, message) after resume, terminate or restart."""
    from ..delivery import operations

    if op == "resume":
        return operations.resume(api, ns, name, step), f"promoted {ns}/{name}" + (f" (step {step})" if step else "")
    if op == "terminate":
        return operations.terminate(api, ns, name), f"terminated the workflow of {ns}/{name}"
    return operations.restart(api, ns, name), f"restarted the workflow of {ns}/{name}"


class ApplicationsFeature(Feature):
    """The Applications of namespaces for a tree view: phase, steps, each component's health
    per cluster and each deploy step's placements (quiet: a view polls this, so no message on
    success)."""

    def register(self) -> None:
        self.command("veladev.applications", self.applications)

    async def applications(self, ls: VelaLanguageServer, *args) -> dict[str, Any]:
        a = args[0] if args and isinstance(args[0], dict) else {}
        namespaces = [n for n in a.get("namespaces") or ["default"] if isinstance(n, str)]

        def listing(api) -> dict[str, Any]:
            from ..delivery.status import applications_status, status_json

            out = []
            for status, app in applications_status(api, namespaces):
                comps = [c.get("name") for c in (app.get("spec") or {}).get("components") or [] if isinstance(c, dict)]
                out.append({**status_json(status), "components": comps})
            return {"applications": out}

        try:
            return {"ok": True, **await asyncio.to_thread(_with_cluster, ls, listing)}
        except ClusterError as exc:
            return {"ok": False, "message": str(exc), "applications": []}


def register(server: VelaLanguageServer) -> None:
    for feature in (ShipFeature, WorkflowFeature, ApplicationsFeature):
        feature(server).register()
