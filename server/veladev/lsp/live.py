"""Live cluster state for the editor: the Applications of the namespaces open files deploy to,
kept current by one watch per namespace in a worker thread, and the hub's clusters (registered,
and which the hub cannot reach), re-read every REACH_SECONDS in another. A change re-asks the
client for code lenses (`workspace/codeLens/refresh`) and re-publishes diagnostics (the drift
hint).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from typing import Any

from ..cluster import ClusterConfig, ClusterError, connect
from ..delivery.actions import ClusterView, DevState
from .server import VelaLanguageServer

log = logging.getLogger("veladev.lsp.live")
RETRY_SECONDS = 5.0
#: How often the registered clusters are listed and the apps' clusters probed through the hub.
REACH_SECONDS = 10.0


def _shown(app: dict[str, Any]) -> tuple:
    """What lenses and the drift hint show of an Application: the workflow's state and the images."""
    from ..delivery.watch import state_key
    from ..delivery.workflow import read_workflow

    images = tuple(
        (c.get("name"), (c.get("properties") or {}).get("image"))
        for c in (app.get("spec") or {}).get("components") or []
        if isinstance(c, dict)
    )
    return state_key(read_workflow(app)), images


class LiveState:
    def __init__(self, server: VelaLanguageServer):
        self.server = server
        self.apps: dict[tuple[str, str], dict[str, Any]] = {}
        self.listed: set[str] = set()  # namespaces whose first list arrived
        self.problem = ""  # why the cluster cannot be read, for the lenses
        self.dev: dict[tuple[str, str], DevState] = {}  # (uri, component) -> state
        self._watched: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._refresh: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closed = False
        self.lenses_asked = False  # a client that never asked for lenses needs no refresh
        self.clusters = ClusterView()
        self._reach: threading.Event | None = None  # set: the cluster reader stops

    # ---------------------------------------------------------------- configuration

    def config(self) -> ClusterConfig:
        return ClusterConfig(self.server.settings.kubeconfig, self.server.settings.context)

    def unavailable(self) -> str:
        """'' when a cluster is configured, else the sentence the lenses show once."""
        if not self.config().path().is_file():
            return "no cluster configured (set veladev.kubeconfig)"
        return self.problem

    def close(self) -> None:
        """The client is shutting down: stop every watch, and send nothing more."""
        self.closed = True
        self.reset()

    def reset(self) -> None:
        """The cluster settings changed: stop every watch and forget what they saw."""
        with self._lock:
            for stop in self._watched.values():
                stop.set()
            self._watched.clear()
            self.apps.clear()
            self.listed.clear()
            self.problem = ""
            if self._reach is not None:
                self._reach.set()
                self._reach = None
            self.clusters = ClusterView()
        self.changed()

    # ---------------------------------------------------------------- state

    def application(self, namespace: str, name: str) -> tuple[bool, dict[str, Any] | None]:
        """(known, app): known is False until the namespace's first list arrived."""
        self.ensure_watch(namespace)
        with self._lock:
            return namespace in self.listed, self.apps.get((namespace, name))

    def set_dev_state(self, payload: dict[str, Any]) -> None:
        """Record a veladev/devState notification's content (dev mode reports through it)."""
        uri, comp = payload.get("uri"), payload.get("component")
        if not isinstance(uri, str) or not isinstance(comp, str):
            return
        sync = payload.get("sync") or {}
        self.dev[(uri, comp)] = DevState(
            str(payload.get("state") or "off"),
            str(sync.get("state") or ""),
            str(payload.get("run") or "stopped"),
            str(payload.get("message") or ""),
        )
        self.changed()

    def dev_states(self, uri: str) -> dict[str, DevState]:
        return {comp: st for (u, comp), st in self.dev.items() if u == uri}

    # ---------------------------------------------------------------- watching

    def ensure_watch(self, namespace: str) -> None:
        if self._loop is None:
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:
                return
        if self.closed or not self.config().path().is_file():
            return
        with self._lock:
            if namespace in self._watched:
                return
            stop = threading.Event()
            self._watched[namespace] = stop
            reach = None
            if self._reach is None:
                reach = self._reach = threading.Event()
        threading.Thread(
            target=self._watch, args=(namespace, stop), name=f"veladev-watch-{namespace}", daemon=True
        ).start()
        if reach is not None:
            threading.Thread(target=self._read_clusters, args=(reach,), name="veladev-clusters", daemon=True).start()

    def _read_clusters(self, stop: threading.Event) -> None:
        """The registered clusters and the unreachable ones among the apps', while watching."""
        from ..delivery.status import cluster_reach

        config = self.config()
        while not stop.is_set():
            api = None
            try:
                api = connect(config)
                with self._lock:
                    apps = list(self.apps.values())
                clusters, unreachable = cluster_reach(api, apps)
                view = ClusterView(clusters, unreachable)
                with self._lock:
                    if stop.is_set():
                        return
                    changed, self.clusters = view != self.clusters, view
                if changed:
                    self._threadsafe_changed()
            except ClusterError as exc:
                log.info("clusters of the hub: %s", exc)
            except Exception:  # a bug must not end the reader silently and for good
                log.exception("reading the hub's clusters failed; retrying")
            finally:
                if api is not None:
                    api.close()
            stop.wait(REACH_SECONDS)

    def _watch(self, namespace: str, stop: threading.Event) -> None:
        from ..cluster.apps import watch_applications

        config = self.config()
        while not stop.is_set():
            api = None
            try:
                api = connect(config)
                watch_applications(
                    api,
                    namespace,
                    functools.partial(self._on_event, namespace, stop),
                    stop.is_set,
                    poll=10.0,
                    on_synced=functools.partial(self._on_synced, namespace),
                )
            except ClusterError as exc:
                self._on_cluster_error(namespace, exc)
                stop.wait(RETRY_SECONDS)
            except Exception:  # a bug must not end the watch silently and for good
                log.exception("live state of %s failed; retrying", namespace)
                stop.wait(RETRY_SECONDS)
            finally:
                if api is not None:
                    api.close()

    def _on_event(self, namespace: str, stop: threading.Event, kind: str, app: dict[str, Any]) -> None:
        name = app.get("metadata", {}).get("name", "")
        with self._lock:
            if stop.is_set():
                return
            before = self.apps.get((namespace, name))
            if kind == "DELETED":
                self.apps.pop((namespace, name), None)
            else:
                self.apps[(namespace, name)] = app
            self.problem = ""
        # Controllers touch status often; the editor only hears of what it shows.
        if kind == "DELETED" or before is None or _shown(before) != _shown(app):
            self._threadsafe_changed()

    def _on_synced(self, namespace: str) -> None:
        with self._lock:
            self.listed.add(namespace)
        self._threadsafe_changed()

    def _on_cluster_error(self, namespace: str, exc: ClusterError) -> None:
        with self._lock:
            changed = self.problem != f"cluster: {exc}"
            self.problem = f"cluster: {exc}"
        if changed:
            log.warning("live state of %s: %s", namespace, exc)
            self._threadsafe_changed()

    def _threadsafe_changed(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.changed)

    def changed(self) -> None:
        """Coalesce bursts of events into one lens refresh and one diagnostics run."""
        if self._loop is None or self._refresh is not None or self.closed:
            return
        self._refresh = self._loop.call_later(0.1, self._publish)

    def _publish(self) -> None:
        self._refresh = None
        if self.closed:
            return
        ls = self.server
        ls.findings_generation += 1
        caps = ls.client_capabilities.workspace if ls.client_capabilities else None
        if self.lenses_asked and caps and caps.code_lens and caps.code_lens.refresh_support:
            ls.workspace_code_lens_refresh(None)
        ls.refresh_diagnostics()
