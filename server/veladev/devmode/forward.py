"""Port-forwards from 127.0.0.1 to the dev pod, one per `portForward` entry (`local:remote`).

As `kubectl port-forward`, all connections share one tunnel to the pod (SPDY streams over
one WebSocket, `cluster.tunnel`); a new connection costs a stream, not a TLS handshake. Where the API server does not offer that tunnel (Kubernetes < 1.30), each
connection gets its own `v4.channel.k8s.io` WebSocket and thread instead.

The pod comes from the PodResolver. When a connection reports an error, or the tunnel ends
(the pod was deleted), the next connection asks the resolver again and opens a tunnel to the
new pod, so forwards follow a restarted pod by themselves. Connections open at the moment a
pod dies end with it, as with kubectl.

Only 127.0.0.1 is bound: a dev pod's ports are not for the network.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..cluster import ClusterError, streams, tunnel
from .errors import DevModeError
from .pod import DevPod, PodResolver

log = logging.getLogger("veladev.devmode.forward")

BIND_HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class ForwardSpec:
    local: int
    remote: int

    @classmethod
    def parse(cls, spec: str | int) -> ForwardSpec:
        text = str(spec).strip()
        local, sep, remote = text.partition(":")
        try:
            lp, rp = int(local), int(remote if sep else local)
        except ValueError:
            raise DevModeError(f"portForward entry {text!r} is not LOCAL:REMOTE (two port numbers)") from None
        if not (0 <= lp < 65536 and 0 < rp < 65536):
            raise DevModeError(f"portForward entry {text!r} has a port outside 1-65535")
        return cls(lp, rp)


class PortForwards:
    """Listens on 127.0.0.1 for every spec and forwards each connection to the dev pod."""

    def __init__(
        self,
        api_client,
        resolve_pod: PodResolver,
        specs: Iterable[str | int],
        *,
        connect_timeout: float = 20,
        resolve_timeout: float = 60,
        on_error: Callable[[str], None] | None = None,
        use_tunnel: bool = True,
    ):
        self.api_client = api_client
        self.resolve_pod = resolve_pod
        self.specs = [ForwardSpec.parse(s) for s in specs]
        self.connect_timeout, self.resolve_timeout = connect_timeout, resolve_timeout
        self.on_error = on_error
        self._listeners: list[tuple[socket.socket, ForwardSpec]] = []
        self._threads: list[threading.Thread] = []
        self._active: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._pod: DevPod | None = None
        self._stop = threading.Event()
        self.use_tunnel = use_tunnel
        self.mode = ""  # "tunnel" or "websocket" once a connection was made
        self._wake: tuple[socket.socket, socket.socket] | None = None

    @property
    def addresses(self) -> list[str]:
        """`127.0.0.1:<local>-><remote>` for every forward (the actual port when 0 was asked)."""
        return [f"{BIND_HOST}:{sock.getsockname()[1]}->{spec.remote}" for sock, spec in self._listeners]

    def local_port(self, remote: int) -> int:
        for sock, spec in self._listeners:
            if spec.remote == remote:
                return sock.getsockname()[1]
        raise KeyError(remote)

    def start(self) -> None:
        """Binds every local port (all or none: a port in use is a DevModeError naming it)."""
        self._stop.clear()
        bound: list[tuple[socket.socket, ForwardSpec]] = []
        try:
            for spec in self.specs:
                bound.append((self._listen(spec), spec))
        except DevModeError:
            for sock, _ in bound:
                sock.close()
            raise
        self._listeners = bound
        if self.use_tunnel:
            self._wake = socket.socketpair()
            t = threading.Thread(
                target=tunnel.serve,
                daemon=True,
                name="veladev-forward",
                args=(
                    [(sock, spec.remote) for sock, spec in bound],
                    self._connect_tunnel,
                    self._stop,
                    self._report,
                    self._wake[0],
                    self._fallback,
                ),
            )
            t.start()
            self._threads.append(t)
            return
        for sock, spec in bound:
            t = threading.Thread(
                target=self._accept_loop, args=(sock, spec), daemon=True, name=f"veladev-forward-{spec.local}"
            )
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        if self._wake is not None:
            self._wake[1].send(b"x")  # the tunnel thread ends its connections itself
            for t in self._threads:
                t.join(5)
        for sock, _ in self._listeners:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept()
            except OSError:
                pass
            sock.close()
        with self._lock:
            active = list(self._active)
        for conn in active:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(5)
        self._threads.clear()
        self._listeners = []
        if self._wake is not None:
            for w in self._wake:
                w.close()
            self._wake = None

    def _listen(self, spec: ForwardSpec) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # not for a port someone listens on
        try:
            sock.bind((BIND_HOST, spec.local))
            sock.listen(128)
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise DevModeError(
                    f"local port {spec.local} is already in use; free it or change the "
                    f"portForward entry {spec.local}:{spec.remote}"
                ) from None
            if exc.errno == errno.EACCES:
                raise DevModeError(
                    f"local port {spec.local} needs privileges; use a port above 1023 in "
                    f"portForward {spec.local}:{spec.remote}"
                ) from None
            raise DevModeError(f"cannot listen on {BIND_HOST}:{spec.local}: {exc.strerror}") from None
        return sock

    def _connect_tunnel(self, fresh: bool) -> tunnel.Tunnel:
        pod = self._current_pod(fresh)
        try:
            t = tunnel.open_tunnel(self.api_client, pod.namespace, pod.name, self.connect_timeout)
        except tunnel.TunnelUnsupported:
            raise
        except ClusterError:
            pod = self._current_pod(fresh=True)  # replaced pod: ask again, once
            t = tunnel.open_tunnel(self.api_client, pod.namespace, pod.name, self.connect_timeout)
        self.mode = "tunnel"
        return t

    def _fallback(self, conn: socket.socket, remote: int) -> None:
        spec = next(s for s in self.specs if s.remote == remote)
        self.mode = "websocket"
        conn.setblocking(True)
        with self._lock:
            self._active.add(conn)
        threading.Thread(
            target=self._serve, args=(conn, spec), daemon=True, name=f"veladev-forward-{spec.local}-conn"
        ).start()

    def _accept_loop(self, listener: socket.socket, spec: ForwardSpec) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # closed by stop()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.mode = "websocket"
            with self._lock:
                self._active.add(conn)
            threading.Thread(
                target=self._serve, args=(conn, spec), daemon=True, name=f"veladev-forward-{spec.local}-conn"
            ).start()

    def _current_pod(self, fresh: bool) -> DevPod:
        if fresh or self._pod is None:
            self._pod = self.resolve_pod(self.resolve_timeout)
        return self._pod

    def _open(self, spec: ForwardSpec) -> streams.PortStream:
        try:
            pod = self._current_pod(fresh=False)
            return streams.open_port(self.api_client, pod.namespace, pod.name, spec.remote, self.connect_timeout)
        except (ClusterError, DevModeError):
            pod = self._current_pod(fresh=True)  # replaced pod: ask again, once
            return streams.open_port(self.api_client, pod.namespace, pod.name, spec.remote, self.connect_timeout)

    def _serve(self, conn: socket.socket, spec: ForwardSpec) -> None:
        try:
            try:
                remote = self._open(spec)
            except (ClusterError, DevModeError) as exc:
                self._report(f"forward {spec.local}->{spec.remote}: {exc}")
                conn.close()
                return
            error = streams.pump(conn, remote, stop=self._stop)
            if error:
                self._report(f"forward {spec.local}->{spec.remote}: {error.strip()}")
        finally:
            with self._lock:
                self._active.discard(conn)

    def _report(self, message: str) -> None:
        log.warning("%s", message)
        if self.on_error:
            try:
                self.on_error(message)
            except Exception:
                log.exception("forward error listener failed")
