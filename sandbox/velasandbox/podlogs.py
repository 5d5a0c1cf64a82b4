"""The pods/log subresource: a container's log, whole, tailed, or followed while it runs.

HTTP only: which file holds a container's log comes from the pod runtime
(:meth:`velasandbox.parts.PodProcesses.log_file`).
"""

from __future__ import annotations

import asyncio
import os

from aiohttp import web

from .parts import LogFile


class _FollowHandle:
    """Registered while a follow is open, so that the fault hooks can cut it."""

    def __init__(self, request: web.Request):
        self.request = request

    async def drop(self) -> None:
        transport = self.request.transport
        if transport is not None:
            transport.abort()


def _read(path: str, tail: str | None) -> bytes:
    with open(path, "rb") as f:
        data = f.read()
    if tail is None:
        return data
    lines = data.splitlines(keepends=True)
    return b"".join(lines[-int(tail) :]) if int(tail) > 0 else b""


async def serve_log(request: web.Request, log: LogFile, q, open_streams: set) -> web.StreamResponse:
    data = _read(log.path, q.get("tailLines"))
    if not q.flag("follow") or q.flag("previous"):
        limit = q.get("limitBytes")
        return web.Response(body=data[: int(limit)] if limit else data, content_type="text/plain")
    resp = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
    await resp.prepare(request)
    handle = _FollowHandle(request)
    open_streams.add(handle)
    pos = os.path.getsize(log.path)
    try:
        await resp.write(data)
        await _follow(resp, log, pos)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        open_streams.discard(handle)
    try:
        await resp.write_eof()
    except (ConnectionResetError, RuntimeError):
        pass  # the client is gone
    return resp


async def _follow(resp: web.StreamResponse, log: LogFile, pos: int) -> None:
    """Write what the container appends after `pos`, until its run ends."""
    while True:
        size = os.path.getsize(log.path) if os.path.exists(log.path) else pos
        if size > pos:
            with open(log.path, "rb") as f:
                f.seek(pos)
                chunk = f.read(size - pos)
            pos = size
            await resp.write(chunk)
            continue
        if not log.live():
            return
        await asyncio.sleep(0.1)
