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


def open_tunnel(api_client, namespace: str, pod: str, timeout: float = 20) -> "Tunnel":
    from kubernetes.stream.ws_client import create_websocket, get_websocket_url

    configuration = api_client.configuration
    url = get_websocket_url(f"{configuration.host}/api/v1/namespaces/{namespace}/pods/{pod}/portforward")
    headers = {**_auth_headers(configuration), "sec-websocket-protocol": PROTOCOL}
    what = f"port-forward to {namespace}/{pod}"
    try:
        ws = create_websocket(configuration, url, headers)
    except Exception as exc:  # websocket-client raises its own types for refused handshakes
        text = str(exc).split(" -+-+- ")[0].strip().splitlines()[0][:300] if str(exc) else type(exc).__name__
        if "400" in text or "403" in text and "Upgrade" in text:
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
    ended: bool = False              # finished by the serving thread: the writer stops
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
        self._inbuf = bytearray()     # WebSocket bytes not yet parsed
        self._spdy = bytearray()      # SPDY bytes not yet parsed
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
            masked = (int.from_bytes(payload, "little")
                      ^ int.from_bytes((key * (n // 4 + 1))[:n], "little")).to_bytes(n, "little")
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
        except (ssl.SSLWantReadError, BlockingIOError, socket.timeout):
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
        while len(buf) >= 2:
            opcode, n = buf[0] & 0x0F, buf[1] & 0x7F
            off = 2
            if n == 126:
                if len(buf) < 4:
                    break
                n, off = struct.unpack_from(">H", buf, 2)[0], 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n, off = struct.unpack_from(">Q", buf, 2)[0], 10
            if buf[1] & 0x80:
                off += 4  # servers do not mask; tolerated anyway below
            if len(buf) < off + n:
                break
            if buf[1] & 0x80:
                key = bytes(buf[off - 4:off])
                payload = bytes(b ^ key[i % 4] for i, b in enumerate(buf[off:off + n]))
            else:
                payload = memoryview(buf)[off:off + n]
            if opcode in (0x0, 0x2):
                self._spdy += payload
            elif opcode == 0x9:
                self._send_ws(bytes(payload), 0xA)
            if isinstance(payload, memoryview):
                payload.release()
            del buf[:off + n]
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
            payload = bytes(buf[8:8 + length])
            control = buf[0] & 0x80
            head = bytes(buf[:4])
            del buf[:8 + length]
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
        if not self.closed:
            self.closed = True
            try:
                self._ws.close(timeout=1)
            except Exception:
                pass


def serve(listeners: list[tuple[socket.socket, int]], connect: Callable[[bool], Tunnel], stop: threading.Event,
          report: Callable[[str], None], wake: socket.socket,
          fallback: Callable[[socket.socket, int], None]) -> None:
    """Accepts on `listeners` (socket, remote port) and forwards every connection through a
    tunnel from `connect(fresh)` (fresh=True: the pod may have changed, resolve it again),
    until `stop` is set (then `wake` becomes readable). Ends every connection on exit. If the
    API server refuses the tunnel, every connection from then on goes to `fallback(local,
    remote port)` instead. Bytes for a local socket are sent by that connection's writer
    thread (`_write_local`); everything else happens in this thread."""
    sel = selectors.DefaultSelector()
    for sock, port in listeners:
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ, ("listen", port))
    sel.register(wake, selectors.EVENT_READ, ("wake", None))
    notify_r, notify_w = socket.socketpair()
    notify_r.setblocking(False)
    sel.register(notify_r, selectors.EVENT_READ, ("writer", None))
    written: collections.deque[tuple[_Conn, bool]] = collections.deque()  # writers that ended
    tunnel: Tunnel | None = None
    conns: dict[int, _Conn] = {}      # by data and error stream id
    live: set[_Conn] = set()          # sockets not closed yet
    suspect = False                   # an error came back: check the pod before the next open
    unsupported = False

    def writer_done(c: _Conn, ok: bool) -> None:  # in the writer thread
        written.append((c, ok))
        try:
            notify_w.send(b"w")
        except OSError:
            pass

    def unwatch(c: _Conn) -> None:
        try:
            sel.unregister(c.local)
        except (KeyError, ValueError):
            pass

    def finish(c: _Conn, reset: bool) -> None:
        """Ends the connection; its writer thread stops, and the socket is closed once it has."""
        if reset and tunnel is not None and not tunnel.closed:
            for sid in (c.data_sid, c.error_sid):
                try:
                    tunnel.reset(sid)
                except OSError:
                    pass
        conns.pop(c.data_sid, None)
        conns.pop(c.error_sid, None)
        unwatch(c)
        with c.cv:
            c.ended = True
            c.cv.notify()
        try:
            c.local.shutdown(socket.SHUT_RDWR)  # a writer blocked in sendall returns
        except OSError:
            pass

    def drop_tunnel() -> None:
        nonlocal tunnel
        if tunnel is not None:
            try:
                sel.unregister(tunnel)
            except (KeyError, ValueError):
                pass
            tunnel.close()
            tunnel = None
        for c in {id(c): c for c in conns.values()}.values():
            finish(c, reset=False)

    try:
        while not stop.is_set():
            if tunnel is not None and tunnel.pending():
                ready = [(sel.get_key(tunnel), selectors.EVENT_READ)]  # decrypted bytes wait in the TLS layer
            else:
                ready = sel.select(1.0)
            for key, mask in ready:
                kind, obj = key.data
                if kind == "wake":
                    try:
                        wake.recv(64)
                    except OSError:
                        pass
                elif kind == "writer":
                    try:
                        notify_r.recv(4096)
                    except OSError:
                        pass
                    while written:
                        c, ok = written.popleft()
                        if c.data_sid in conns and not c.ended:
                            finish(c, reset=not ok or not c.local_eof)
                        c.local.close()  # its writer has ended: nothing uses the socket now
                        live.discard(c)
                elif kind == "listen":
                    try:
                        local, _ = key.fileobj.accept()
                    except OSError:
                        continue
                    local.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    local.setblocking(True)  # read here only when select says so; written by its thread
                    if unsupported:
                        fallback(local, obj)
                        continue
                    try:
                        if tunnel is not None and suspect:
                            fresh = connect(True)
                            if (fresh.namespace, fresh.pod) != (tunnel.namespace, tunnel.pod):
                                drop_tunnel()
                                tunnel = fresh
                                sel.register(tunnel, selectors.EVENT_READ, ("tunnel", None))
                            else:
                                fresh.close()
                            suspect = False
                        if tunnel is None:
                            tunnel = connect(False)
                            sel.register(tunnel, selectors.EVENT_READ, ("tunnel", None))
                        data_sid, error_sid = tunnel.open(obj)
                    except TunnelUnsupported as exc:
                        report(f"{exc}; using one WebSocket per connection")
                        unsupported = True
                        fallback(local, obj)
                        continue
                    except (ClusterError, OSError) as exc:
                        report(f"forward to port {obj}: {exc}")
                        if tunnel is not None and isinstance(exc, OSError):
                            drop_tunnel()
                        suspect = True
                        local.close()
                        continue
                    c = _Conn(local, obj, data_sid, error_sid)
                    conns[data_sid] = conns[error_sid] = c
                    live.add(c)
                    sel.register(local, selectors.EVENT_READ, ("local", c))
                    threading.Thread(target=_write_local, args=(c, writer_done), daemon=True,
                                     name=f"veladev-forward-{obj}-write").start()
                elif kind == "tunnel":
                    events = tunnel.read() if tunnel is not None else None
                    if events is None:
                        drop_tunnel()
                        suspect = True
                        continue
                    for ev, sid, data, fin in events:
                        c = conns.get(sid)
                        if c is None:
                            continue
                        if ev == "reset":
                            finish(c, reset=False)
                            continue
                        if sid == c.error_sid:
                            if not data:
                                continue
                            c.error += data.decode(errors="replace")
                            report(c.error.strip())
                            suspect = True
                            fin, data = True, b""
                        with c.cv:
                            if data:
                                c.chunks.append(data)
                                c.queued += len(data)
                            c.remote_fin = c.remote_fin or fin
                            c.cv.notify()
                            over = c.queued > MAX_BUFFERED
                        if over:
                            report(f"forward to port {c.port}: the local client does not read; connection dropped")
                            finish(c, reset=True)
                elif kind == "local":
                    c = obj
                    if c.data_sid not in conns or c.local_eof:
                        continue
                    try:
                        data = c.local.recv(READ_CHUNK)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        data = b""  # reset by the client: end the stream as for EOF
                    try:
                        if data:
                            tunnel.data(c.data_sid, data)
                        else:
                            c.local_eof = True
                            unwatch(c)
                            tunnel.data(c.data_sid, fin=True)
                    except (OSError, AttributeError):
                        drop_tunnel()
                        suspect = True
    finally:
        drop_tunnel()
        for c in live:  # their writers were told to end; the process is done with them
            c.local.close()
        sel.close()
        notify_r.close()
        notify_w.close()
