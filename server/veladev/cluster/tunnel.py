"""Port-forward as `kubectl port-forward` does it: one WebSocket to the pod's `portforward`
subresource with subprotocol `SPDY/3.1+portforward.k8s.io`, whose binary messages carry a
SPDY/3.1 byte stream; every forwarded connection is a pair of SPDY streams (`streamtype`
`error` and `data`, the same `requestid`, the pod `port`). Kubernetes serves this since 1.30
(PortForwardWebsockets; client-go's tunneling dialer, `k8s.io/client-go/tools/portforward`).

Compared with one `v4.channel.k8s.io` WebSocket per connection, a new connection costs one
SYN_STREAM pair on an open tunnel instead of a TLS and HTTP handshake, and all connections
share one socket. One thread (`serve`) owns the tunnel's TLS socket (OpenSSL objects are
not for concurrent use): it accepts, reads local sockets and the tunnel, and writes the
tunnel. Each connection has a writer thread that sends the pod's bytes to its local socket,
so those sends run beside the TLS reads and a slow local reader stalls only itself.

Only what port-forward needs of SPDY/3.1 is spoken: SYN_STREAM, SYN_REPLY, DATA (+FIN),
RST_STREAM, PING, GOAWAY. Flow-control windows are not enforced by the Go implementation
(moby/spdystream), so WINDOW_UPDATE is neither sent nor awaited. Our header blocks are zlib
streams without the SPDY/3 dictionary (a valid stream for any zlib reader given the
dictionary: the header says no dictionary is needed); the server's header blocks are never
read (SYN_REPLY carries nothing port-forward needs), so they are not decompressed.
"""

from __future__ import annotations

import collections
import os
import selectors
import socket
import ssl
import struct
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from .connection import ClusterError
from .streams import handshake_reason

PROTOCOL = "SPDY/3.1+portforward.k8s.io"
SYN_STREAM, SYN_REPLY, RST_STREAM, PING, GOAWAY = 1, 2, 3, 6, 7
FLAG_FIN = 0x01
RST_CANCEL = 5
READ_CHUNK = 256 * 1024
MAX_BUFFERED = 16 * 1024 * 1024  # per connection, waiting for a slow local reader


class TunnelUnsupported(ClusterError):
    """The API server did not accept the SPDY tunnel (an older Kubernetes)."""


def _auth_headers(configuration) -> dict[str, str]:
    headers = {}
    bearer = (configuration.auth_settings() or {}).get("BearerToken")
    if bearer and bearer.get("value"):
        headers["authorization"] = bearer["value"]
    return headers


def _ws_frame(buf: bytearray) -> tuple[int, int, int] | None:
    """(opcode, payload offset, payload length) of the WebSocket frame at the start of `buf`,
    None until all of it has arrived."""
    if len(buf) < 2:
        return None
    opcode, n = buf[0] & 0x0F, buf[1] & 0x7F
    off = 2
    if n == 126:
        if len(buf) < 4:
            return None
        n, off = struct.unpack_from(">H", buf, 2)[0], 4
    elif n == 127:
        if len(buf) < 10:
            return None
        n, off = struct.unpack_from(">Q", buf, 2)[0], 10
    if buf[1] & 0x80:
        off += 4  # the masking key
    return (opcode, off, n) if len(buf) >= off + n else None


def open_tunnel(api_client, namespace: str, pod: str, timeout: float = 20) -> Tunnel:
    from kubernetes.stream.ws_client import create_websocket, get_websocket_url
    from websocket import WebSocketException

    configuration = api_client.configuration
    url = get_websocket_url(f"{configuration.host}/api/v1/namespaces/{namespace}/pods/{pod}/portforward")
    headers = {**_auth_headers(configuration), "sec-websocket-protocol": PROTOCOL}
    what = f"port-forward to {namespace}/{pod}"
    try:
        ws = create_websocket(configuration, url, headers)
    except (WebSocketException, OSError, ValueError) as exc:  # websocket-client's own types for refused handshakes
        text = handshake_reason(str(exc)) if str(exc) else type(exc).__name__
        head = text.split(": ", 1)[0]  # the status line: the body's message may hold any digits
        if "400" in head or "403" in head and "Upgrade" in head:
            raise TunnelUnsupported(f"{what}: {text}") from None
        raise ClusterError(f"{what}: {text}") from None
    # the subprotocol was asked for as a raw header, so websocket-client does not record it
    accepted = {k.lower(): v for k, v in (ws.getheaders() or {}).items()}.get("sec-websocket-protocol")
    if accepted != PROTOCOL:
        ws.close()
        raise TunnelUnsupported(f"{what}: the API server does not tunnel SPDY port-forward over WebSocket")
    ws.settimeout(timeout)
    return Tunnel(ws, namespace, pod)


@dataclass(eq=False)
class _Conn:
    local: socket.socket
    port: int
    data_sid: int
    error_sid: int
    local_eof: bool = False
    remote_fin: bool = False
    ended: bool = False  # finished by the serving thread: the writer stops
    error: str = ""
    chunks: collections.deque = field(default_factory=collections.deque)  # from the pod, not yet sent
    queued: int = 0
    cv: threading.Condition = field(default_factory=threading.Condition)


def _write_local(c: _Conn, done: Callable[[_Conn, bool], None]) -> None:
    """A connection's writer thread: sends what came from the pod to the local socket (so a
    slow local reader holds up only its own connection, and the TLS reads of the serving
    thread run in parallel with these sends), until the pod's side ended and all is sent."""
    ok = True
    try:
        while True:
            with c.cv:
                while not c.chunks and not c.remote_fin and not c.ended:
                    c.cv.wait()
                if c.ended or not c.chunks:
                    break
                data = c.chunks[0] if len(c.chunks) == 1 else b"".join(c.chunks)
                c.chunks.clear()
                c.queued = 0
            try:
                c.local.sendall(data)
            except OSError:
                ok = False
                break
    finally:
        done(c, ok)


class Tunnel:
    """One SPDY-over-WebSocket connection to a pod (see the module doc)."""

    def __init__(self, ws, namespace: str, pod: str):
        self._ws = ws
        self.sock: socket.socket = ws.sock  # the TLS (or plain) socket under the WebSocket
        self.namespace, self.pod = namespace, pod
        self._inbuf = bytearray()  # WebSocket bytes not yet parsed
        self._spdy = bytearray()  # SPDY bytes not yet parsed
        self._next_sid = 1
        self._next_request = 0
        self._deflate = zlib.compressobj(1)
        self.closed = False

    def fileno(self) -> int:
        return self.sock.fileno()

    def pending(self) -> bool:
        return isinstance(self.sock, ssl.SSLSocket) and self.sock.pending() > 0

    # -- writing: WebSocket frames (client frames are masked, RFC 6455 5.3) ------------------
    def _send_ws(self, payload: bytes, opcode: int = 0x2) -> None:
        n = len(payload)
        if n < 126:
            head = struct.pack(">BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack(">BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack(">BBQ", 0x80 | opcode, 0x80 | 127, n)
        key = os.urandom(4)
        if n:
            masked = (int.from_bytes(payload, "little") ^ int.from_bytes((key * (n // 4 + 1))[:n], "little")).to_bytes(
                n, "little"
            )
        else:
            masked = b""
        self.sock.sendall(head + key + masked)

    def _control(self, type_: int, flags: int, payload: bytes) -> None:
        self._send_ws(struct.pack(">HHI", 0x8000 | 3, type_, (flags << 24) | len(payload)) + payload)

    def data(self, sid: int, data: bytes = b"", fin: bool = False) -> None:
        self._send_ws(struct.pack(">II", sid, ((FLAG_FIN if fin else 0) << 24) | len(data)) + data)

    def reset(self, sid: int) -> None:
        self._control(RST_STREAM, 0, struct.pack(">II", sid, RST_CANCEL))

    def _syn(self, headers: dict[str, str]) -> int:
        sid = self._next_sid
        self._next_sid += 2
        raw = struct.pack(">I", len(headers))
        for k, v in headers.items():
            raw += struct.pack(">I", len(k)) + k.encode() + struct.pack(">I", len(v)) + v.encode()
        block = self._deflate.compress(raw) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        self._control(SYN_STREAM, 0, struct.pack(">IIH", sid, 0, 0) + block)
        return sid

    def open(self, port: int) -> tuple[int, int]:
        """A new connection to `port`: (data stream id, error stream id)."""
        rid = str(self._next_request)
        self._next_request += 1
        error_sid = self._syn({"streamtype": "error", "port": str(port), "requestid": rid})
        self.data(error_sid, fin=True)  # we never write on the error stream (as kubectl)
        data_sid = self._syn({"streamtype": "data", "port": str(port), "requestid": rid})
        return data_sid, error_sid

    # -- reading ---------------------------------------------------------------------------
    def read(self) -> list[tuple[str, int, bytes, bool]] | None:
        """Reads what is available; returns SPDY events (kind, stream id, data, fin) with kind
        `data` or `reset`, or None when the tunnel has ended."""
        try:
            chunk = self.sock.recv(READ_CHUNK)
        except (TimeoutError, ssl.SSLWantReadError, BlockingIOError):
            return []
        except OSError:
            return None
        if not chunk:
            return None
        self._inbuf += chunk
        if len(chunk) < 16384:  # a short record: most likely all there is (a round trip)
            return self._parse_spdy() if self._parse_ws() else None
        # a TLS recv returns one record (16 KiB): take what else has arrived, without waiting
        timeout = self.sock.gettimeout()
        self.sock.settimeout(0)
        try:
            while len(self._inbuf) < 4 * READ_CHUNK:
                more = self.sock.recv(READ_CHUNK)
                if not more:
                    break
                self._inbuf += more
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            pass
        except OSError:
            return None
        finally:
            self.sock.settimeout(timeout)
        if not self._parse_ws():
            return None
        return self._parse_spdy()

    def _parse_ws(self) -> bool:
        buf = self._inbuf
        while (frame := _ws_frame(buf)) is not None:
            opcode, off, n = frame
            payload: bytes | memoryview
            if buf[1] & 0x80:  # servers do not mask; tolerated anyway
                key = bytes(buf[off - 4 : off])
                payload = bytes(b ^ key[i % 4] for i, b in enumerate(buf[off : off + n]))
            else:
                payload = memoryview(buf)[off : off + n]
            if opcode in (0x0, 0x2):
                self._spdy += payload
            elif opcode == 0x9:
                self._send_ws(bytes(payload), 0xA)
            if isinstance(payload, memoryview):
                payload.release()
            del buf[: off + n]
            if opcode == 0x8:
                return False
        return True

    def _parse_spdy(self) -> list[tuple[str, int, bytes, bool]] | None:
        events: list[tuple[str, int, bytes, bool]] = []
        buf = self._spdy
        while len(buf) >= 8:
            length = int.from_bytes(buf[5:8], "big")
            if len(buf) < 8 + length:
                break
            flags = buf[4]
            payload = bytes(buf[8 : 8 + length])
            control = buf[0] & 0x80
            head = bytes(buf[:4])
            del buf[: 8 + length]
            if not control:
                sid = int.from_bytes(head, "big") & 0x7FFFFFFF
                events.append(("data", sid, payload, bool(flags & FLAG_FIN)))
                continue
            type_ = int.from_bytes(head[2:4], "big")
            if type_ == SYN_REPLY:
                sid = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
                if flags & FLAG_FIN:
                    events.append(("data", sid, b"", True))
            elif type_ == RST_STREAM:
                events.append(("reset", int.from_bytes(payload[:4], "big") & 0x7FFFFFFF, b"", True))
            elif type_ == PING:
                self._control(PING, 0, payload[:4])
            elif type_ == GOAWAY:
                return None
            # SETTINGS, HEADERS, WINDOW_UPDATE: nothing port-forward needs
        return events

    def close(self) -> None:
        from websocket import WebSocketException

        if not self.closed:
            self.closed = True
            try:
                self._ws.close(timeout=1)
            except (WebSocketException, OSError, ValueError):  # already broken: nothing left to close
                pass


def serve(
    listeners: list[tuple[socket.socket, int]],
    connect: Callable[[bool], Tunnel],
    stop: threading.Event,
    report: Callable[[str], None],
    wake: socket.socket,
    fallback: Callable[[socket.socket, int], None],
) -> None:
    """Accepts on `listeners` (socket, remote port) and forwards every connection through a
    tunnel from `connect(fresh)` (fresh=True: the pod may have changed, resolve it again),
    until `stop` is set (then `wake` becomes readable). Ends every connection on exit. If the
    API server refuses the tunnel, every connection from then on goes to `fallback(local,
    remote port)` instead. Bytes for a local socket are sent by that connection's writer
    thread (`_write_local`); everything else happens in this thread."""
    _Forwarder(listeners, connect, report, wake, fallback).run(stop)


class _Forwarder:
    """The state of one `serve`: its selector, the tunnel, and the connections through it."""

    def __init__(
        self,
        listeners: list[tuple[socket.socket, int]],
        connect: Callable[[bool], Tunnel],
        report: Callable[[str], None],
        wake: socket.socket,
        fallback: Callable[[socket.socket, int], None],
    ) -> None:
        self.connect, self.report, self.wake, self.fallback = connect, report, wake, fallback
        self.sel = selectors.DefaultSelector()
        for sock, port in listeners:
            sock.setblocking(False)
            self.sel.register(sock, selectors.EVENT_READ, ("listen", (sock, port)))
        self.sel.register(wake, selectors.EVENT_READ, ("wake", None))
        self.notify_r, self.notify_w = socket.socketpair()
        self.notify_r.setblocking(False)
        self.sel.register(self.notify_r, selectors.EVENT_READ, ("writer", None))
        self.written: collections.deque[tuple[_Conn, bool]] = collections.deque()  # writers that ended
        self.tunnel: Tunnel | None = None
        self.conns: dict[int, _Conn] = {}  # by data and error stream id
        self.live: set[_Conn] = set()  # sockets not closed yet
        self.suspect = False  # an error came back: check the pod before the next open
        self.unsupported = False

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                if self.tunnel is not None and self.tunnel.pending():
                    # decrypted bytes wait in the TLS layer
                    ready = [(self.sel.get_key(self.tunnel), selectors.EVENT_READ)]
                else:
                    ready = self.sel.select(1.0)
                for key, _events in ready:
                    self._handle(*key.data)
        finally:
            self._drop_tunnel()
            for c in self.live:  # their writers were told to end; the process is done with them
                c.local.close()
            self.sel.close()
            self.notify_r.close()
            self.notify_w.close()

    def _handle(self, kind: str, obj) -> None:
        if kind == "wake":
            try:
                self.wake.recv(64)
            except OSError:
                pass
        elif kind == "writer":
            self._writers_ended()
        elif kind == "listen":
            self._accept(*obj)
        elif kind == "tunnel":
            self._from_tunnel()
        elif kind == "local":
            self._from_local(obj)

    def _writer_done(self, c: _Conn, ok: bool) -> None:  # in the writer thread
        self.written.append((c, ok))
        try:
            self.notify_w.send(b"w")
        except OSError:
            pass

    def _writers_ended(self) -> None:
        try:
            self.notify_r.recv(4096)
        except OSError:
            pass
        while self.written:
            c, ok = self.written.popleft()
            if c.data_sid in self.conns and not c.ended:
                self._finish(c, reset=not ok or not c.local_eof)
            c.local.close()  # its writer has ended: nothing uses the socket now
            self.live.discard(c)

    def _unwatch(self, c: _Conn) -> None:
        try:
            self.sel.unregister(c.local)
        except (KeyError, ValueError):
            pass

    def _finish(self, c: _Conn, reset: bool) -> None:
        """Ends the connection; its writer thread stops, and the socket is closed once it has."""
        tunnel = self.tunnel
        if reset and tunnel is not None and not tunnel.closed:
            for sid in (c.data_sid, c.error_sid):
                try:
                    tunnel.reset(sid)
                except OSError:
                    pass
        self.conns.pop(c.data_sid, None)
        self.conns.pop(c.error_sid, None)
        self._unwatch(c)
        with c.cv:
            c.ended = True
            c.cv.notify()
        try:
            c.local.shutdown(socket.SHUT_RDWR)  # a writer blocked in sendall returns
        except OSError:
            pass

    def _drop_tunnel(self) -> None:
        if self.tunnel is not None:
            try:
                self.sel.unregister(self.tunnel)
            except (KeyError, ValueError):
                pass
            self.tunnel.close()
            self.tunnel = None
        for c in {id(c): c for c in self.conns.values()}.values():
            self._finish(c, reset=False)

    def _open_stream(self, port: int) -> tuple[int, int]:
        """(data, error) stream ids for a new connection to `port`, opening or replacing the tunnel as needed."""
        if self.tunnel is not None and self.suspect:
            fresh = self.connect(True)
            if (fresh.namespace, fresh.pod) != (self.tunnel.namespace, self.tunnel.pod):
                self._drop_tunnel()
                self.tunnel = fresh
                self.sel.register(fresh, selectors.EVENT_READ, ("tunnel", None))
            else:
                fresh.close()
            self.suspect = False
        if self.tunnel is None:
            self.tunnel = self.connect(False)
            self.sel.register(self.tunnel, selectors.EVENT_READ, ("tunnel", None))
        return self.tunnel.open(port)

    def _accept(self, listener: socket.socket, port: int) -> None:
        try:
            local, _ = listener.accept()
        except OSError:
            return
        local.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        local.setblocking(True)  # read here only when select says so; written by its thread
        if self.unsupported:
            self.fallback(local, port)
            return
        try:
            data_sid, error_sid = self._open_stream(port)
        except TunnelUnsupported as exc:
            self.report(f"{exc}; using one WebSocket per connection")
            self.unsupported = True
            self.fallback(local, port)
            return
        except (ClusterError, OSError) as exc:
            self.report(f"forward to port {port}: {exc}")
            if self.tunnel is not None and isinstance(exc, OSError):
                self._drop_tunnel()
            self.suspect = True
            local.close()
            return
        c = _Conn(local, port, data_sid, error_sid)
        self.conns[data_sid] = self.conns[error_sid] = c
        self.live.add(c)
        self.sel.register(local, selectors.EVENT_READ, ("local", c))
        threading.Thread(
            target=_write_local, args=(c, self._writer_done), daemon=True, name=f"veladev-forward-{port}-write"
        ).start()

    def _from_tunnel(self) -> None:
        events = self.tunnel.read() if self.tunnel is not None else None
        if events is None:
            self._drop_tunnel()
            self.suspect = True
            return
        for ev, sid, data, fin in events:
            c = self.conns.get(sid)
            if c is None:
                continue
            if ev == "reset":
                self._finish(c, reset=False)
                continue
            if sid == c.error_sid:
                if not data:
                    continue
                c.error += data.decode(errors="replace")
                self.report(c.error.strip())
                self.suspect = True
                fin, data = True, b""
            self._queue(c, data, fin)

    def _queue(self, c: _Conn, data: bytes, fin: bool) -> None:
        """Hands bytes from the pod to the connection's writer; drops a connection whose local
        client does not read."""
        with c.cv:
            if data:
                c.chunks.append(data)
                c.queued += len(data)
            c.remote_fin = c.remote_fin or fin
            c.cv.notify()
            over = c.queued > MAX_BUFFERED
        if over:
            self.report(f"forward to port {c.port}: the local client does not read; connection dropped")
            self._finish(c, reset=True)

    def _from_local(self, c: _Conn) -> None:
        if c.data_sid not in self.conns or c.local_eof:
            return
        try:
            data = c.local.recv(READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""  # reset by the client: end the stream as for EOF
        if not data:
            c.local_eof = True
            self._unwatch(c)
        try:
            if self.tunnel is not None:
                self.tunnel.data(c.data_sid, data, fin=not data)
                return
        except (OSError, AttributeError):  # AttributeError: websocket-client after its socket closed
            pass
        self._drop_tunnel()
        self.suspect = True
