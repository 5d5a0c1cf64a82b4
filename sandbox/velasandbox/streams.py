"""Exec and port-forward over WebSocket, as kube-apiserver/kubelet speak them.

Exec: subprotocols ``v5.channel.k8s.io`` (CLOSE frames ``[255, ch]`` for stdin EOF),
``v4.channel.k8s.io``, ``channel.k8s.io`` and the ``base64`` variants. Every message is
``[channel] + payload``; channels 0 stdin, 1 stdout, 2 stderr, 3 status (a JSON
``metav1.Status`` written once, before the Close frame), 4 resize.

Port-forward: ``v4.channel.k8s.io`` — for the i-th port, data channel 2i and error channel
2i+1, each first announced with a 3-byte frame ``[ch, port & 0xff, port >> 8]``; one TCP
connection per port per WebSocket, dialled inside the pod's network namespace.
"""
from __future__ import annotations

import asyncio
import base64
import fcntl
import json
import os
import struct
import termios

from aiohttp import WSMsgType, web

from .errors import ApiError, bad_request
from .parts import PodProcesses

EXEC_PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io", "v4.base64.channel.k8s.io",
                  "base64.channel.k8s.io", "channel.k8s.io"]
PF_PROTOCOLS = ["v4.channel.k8s.io", "v4.base64.channel.k8s.io"]


def _offered(request: web.Request) -> list[str]:
    raw = request.headers.get("Sec-WebSocket-Protocol", "")
    return [p.strip() for p in raw.split(",") if p.strip()]


def _choose(offered: list[str], supported: list[str]) -> str | None:
    for p in supported:
        if p in offered:
            return p
    return None


class _WS:
    """Frame writer for one channel-multiplexed WebSocket."""

    def __init__(self, request, ws: web.WebSocketResponse, b64: bool):
        self.request = request
        self.ws = ws
        self.b64 = b64
        self.lock = asyncio.Lock()

    async def send(self, ch: int, data: bytes):
        if self.ws.closed:
            return
        try:
            if self.b64:
                await self.ws.send_str(chr(ord("0") + ch) + base64.b64encode(data).decode())
            else:
                await self.ws.send_bytes(bytes([ch]) + data)
        except (ConnectionResetError, RuntimeError):
            pass

    def decode(self, msg) -> tuple[int, bytes] | None:
        if msg.type == WSMsgType.BINARY:
            data = msg.data
            if not data:
                return None
            if self.b64:
                return data[0] - ord("0"), base64.b64decode(data[1:])
            return data[0], data[1:]
        if msg.type == WSMsgType.TEXT:
            s = msg.data
            if not s:
                return None
            if self.b64:
                return ord(s[0]) - ord("0"), base64.b64decode(s[1:])
            raw = s.encode("utf-8")
            return raw[0], raw[1:]
        return None

    async def drop(self):
        tr = self.request.transport
        if tr is not None:
            tr.abort()


def _exit_status(code: int) -> dict:
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command [{code}], exit code {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


async def handle_exec(pods: PodProcesses, open_streams: set, request: web.Request, pod: dict, q) -> web.StreamResponse:
    command = q.getall("command")
    if not command:
        raise bad_request("you must specify at least 1 command")
    want_in, want_out, want_err, tty = q.flag("stdin"), q.flag("stdout"), q.flag("stderr"), q.flag("tty")
    if not (want_in or want_out or want_err):
        raise bad_request("you must specify at least 1 of stdin, stdout, stderr")
    rt = pods
    run, c = rt.exec_target(pod, q.get("container"))
    if request.headers.get("Upgrade", "").lower() != "websocket":
        raise ApiError(400, "BadRequest", "Upgrade request required (velasandbox speaks WebSocket only, not SPDY)")
    proto = _choose(_offered(request), EXEC_PROTOCOLS)
    ws = web.WebSocketResponse(protocols=[proto] if proto else (), max_msg_size=0, autoping=True,
                               compress=False)
    await ws.prepare(request)
    v5 = proto == "v5.channel.k8s.io"
    v4plus = proto in ("v5.channel.k8s.io", "v4.channel.k8s.io", "v4.base64.channel.k8s.io")
    out = _WS(request, ws, b64=bool(proto and "base64" in proto))
    open_streams.add(out)
    # the real server first writes an empty frame on the lowest writable channel
    await out.send(1 if want_out else 2 if want_err else 3, b"")
    env = dict(c.env)
    if tty:
        env.setdefault("TERM", "xterm")
    argv = rt.nsenter_argv(run, c.name, c.workdir, command)
    loop = asyncio.get_running_loop()
    master = None
    try:
        if tty:
            master, slave = os.openpty()

            def _ctty():
                fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            proc = await asyncio.create_subprocess_exec(*argv, stdin=slave, stdout=slave, stderr=slave,
                                                        env=env, start_new_session=True, preexec_fn=_ctty)
            os.close(slave)
            os.set_blocking(master, False)
        else:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE if want_in else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
                start_new_session=True)
    except OSError as e:
        await out.send(3, json.dumps({"metadata": {}, "status": "Failure", "message": str(e),
                                      "reason": "InternalError", "code": 500,
                                      "details": {"causes": [{"message": str(e)}]}}).encode())
        await ws.close()
        open_streams.discard(out)
        return ws
    run.exec_procs.add(proc)

    async def pump(reader, ch):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                if (ch == 1 and want_out) or (ch == 2 and want_err):
                    await out.send(ch, data)
        except (ConnectionResetError, asyncio.CancelledError):
            pass

    async def pump_pty():
        q_ = asyncio.Queue()

        def readable():
            try:
                data = os.read(master, 65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            q_.put_nowait(data)
            if not data:
                loop.remove_reader(master)
        loop.add_reader(master, readable)
        try:
            while True:
                data = await q_.get()
                if not data:
                    return
                await out.send(1, data)
        finally:
            try:
                loop.remove_reader(master)
            except Exception:  # noqa: BLE001
                pass

    async def read_client():
        stdin_open = True
        async for msg in ws:
            d = out.decode(msg)
            if d is None:
                continue
            ch, data = d
            if ch == 255 and v5:
                if data[:1] == b"\x00" and stdin_open:
                    stdin_open = False
                    await _close_stdin()
                continue
            if ch == 0 and stdin_open and want_in:
                try:
                    if tty:
                        os.write(master, data)
                    else:
                        proc.stdin.write(data)
                        await proc.stdin.drain()
                except (BrokenPipeError, ConnectionResetError, OSError):
                    stdin_open = False
            elif ch == 4 and tty:
                try:
                    sz = json.loads(data)
                    fcntl.ioctl(master, termios.TIOCSWINSZ,
                                struct.pack("HHHH", int(sz.get("Height", 24)), int(sz.get("Width", 80)), 0, 0))
                except (ValueError, OSError):
                    pass
        # client went away (or closed the socket to end stdin, v4 style)
        if stdin_open:
            await _close_stdin()

    async def _close_stdin():
        try:
            if tty:
                os.write(master, b"\x04")
            elif proc.stdin is not None:
                proc.stdin.close()
        except OSError:
            pass

    client_task = loop.create_task(read_client())
    if tty:
        pumps = [loop.create_task(pump_pty())]
    else:
        pumps = [loop.create_task(pump(proc.stdout, 1)), loop.create_task(pump(proc.stderr, 2))]
    wait_task = loop.create_task(proc.wait())
    try:
        done, _ = await asyncio.wait({wait_task, client_task}, return_when=asyncio.FIRST_COMPLETED)
        if wait_task in done:
            # drain output that is still in the pipes
            try:
                await asyncio.wait_for(asyncio.gather(*pumps), 5 if not tty else 0.5)
            except asyncio.TimeoutError:
                pass
            code = wait_task.result()
            if code < 0:
                code = 128 - code
            if v4plus:
                await out.send(3, json.dumps(_exit_status(code)).encode())
            elif code != 0:
                await out.send(3, f"command terminated with non-zero exit code: {code}".encode())
            try:
                await ws.close(code=1000)
            except Exception:  # noqa: BLE001
                pass
        else:
            # client disconnected first: the process keeps running, as with a real kubelet,
            # until it ends by itself (stdin was closed)
            pass
    finally:
        for t in pumps:
            if not t.done():
                t.cancel()
        if not client_task.done():
            client_task.cancel()
        if master is not None:
            try:
                loop.remove_reader(master)
            except Exception:  # noqa: BLE001
                pass
            os.close(master)
        open_streams.discard(out)

        def _reap(_t):
            run.exec_procs.discard(proc)
        if wait_task.done():
            run.exec_procs.discard(proc)
        else:
            wait_task.add_done_callback(_reap)
    return ws


def parse_ports(q) -> list[int]:
    ports = []
    for v in q.getall("ports"):
        for p in v.split(","):
            p = p.strip()
            if not p:
                continue
            try:
                n = int(p)
            except ValueError:
                raise bad_request(f"unable to parse {p!r} as a port")
            if not 1 <= n <= 65535:
                raise bad_request(f"port {n} must be > 0 and < 65536")
            ports.append(n)
    if not ports:
        raise bad_request("query parameter \"port\" is required")
    return ports


async def handle_portforward(pods: PodProcesses, open_streams: set, request: web.Request, pod: dict,
                             q) -> web.StreamResponse:
    offered = _offered(request)
    from . import spdy
    if request.headers.get("Upgrade", "").lower() == "websocket" and spdy.PROTOCOL in offered:
        # kubectl: SPDY tunnelled through the WebSocket
        run = pods.running(pod)
        if run is None:
            raise bad_request(f"pod {pod['metadata']['name']} is not running")
        return await spdy.handle(pods, open_streams, request, pod, run)
    if request.headers.get("Upgrade", "").lower() != "websocket" or (
            offered and _choose(offered, PF_PROTOCOLS) is None):
        # e.g. kubectl's SPDY (or SPDY-over-WebSocket) port-forward
        raise ApiError(400, "BadRequest",
                       "velasandbox speaks port-forward only as WebSocket v4.channel.k8s.io "
                       f"(offered: {offered or request.headers.get('Upgrade', 'none')}); "
                       "kubectl port-forward (SPDY) is not supported, use the Python client's portforward()")
    ports = parse_ports(q)
    rt = pods
    md = pod["metadata"]
    run = pods.running(pod)
    if run is None:
        raise bad_request(f"pod {md['name']} is not running")
    if request.headers.get("Upgrade", "").lower() != "websocket":
        raise ApiError(400, "BadRequest", "Upgrade request required (velasandbox speaks WebSocket only, not SPDY)")
    offered = _offered(request)
    proto = _choose(offered, PF_PROTOCOLS)
    if proto is None and offered:
        # e.g. kubectl's "SPDY/3.1+portforward.k8s.io" tunnel: not spoken here
        raise ApiError(400, "BadRequest",
                       f"unsupported port-forward subprotocols {offered}; velasandbox speaks v4.channel.k8s.io")
    ws = web.WebSocketResponse(protocols=[proto] if proto else (), max_msg_size=0, compress=False)
    await ws.prepare(request)
    out = _WS(request, ws, b64=bool(proto and "base64" in proto))
    open_streams.add(out)
    loop = asyncio.get_running_loop()
    for i, port in enumerate(ports):
        hdr = bytes([port & 0xFF, port >> 8])
        await out.send(2 * i, hdr)
        await out.send(2 * i + 1, hdr)
    writers: dict[int, asyncio.StreamWriter | None] = {}
    pumps = []
    open_count = [len(ports)]

    async def connect(i, port):
        try:
            sock = await rt.open_socket(run, port)
            reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 20)
        except OSError as e:
            writers[i] = None
            await out.send(2 * i + 1, f"error forwarding port {port} to pod {md['name']}, uid {md['uid']}: "
                                      f"{e.strerror or e}".encode())
            return None, None
        writers[i] = writer
        return reader, writer

    async def pod_to_client(i, reader):
        try:
            while True:
                data = await reader.read(1 << 20)
                if not data:
                    break
                await out.send(2 * i, data)
        except (ConnectionResetError, OSError, asyncio.CancelledError):
            pass
        finally:
            open_count[0] -= 1
            if open_count[0] <= 0 and not ws.closed:
                await ws.close()

    conns = await asyncio.gather(*(connect(i, p) for i, p in enumerate(ports)))
    for i, (reader, _w) in enumerate(conns):
        if reader is None:
            open_count[0] -= 1
        else:
            pumps.append(loop.create_task(pod_to_client(i, reader)))
    if open_count[0] <= 0:
        await ws.close()
    try:
        async for msg in ws:
            d = out.decode(msg)
            if d is None:
                continue
            ch, data = d
            if ch % 2 != 0 or ch // 2 >= len(ports) or not data:
                continue
            w = writers.get(ch // 2)
            if w is None:
                continue
            try:
                w.write(data)
                await w.drain()
            except (ConnectionResetError, OSError):
                writers[ch // 2] = None
    finally:
        for w in writers.values():
            if w is not None:
                try:
                    w.close()
                except Exception:  # noqa: BLE001
                    pass
        for t in pumps:
            t.cancel()
        open_streams.discard(out)
    return ws
