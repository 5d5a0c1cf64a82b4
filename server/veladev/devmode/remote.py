"""Running things in the dev container: the run/debug command, the debugger's attach
configuration, and an interactive terminal.

Pods may share the node's PID namespace (velasandbox's do), so a process is never found or
stopped by name. The command runs as the leader of its own process group, and a file in the
pod's /tmp records `<pgid> <token>`; the command's environment carries `VELADEV_RUN=<token>`.
Stopping sends a signal to the group (`kill -TERM -<pgid>`, then `-KILL` after a grace
period) only while `/proc/<pgid>/environ` still carries that token, so a recycled PID is
never hit. All of it needs only `sh`, `cat`, `tr`, `grep` and `kill` in the container, plus
`setsid` when the exec'd shell is not already a group leader.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..cluster import ClusterError, streams
from .errors import DevModeError
from .pod import DevPod, PodResolver

log = logging.getLogger("veladev.devmode.remote")

# $0 this script, $1 pid file, $2 token, $3 work dir, then the command. The shell becomes a
# group leader (it is one already when the exec'd process starts a session, else through
# `setsid`, which then does not fork), records its pid and execs the command in the work dir:
# pid = pgid = the recorded number.
_LAUNCH = r"""
S="$0"; F="$1"; T="$2"; W="$3"; shift 3
read -r _ _ _ _ PG _ < /proc/$$/stat
if [ "$PG" != "$$" ]; then
  [ -z "$VELADEV_SETSID" ] || { echo "veladev: cannot start a process group" >&2; exit 126; }
  export VELADEV_SETSID=1
  exec setsid sh -c "$S" "$S" "$F" "$T" "$W" "$@"
fi
unset VELADEV_SETSID
echo "$$ $T" > "$F" || exit 126
cd "$W" || exit 126
export VELADEV_RUN="$T"
exec "$@"
"""

# $0 pid file, $1 signal, $2 grace seconds: signal the recorded group if it is still ours,
# wait for it to end, then SIGKILL it. Prints "gone" when nothing of it is left.
_STOP = r"""
F="$0"; S="$1"; G="$2"
[ -f "$F" ] || { echo gone; exit 0; }
read -r PG T < "$F"
ours() { [ -r "/proc/$PG/environ" ] && tr '\0' '\n' < "/proc/$PG/environ" | grep -qx "VELADEV_RUN=$T"; }
if ! ours; then rm -f "$F"; echo gone; exit 0; fi
kill -"$S" -"$PG" 2>/dev/null
i=0
while ours && [ "$i" -lt "$((G * 10))" ]; do sleep 0.1; i=$((i + 1)); done
if ours; then kill -KILL -"$PG" 2>/dev/null; sleep 0.2; fi
if ours; then echo alive; else rm -f "$F"; echo gone; fi
"""


class RemoteProcess:
    """`command` (a list) run in the dev container's work dir, output streamed to
    `on_output(text)`; `on_exit(code or None)` when it ends (None: the stream was lost)."""

    def __init__(
        self,
        api_client,
        resolve_pod: PodResolver,
        command: Sequence[str],
        *,
        name: str = "run",
        on_output: Callable[[str], None] | None = None,
        on_exit: Callable[[int | None], None] | None = None,
        grace: float = 3.0,
        settle: float = 0.2,
        timeout: float = 30,
    ):
        if not command:
            raise DevModeError(f"no {name} command is configured (command.{name} in the nocalhost trait)")
        self.api_client = api_client
        self.resolve_pod = resolve_pod
        self.command = [str(c) for c in command]
        self.name = name
        self.on_output, self.on_exit = on_output, on_exit
        self.grace, self.settle, self.timeout = grace, settle, timeout
        self.pid_file = f"/tmp/veladev-{name}.pgid"
        self._lock = threading.RLock()
        self._stream: streams.ExecStream | None = None
        self._reader: threading.Thread | None = None
        self._pod: DevPod | None = None
        self._reload_timer: threading.Timer | None = None
        self.exit_code: int | None = None
        self.restarts = 0
        self._wanted = False  # started and not stopped since: hot reload may restart it

    @property
    def running(self) -> bool:
        return self._reader is not None and self._reader.is_alive()

    def start(self) -> None:
        """Starts the command (stopping an earlier run of the same name first)."""
        with self._lock:
            pod = self._pod = self.resolve_pod(self.timeout)
            self._stop_group(pod)
            token = secrets.token_hex(8)
            try:
                s = streams.open_exec(
                    self.api_client,
                    pod.namespace,
                    pod.name,
                    pod.container,
                    ["sh", "-c", _LAUNCH, _LAUNCH, self.pid_file, token, pod.work_dir, *self.command],
                    timeout=self.timeout,
                )
            except ClusterError as exc:
                raise DevModeError(f"cannot start {self.name} in {pod.name}: {exc}") from None
            self._stream = s
            self._wanted = True
            self.exit_code = None
            self._reader = threading.Thread(target=self._read, args=(s,), daemon=True, name=f"veladev-{self.name}")
            self._reader.start()

    def stop(self) -> bool:
        """Stops the process group (TERM, then KILL after `grace`); True when it is gone."""
        with self._lock:
            self._wanted = False
            if self._reload_timer:
                self._reload_timer.cancel()
            pod = self._pod or self.resolve_pod(self.timeout)
            gone = self._stop_group(pod)
            reader = self._reader
        if reader is not None:
            reader.join(self.grace + 5)
        if self._stream is not None:
            self._stream.close()
        return gone

    def restart(self) -> None:
        with self._lock:
            self.stop()
            self.restarts += 1
            self.start()

    def on_synced(self, _batch: Any = None) -> None:
        """Hot reload: call after each synced batch; restarts once the batches settle."""
        with self._lock:
            if self._reload_timer:
                self._reload_timer.cancel()
            self._reload_timer = threading.Timer(self.settle, self._reload)
            self._reload_timer.daemon = True
            self._reload_timer.start()

    def _reload(self) -> None:
        if not self._wanted:
            return  # stopped by the user: a sync does not start it again
        try:
            self.restart()
        except Exception as exc:  # noqa: BLE001 - a timer thread: report, never die silently
            self._emit(f"veladev: hot reload failed: {exc}\n")

    def _stop_group(self, pod: DevPod) -> bool:
        try:
            r = streams.exec_run(
                self.api_client,
                pod.namespace,
                pod.name,
                pod.container,
                ["sh", "-c", _STOP, self.pid_file, "TERM", str(int(self.grace + 0.999))],
                timeout=self.timeout + self.grace,
            )
        except ClusterError as exc:
            raise DevModeError(f"cannot stop {self.name} in {pod.name}: {exc}") from None
        return r.stdout.strip().endswith(b"gone")

    def _emit(self, text: str) -> None:
        if self.on_output and text:
            try:
                self.on_output(text)
            except Exception:
                log.exception("output listener failed")

    def _read(self, s: streams.ExecStream) -> None:
        code: int | None = None
        try:
            code = s.wait(float("inf"), lambda o, e: self._emit((o + e).decode(errors="replace")))
        except Exception as exc:  # noqa: BLE001 - the reader thread reports and ends
            self._emit(f"veladev: {self.name} output lost: {exc}\n")
        finally:
            s.close()
        self.exit_code = code
        if self.on_exit:
            try:
                self.on_exit(code)
            except Exception:
                log.exception("exit listener failed")


# -- debugging -----------------------------------------------------------------------------

_LANGUAGES = {
    "node": "node",
    "nodejs": "node",
    "javascript": "node",
    "typescript": "node",
    "python": "python",
    "go": "go",
    "golang": "go",
    "java": "java",
    "ruby": "ruby",
}


def attach_configuration(
    language: str, *, port: int, local_root: str, remote_root: str, host: str = "127.0.0.1", name: str = ""
) -> dict[str, Any]:
    """A VS Code launch configuration that attaches to the debugger in the dev container,
    reached through the forwarded `debug.remoteDebugPort` (`port` is the local end)."""
    lang = _LANGUAGES.get(language.strip().lower())
    title = name or f"veladev: attach ({language})"
    if lang == "node":  # the Node inspector (node --inspect=0.0.0.0:PORT)
        return {
            "type": "node",
            "request": "attach",
            "name": title,
            "address": host,
            "port": port,
            "localRoot": local_root,
            "remoteRoot": remote_root,
            "restart": True,
        }
    if lang == "python":  # debugpy --listen 0.0.0.0:PORT
        return {
            "type": "debugpy",
            "request": "attach",
            "name": title,
            "connect": {"host": host, "port": port},
            "pathMappings": [{"localRoot": local_root, "remoteRoot": remote_root}],
            "justMyCode": False,
        }
    if lang == "go":  # dlv --headless --listen=:PORT --accept-multiclient
        return {
            "type": "go",
            "request": "attach",
            "name": title,
            "mode": "remote",
            "host": host,
            "port": port,
            "substitutePath": [{"from": local_root, "to": remote_root}],
        }
    if lang == "java":  # -agentlib:jdwp=transport=dt_socket,server=y,address=*:PORT
        return {
            "type": "java",
            "request": "attach",
            "name": title,
            "hostName": host,
            "port": port,
            "sourcePaths": [local_root],
        }
    if lang == "ruby":  # rdbg --open --port PORT (the VS Code rdbg extension)
        return {
            "type": "rdbg",
            "request": "attach",
            "name": title,
            "debugPort": f"{host}:{port}",
            "localfsMap": f"{remote_root}:{local_root}",
        }
    raise DevModeError(
        f"no debugger attach configuration for language {language!r}; supported: node, python, go, java, ruby"
    )


# -- terminal ---------------------------------------------------------------------------------

# $0 the configured shell (may be empty), $1 the work dir
_SHELL = (
    'cd "$1" 2>/dev/null; if [ -n "$0" ] && command -v "$0" >/dev/null 2>&1; then exec "$0"; '
    "elif command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi"
)


def terminal(
    api_client, pod: DevPod, shell: str = "", *, stdin_fd: int = 0, stdout_fd: int = 1, connect_timeout: float = 30
) -> int:
    """An interactive shell in the dev container over a tty (`shell`, else bash, else sh);
    the local terminal is raw while it runs and its size follows the window. Returns the
    shell's exit code."""
    try:
        s = streams.open_exec(
            api_client,
            pod.namespace,
            pod.name,
            pod.container,
            ["sh", "-c", _SHELL, shell or "", pod.work_dir],
            stdin=True,
            tty=True,
            timeout=connect_timeout,
        )
    except ClusterError as exc:
        raise DevModeError(f"cannot open a terminal in {pod.name}: {exc}") from None

    def show(out: bytes, err: bytes) -> None:
        os.write(stdout_fd, out + err)

    with _raw_local_terminal(stdin_fd, s):
        stop = threading.Event()
        t = threading.Thread(target=_pump_stdin, args=(stdin_fd, s, stop), daemon=True, name="veladev-terminal-stdin")
        t.start()
        try:
            code = s.wait(float("inf"), show)
        except ClusterError as exc:
            raise DevModeError(f"terminal in {pod.name} ended: {exc}") from None
        finally:
            stop.set()
            t.join(1)
            s.close()
    return code


@contextlib.contextmanager
def _raw_local_terminal(fd: int, s: streams.ExecStream) -> Iterator[None]:
    """While open: the local terminal (when `fd` is one) raw, and its window size followed by
    the remote tty; restored afterwards."""
    if not os.isatty(fd):
        yield
        return
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    tty.setraw(fd)

    def resize(*_) -> None:
        try:
            size = os.get_terminal_size(fd)
            s.resize(size.columns, size.lines)
        except OSError:
            pass

    resize()
    old_winch = None
    if threading.current_thread() is threading.main_thread():
        old_winch = signal.signal(signal.SIGWINCH, resize)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        if old_winch is not None:
            signal.signal(signal.SIGWINCH, old_winch)


def _pump_stdin(fd: int, s: streams.ExecStream, stop: threading.Event) -> None:
    """Local input to the remote tty until `stop`, local end of input, or a closed stream."""
    import select

    while not stop.is_set():
        try:
            ready, _, _ = select.select([fd], [], [], 0.2)
            data = os.read(fd, 65536) if ready else None
        except OSError:
            return
        if data is None:
            continue
        if not data:
            s.close_stdin()
            return
        try:
            s.write(data)
        except ClusterError:
            return
