"""Dev mode through `workspace/executeCommand`: the server hosts each editor's dev sessions
(sync, forwards, run) and tells the client how they are doing.

Every command takes one object {"uri", "component"?, "namespace"?}. Cluster work runs in
worker threads; long steps report work-done progress. Errors answer the request with the
engine's sentence. On shutdown the hosted parts stop; workloads stay in dev mode.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.uris import to_fs_path

from .convert import dev_state_params, dev_status_entry, run_output_params
from .server import VelaLanguageServer

log = logging.getLogger("veladev.lsp.devmode")

PREFIX = "veladev.dev."
DEV_STATE = "veladev/devState"
RUN_OUTPUT = "veladev/runOutput"
REQUEST_FAILED = -32803  # LSP ErrorCodes.RequestFailed


@dataclass(frozen=True, slots=True)
class Target:
    uri: str
    path: Path
    component: str | None
    namespace: str | None


def parse_target(args: tuple[Any, ...]) -> Target:
    if len(args) != 1 or not isinstance(args[0], dict):
        raise JsonRpcInvalidParams('dev-mode commands take one object {"uri", "component"?, "namespace"?}')
    arg = args[0]
    uri = arg.get("uri")
    if not isinstance(uri, str) or not uri.startswith("file:"):
        raise JsonRpcInvalidParams('"uri" must be the file: URI of an Application file')
    for key in ("component", "namespace"):
        if arg.get(key) is not None and not isinstance(arg.get(key), str):
            raise JsonRpcInvalidParams(f'"{key}" must be a string')
    path = to_fs_path(uri)
    if not path:
        raise JsonRpcInvalidParams(f"{uri} is not a local file")
    return Target(uri, Path(path), arg.get("component") or None, arg.get("namespace") or None)


def _failed(exc: Exception) -> JsonRpcException:
    return JsonRpcException(message=str(exc), code=REQUEST_FAILED)


class _Notifier:
    """Sends one session's state changes and run output to the client (from any thread)."""

    def __init__(self, host: DevHost, target: Target):
        self.host, self.target = host, target
        self.session: Any = None

    def _names(self) -> tuple[str | None, str | None]:
        if self.session is None:
            return self.target.component, self.target.namespace
        return self.session.cfg.component, self.session.workload.ref.namespace

    def on_state(self, state) -> None:
        self.host.notify(DEV_STATE, dev_state_params(self.target.uri, *self._names(), state))

    def on_output(self, text: str) -> None:
        self.host.notify(RUN_OUTPUT, run_output_params(self.target.uri, self._names()[0], text))


class DevHost:
    """The dev sessions of one editor, one per (file, component, namespace) as resolved, so a
    command naming the component and one leaving it out reach the same session."""

    def __init__(self, ls: VelaLanguageServer):
        self.ls = ls
        self.loop: asyncio.AbstractEventLoop | None = None  # the server's, set by the first command
        self.sessions: dict[tuple[str, str, str], Any] = {}  # resolved key -> DevSession
        self.aliases: dict[tuple[str, str, str], tuple[str, str, str]] = {}  # as the client named it
        self.clients: dict[tuple[str, str, str], Any] = {}  # resolved key -> its ApiClient
        self._lock = threading.Lock()

    def notify(self, method: str, params: dict[str, Any]) -> None:
        """A notification, sent from the event loop whichever thread asks."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.ls.protocol.notify, method, params)
            live = getattr(self.ls, "live", None)  # the code lenses show the dev state too
            if method == DEV_STATE and live is not None:
                self.loop.call_soon_threadsafe(live.set_dev_state, params)

    @staticmethod
    def _alias(target: Target) -> tuple[str, str, str]:
        return (target.uri, target.component or "", target.namespace or "")

    # -- sessions (blocking: call from worker threads)
    def session(self, target: Target):
        from ..cluster import ClusterConfig, connect
        from ..devmode.session import DevSession

        with self._lock:
            found = self.sessions.get(self.aliases.get(self._alias(target), ("", "", "")))
        if found is not None:
            return found
        # The editor's text when the file is open: what the user sees, saved or not.
        open_doc = self.ls.documents.get(target.uri)
        text = open_doc.text if open_doc is not None else None
        api = connect(ClusterConfig(self.ls.settings.kubeconfig, self.ls.settings.context))
        notifier = _Notifier(self, target)
        try:
            session = DevSession(
                api,
                target.path,
                target.component,
                target.namespace,
                on_state=notifier.on_state,
                on_output=notifier.on_output,
                app_text=text,
            )
        except Exception:
            api.close()
            raise
        notifier.session = session
        key = (target.uri, session.cfg.component, session.workload.ref.namespace)
        with self._lock:
            self.aliases[self._alias(target)] = key
            existing = self.sessions.get(key)
            if existing is None:
                self.sessions[key], self.clients[key] = session, api
                return session
        api.close()
        return existing

    def forget(self, target: Target) -> None:
        """Drop the target's session (after `end`, which stopped its parts)."""
        with self._lock:
            key = self.aliases.get(self._alias(target))
            if key is None:
                return
            self.sessions.pop(key, None)
            api = self.clients.pop(key, None)
            for alias in [a for a, k in self.aliases.items() if k == key]:
                del self.aliases[alias]
        if api is not None:
            api.close()

    def stop_all(self) -> None:
        """Stop what the server hosts (sync, forwards, runs); workloads stay in dev mode."""
        with self._lock:
            sessions, clients = list(self.sessions.values()), list(self.clients.values())
            self.sessions.clear()
            self.clients.clear()
            self.aliases.clear()
        for session in sessions:
            try:
                session.stop()
            except Exception as exc:  # noqa: BLE001 - shutting down: log and go on
                log.warning("stopping a dev session: %s", exc)
        for api in clients:
            api.close()


async def _in_thread(ls: VelaLanguageServer, title: str, work: Callable[[Callable[[str], None]], Any]) -> Any:
    """`work(report)` in a worker thread, with work-done progress when the client supports it;
    user-facing failures answer the request with their sentence."""
    from ..cluster import ClusterError
    from ..devmode.errors import DevModeError

    caps = ls.client_capabilities.window if ls.client_capabilities else None
    token = str(uuid.uuid4()) if caps and caps.work_done_progress else None
    loop = asyncio.get_running_loop()
    ls.dev_host.loop = loop  # type: ignore[attr-defined]
    if token is not None:
        try:
            await ls.work_done_progress.create_async(token)
            ls.work_done_progress.begin(token, lsp.WorkDoneProgressBegin(title=title))
        except Exception as exc:  # noqa: BLE001 - a client refusing the token still gets the answer
            log.debug("no progress token: %s", exc)
            token = None

    def report(text: str) -> None:
        if token is not None:
            loop.call_soon_threadsafe(ls.work_done_progress.report, token, lsp.WorkDoneProgressReport(message=text))

    outcome = "done"
    try:
        return await asyncio.to_thread(work, report)
    except (DevModeError, ClusterError) as exc:
        outcome = str(exc)
        raise _failed(exc) from None
    finally:
        if token is not None:
            ls.work_done_progress.end(token, lsp.WorkDoneProgressEnd(message=outcome))


def _pod_result(session, pod) -> dict[str, Any]:
    return {"namespace": pod.namespace, "workload": session.workload.ref.name, "pod": pod.name}


def register(server: VelaLanguageServer) -> None:
    host = DevHost(server)
    server.dev_host = host  # type: ignore[attr-defined]

    @server.command(PREFIX + "start")
    async def start(ls: VelaLanguageServer, *args) -> dict[str, Any]:
        target = parse_target(args)
        return await _in_thread(
            ls,
            "veladev: dev start",
            lambda report: (lambda s: _pod_result(s, s.start(progress=report)))(host.session(target)),
        )

    @server.command(PREFIX + "up")
    async def up(ls: VelaLanguageServer, *args) -> dict[str, Any]:
        target = parse_target(args)

        def work(report):
            s = host.session(target)
            forwards = s.up(progress=report)
            return {"namespace": s.workload.ref.namespace, "workload": s.workload.ref.name, "forwards": forwards}

        return await _in_thread(ls, "veladev: dev up", work)

    async def _run(ls: VelaLanguageServer, args: tuple[Any, ...], debug: bool) -> dict[str, Any]:
        target = parse_target(args)

        def work(report):
            s = host.session(target)
            if s.sync is None:
                s.up(progress=report)
            attach = s.run(debug=debug)
            return {"attach": attach} if debug else {"run": "running"}

        return await _in_thread(ls, f"veladev: dev {'debug' if debug else 'run'}", work)

    @server.command(PREFIX + "run")
    async def run(ls: VelaLanguageServer, *args) -> dict[str, Any]:
        return await _run(ls, args, False)

    @server.command(PREFIX + "debug")
    async def debug(ls: VelaLanguageServer, *args) -> dict[str, Any]:
        return await _run(ls, args, True)

    @server.command(PREFIX + "stopRun")
    async def stop_run(ls: VelaLanguageServer, *args) -> dict[str, Any]:
        target = parse_target(args)
        await _in_thread(ls, "veladev: stop run", lambda report: host.session(target).stop_run())
        return {"run": "stopped"}

    @server.command(PREFIX + "terminal")
    async def terminal(ls: VelaLanguageServer, *args) -> dict[str, Any]:
        target = parse_target(args)
        command = ["veladev", "dev", "terminal", str(target.path)]
        if target.component:
            command.append(target.component)
        for flag, value in (
            ("--namespace", target.namespace),
            ("--kubeconfig", ls.settings.kubeconfig),
            ("--context", ls.settings.context),
        ):
            if value:
                command += [flag, value]
        return {"command": command}

    @server.command(PREFIX + "end")
    async def end(ls: VelaLanguageServer, *args) -> dict[str, Any]:
        target = parse_target(args)

        def work(report):
            s = host.session(target)
            s.end(progress=report)
            host.forget(target)
            return {"namespace": s.workload.ref.namespace, "workload": s.workload.ref.name, "state": "off"}

        return await _in_thread(ls, "veladev: dev end", work)

    @server.command(PREFIX + "status")
    async def status(ls: VelaLanguageServer, *args) -> list[dict[str, Any]]:
        def work(report):
            from ..cluster import ClusterConfig, connect
            from ..devmode.workload import list_dev_workloads

            api = connect(ClusterConfig(ls.settings.kubeconfig, ls.settings.context))
            try:
                return [dev_status_entry(i) for i in list_dev_workloads(api)]
            finally:
                api.close()

        return await _in_thread(ls, "veladev: dev status", work)

    server.shutdown_listeners.append(host.stop_all)
