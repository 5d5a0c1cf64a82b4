"""A small blocking LSP client over a subprocess's stdio, for tests that drive the server in a
loop from synchronous code (Hypothesis). It speaks plain JSON-RPC with Content-Length framing.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from typing import Any


class StdioClient:
    def __init__(self, cmd: list[str] | None = None, stderr=subprocess.DEVNULL):
        self.proc = subprocess.Popen(
            cmd or [sys.executable, "-m", "veladev", "lsp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        self._buf = b""
        self._next_id = 0
        self.notifications: list[dict[str, Any]] = []

    def send(self, msg: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **msg}).encode()
        self.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def send_raw(self, data: bytes) -> None:
        """Bytes as they are: for frames a well-behaved client would never send."""
        stdin = self.proc.stdin
        assert stdin is not None, "started with stdin=PIPE"
        stdin.write(data)
        stdin.flush()

    def response(self, rid: Any, timeout: float = 20) -> dict[str, Any]:
        """The whole response message (result or error) with id `rid`."""
        deadline = time.monotonic() + timeout
        while True:
            msg = self.read(max(deadline - time.monotonic(), 0.01))
            if "method" not in msg and msg.get("id") == rid:
                return msg
            self._handle(msg)

    def notify(self, method: str, params: Any) -> None:
        self.send({"method": method, "params": params})

    def request(self, method: str, params: Any, timeout: float = 20) -> Any:
        self._next_id += 1
        rid = self._next_id
        self.send({"id": rid, "method": method, "params": params})
        while True:
            msg = self.read(timeout)
            if msg.get("id") == rid and "method" not in msg:
                if "error" in msg:
                    raise RuntimeError(f"{method} failed: {msg['error']}")
                return msg.get("result")
            self._handle(msg)

    def wait_notification(self, method: str, predicate=lambda p: True, timeout: float = 20) -> dict[str, Any]:
        for i, n in enumerate(self.notifications):
            if n["method"] == method and predicate(n["params"]):
                return self.notifications.pop(i)["params"]
        deadline = time.monotonic() + timeout
        while True:
            msg = self.read(max(deadline - time.monotonic(), 0.01))
            if msg.get("method") == method and "id" not in msg and predicate(msg["params"]):
                return msg["params"]
            self._handle(msg)

    def _handle(self, msg: dict[str, Any]) -> None:
        if "method" in msg and "id" in msg:  # a request from the server: answer it plainly
            self.send({"id": msg["id"], "result": [None] if msg["method"] == "workspace/configuration" else None})
        elif "method" in msg:
            self.notifications.append(msg)

    def read(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            head, sep, rest = self._buf.partition(b"\r\n\r\n")
            if sep:
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                if len(rest) >= length:
                    self._buf = rest[length:]
                    return json.loads(rest[:length])
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no message from the server")
            stdout = self.proc.stdout
            assert stdout is not None, "started with stdout=PIPE"
            ready, _, _ = select.select([stdout], [], [], left)
            if ready:
                chunk = os.read(stdout.fileno(), 65536)
                if not chunk:
                    raise EOFError(f"server exited with {self.proc.wait()}")
                self._buf += chunk

    def initialize(self, capabilities: dict[str, Any] | None = None) -> dict[str, Any]:
        result = self.request(
            "initialize", {"processId": os.getpid(), "rootUri": None, "capabilities": capabilities or {}}
        )
        self.notify("initialized", {})
        return result

    def close(self) -> None:
        try:
            self.request("shutdown", None, timeout=5)
            self.notify("exit", None)
            self.proc.wait(timeout=5)
        except (RuntimeError, TimeoutError, EOFError, OSError, ValueError, subprocess.TimeoutExpired):
            # no clean shutdown (error reply, no answer, server gone): stop it the hard way
            self.proc.kill()
            self.proc.wait()
