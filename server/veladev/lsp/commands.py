"""What the command features share (delivery, logs): the one object argument, the Application
file it names, the configured cluster, and `run_command`, which runs a command's blocking work
in a worker thread under work-done progress and answers {"ok", "message", ...} with one message.
`Progress` (work-done progress for one request) also serves dev mode's commands.
"""

from __future__ import annotations

import asyncio
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
from ..delivery.workflow import WorkflowError
from .server import VelaLanguageServer

log = logging.getLogger("veladev.lsp.commands")

USER_ERRORS = (ClusterError, DeployError, PushError, TriggerError, WorkflowError, CiError, LogsError)


class CommandError(Exception):
    """Wrong arguments to a command: a sentence for the user."""


def command_arg(args: tuple) -> dict[str, Any]:
    if len(args) != 1 or not isinstance(args[0], dict):
        raise CommandError('expects one object argument, e.g. {"uri": "file:///.../app.yaml"}')
    return args[0]


class Progress:
    """Work-done progress for one request, when the client supports it (else nothing is sent)."""

    def __init__(self, ls: VelaLanguageServer, token: str | None):
        self.ls, self.token = ls, token
        self.loop = asyncio.get_running_loop()

    @classmethod
    async def start(cls, ls: VelaLanguageServer, title: str) -> Progress:
        caps = ls.client_capabilities.window if ls.client_capabilities else None
        token: str | None = None
        if caps and caps.work_done_progress:
            token = f"veladev-{uuid.uuid4().hex[:12]}"
            try:
                await ls.work_done_progress.create_async(token)
                ls.work_done_progress.begin(token, lsp.WorkDoneProgressBegin(title=title, cancellable=False))
            except Exception as exc:  # noqa: BLE001 -- any client refusal of progress; the result still comes
                log.info("no progress for %s: %s", title, exc)
                token = None
        return cls(ls, token)

    def report(self, message: str) -> None:
        """From any thread."""
        if self.token is not None:
            self.loop.call_soon_threadsafe(
                self.ls.work_done_progress.report, self.token, lsp.WorkDoneProgressReport(message=message)
            )

    def end(self, message: str) -> None:
        if self.token is not None:
            self.ls.work_done_progress.end(self.token, lsp.WorkDoneProgressEnd(message=message))


async def run_command(
    ls: VelaLanguageServer, title: str, work: Callable[[Callable[[str], None]], dict[str, Any]]
) -> dict[str, Any]:
    """Run `work(report)` in a worker with work-done progress; one message at the end."""
    progress = await Progress.start(ls, title)
    try:
        result = await asyncio.to_thread(work, progress.report)
        result = {"ok": True, **result}
    except (CommandError, *USER_ERRORS) as exc:
        result = {"ok": False, "message": f"{title} failed: {exc}"}
    except Exception as exc:  # a bug: logged with its traceback, reported as one line
        log.exception("%s failed", title)
        result = {"ok": False, "message": f"{title} failed: internal error ({type(exc).__name__}); see the server log"}
    progress.end(result["message"])
    ls.window_show_message(
        lsp.ShowMessageParams(
            lsp.MessageType.Info if result["ok"] else lsp.MessageType.Error, f"veladev: {result['message']}"
        )
    )
    live = getattr(ls, "live", None)
    if live is not None:
        live.changed()
    return result


def read_document(ls: VelaLanguageServer, a: dict[str, Any]) -> tuple[str, Path, str]:
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


def document_app(ls: VelaLanguageServer, a: dict[str, Any]) -> tuple[dict[str, Any], str, str, Path]:
    from ..delivery.deploy import application_from_text

    _, path, text = read_document(ls, a)
    app = application_from_text(text)
    ns = a.get("namespace") or app["metadata"].get("namespace") or "default"
    return app, ns, app["metadata"]["name"], path


def named_component(app: dict[str, Any], a: dict[str, Any]) -> str:
    """The component named in the arguments, or the Application's only one."""
    comps = [c.get("name") for c in (app.get("spec") or {}).get("components") or [] if isinstance(c, dict)]
    component = a.get("component") or (comps[0] if len(comps) == 1 else None)
    if not isinstance(component, str) or component not in comps:
        raise CommandError(f"name the component (the Application has: {', '.join(map(str, comps)) or 'none'})")
    return component


def app_ref(ls: VelaLanguageServer, a: dict[str, Any]) -> tuple[str, str]:
    """(namespace, name) from explicit arguments, else from the file."""
    if isinstance(a.get("application"), str) and a.get("application") and isinstance(a.get("namespace"), str):
        return a["namespace"], a["application"]
    _, ns, name, _ = document_app(ls, a)
    return ns, name


def with_cluster(ls: VelaLanguageServer, fn: Callable[[Any], Any]) -> Any:
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
