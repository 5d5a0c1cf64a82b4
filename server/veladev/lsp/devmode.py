"""Dev mode through `workspace/executeCommand`: the server hosts each editor's dev sessions
(sync, forwards, run) and tells the client how they are doing.

Every command takes one object {"uri", "component"?, "cluster"?, "namespace"?}: `cluster`
names the managed cluster when the component runs in several (`veladev.dev.placements` lists
them for the client to offer). Cluster work runs in worker threads; long steps report
work-done progress. Errors answer the request with the engine's sentence. On shutdown the
hosted parts stop; workloads stay in dev mode.

The commands are grouped by concern into feature classes (the session's lifecycle; what runs
in the dev container; questions about the clusters), each a few thin handlers.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.uris import to_fs_path

from .commands import Progress
from .convert import dev_state_params, dev_status_entry, placement_entry, run_output_params
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
    cluster: str | None = None


def parse_target(args: tuple[Any, ...]) -> Target:
    from ..cluster import ClusterError
    from ..cluster.clusters import check_name, is_local

    if len(args) != 1 or not isinstance(args[0], dict):
        raise JsonRpcInvalidParams('dev-mode commands take one object {"uri", "component"?, "cluster"?, "namespace"?}')
    arg = args[0]
    uri = arg.get("uri")
    if not isinstance(uri, str) or not uri.startswith("file:"):
        raise JsonRpcInvalidParams('"uri" must be the file: URI of an Application file')
    for key in ("component", "namespace", "cluster"):
        if arg.get(key) is not None and not isinstance(arg.get(key), str):
            raise JsonRpcInvalidParams(f'"{key}" must be a string')
    cluster: str | None = arg.get("cluster") or None
    if cluster is not None and not is_local(cluster):
        try:
            check_name(cluster)
        except ClusterError as exc:
            raise JsonRpcInvalidParams(f'"cluster": {exc}') from None
    path = to_fs_path(uri)
    if not path:
        raise JsonRpcInvalidParams(f"{uri} is not a local file")
    return Target(uri, Path(path), arg.get("component") or None, arg.get("namespace") or None, cluster)


def _failed(exc: Exception) -> JsonRpcException:
    return JsonRpcException(message=str(exc), code=REQUEST_FAILED)


class _Notifier:
    """Sends one session's state changes and run output to the client (from any thread)."""

    def __init__(self, host: DevHost, target: Target):
        self.host, self.target = host, target
        self.session: Any = None

    def _names(self) -> tuple[str | None, str | None, str | None]:
        """(component, namespace, cluster) as resolved, else as the client named them."""
        if self.session is None:
            return self.target.component, self.target.namespace, self.target.cluster
        ref = self.session.workload.ref
        return self.session.cfg.component, ref.namespace, ref.cluster

    def on_state(self, state) -> None:
        component, namespace, cluster = self._names()
        self.host.notify(DEV_STATE, dev_state_params(self.target.uri, component, namespace, state, cluster))

    def on_output(self, text: str) -> None:
        self.host.notify(RUN_OUTPUT, run_output_params(self.target.uri, self._names()[0], text))


Key = tuple[str, str, str, str]  # (uri, component, cluster, namespace)


class DevHost:
    """The dev sessions of one editor, one per (file, component, cluster, namespace) as
    resolved, so a command naming the component (or cluster) and one leaving it out reach the
    same session."""

    def __init__(self, ls: VelaLanguageServer):
        self.ls = ls
        self.loop: asyncio.AbstractEventLoop | None = None  # the server's, set by the first command
        self.sessions: dict[Key, Any] = {}  # resolved key -> DevSession
        self.aliases: dict[Key, Key] = {}  # as the client named it
        self.clients: dict[Key, Any] = {}  # resolved key -> the hub's ApiClient
        self._lock = threading.Lock()

    def cluster_config(self):
        from ..cluster import ClusterConfig

        return ClusterConfig(self.ls.settings.kubeconfig, self.ls.settings.context)

    def connect_hub(self):
        from ..cluster import connect

        return connect(self.cluster_config())

    def connect_to(self):
        """Clients for managed clusters: a context named like the cluster, else the gateway."""
        from ..cluster.clusters import connect_cluster

        config = self.cluster_config()
        return lambda cluster: connect_cluster(config, cluster)

    def notify(self, method: str, params: dict[str, Any]) -> None:
        """A notification, sent from the event loop whichever thread asks."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.ls.protocol.notify, method, params)
            live = getattr(self.ls, "live", None)  # the code lenses show the dev state too
            if method == DEV_STATE and live is not None:
                self.loop.call_soon_threadsafe(live.set_dev_state, params)

    @staticmethod
    def _alias(target: Target) -> Key:
        return (target.uri, target.component or "", target.cluster or "", target.namespace or "")

    def app_text(self, uri: str) -> str | None:
        """The editor's text when the file is open: what the user sees, saved or not."""
        open_doc = self.ls.documents.get(uri)
        return open_doc.text if open_doc is not None else None

    # -- sessions (blocking: call from worker threads)
    def session(self, target: Target):
        from ..devmode.session import DevSession

        with self._lock:
            found = self.sessions.get(self.aliases.get(self._alias(target), ("", "", "", "")))
        if found is not None:
            return found
        api = self.connect_hub()
        notifier = _Notifier(self, target)
        try:
            session = DevSession(
                api,
                target.path,
                target.component,
                target.namespace,
                on_state=notifier.on_state,
                on_output=notifier.on_output,
                app_text=self.app_text(target.uri),
                cluster=target.cluster,
                connect_to=self.connect_to(),
            )
        except Exception:
            api.close()
            raise
        notifier.session = session
        ref = session.workload.ref
        key = (target.uri, session.cfg.component, ref.cluster, ref.namespace)
        with self._lock:
            self.aliases[self._alias(target)] = key
            existing = self.sessions.get(key)
            if existing is None:
                self.sessions[key], self.clients[key] = session, api
                return session
        session.close()
        api.close()
        return existing

    def forget(self, target: Target) -> None:
        """Drop the target's session (after `end`, which stopped its parts)."""
        with self._lock:
            key = self.aliases.get(self._alias(target))
            if key is None:
                return
            session = self.sessions.pop(key, None)
            api = self.clients.pop(key, None)
            for alias in [a for a, k in self.aliases.items() if k == key]:
                del self.aliases[alias]
        if session is not None:
            session.close()
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
            session.close()
        for api in clients:
            api.close()


async def _in_thread(ls: VelaLanguageServer, title: str, work: Callable[[Callable[[str], None]], Any]) -> Any:
    """`work(report)` in a worker thread, with work-done progress when the client supports it;
    user-facing failures answer the request with their sentence."""
    from ..cluster import ClusterError
    from ..devmode.errors import DevModeError

    ls.dev_host.loop = asyncio.get_running_loop()  # type: ignore[attr-defined]
    progress = await Progress.start(ls, title)
    outcome = "done"
    try:
        return await asyncio.to_thread(work, progress.report)
    except (DevModeError, ClusterError) as exc:
        outcome = str(exc)
        raise _failed(exc) from None
    finally:
        progress.end(outcome)


def _pod_result(session, pod) -> dict[str, Any]:
    return {
        "cluster": session.cluster,
        "namespace": pod.namespace,
        "workload": session.workload.ref.name,
        "pod": pod.name,
    }


def _workload_result(session, **extra: Any) -> dict[str, Any]:
    ref = session.workload.ref
    return {"cluster": ref.cluster, "namespace": ref.namespace, "workload": ref.name, **extra}


class DevSessionFeature:
    """The session's lifecycle: start, up (start + sync + forwards), end."""

    COMMANDS = {"start": "start", "up": "up", "end": "end"}

    def __init__(self, host: DevHost):
        self.host = host

    async def start(self, ls: VelaLanguageServer, *args) -> dict[str, Any]:
        target = parse_target(args)
        return await _in_thread(ls, "veladev: dev start", lambda report: self._start(target, report))

    def _start(self, target: Target, report: Callable[[str], None]) -> dict[str, Any]:
        s = self.host.session(target)
        return _pod_result(s, s.start(progress=report))

    async def up(self, ls: VelaLanguageServer, *args) -> dict[str, Any]:
        target = parse_target(args)
        return await _in_thread(ls, "veladev: dev up", lambda report: self._up(target, report))

    def _up(self, target: Target, report: Callable[[str], None]) -> dict[str, Any]:
        s = self.host.session(target)
        return _workload_result(s, forwards=s.up(progress=report))

    async def end(self, ls: VelaLanguageServer, *args) -> dict[str, Any]:
        target = parse_target(args)
        return await _in_thread(ls, "veladev: dev end", lambda report: self._end(target, report))

    def _end(self, target: Target, report: Callable[[str], None]) -> dict[str, Any]:
        s = self.host.session(target)
        s.end(progress=report)
        self.host.forget(target)
        return _workload_result(s, state="off")


class DevRunFeature:
    """What runs in the dev container: run, debug, stop the run, a terminal."""

    COMMANDS = {"run": "run", "debug": "debug", "stopRun": "stop_run", "terminal": "terminal"}

    def __init__(self, host: DevHost):
        self.host = host

    async def run(self, ls: VelaLanguageServer, *args) -> dict[str, Any]:
        return await self._run(ls, parse_target(args), debug=False)

    async def debug(self, ls: VelaLanguageServer, *args) -> dict[str, Any]:
        return await self._run(ls, parse_target(args), debug=True)

    async def _run(self, ls: VelaLanguageServer, target: Target, debug: bool) -> dict[str, Any]:
        title = f"veladev: dev {'debug' if debug else 'run'}"
        return await _in_thread(ls, title, lambda report: self._start_run(target, debug, report))

    def _start_run(self, target: Target, debug: bool, report: Callable[[str], None]) -> dict[str, Any]:
        s = self.host.session(target)
        if s.sync is None:
            s.up(progress=report)
        attach = s.run(debug=debug)
        return {"attach": attach} if debug else {"run": "running"}

    async def stop_run(self, ls: VelaLanguageServer, *args) -> dict[str, Any]:
        target = parse_target(args)
        await _in_thread(ls, "veladev: stop run", lambda report: self.host.session(target).stop_run())
        return {"run": "stopped"}

    async def terminal(self, ls: VelaLanguageServer, *args) -> dict[str, Any]:
        """The command line that opens the dev container's shell (the client runs it in a terminal)."""
        target = parse_target(args)
        command = ["veladev", "dev", "terminal", str(target.path)]
        if target.component:
            command.append(target.component)
        for flag, value in (
            ("--cluster", target.cluster),
            ("--namespace", target.namespace),
            ("--kubeconfig", ls.settings.kubeconfig),
            ("--context", ls.settings.context),
        ):
            if value:
                command += [flag, value]
        return {"command": command}


class DevClustersFeature:
    """Questions about the clusters: where a component runs, what is in dev mode where."""

    COMMANDS = {"placements": "placements", "status": "status"}

    def __init__(self, host: DevHost):
        self.host = host

    async def placements(self, ls: VelaLanguageServer, *args) -> list[dict[str, Any]]:
        target = parse_target(args)
        return await _in_thread(ls, "veladev: placements", lambda report: self._placements(target))

    def _placements(self, target: Target) -> list[dict[str, Any]]:
        from ..devmode.session import placements

        api = self.host.connect_hub()
        try:
            found = placements(api, target.path, target.component, self.host.app_text(target.uri))
        finally:
            api.close()
        return [placement_entry(p) for p in found]

    async def status(self, ls: VelaLanguageServer, *args) -> list[dict[str, Any]]:
        return await _in_thread(ls, "veladev: dev status", lambda report: self._status())

    def _status(self) -> list[dict[str, Any]]:
        from ..devmode.workload import dev_workloads_everywhere

        api = self.host.connect_hub()
        try:
            rows, unreachable = dev_workloads_everywhere(api, self.host.connect_to())
        finally:
            api.close()
        for cluster, why in unreachable.items():
            log.warning("dev status: cluster %s is unreachable: %s", cluster, why)
        return [dev_status_entry(i) for i in rows]


FEATURES = (DevSessionFeature, DevRunFeature, DevClustersFeature)


def _handler(method: Callable[..., Any]) -> Callable[..., Any]:
    """A plain function for pygls (it sets attributes on handlers, which bound methods refuse)."""

    async def handle(ls: VelaLanguageServer, *args) -> Any:
        return await method(ls, *args)

    return handle


def register(server: VelaLanguageServer) -> None:
    host = DevHost(server)
    server.dev_host = host  # type: ignore[attr-defined]
    for feature_class in FEATURES:
        feature = feature_class(host)
        for command, method in feature.COMMANDS.items():
            server.command(PREFIX + command)(_handler(getattr(feature, method)))
    server.shutdown_listeners.append(host.stop_all)
