"""`veladev.logs`: a component's pod log in one of its placements, streamed to the client as
`veladev/logOutput` notifications ({uri, component, cluster, namespace, pod, text}; the last
one of a stream has `"ended": true`).

The argument object is {"uri", "component"?, "cluster"?, "namespace"?, "follow"?}. Without
`follow` the command answers when the log has been sent; with it, once the stream is open, and
the stream runs until `veladev.logs.stop` ({"uri", "component"?}), the pod's log ends or the
server shuts down. The log starts with its last FOLLOW_TAIL lines. A reader waits until the event loop has sent each piece, so a fast log
costs one piece of memory, not a backlog.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from ..cluster import ClusterConfig
from .commands import CommandError, Feature, command_arg, document_app, named_component, run_command, with_cluster
from .server import VelaLanguageServer

log = logging.getLogger("veladev.lsp.logs")

LOG_OUTPUT = "veladev/logOutput"
#: Seconds a follow may take to open before the command gives up waiting (the stream goes on).
OPEN_TIMEOUT = 60.0


class LogsFeature(Feature):
    def __init__(self, server: VelaLanguageServer):
        super().__init__(server)
        self.follows: dict[tuple[str, str], Callable[[], None]] = {}  # (uri, component) -> close
        self._lock = threading.Lock()

    def register(self) -> None:
        self.command("veladev.logs", self.logs)
        self.command("veladev.logs.stop", self.stop)
        self.server.shutdown_listeners.append(self.stop_all)

    async def logs(self, ls: VelaLanguageServer, *args) -> dict[str, Any]:
        loop = asyncio.get_running_loop()

        def work(report) -> dict[str, Any]:
            a = command_arg(args)
            for key in ("cluster", "namespace"):
                if a.get(key) is not None and not isinstance(a.get(key), str):
                    raise CommandError(f'"{key}" must be a string')
            app, ns, name, _ = document_app(ls, {**a, "namespace": None})
            component = named_component(app, a)
            from ..cluster.apps import get_application

            hub_app = with_cluster(ls, lambda api: get_application(api, ns, name))
            report(f"log of {component}")
            stream = _Stream(self, loop, a["uri"], component, bool(a.get("follow")))
            return stream.run(hub_app, a.get("cluster") or None, a.get("namespace") or None)

        return await run_command(ls, "Logs", work)

    async def stop(self, ls: VelaLanguageServer, *args) -> dict[str, Any]:
        a = args[0] if args and isinstance(args[0], dict) else {}
        with self._lock:
            keys = [k for k in self.follows if k[0] == a.get("uri") and a.get("component") in (None, k[1])]
            closes = [self.follows.pop(k) for k in keys]
        for close in closes:
            close()
        return {"ok": True, "message": f"stopped {len(closes)} log stream(s)"}

    def stop_all(self) -> None:
        with self._lock:
            closes = list(self.follows.values())
            self.follows.clear()
        for close in closes:
            close()


class _Stream:
    """One log stream: read in its own thread, each piece sent from the event loop."""

    def __init__(self, feature: LogsFeature, loop: asyncio.AbstractEventLoop, uri: str, component: str, follow: bool):
        self.feature, self.loop, self.uri, self.component, self.follow = feature, loop, uri, component, follow
        self.where: dict[str, str] = {}
        self.opened = threading.Event()
        self.failure: Exception | None = None
        self.close: Callable[[], None] | None = None

    def send(self, params: dict[str, Any]) -> None:
        async def notify() -> None:
            self.feature.server.protocol.notify(LOG_OUTPUT, params)

        # Wait until it is sent: the reader never runs ahead of the client (bounded memory).
        if not self.loop.is_closed():
            asyncio.run_coroutine_threadsafe(notify(), self.loop).result()

    def on_text(self, text: str) -> None:
        self.send({"uri": self.uri, "component": self.component, **self.where, "text": text})

    def on_open(self, source, close: Callable[[], None]) -> None:
        p = source.placement
        self.where = {"cluster": p.cluster, "namespace": p.namespace, "pod": source.pod}
        self.close = close
        if self.follow:
            with self.feature._lock:
                old = self.feature.follows.pop((self.uri, self.component), None)
                self.feature.follows[(self.uri, self.component)] = close
            if old is not None:
                old()  # one follow per component: the new one replaces it
        self.opened.set()

    def read(self, hub_app: dict[str, Any], cluster: str | None, namespace: str | None) -> None:
        from ..delivery.logs import FOLLOW_TAIL, stream_logs

        s = self.feature.server.settings
        try:
            stream_logs(
                ClusterConfig(s.kubeconfig, s.context),
                hub_app,
                self.component,
                self.on_text,
                cluster,
                namespace,
                self.follow,
                on_open=self.on_open,
                tail_lines=FOLLOW_TAIL,  # an editor shows the recent log, however long the pod ran
            )
        except Exception as exc:  # noqa: BLE001 - handed to the command (before open) or logged (after)
            self.failure = exc
            if self.opened.is_set():
                log.info("log stream of %s ended: %s", self.component, exc)
        finally:
            self.opened.set()
            if self.where:
                self.send({"uri": self.uri, "component": self.component, **self.where, "text": "", "ended": True})
            with self.feature._lock:
                key = (self.uri, self.component)
                if self.close is not None and self.feature.follows.get(key) is self.close:
                    del self.feature.follows[key]

    def run(self, hub_app: dict[str, Any], cluster: str | None, namespace: str | None) -> dict[str, Any]:
        if not self.follow:
            self.read(hub_app, cluster, namespace)
            if self.failure is not None:
                raise self.failure
            return self.result("sent the log of")
        threading.Thread(
            target=self.read, args=(hub_app, cluster, namespace), name=f"veladev-logs-{self.component}", daemon=True
        ).start()
        if not self.opened.wait(OPEN_TIMEOUT):
            raise CommandError(f"the log of {self.component} did not open in {OPEN_TIMEOUT:g} s")
        if self.failure is not None and not self.where:
            raise self.failure
        return self.result("following the log of")

    def result(self, what: str) -> dict[str, Any]:
        w = self.where
        return {
            "message": f"{what} {self.component}: pod {w.get('pod')} in {w.get('cluster')}/{w.get('namespace')}",
            **w,
        }


def register(server: VelaLanguageServer) -> None:
    LogsFeature(server).register()
