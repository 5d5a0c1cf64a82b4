"""Streams into pods: exec (stdin, stdout, stderr, exit status), tar over exec, port-forward.

The only module that uses `kubernetes.stream`. Its `stream()` swaps `call_api` on the
ApiClient it is given while it connects, so two threads sharing an ApiClient would race (and
a plain API call on another thread could go out as a WebSocket). Every stream here is
therefore opened on a private ApiClient per thread that shares the caller's configuration.

Exit codes come from the status the API server sends on channel 3 once the command ended
(a `metav1.Status`: `Success`, or `NonZeroExitCode` with the code in its causes). Closing
stdin needs the v5 exec protocol (Kubernetes >= 1.30); with v4, `tar -x` still ends at the
archive's end-of-archive blocks, which is all the callers below rely on.

Everything has a timeout: connecting, writing, and waiting for the command's end.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import queue
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from .connection import ClusterError

STDIN, STDOUT, STDERR, STATUS, RESIZE = 0, 1, 2, 3, 4
CHUNK = 512 * 1024

_local = threading.local()


def _private_client(api_client):
    """An ApiClient for this thread with the caller's configuration (see the module doc)."""
    from kubernetes import client

    cache = getattr(_local, "clients", None)
    if cache is None:
        cache = _local.clients = {}
    key = id(api_client.configuration)
    entry = cache.get(key)
    if entry is None or entry[0] is not api_client.configuration:
        entry = cache[key] = (api_client.configuration, client.ApiClient(configuration=api_client.configuration))
    return entry[1]


def _stream_errors() -> tuple[type[BaseException], ...]:
    """What a broken or closed WebSocket raises: websocket-client's own types, socket errors,
    and ValueError from select/poll on a socket already closed (file descriptor -1).
    A function so that `except _stream_errors()` imports websocket-client only on failure."""
    from websocket import WebSocketException

    return (WebSocketException, OSError, ValueError)


def _connect(api_client, what: str, method_name: str, name: str, namespace: str, timeout: float, **params):
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException
    from kubernetes.stream import stream

    core = client.CoreV1Api(_private_client(api_client))
    try:
        ws = stream(
            getattr(core, method_name),
            name,
            namespace,
            _preload_content=False,
            binary=True,
            _request_timeout=timeout,
            **params,
        )
    except ApiException as exc:  # the client wraps every handshake failure in ApiException(status=0)
        raise ClusterError(f"{what}: {_short_reason(exc)}") from None
    ws.sock.settimeout(timeout)
    return ws


def _status_message(body: str) -> str:
    """The `message` of the Kubernetes Status object in a handshake's body (websocket-client
    shows the body as the repr of its bytes); "" when there is none."""
    body = body.strip()
    if not body or len(body) > 65536:
        return ""
    try:
        raw = ast.literal_eval(body) if body[:2] in ("b'", 'b"') else body
        if isinstance(raw, bytes):
            raw = raw.decode(errors="replace")
        message = json.loads(raw).get("message")
    except (ValueError, SyntaxError, TypeError, AttributeError, MemoryError, RecursionError):
        return ""
    return message.strip() if isinstance(message, str) else ""


def handshake_reason(text: str) -> str:
    """One line from a refused WebSocket handshake: websocket-client writes "Handshake status
    <code> <reason> -+-+- <headers> -+-+- <body>"; the body's Status message says why (e.g. the
    cluster-gateway's `no such cluster <c>`, or that a cluster is unreachable). The headers are
    left out."""
    parts = text.split(" -+-+- ")
    head = (parts[0].strip().splitlines() or [""])[0]
    message = _status_message(parts[-1]) if len(parts) > 2 else ""
    return (f"{head}: {message}" if message else head)[:300]


def _short_reason(exc: Exception) -> str:
    return handshake_reason(str(getattr(exc, "reason", "") or exc) or type(exc).__name__)


@dataclass(frozen=True, slots=True)
class ExecResult:
    code: int
    stdout: bytes
    stderr: bytes


class ExecStream:
    """One running exec session. Not thread-safe except `write`/`resize` against `poll`."""

    def __init__(self, ws, what: str):
        self._ws = ws
        self._what = what
        self._status: bytes = b""
        self._send_lock = threading.Lock()

    @property
    def v5(self) -> bool:
        return getattr(self._ws, "subprotocol", None) == "v5.channel.k8s.io"

    def write(self, data: bytes) -> None:
        try:
            with self._send_lock:
                for off in range(0, len(data), CHUNK):
                    self._ws.write_channel(STDIN, data[off : off + CHUNK])
        except _stream_errors() as exc:
            raise ClusterError(f"{self._what}: the stream closed while sending ({type(exc).__name__})") from None

    def close_stdin(self) -> None:
        with self._send_lock:
            try:
                self._ws.close_channel(STDIN)
            except _stream_errors():  # the command may have ended already; its status says how
                pass

    def resize(self, columns: int, rows: int) -> None:
        with self._send_lock:
            try:
                self._ws.write_channel(RESIZE, json.dumps({"Width": columns, "Height": rows}).encode())
            except _stream_errors():  # a resize racing the command's end is moot
                pass

    def is_open(self) -> bool:
        return self._ws.is_open()

    def poll(self, timeout: float) -> tuple[bytes, bytes]:
        """Waits up to `timeout` for output; returns (stdout, stderr) received so far."""
        try:
            self._ws.update(timeout=timeout)
        except _stream_errors() as exc:
            self._ws.close()
            raise ClusterError(f"{self._what}: the stream broke ({type(exc).__name__})") from None
        status = self._ws.read_channel(STATUS)
        if status:
            self._status += status
        return self._ws.read_channel(STDOUT), self._ws.read_channel(STDERR)

    def exit_code(self) -> int:
        """The command's exit code once the stream has ended; ClusterError if it ended without one."""
        if not self._status:
            raise ClusterError(f"{self._what}: the stream ended without an exit status (pod gone or connection lost)")
        try:
            status = json.loads(self._status)
        except ValueError:
            raise ClusterError(f"{self._what}: unreadable exit status") from None
        if status.get("status") == "Success":
            return 0
        for cause in (status.get("details") or {}).get("causes") or ():
            if cause.get("reason") == "ExitCode":
                return int(cause.get("message", "1"))
        raise ClusterError(f"{self._what}: {status.get('message') or status.get('reason') or 'failed'}")

    def wait(self, timeout: float, on_output: Callable[[bytes, bytes], None] | None = None) -> int:
        deadline = time.monotonic() + timeout
        while self._ws.is_open():
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise ClusterError(f"{self._what}: no result after {timeout:.0f}s")
            out, err = self.poll(min(left, 1.0))
            if on_output and (out or err):
                on_output(out, err)
        out, err = self.poll(0)
        if on_output and (out or err):
            on_output(out, err)
        return self.exit_code()

    def close(self) -> None:
        try:
            self._ws.close()
        except _stream_errors():  # already broken: nothing left to close
            pass


def open_exec(
    api_client,
    namespace: str,
    pod: str,
    container: str,
    command: Sequence[str],
    *,
    stdin: bool = False,
    tty: bool = False,
    timeout: float = 30,
) -> ExecStream:
    what = f"exec in {namespace}/{pod}"
    ws = _connect(
        api_client,
        what,
        "connect_get_namespaced_pod_exec",
        pod,
        namespace,
        timeout,
        command=list(command),
        container=container or None,
        stdin=stdin,
        stdout=True,
        stderr=not tty,
        tty=tty,
    )
    return ExecStream(ws, what)


class _StdinWriter(io.RawIOBase):
    """A file object whose writes go to an exec's stdin, in CHUNK-sized frames. The frames
    are sent by a second thread, so producing the data (reading files) and sending it (TLS)
    overlap; at most QUEUED frames wait, which bounds memory."""

    QUEUED = 8

    def __init__(self, s: ExecStream):
        self._s, self._buf = s, bytearray()
        self._queue: queue.Queue[bytes | None] = queue.Queue(self.QUEUED)
        self._error: ClusterError | None = None
        self._sender = threading.Thread(target=self._send, daemon=True, name="veladev-exec-stdin")
        self._sender.start()

    def writable(self) -> bool:
        return True

    def _send(self) -> None:
        while (data := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._s.write(data)
                except ClusterError as exc:
                    self._error = exc  # keep draining the queue so the producer never blocks

    def _put(self, data: bytes | None) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(data)

    def write(self, data) -> int:
        self._buf += data
        if len(self._buf) >= CHUNK:
            self._put(bytes(self._buf))
            self._buf.clear()
        return len(data)

    def close(self) -> None:
        """Sends what is left and waits until everything went; raises the send's error."""
        if not self.closed:
            if self._buf:
                self._put(bytes(self._buf))
                self._buf.clear()
            self._queue.put(None)
            self._sender.join()
            super().close()
            if self._error is not None:
                raise self._error


MAX_OUTPUT = 64 * 1024 * 1024  # collected output of one command; more is an error, not memory


def exec_run(
    api_client,
    namespace: str,
    pod: str,
    container: str,
    command: Sequence[str],
    *,
    stdin: bytes | Callable[[io.RawIOBase], None] | None = None,
    timeout: float = 60,
    max_output: int = MAX_OUTPUT,
) -> ExecResult:
    """Runs `command` to its end and returns its exit code and output. `stdin` is bytes, or a
    function that writes it to the file object it is given (streamed, in CHUNK frames)."""
    s = open_exec(api_client, namespace, pod, container, command, stdin=stdin is not None, timeout=timeout)
    out, err = bytearray(), bytearray()

    def collect(o: bytes, e: bytes) -> None:
        out.extend(o)
        err.extend(e[: max(0, 65536 - len(err))])
        if len(out) > max_output:
            raise ClusterError(f"exec in {namespace}/{pod}: more than {max_output // 2**20} MiB of output")

    try:
        if stdin is not None:
            w = _StdinWriter(s)
            try:
                if callable(stdin):
                    stdin(w)
                else:
                    w.write(stdin)
            finally:
                w.close()
            s.close_stdin()
        code = s.wait(timeout, collect)
    finally:
        s.close()
    return ExecResult(code, bytes(out), bytes(err))


def sh(script: str, *args: str) -> list[str]:
    """`sh -c script` with positional arguments $1.. (quoted by exec, never by a shell)."""
    return ["sh", "-c", script, "sh", *args]


def upload_tar(
    api_client,
    namespace: str,
    pod: str,
    container: str,
    directory: str,
    write_archive: Callable[[io.RawIOBase], None],
    *,
    then: str = "",
    args: Sequence[str] = (),
    timeout: float = 120,
) -> ExecResult:
    """Extracts the tar that `write_archive(fileobj)` writes (streamed, never held whole in
    memory) into `directory`, then runs the shell snippet `then` there with `args` as "$@"
    (e.g. removals). Needs only `sh` and `tar` in the container; `-m` gives the files the
    time of extraction (what file watchers in the container expect) and `-o` keeps the
    container user as owner (GNU tar and busybox alike)."""
    script = 'mkdir -p "$0" && cd "$0" && tar -xmof -'
    if then:
        script += f" && {{ {then}; }}"
    return exec_run(
        api_client,
        namespace,
        pod,
        container,
        ["sh", "-c", script, directory, *args],
        stdin=write_archive,
        timeout=timeout,
    )


class _StdoutReader(io.RawIOBase):
    """An exec's stdout as a file object (for reading a tar as it arrives)."""

    def __init__(self, s: ExecStream, timeout: float):
        self._s, self._buf, self.err = s, bytearray(), bytearray()
        self._deadline = time.monotonic() + timeout

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._buf:
            if time.monotonic() > self._deadline:
                raise ClusterError(f"{self._s._what}: download took too long")
            open_before = self._s.is_open()
            out, err = self._s.poll(0.5 if open_before else 0)
            self._buf += out
            self.err += err[: max(0, 65536 - len(self.err))]
            if not self._buf and not open_before:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        del self._buf[:n]
        return n


@contextlib.contextmanager
def download_tar(
    api_client, namespace: str, pod: str, container: str, directory: str, paths: Sequence[str], *, timeout: float = 120
) -> Iterator[io.BufferedReader]:
    """A tar of `paths` (relative to `directory`) from the container, read as it arrives
    (bounded memory); symlinks stay links. Leaving the block checks the exit status."""
    s = open_exec(
        api_client,
        namespace,
        pod,
        container,
        sh('cd "$1" && shift && tar -cf - -- "$@"', directory, *paths),
        timeout=timeout,
    )
    raw = _StdoutReader(s, timeout)
    try:
        yield io.BufferedReader(raw, CHUNK)
        sink = bytearray(CHUNK)
        while raw.readinto(sink):  # the rest (tar's end-of-archive padding)
            pass
        if s.exit_code() != 0:
            raise ClusterError(
                f"download from {namespace}/{pod}:{directory} failed: {raw.err.decode(errors='replace').strip()[:300]}"
            )
    finally:
        s.close()


class PortStream:
    """One port-forward connection to a pod's port, as a WebSocket (protocol v4.channel.k8s.io):
    channel 0 carries data, channel 1 errors; the first frame on each names the port."""

    def __init__(self, ws, port: int, what: str):
        self._client = ws
        self.ws = ws.sock  # websocket.WebSocket
        self.raw = ws.sock.sock  # its socket (TLS or plain)
        self.port = port
        self.what = what
        self.error = ""
        self._headers_seen = {0: False, 1: False}

    def send(self, data: bytes) -> None:
        from websocket import ABNF

        self.ws.send(b"\x00" + data, opcode=ABNF.OPCODE_BINARY)

    def pending(self) -> bool:
        return isinstance(self.raw, ssl.SSLSocket) and self.raw.pending() > 0

    def recv(self) -> bytes | None:
        """The next data from the pod's port: b"" for a frame with no data, None at the end."""
        from websocket import ABNF, WebSocketException, WebSocketTimeoutException

        try:
            opcode, frame = self.ws.recv_data_frame(True)
        except WebSocketTimeoutException:
            raise TimeoutError(f"{self.what}: no data") from None
        except (WebSocketException, OSError):
            return None
        if opcode == ABNF.OPCODE_CLOSE:
            return None
        if opcode != ABNF.OPCODE_BINARY or not frame.data:
            return b""
        channel, payload = frame.data[0], frame.data[1:]
        if channel in self._headers_seen and not self._headers_seen[channel]:
            self._headers_seen[channel] = True  # the port-number header
            return b""
        if channel == 1:
            self.error += payload.decode(errors="replace")
            return None
        return payload

    def close(self) -> None:
        try:
            self._client.close()
        except _stream_errors():  # already broken: nothing left to close
            pass


def open_port(api_client, namespace: str, pod: str, port: int, timeout: float = 20) -> PortStream:
    what = f"port-forward to {namespace}/{pod}:{port}"
    ws = _connect(api_client, what, "connect_get_namespaced_pod_portforward", pod, namespace, timeout, ports=str(port))
    return PortStream(ws, port, what)


def _readable(local: socket.socket | None, remote: PortStream) -> list:
    """The sockets with something to read, waiting up to a second."""
    if remote.pending():
        return [remote.raw]
    ready, _, _ = select.select([remote.raw] + ([local] if local else []), [], [], 1.0)
    return ready


def _remote_to_local(remote: PortStream, local: socket.socket) -> bool | None:
    """Delivers what the pod sent to the local side: whether there was data; None at the pod's end."""
    data = remote.recv()
    if data:
        local.sendall(data)
    return None if data is None else bool(data)


def _local_to_remote(local: socket.socket, remote: PortStream) -> bool:
    """Sends what the local side wrote to the pod; False once the local side has half-closed."""
    data = local.recv(CHUNK)
    if data:
        remote.send(data)
    return bool(data)


def pump(
    local: socket.socket, remote: PortStream, *, idle_after_eof: float = 10.0, stop: threading.Event | None = None
) -> str:
    """Copies bytes both ways between a local socket and a pod's port until one side ends.
    After the local side half-closes, the pod's answer is still delivered (for up to
    `idle_after_eof` seconds of silence). Returns the pod side's error text, if any."""
    local.setblocking(True)
    try:
        _copy_both_ways(local, remote, idle_after_eof, stop)
    except OSError:
        pass
    finally:
        remote.close()
        try:
            local.close()
        except OSError:
            pass
    return remote.error


def _copy_both_ways(
    local: socket.socket, remote: PortStream, idle_after_eof: float, stop: threading.Event | None
) -> None:
    local_open = True
    quiet_since = 0.0
    while stop is None or not stop.is_set():
        ready = _readable(local if local_open else None, remote)
        if not ready:
            if not local_open and time.monotonic() - quiet_since > idle_after_eof:
                return
            continue
        if remote.raw in ready:
            delivered = _remote_to_local(remote, local)
            if delivered is None:
                return
            if delivered:
                quiet_since = time.monotonic()
        if local_open and local in ready:
            local_open = _local_to_remote(local, remote)
            if not local_open:
                quiet_since = time.monotonic()
