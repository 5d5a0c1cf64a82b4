"""JSON-RPC framing and dispatch around pygls, so that no input silences the server.

pygls 2.1's reader (`pygls.io_.run_async`) matches `Content-Length` case-sensitively, trusts
the length, and structures messages inside `json.loads`' object hook: one frame with a wrong
length, a lower-case header, invalid JSON or malformed params leaves requests unanswered (or
the reader out of step for good). Here a reader thread splits the byte stream into frames,
recovering at the next header after a bad one; the loop answers every request exactly once:
-32700 for unparseable JSON, -32600 for an invalid message or a request after shutdown,
-32602 for params that do not fit the method. Upstream reports these would make (pygls):
case-insensitive headers and resynchronisation in `run_async`, parse errors answered
instead of logged, `lsp_shutdown` iterating a copy of `_request_futures` (cancelling a
future removes it while the loop runs), internal errors without a traceback in `data`.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import os
import re
import select
import sys
import threading
from collections.abc import Callable
from typing import Any, Protocol, cast

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from .documents import Documents

log = logging.getLogger("veladev.lsp.jsonrpc")

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_LENGTH = re.compile(rb"content-length[ \t]*:[ \t]*(\d+)[ \t]*(?:\r?\n|$)", re.I)
_HEADER_START = re.compile(rb"content-(?:length|type)[ \t]*:", re.I)
#: A body larger than this is refused (and skipped) rather than buffered.
MAX_BODY = 512 * 1024 * 1024


class BadFrame:
    """A frame that did not hold JSON: answered with a parse error (id null)."""

    def __init__(self, reason: str):
        self.reason = reason


class FrameDecoder:
    """Splits a byte stream into JSON values, one per `Content-Length` frame.

    A wrong frame costs one BadFrame, never the stream: with a length too small the body is
    cut (not JSON) and the decoder skips to the next header; with a length too large the
    body holds a whole JSON object followed by the next header (or nothing more, see
    `idle`), and the object is taken.
    """

    def __init__(self) -> None:
        self.buf = bytearray()
        self.length: int | None = None  # of the body being read, once its header is parsed
        self.recovering = False  # after a bad frame: bytes before the next header are its rest

    def feed(self, data: bytes) -> list[Any]:
        self.buf += data
        out: list[Any] = []
        while self._step(out):
            pass
        return out

    def idle(self) -> list[Any]:
        """No more bytes came for a while: a whole object under a too-large length is taken."""
        out: list[Any] = []
        if self.length is not None and self.buf.strip():
            value, end = _leading_json(bytes(self.buf))
            if value is not None and not self.buf[end:].strip():
                self._take(end)
                out.append(value)
                while self._step(out):
                    pass
        return out

    def _take(self, n: int) -> None:
        del self.buf[:n]
        self.length = None

    def _step(self, out: list[Any]) -> bool:
        if self.length is None:
            return self._header(out)
        if len(self.buf) < self.length:
            # A too-large length with the next frame already here: take the object before it.
            nxt = _HEADER_START.search(self.buf)
            if nxt is not None:
                value, end = _leading_json(bytes(self.buf[: nxt.start()]))
                if value is not None and not self.buf[end : nxt.start()].strip():
                    self._take(nxt.start())
                    out.append(value)
                    return True
            return False
        body = bytes(self.buf[: self.length])
        try:
            value = json.loads(body)
        except ValueError as exc:
            value, end = _leading_json(body)
            rest = body[end:].lstrip()
            if value is not None and (not rest or _starts_header(rest)):
                self._take(end)  # the length was too large: the rest is the next frame
                out.append(value)
                return True
            self._take(self.length)
            self.recovering = True
            out.append(BadFrame(f"invalid JSON: {exc}"))
            return True
        self._take(self.length)
        self.recovering = False
        out.append(value)
        return True

    def _header(self, out: list[Any]) -> bool:
        end = _HEADER_END.search(self.buf)
        if end is None:
            if len(self.buf) > 65536 and _HEADER_START.search(self.buf) is None:
                self._garbage(len(self.buf) - 64, out)  # keep a tail that may start a header
            return False
        head = bytes(self.buf[: end.start()]) + b"\n"
        lengths = list(_LENGTH.finditer(head))
        start = _HEADER_START.search(head)
        if not lengths or start is None:
            self._garbage(end.end(), out)
            return True
        if start.start() and head[: start.start()].strip():
            self._garbage(start.start(), out)  # bytes before the header: the rest of a bad frame
            return True
        length = int(lengths[-1].group(1))
        del self.buf[: end.end()]
        if length > MAX_BODY:
            self.recovering = True
            out.append(BadFrame(f"Content-Length {length} is larger than {MAX_BODY}"))
            return True
        self.length = length
        return True

    def _garbage(self, n: int, out: list[Any]) -> None:
        if not self.recovering and self.buf[:n].strip():
            out.append(BadFrame("bytes outside a Content-Length frame"))
        self.recovering = True
        del self.buf[:n]


_decoder = json.JSONDecoder()


def _starts_header(data: bytes) -> bool:
    """Whether `data` begins with a header name, or with the beginning of one."""
    lower = data[:14].lower()
    return any(name.startswith(lower[: len(name)]) for name in (b"content-length", b"content-type"))


def _leading_json(data: bytes) -> tuple[Any, int]:
    """The JSON object at the start of `data` and the byte offset after it, or (None, 0)."""
    try:
        text = data.decode("utf-8")
        stripped = text.lstrip()
        if not stripped.startswith("{"):
            return None, 0
        value, end = _decoder.raw_decode(stripped)
    except ValueError:
        return None, 0
    return value, len(text[: len(text) - len(stripped) + end].encode("utf-8"))


def read_frames(fd: int, decoder: FrameDecoder, deliver: Callable[[list[Any]], None], idle_after: float = 0.1) -> None:
    """Blocking: read `fd` until end of input, delivering decoded values in batches."""
    while True:
        ready, _, _ = select.select([fd], [], [], idle_after if decoder.length is not None else None)
        if not ready:
            batch = decoder.idle()
        else:
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                return
            batch = decoder.feed(chunk)
        if batch:
            deliver(batch)


class PipeWriter:
    """Writes frames to the client; a closed output ends the server (no one can hear it)."""

    def __init__(self, stream, on_closed: Callable[[], None]):
        self.stream = stream
        self.on_closed = on_closed

    def write(self, data: bytes) -> None:
        try:
            self.stream.write(data)
            self.stream.flush()
        except (OSError, ValueError):
            self.on_closed()

    def close(self) -> None:
        try:
            self.stream.close()
        except (OSError, ValueError):
            pass


class DocumentHost(Protocol):
    """What VelaProtocol needs of its server (VelaLanguageServer): the documents, and a way to stop."""

    documents: Documents

    def terminate(self, code: int) -> None: ...


class VelaProtocol(LanguageServerProtocol):
    """pygls's protocol with strict message handling and the documents kept by veladev."""

    @property
    def _host(self) -> DocumentHost:
        # pygls types its server as LanguageServer; the one server made with this protocol is
        # VelaLanguageServer (protocol_cls=VelaProtocol), whose documents exist only after
        # the protocol is made, so this is not checked at construction
        return cast(DocumentHost, self._server)

    def receive(self, batch: list[Any]) -> None:
        for value in batch:
            try:
                self.receive_one(value)
            except Exception:  # a bug in one handler never stops the next message
                log.exception("failed to handle a message")

    def receive_one(self, value: Any) -> None:
        if isinstance(value, BadFrame):
            log.warning("parse error: %s", value.reason)
            self._send_error(None, PARSE_ERROR, f"Parse error: {value.reason}")
            return
        if not self._well_formed(value):
            return
        method = value.get("method")
        if method is None:  # a response to one of our requests
            if "id" not in value or ("result" not in value and "error" not in value):
                log.warning("ignoring a message that is neither request, notification nor response")
                return
            self._dispatch(value)
            return
        if self._accepts(value, method):
            self._dispatch_call(value, method)

    def _well_formed(self, value: Any) -> bool:
        """Whether `value` is a JSON-RPC 2.0 message with a valid id and method; answers it if not."""
        if not isinstance(value, dict) or value.get("jsonrpc") != "2.0":
            self._send_error(_id_of(value), INVALID_REQUEST, "Invalid Request: not a JSON-RPC 2.0 message object")
            return False
        msg_id = value.get("id")
        has_id = "id" in value
        if has_id and not _valid_id(msg_id):
            self._send_error(None, INVALID_REQUEST, "Invalid Request: id must be a number or a string")
            return False
        if "method" in value and not isinstance(value["method"], str):
            if has_id:
                self._send_error(msg_id, INVALID_REQUEST, "Invalid Request: method must be a string")
            return False
        return True

    def _accepts(self, value: dict, method: str) -> bool:
        """Whether the server takes this request or notification now; answers the request if not."""
        msg_id = value.get("id")
        has_id = "id" in value
        if self._shutdown and method != lsp.EXIT:
            if has_id:
                self._send_error(msg_id, INVALID_REQUEST, f"Invalid Request: {method} after shutdown")
            return False
        if has_id and method not in self.fm.builtin_features and method not in self.fm.features:
            self._send_error(msg_id, METHOD_NOT_FOUND, f"Method not found: {method}")
            return False
        return True

    def _dispatch_call(self, value: dict, method: str) -> None:
        msg_id = value.get("id")
        has_id = "id" in value
        if self.get_message_type(method) is None and "params" not in value:
            value = {**value, "params": None}
        try:
            message = self.structure_message(value)
        except Exception as exc:  # noqa: BLE001 - client input may fail in any cattrs hook; answered, never fatal
            cause = exc.__cause__ or exc
            log.warning("invalid params for %s: %s", method, _first_line(cause))
            if has_id:
                self._send_error(msg_id, INVALID_PARAMS, f"Invalid params for {method}: {_first_line(cause)}")
            return
        # Dispatched directly (pygls's handle_message would check the kind again, with
        # runtime Protocol checks that cost more than applying an edit); each in its context.
        if has_id:
            contextvars.copy_context().run(self._handle_request, msg_id, method, message.params)
        else:
            contextvars.copy_context().run(self._handle_notification, method, message.params)

    def _dispatch(self, value: dict) -> None:
        try:
            message = self.structure_message(value)
        except Exception as exc:  # noqa: BLE001 - a client's malformed response may fail in any hook; logged, dropped
            log.warning("unreadable response: %s", _first_line(exc.__cause__ or exc))
            return
        self.handle_message(message)

    def _send_error(self, msg_id: Any, code: int, message: str) -> None:
        self._send_data({"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}})

    def _send_handler_result(self, future, *, msg_id) -> None:
        """As pygls, but an unexpected error answers one line (its traceback goes to the log)."""
        self._request_futures.pop(msg_id, None)
        try:
            if future.cancelled():
                self._send_error(msg_id, lsp.LSPErrorCodes.RequestCancelled, "Request cancelled")
                return
            result = future.result()
        except JsonRpcException as exc:
            self._send_error(msg_id, exc.code, exc.message)
            return
        except Exception as exc:
            log.error("request %s failed", msg_id, exc_info=exc)
            self._send_error(msg_id, INTERNAL_ERROR, f"Internal error: {_first_line(exc)}")
            return
        self._send_response(msg_id, result=result)

    def _handle_request(self, msg_id, method_name, params) -> None:
        try:
            handler = self._get_handler(method_name)
            self._ctx_msg_id.set(msg_id)
            self._execute_handler(
                msg_id=msg_id,
                handler=handler,
                args=(params,),
                callback=lambda f: self._send_handler_result(f, msg_id=msg_id),
            )
        except JsonRpcException as exc:
            self._send_error(msg_id, exc.code, exc.message)
        except Exception as exc:
            log.error("request %s failed", msg_id, exc_info=exc)
            self._send_error(msg_id, INTERNAL_ERROR, f"Internal error: {_first_line(exc)}")

    @lsp_method(lsp.SHUTDOWN)
    def lsp_shutdown(self, *args):
        # As pygls's own: the server's shutdown feature (stopping what it hosts) runs first.
        if (user_handler := self.fm.features.get(lsp.SHUTDOWN)) is not None:
            yield user_handler, args, None
        current = self.msg_id
        for msg_id, future in list(self._request_futures.items()):
            if msg_id != current and not future.done():
                future.cancel()
        self._shutdown = True
        return None

    @lsp_method(lsp.EXIT)
    def lsp_exit(self, *args):
        self._host.terminate(0 if self._shutdown else 1)

    # --- documents: kept by veladev (see documents.py) ------------------------------------

    @lsp_method(lsp.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: lsp.DidOpenTextDocumentParams):
        item = params.text_document
        self._host.documents.open(item.uri, item.text, item.version)
        if (handler := self.fm.features.get(lsp.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    @lsp_method(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: lsp.DidChangeTextDocumentParams):
        self._host.documents.change(
            params.text_document.uri,
            params.text_document.version,
            params.content_changes,
            self.workspace.position_encoding,
        )
        if (handler := self.fm.features.get(lsp.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: lsp.DidCloseTextDocumentParams):
        self._host.documents.close(params.text_document.uri)
        if (handler := self.fm.features.get(lsp.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None


def _valid_id(msg_id: Any) -> bool:
    return isinstance(msg_id, (str, int)) and not isinstance(msg_id, bool)


def _id_of(value: Any) -> Any:
    msg_id = value.get("id") if isinstance(value, dict) else None
    return msg_id if _valid_id(msg_id) else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


def serve_stdio(
    protocol: VelaProtocol, stdin_fd: int, stdout, on_closed: Callable[[], None], on_end: Callable[[], None]
) -> None:
    """Serve over stdio until end of input, then call `on_end` (on the loop: leaving
    asyncio.run would wait for worker threads, e.g. one stuck on a cluster)."""
    protocol.set_writer(PipeWriter(stdout, on_closed))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        finished = loop.create_future()

        def deliver(batch: list[Any]) -> None:
            loop.call_soon_threadsafe(protocol.receive, batch)

        def reader() -> None:
            try:
                read_frames(stdin_fd, FrameDecoder(), deliver)
            finally:
                loop.call_soon_threadsafe(_resolve, finished)

        threading.Thread(target=reader, name="veladev-stdin", daemon=True).start()
        await finished
        on_end()

    asyncio.run(main())


def serve_tcp(
    protocol: VelaProtocol, host: str, port: int, on_closed: Callable[[], None], on_end: Callable[[], None]
) -> None:
    """Serve one client over TCP until it disconnects, then call `on_end`."""

    async def main() -> None:
        finished = asyncio.get_running_loop().create_future()

        async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            protocol.set_writer(_StreamWriter(writer, on_closed))
            decoder = FrameDecoder()
            while True:
                try:
                    chunk = (
                        await asyncio.wait_for(reader.read(1 << 16), 0.1)
                        if decoder.length is not None
                        else await reader.read(1 << 16)
                    )
                except TimeoutError:
                    protocol.receive(decoder.idle())
                    continue
                if not chunk:
                    break
                protocol.receive(decoder.feed(chunk))
            if not finished.done():
                finished.set_result(None)

        server = await asyncio.start_server(connection, host, port)
        log.info("listening on %s:%s", host, port)
        async with server:
            await finished
        on_end()

    asyncio.run(main())


class _StreamWriter:
    def __init__(self, writer: asyncio.StreamWriter, on_closed: Callable[[], None]):
        self.writer = writer
        self.on_closed = on_closed

    def write(self, data: bytes) -> None:
        if self.writer.is_closing():
            self.on_closed()
            return
        self.writer.write(data)

    def close(self) -> None:
        self.writer.close()


def flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
