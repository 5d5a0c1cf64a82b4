"""kubectl port-forward: SPDY/3.1 tunnelled in a WebSocket (``SPDY/3.1+portforward.k8s.io``).

kubectl (client-go's tunneling dialer) opens a WebSocket whose binary messages carry a raw
SPDY/3.1 byte stream. Over it, the port-forward protocol (``portforward.k8s.io``) creates
two streams per connection — ``streamType: error`` and ``streamType: data``, paired by
``requestID`` and naming the ``port`` — and the server answers each SYN_STREAM with a
SYN_REPLY, then copies bytes between the data stream and the pod's port, writing dial errors
on the error stream (as the kubelet does). Only what that needs is implemented: SYN_STREAM,
SYN_REPLY, DATA (+FIN), RST_STREAM, PING, GOAWAY; SETTINGS and WINDOW_UPDATE are ignored
(the Go client does not enforce flow-control windows). Header blocks are zlib-compressed
with the SPDY/3 dictionary, one compression context per direction.
"""

from __future__ import annotations

import asyncio
import struct
import zlib

from aiohttp import WSMsgType, web

from .parts import PodProcesses

PROTOCOL = "SPDY/3.1+portforward.k8s.io"

SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01


def _dictionary() -> bytes:
    """The SPDY/3 header-compression dictionary (draft-mbelshe-httpbis-spdy-00, 2.6.10.1)."""
    words = [
        "options",
        "head",
        "post",
        "put",
        "delete",
        "trace",
        "accept",
        "accept-charset",
        "accept-encoding",
        "accept-language",
        "accept-ranges",
        "age",
        "allow",
        "authorization",
        "cache-control",
        "connection",
        "content-base",
        "content-encoding",
        "content-language",
        "content-length",
        "content-location",
        "content-md5",
        "content-range",
        "content-type",
        "date",
        "etag",
        "expect",
        "expires",
        "from",
        "host",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-range",
        "if-unmodified-since",
        "last-modified",
        "location",
        "max-forwards",
        "pragma",
        "proxy-authenticate",
        "proxy-authorization",
        "range",
        "referer",
        "retry-after",
        "server",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "vary",
        "via",
        "warning",
        "www-authenticate",
        "method",
        "get",
        "status",
        "200 OK",
        "version",
        "HTTP/1.1",
        "url",
        "public",
        "set-cookie",
        "keep-alive",
        "origin",
    ]
    d = b"".join(struct.pack(">I", len(w)) + w.encode() for w in words)
    d += (
        b"100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
        b"203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
        b"401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
        b"503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
        b"Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
        b"application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
        b"gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
    )
    return d


DICT = _dictionary()


class _Stream:
    def __init__(self, sid: int, headers: dict):
        self.sid = sid
        self.headers = headers
        self.writer: asyncio.StreamWriter | None = None
        self.pending: list[bytes] = []
        self.remote_fin = False
        self.task: asyncio.Task | None = None


class SpdyPortForward:
    def __init__(self, pods: PodProcesses, request: web.Request, ws: web.WebSocketResponse, run, pod: dict):
        self.pods = pods
        self.request = request
        self.ws = ws
        self.run = run
        self.pod = pod
        self.buf = bytearray()
        self.inflate = zlib.decompressobj(zdict=DICT)
        self.deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, zdict=DICT)
        self.streams: dict[int, _Stream] = {}
        self.pairs: dict[str, dict[str, _Stream]] = {}
        self.wlock = asyncio.Lock()
        self.tasks: set[asyncio.Task] = set()

    async def drop(self):
        tr = self.request.transport
        if tr is not None:
            tr.abort()

    # ------------------------------------------------------------------ framing
    async def _send(self, data: bytes):
        if self.ws.closed:
            return
        async with self.wlock:
            try:
                await self.ws.send_bytes(data)
            except (ConnectionResetError, RuntimeError):
                pass

    def _control(self, type_: int, flags: int, payload: bytes) -> bytes:
        return struct.pack(">HHI", 0x8000 | 3, type_, (flags << 24) | len(payload)) + payload

    def _header_block(self, headers: dict[str, str]) -> bytes:
        raw = struct.pack(">I", len(headers))
        for k, v in headers.items():
            kb, vb = k.lower().encode(), v.encode()
            raw += struct.pack(">I", len(kb)) + kb + struct.pack(">I", len(vb)) + vb
        return self.deflate.compress(raw) + self.deflate.flush(zlib.Z_SYNC_FLUSH)

    def _parse_headers(self, block: bytes) -> dict[str, str]:
        raw = self.inflate.decompress(block)
        n = struct.unpack_from(">I", raw, 0)[0]
        off = 4
        out = {}
        for _ in range(n):
            kl = struct.unpack_from(">I", raw, off)[0]
            off += 4
            k = raw[off : off + kl].decode()
            off += kl
            vl = struct.unpack_from(">I", raw, off)[0]
            off += 4
            v = raw[off : off + vl].decode()
            off += vl
            out[k.lower()] = v
        return out

    async def _data(self, sid: int, data: bytes, fin: bool = False):
        for i in range(0, max(len(data), 1), 65536):
            chunk = data[i : i + 65536]
            last = fin and i + 65536 >= len(data)
            await self._send(
                struct.pack(">II", sid & 0x7FFFFFFF, ((FLAG_FIN if last else 0) << 24) | len(chunk)) + chunk
            )

    # ------------------------------------------------------------------ protocol
    async def serve(self):
        try:
            async for msg in self.ws:
                if msg.type != WSMsgType.BINARY:
                    continue
                self.buf += msg.data
                while len(self.buf) >= 8:
                    length = int.from_bytes(self.buf[5:8], "big")
                    if len(self.buf) < 8 + length:
                        break
                    frame = bytes(self.buf[: 8 + length])
                    del self.buf[: 8 + length]
                    await self._frame(frame)
        finally:
            for s in self.streams.values():
                if s.writer is not None:
                    try:
                        s.writer.close()
                    except (OSError, RuntimeError):  # already closed, or its loop is gone
                        pass
            for t in list(self.tasks):
                t.cancel()

    async def _frame(self, frame: bytes):
        flags = frame[4]
        payload = frame[8:]
        if frame[0] & 0x80:
            await self._control_frame(int.from_bytes(frame[2:4], "big"), flags, payload)
            return
        st = self.streams.get(int.from_bytes(frame[0:4], "big") & 0x7FFFFFFF)
        if st is None:
            return
        is_data = st.headers.get("streamtype") == "data"
        if is_data:
            await self._to_port(st, payload)
        if flags & FLAG_FIN:
            st.remote_fin = True
            if st.writer is not None and is_data:
                try:
                    if st.writer.can_write_eof():
                        st.writer.write_eof()
                except (OSError, RuntimeError):
                    pass

    async def _control_frame(self, type_: int, flags: int, payload: bytes):
        if type_ == SYN_STREAM:
            sid = int.from_bytes(payload[0:4], "big") & 0x7FFFFFFF
            headers = self._parse_headers(payload[10:])
            await self._send(self._control(SYN_REPLY, 0, struct.pack(">I", sid) + self._header_block({})))
            st = _Stream(sid, headers)
            st.remote_fin = bool(flags & FLAG_FIN)
            self.streams[sid] = st
            await self._paired(st)
        elif type_ == PING:
            await self._send(self._control(PING, 0, payload[:4]))
        elif type_ == RST_STREAM:
            reset = self.streams.pop(int.from_bytes(payload[0:4], "big") & 0x7FFFFFFF, None)
            if reset is not None and reset.writer is not None:
                reset.writer.close()
        elif type_ == GOAWAY:
            await self.ws.close()
        elif type_ == HEADERS:
            self._parse_headers(payload[4:])  # keep the compression context in step
        # SETTINGS, WINDOW_UPDATE: ignored

    @staticmethod
    async def _to_port(st: _Stream, payload: bytes):
        """Data for the pod's port: written once the port is connected, kept until then."""
        if st.writer is None:
            if payload:
                st.pending.append(payload)
            return
        if payload:
            try:
                st.writer.write(payload)
                await st.writer.drain()
            except (ConnectionResetError, OSError):
                pass

    async def _paired(self, st: _Stream):
        rid = st.headers.get("requestid", "")
        pair = self.pairs.setdefault(rid, {})
        pair[st.headers.get("streamtype", "")] = st
        if "data" in pair and "error" in pair:
            del self.pairs[rid]
            t = asyncio.get_running_loop().create_task(self._forward(pair["data"], pair["error"]))
            self.tasks.add(t)
            t.add_done_callback(self.tasks.discard)

    async def _forward(self, data: _Stream, err: _Stream):
        md = self.pod["metadata"]
        try:
            port = int(data.headers.get("port", "0"))
            sock = await self.pods.open_socket(self.run, port)
            reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 20)
        except (OSError, ValueError) as e:
            msg = (
                f"error forwarding port {data.headers.get('port')} to pod {md['name']}, "
                f"uid {md['uid']}: {getattr(e, 'strerror', None) or e}"
            )
            await self._data(err.sid, msg.encode(), fin=True)
            await self._data(data.sid, b"", fin=True)
            return
        data.writer = writer
        for p in data.pending:
            writer.write(p)
        data.pending.clear()
        if data.remote_fin and writer.can_write_eof():
            writer.write_eof()
        try:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                await self._data(data.sid, chunk)
        except (ConnectionResetError, OSError):
            pass
        finally:
            await self._data(data.sid, b"", fin=True)
            await self._data(err.sid, b"", fin=True)
            try:
                writer.close()
            except (OSError, RuntimeError):  # already closed, or its loop is gone
                pass
            self.streams.pop(data.sid, None)
            self.streams.pop(err.sid, None)


async def handle(pods: PodProcesses, open_streams: set, request: web.Request, pod: dict, run) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(protocols=[PROTOCOL], max_msg_size=0, compress=False)
    await ws.prepare(request)
    pf = SpdyPortForward(pods, request, ws, run, pod)
    open_streams.add(pf)
    try:
        await pf.serve()
    finally:
        open_streams.discard(pf)
    return ws
