"""One developer's dev session on one component: the workload in dev mode plus what runs
against its dev pod (file sync, port-forwards, the run or debug process, hot reload).

The CLI and the language server drive the same object. Stopping a session stops sync,
forwards and the run; it leaves the workload in dev mode (as Nocalhost does when the IDE
goes away); only `end` restores the workload.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cluster import ClusterError
from ..cluster.apps import find_application
from ..cluster.clusters import Placement, component_placements, gateway_client, is_local
from .config import (
    AppTarget,
    app_target,
    choose_placement,
    resolve_dev_config,
)
from .errors import DevModeError
from .pod import DevPod
from .workload import DevWorkload, Holder, Progress, recorded_placements

if TYPE_CHECKING:  # for annotations only; the methods import these where they use them
    from .forward import PortForwards
    from .remote import RemoteProcess
    from .sync import FileSync

#: Debugger by the dev image's name or the debug command's program (Nocalhost's dev images
#: are named by language; `debug.language` in a Nocalhost config wins).
_DEBUG_HINTS = {
    "node": "node",
    "python": "python",
    "python3": "python",
    "debugpy": "python",
    "golang": "go",
    "go": "go",
    "dlv": "go",
    "java": "java",
    "ruby": "ruby",
    "rdbg": "ruby",
}


def debug_language(cfg) -> str:
    if cfg.debug_language:
        return cfg.debug_language
    image = cfg.image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    program = Path(cfg.debug[0]).name if cfg.debug else ""
    for hint in (image, program):
        if hint in _DEBUG_HINTS:
            return _DEBUG_HINTS[hint]
    raise DevModeError(
        f"cannot tell the debugger's language from the dev image {cfg.image}; set debug.language "
        "(node, python, go, java or ruby) in .nocalhost/config.yaml"
    )


#: An ApiClient for a cluster by name (e.g. `clusters.connect_cluster` with the user's kubeconfig).
ConnectTo = Callable[[str], Any]


def _hub_application(hub_api, target: AppTarget) -> dict[str, Any]:
    try:
        return find_application(hub_api, target.app_namespace, target.app) or {}
    except ClusterError as exc:
        raise DevModeError(f"cannot read Application {target.app_namespace}/{target.app} on the hub: {exc}") from None


def placements(hub_api, app_file: Path, component: str | None = None, app_text: str | None = None) -> list[Placement]:
    """Where the component runs, from the hub Application's status (empty: not deployed)."""
    target = app_target(Path(app_file), component, None, app_text)
    return component_placements(_hub_application(hub_api, target), target.component)


def placement_for(hub_api, target: AppTarget, cluster: str | None, namespace: str | None) -> Placement:
    """The placement to develop the target's component in (see `config.choose_placement`);
    `target.namespace` is the named namespace or the first deploy target's."""
    app = _hub_application(hub_api, target)
    return choose_placement(
        target.component,
        component_placements(app, target.component),
        recorded_placements(app, target.component),
        cluster,
        namespace,
        target.namespace,
    )


def locate(
    api_client,
    app_file: Path,
    component: str | None = None,
    namespace: str | None = None,
    local_dir: Path | None = None,
    holder: Holder | None = None,
    app_text: str | None = None,
    cluster: str | None = None,
    connect_to: ConnectTo | None = None,
) -> DevWorkload:
    """The component's workload and dev config, checked against each other (blocking).
    `api_client`: the hub's; the workload is looked for in the chosen placement's cluster,
    reached with `connect_to(cluster)` (default: through the hub's gateway). `app_text`: the
    editor's (maybe unsaved) text of the Application file."""
    app_file = Path(app_file)
    target = app_target(app_file, component, namespace, app_text)
    placement = placement_for(api_client, target, cluster, namespace)
    target = replace(target, cluster=placement.cluster, namespace=placement.namespace)
    folder = Path(local_dir) if local_dir else app_file.resolve().parent
    if is_local(placement.cluster):
        cluster_api = api_client
    else:
        try:
            cluster_api = (connect_to or (lambda c: gateway_client(api_client, c)))(placement.cluster)
        except ClusterError as exc:
            raise DevModeError(f"cannot connect to cluster {placement.cluster}: {exc}") from None
    try:
        return DevWorkload.locate(
            cluster_api,
            target,
            lambda obj: resolve_dev_config(target, obj, folder, app_file),
            holder=holder,
            hub_api=api_client,
        )
    except BaseException:
        if cluster_api is not api_client:
            cluster_api.close()
        raise


@dataclass(slots=True)
class SessionState:
    """What a client shows: dev state, sync state, forwards, run state, last message."""

    dev: str = "off"  # off | starting | on | ending | error
    sync: dict[str, Any] = field(
        default_factory=lambda: {"state": "stopped", "pending": 0, "lastSync": None, "error": None}
    )
    forwards: list[str] = field(default_factory=list)
    run: str = "stopped"  # stopped | running | debugging
    message: str = ""


class DevSession:
    """Start, sync + forward (+ run/debug with hot reload), stop, end. Blocking methods: the
    language server calls them from worker threads."""

    def __init__(
        self,
        api_client,
        app_file: Path,
        component: str | None = None,
        namespace: str | None = None,
        local_dir: Path | None = None,
        holder: Holder | None = None,
        on_state: Callable[[SessionState], None] | None = None,
        on_output: Callable[[str], None] | None = None,
        app_text: str | None = None,
        cluster: str | None = None,
        connect_to: ConnectTo | None = None,
    ):
        self.hub = api_client
        self.app_file = Path(app_file)
        self.local_dir = Path(local_dir) if local_dir else self.app_file.resolve().parent
        self.workload = locate(
            api_client, self.app_file, component, namespace, self.local_dir, holder, app_text, cluster, connect_to
        )
        self.api = self.workload.api  # the workload's cluster: sync, forwards, run and terminal go there
        self.cfg = self.workload.cfg
        self.state = SessionState()
        self._on_state = on_state
        self._on_output = on_output
        self._lock = threading.RLock()
        self.sync: FileSync | None = None
        self.forwards: PortForwards | None = None
        self.process: RemoteProcess | None = None
        self._debug_forward: PortForwards | None = None

    @property
    def cluster(self) -> str:
        return self.workload.ref.cluster

    def close(self) -> None:
        """Close the workload cluster's client when the session opened it (not the hub's)."""
        if self.api is not self.hub:
            self.api.close()

    # -- state reporting
    def _set(self, **changes: Any) -> None:
        with self._lock:
            for k, v in changes.items():
                setattr(self.state, k, v)
            snapshot = SessionState(
                self.state.dev, dict(self.state.sync), list(self.state.forwards), self.state.run, self.state.message
            )
        if self._on_state is not None:
            self._on_state(snapshot)

    def _progress(self, progress: Progress | None) -> Progress:
        def say(text: str) -> None:
            self._set(message=text)
            if progress is not None:
                progress(text)

        return say

    # -- dev mode
    def start(self, takeover: bool = False, progress: Progress | None = None, timeout: float = 120) -> DevPod:
        self._set(dev="starting", message=f"starting dev mode on {self.workload.ref}")
        try:
            pod = self.workload.start(takeover=takeover, progress=self._progress(progress), timeout=timeout)
        except DevModeError as exc:
            self._set(dev="error", message=str(exc))
            raise
        self._set(dev="on", message=f"dev pod {pod.name} is ready")
        return pod

    def is_on(self) -> bool:
        state = self.workload.state()
        return state is not None and state.holder == self.workload.holder

    def require_on(self) -> None:
        state = self.workload.state()
        if state is None:
            raise DevModeError(f"{self.workload.ref} is not in dev mode; start it first (veladev dev start)")
        if state.holder != self.workload.holder:
            raise DevModeError(f"{self.workload.ref} is in dev mode by {state.holder}, not by you")

    # -- sync and forwards
    def up(
        self,
        takeover: bool = False,
        progress: Progress | None = None,
        on_batch: Callable[[Any], None] | None = None,
        any_free_port: bool = False,
    ) -> list[str]:
        """Start dev mode if needed, then file sync and port-forwards; returns the forwards."""
        if not self.is_on():
            self.start(takeover=takeover, progress=progress)
        else:
            self._set(dev="on")
        self.start_sync(on_batch)
        return self.start_forwards(any_free_port)

    def start_sync(self, on_batch: Callable[[Any], None] | None = None) -> None:
        from .sync import FileSync

        with self._lock:
            if self.sync is not None:
                return

            def batch(b: Any) -> None:
                if on_batch is not None:
                    on_batch(b)
                process = self.process
                if self.cfg.hot_reload and process is not None:
                    process.on_synced(b)  # restarts once the batches settle

            self.sync = FileSync(
                self.api,
                self.workload.resolver(),
                self.local_dir,
                self.cfg.sync_type,
                list(self.cfg.file_patterns),
                list(self.cfg.ignore_patterns),
                on_change=self._sync_changed,
                on_batch=batch,
            )
        self.sync.start()

    def _sync_changed(self, status: Any) -> None:
        last = getattr(status, "last_sync", None)
        self._set(
            sync={
                "state": getattr(status, "state", "idle"),
                "pending": getattr(status, "pending", 0),
                "lastSync": last if last is None or isinstance(last, (str, int, float)) else str(last),
                "error": getattr(status, "last_error", None),
            }
        )

    def start_forwards(self, any_free_port: bool = False) -> list[str]:
        """The config's port-forwards; a local port in use is a DevModeError naming it, unless
        `any_free_port`, which then forwards from free local ports instead."""
        with self._lock:
            if self.forwards is None and self.cfg.port_forwards:
                self.forwards = self._open_forwards(list(self.cfg.port_forwards), any_free_port)
            addresses = [str(a) for a in (self.forwards.addresses if self.forwards is not None else [])]
        self._set(forwards=addresses)
        return addresses

    def _open_forwards(self, specs: list[str], any_free_port: bool) -> PortForwards:
        from .forward import ForwardSpec, PortForwards

        attempts = [specs]
        if any_free_port:
            attempts.append([f"0:{ForwardSpec.parse(s).remote}" for s in specs])
        for i, attempt in enumerate(attempts):
            forwards = PortForwards(
                self.api, self.workload.resolver(), attempt, on_error=lambda text: self._set(message=text)
            )
            try:
                forwards.start()
                return forwards
            except DevModeError:
                if i == len(attempts) - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    # -- run and debug
    def run(self, debug: bool = False, on_exit: Callable[[int | None], None] | None = None) -> dict[str, Any] | None:
        """Start `command.run` (or `command.debug`) in the dev container, output to `on_output`,
        restarted after each synced batch settles when `hotReload` is on; with debug, also
        forward the debug port and return the editor's attach configuration. `on_exit(code)`
        when the process ends (None: the stream was lost)."""
        from .remote import RemoteProcess

        name = "debug" if debug else "run"
        command = self.cfg.debug if debug else self.cfg.run
        if not command:
            raise DevModeError(
                f"the dev config ({self.cfg.source}) has no command.{name}; add it to the nocalhost trait"
            )
        # The previous run stops first: stop_run() also closes the debug forward, so it must
        # not run after _debug_attach() has opened the new one.
        self.stop_run()
        attach = self._debug_attach() if debug else None
        process = RemoteProcess(
            self.api, self.workload.resolver(), list(command), name=name, on_output=self._output, on_exit=on_exit
        )
        process.start()
        with self._lock:
            self.process = process
        self._set(run="debugging" if debug else "running")
        return attach

    def _debug_attach(self) -> dict[str, Any]:
        from .remote import attach_configuration

        port = self.cfg.debug_port
        if not port:
            raise DevModeError(
                f"the dev config ({self.cfg.source}) has no debug.remoteDebugPort; add it to the nocalhost trait"
            )
        language = debug_language(self.cfg)
        with self._lock:
            if self._debug_forward is None:
                # The same port locally when free (what a debugger expects), else any free one
                # (the attach configuration names it).
                self._debug_forward = self._open_forwards([f"{port}:{port}"], any_free_port=True)
            local = self._debug_forward.local_port(port)
        return attach_configuration(
            language,
            port=local,
            local_root=str(self.local_dir),
            remote_root=self.cfg.work_dir,
            name=f"veladev: {self.cfg.component}",
        )

    def _output(self, text: str) -> None:
        if self._on_output is not None:
            self._on_output(text)

    def _detach(self, *names: str) -> None:
        """Stop the named parts (each has `stop()`), taken out under the lock, stopped outside it."""
        with self._lock:
            parts = [getattr(self, n) for n in names]
            for n in names:
                setattr(self, n, None)
        for part in parts:
            if part is not None:
                part.stop()

    def stop_run(self) -> None:
        self._detach("process", "_debug_forward")
        self._set(run="stopped")

    # -- stop and end
    def stop(self) -> None:
        """Stop run, sync and forwards; the workload stays in dev mode."""
        self.stop_run()
        self._detach("forwards", "sync")
        self._set(forwards=[], sync={"state": "stopped", "pending": 0, "lastSync": None, "error": None})

    def end(self, takeover: bool = False, progress: Progress | None = None, wait: bool = True) -> None:
        self.stop()
        self._set(dev="ending", message=f"ending dev mode on {self.workload.ref}")
        try:
            self.workload.end(takeover=takeover, progress=self._progress(progress), wait=wait)
        except DevModeError as exc:
            self._set(dev="error", message=str(exc))
            raise
        self._set(dev="off", message=f"{self.workload.ref} is restored")
