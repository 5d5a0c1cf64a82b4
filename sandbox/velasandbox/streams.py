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
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from .errors import ApiError, bad_request
from .parts import PodProcesses

EXEC_PROTOCOLS = [
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "v4.base64.channel.k8s.io",
    "base64.channel.k8s.io",
    "channel.k8s.io",
]
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
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command [{code}], exit code {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


@dataclass(frozen=True, slots=True)
class _ExecOptions:
    command: list[str]
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool

    @staticmethod
    def parse(q) -> _ExecOptions:
        command = q.getall("command")
        if not command:
            raise bad_request("you must specify at least 1 command")
        opts = _ExecOptions(command, q.flag("stdin"), q.flag("stdout"), q.flag("stderr"), q.flag("tty"))
        if not (opts.stdin or opts.stdout or opts.stderr):
            raise bad_request("you must specify at least 1 of stdin, stdout, stderr")
        return opts


class _PipeProcess:
    """The command with pipes for stdin, stdout and stderr."""

    def __init__(self, proc: asyncio.subprocess.Process):
        self.proc = proc

    @staticmethod
    async def start(argv: list[str], env: dict, opts: _ExecOptions) -> _PipeProcess:
        return _PipeProcess(
            await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if opts.stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
        )

    def pumps(self, out: _WS, opts: _ExecOptions) -> list[asyncio.Task]:
        loop = asyncio.get_running_loop()
        return [
            loop.create_task(self._pump(self.proc.stdout, 1, out, opts.stdout)),
            loop.create_task(self._pump(self.proc.stderr, 2, out, opts.stderr)),
        ]

    @staticmethod
    async def _pump(reader, ch: int, out: _WS, wanted: bool):
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                if wanted:
                    await out.send(ch, data)
        except (ConnectionResetError, asyncio.CancelledError):
            pass

    async def write(self, data: bytes):
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        await self.proc.stdin.drain()

    def close_stdin(self):
        if self.proc.stdin is not None:
            self.proc.stdin.close()

    def resize(self, height: int, width: int):
        pass  # no terminal

    def close(self):
        pass


class _PtyProcess:
    """The command on a pseudo-terminal (``tty=true``): one output stream, resizable."""

    def __init__(self, proc: asyncio.subprocess.Process, master: int):
        self.proc = proc
        self.master = master

    @staticmethod
    async def start(argv: list[str], env: dict, opts: _ExecOptions) -> _PtyProcess:
        master, slave = os.openpty()

        def controlling_tty():
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=env,
                start_new_session=True,
                preexec_fn=controlling_tty,
            )
        except OSError:
            os.close(master)
            raise
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        return _PtyProcess(proc, master)

    def pumps(self, out: _WS, opts: _ExecOptions) -> list[asyncio.Task]:
        return [asyncio.get_running_loop().create_task(self._pump(out))]

    async def _pump(self, out: _WS):
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[bytes] = asyncio.Queue()

        def readable():
            try:
                data = os.read(self.master, 65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""  # EIO once the command and its children closed the terminal
            chunks.put_nowait(data)
            if not data:
                loop.remove_reader(self.master)

        loop.add_reader(self.master, readable)
        try:
            while data := await chunks.get():
                await out.send(1, data)
        finally:
            loop.remove_reader(self.master)

    async def write(self, data: bytes):
        os.write(self.master, data)

    def close_stdin(self):
        os.write(self.master, b"\x04")  # ^D: end of input for the terminal's reader

    def resize(self, height: int, width: int):
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    def close(self):
        asyncio.get_running_loop().remove_reader(self.master)
        os.close(self.master)


class _ExecSession:
    """One exec over one WebSocket: client frames to the command, its output and exit status back."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        out: _WS,
        proto: str | None,
        opts: _ExecOptions,
        process: _PipeProcess | _PtyProcess,
    ):
        self.ws = ws
        self.out = out
        self.v5 = proto == "v5.channel.k8s.io"
        self.v4plus = proto in ("v5.channel.k8s.io", "v4.channel.k8s.io", "v4.base64.channel.k8s.io")
        self.opts = opts
        self.process = process
        self.stdin_open = True

    async def run(self) -> asyncio.Task:
        """Until the command ends or the client goes; returns the task waiting for the command."""
        loop = asyncio.get_running_loop()
        client_task = loop.create_task(self._read_client())
        pumps = self.process.pumps(self.out, self.opts)
        wait_task = loop.create_task(self.process.proc.wait())
        try:
            done, _ = await asyncio.wait({wait_task, client_task}, return_when=asyncio.FIRST_COMPLETED)
            # If the client went first, the command keeps running, as with a real kubelet,
            # until it ends by itself (its stdin is closed).
            if wait_task in done:
                await self._finish(pumps, wait_task.result())
        finally:
            for t in [*pumps, client_task]:
                if not t.done():
                    t.cancel()
            self.process.close()
        return wait_task

    async def _finish(self, pumps: list[asyncio.Task], code: int):
        try:  # drain output that is still in the pipes
            await asyncio.wait_for(asyncio.gather(*pumps), 0.5 if self.opts.tty else 5)
        except TimeoutError:
            pass
        if code < 0:
            code = 128 - code
        if self.v4plus:
            await self.out.send(3, json.dumps(_exit_status(code)).encode())
        elif code != 0:
            await self.out.send(3, f"command terminated with non-zero exit code: {code}".encode())
        try:
            await self.ws.close(code=1000)
        except (ConnectionResetError, RuntimeError):
            pass  # the client is gone

    async def _read_client(self):
        async for msg in self.ws:
            frame = self.out.decode(msg)
            if frame is not None:
                await self._on_frame(*frame)
        # the client went away (or closed the socket to end stdin, v4 style)
        await self._close_stdin()

    async def _on_frame(self, ch: int, data: bytes):
        if ch == 255 and self.v5:
            if data[:1] == b"\x00":  # CLOSE of channel 0: end of stdin
                await self._close_stdin()
        elif ch == 0 and self.stdin_open and self.opts.stdin:
            try:
                await self.process.write(data)
            except (BrokenPipeError, ConnectionResetError, OSError):
                self.stdin_open = False
        elif ch == 4 and self.opts.tty:
            try:
                size = json.loads(data)
                self.process.resize(int(size.get("Height", 24)), int(size.get("Width", 80)))
            except (ValueError, OSError):
                pass  # a malformed resize changes nothing

    async def _close_stdin(self):
        if not self.stdin_open:
            return
        self.stdin_open = False
        try:
            self.process.close_stdin()
        except OSError:
            pass


async def handle_exec(pods: PodProcesses, open_streams: set, request: web.Request, pod: dict, q) -> web.StreamResponse:
    opts = _ExecOptions.parse(q)
    run, c = pods.exec_target(pod, q.get("container"))
    if request.headers.get("Upgrade", "").lower() != "websocket":
        raise ApiError(400, "BadRequest", "Upgrade request required (velasandbox speaks WebSocket only, not SPDY)")
    proto = _choose(_offered(request), EXEC_PROTOCOLS)
    ws = web.WebSocketResponse(protocols=[proto] if proto else (), max_msg_size=0, autoping=True, compress=False)
    await ws.prepare(request)
    out = _WS(request, ws, b64=bool(proto and "base64" in proto))
    open_streams.add(out)
    try:
        # the real server first writes an empty frame on the lowest writable channel
        await out.send(1 if opts.stdout else 2 if opts.stderr else 3, b"")
        env = dict(c.env)
        if opts.tty:
            env.setdefault("TERM", "xterm")
        argv = pods.nsenter_argv(run, c.name, c.workdir, opts.command)
        try:
            process = await (_PtyProcess if opts.tty else _PipeProcess).start(argv, env, opts)
        except OSError as e:
            await out.send(
                3,
                json.dumps(
                    {
                        "metadata": {},
                        "status": "Failure",
                        "message": str(e),
                        "reason": "InternalError",
                        "code": 500,
                        "details": {"causes": [{"message": str(e)}]},
                    }
                ).encode(),
            )
            await ws.close()
            return ws
        run.exec_procs.add(process.proc)
        wait_task = await _ExecSession(ws, out, proto, opts, process).run()
    finally:
        open_streams.discard(out)
    # the runtime kills what is left of an exec when the pod goes; forget the command once it ends
    if wait_task.done():
        run.exec_procs.discard(process.proc)
    else:
        wait_task.add_done_callback(lambda _t: run.exec_procs.discard(process.proc))
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
                raise bad_request(f"unable to parse {p!r} as a port") from None
            if not 1 <= n <= 65535:
                raise bad_request(f"port {n} must be > 0 and < 65536")
            ports.append(n)
    if not ports:
        raise bad_request('query parameter "port" is required')
    return ports


def _portforward_subprotocol(request: web.Request, offered: list[str]) -> str | None:
    """The WebSocket subprotocol to answer a port-forward with (None: the client offered none)."""
    proto = _choose(offered, PF_PROTOCOLS)
    if request.headers.get("Upgrade", "").lower() != "websocket" or (offered and proto is None):
        # e.g. kubectl's SPDY (or SPDY-over-WebSocket) port-forward
        raise ApiError(
            400,
            "BadRequest",
            "velasandbox speaks port-forward only as WebSocket v4.channel.k8s.io "
            f"(offered: {offered or request.headers.get('Upgrade', 'none')}); "
            "kubectl port-forward (SPDY) is not supported, use the Python client's portforward()",
        )
    return proto


async def handle_portforward(
    pods: PodProcesses, open_streams: set, request: web.Request, pod: dict, q
) -> web.StreamResponse:
    offered = _offered(request)
    from . import spdy

    if request.headers.get("Upgrade", "").lower() == "websocket" and spdy.PROTOCOL in offered:
        # kubectl: SPDY tunnelled through the WebSocket
        run = pods.running(pod)
        if run is None:
            raise bad_request(f"pod {pod['metadata']['name']} is not running")
        return await spdy.handle(pods, open_streams, request, pod, run)
    proto = _portforward_subprotocol(request, offered)
    ports = parse_ports(q)
    run = pods.running(pod)
    if run is None:
        raise bad_request(f"pod {pod['metadata']['name']} is not running")
    ws = web.WebSocketResponse(protocols=[proto] if proto else (), max_msg_size=0, compress=False)
    await ws.prepare(request)
    out = _WS(request, ws, b64=bool(proto and "base64" in proto))
    open_streams.add(out)
    try:
        await _PortForwardSession(pods, run, pod["metadata"], ws, out, ports).run()
    finally:
        open_streams.discard(out)
    return ws


class _PortForwardSession:
    """One port-forward over one WebSocket: a TCP connection into the pod per requested port,
    data both ways on channel 2i, connection errors on channel 2i+1."""

    def __init__(
        self, pods: PodProcesses, run: Any, metadata: dict, ws: web.WebSocketResponse, out: _WS, ports: list[int]
    ):
        self.pods, self.run_state, self.metadata = pods, run, metadata
        self.ws, self.out, self.ports = ws, out, ports
        self.writers: dict[int, asyncio.StreamWriter | None] = {}
        self.pumps: list[asyncio.Task] = []
        self.open_count = len(ports)  # ports whose pod side has not ended yet

    async def run(self) -> None:
        """Until the client goes or every port's connection has ended."""
        for i, port in enumerate(self.ports):
            hdr = bytes([port & 0xFF, port >> 8])
            await self.out.send(2 * i, hdr)
            await self.out.send(2 * i + 1, hdr)
        try:
            await self._connect_all()
            await self._read_client()
        finally:
            self._close()

    async def _connect_all(self) -> None:
        loop = asyncio.get_running_loop()
        readers = await asyncio.gather(*(self._connect(i, p) for i, p in enumerate(self.ports)))
        for i, reader in enumerate(readers):
            if reader is None:
                self.open_count -= 1
            else:
                self.pumps.append(loop.create_task(self._pod_to_client(i, reader)))
        if self.open_count <= 0:
            await self.ws.close()

    async def _connect(self, i: int, port: int) -> asyncio.StreamReader | None:
        md = self.metadata
        try:
            sock = await self.pods.open_socket(self.run_state, port)
            reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 20)
        except OSError as e:
            self.writers[i] = None
            await self.out.send(
                2 * i + 1,
                f"error forwarding port {port} to pod {md['name']}, uid {md['uid']}: {e.strerror or e}".encode(),
            )
            return None
        self.writers[i] = writer
        return reader

    async def _pod_to_client(self, i: int, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                data = await reader.read(1 << 20)
                if not data:
                    break
                await self.out.send(2 * i, data)
        except (ConnectionResetError, OSError, asyncio.CancelledError):
            pass
        finally:
            self.open_count -= 1
            if self.open_count <= 0 and not self.ws.closed:
                await self.ws.close()

    async def _read_client(self) -> None:
        async for msg in self.ws:
            frame = self.out.decode(msg)
            if frame is not None:
                await self._client_data(*frame)

    async def _client_data(self, ch: int, data: bytes) -> None:
        """Data from the client on channel `ch` to the pod (error channels and unknown ports are ignored)."""
        if ch % 2 != 0 or ch // 2 >= len(self.ports) or not data:
            return
        w = self.writers.get(ch // 2)
        if w is None:
            return
        try:
            w.write(data)
            await w.drain()
        except (ConnectionResetError, OSError):
            self.writers[ch // 2] = None

    def _close(self) -> None:
        for w in self.writers.values():
            if w is not None:
                try:
                    w.close()
                except (OSError, RuntimeError):  # already closed, or its loop is gone
                    pass
        for t in self.pumps:
            t.cancel()
