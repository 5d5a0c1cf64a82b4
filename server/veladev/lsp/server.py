"""The language server: state shared by the features, and their registration.

Handlers stay thin: each feature module gets the document's analysis, calls one function of
the appmodel layer and converts the result (lsp/convert.py). Analyses run in worker threads, so
the event loop keeps reading edits and answering requests for other documents while a large
document is analysed; only the newest text of a document is ever analysed next.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os
import sys
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer

from .. import __version__
from .convert import Converter
from .documents import Documents, TextDocument
from .jsonrpc import VelaProtocol, flush_std_streams, serve_stdio, serve_tcp

if TYPE_CHECKING:  # the validator (jsonschema, the schemas) loads after start-up
    from ..appmodel.analysis import Analysis
    from ..appmodel.definitions import Catalog
    from ..appmodel.findings import Finding
    from .diagnostics import DiagnosticsFeature

log = logging.getLogger("veladev.lsp")

#: Worker threads for analyses: one large document never queues the others behind it.
ANALYSIS_WORKERS = 4


@dataclass(slots=True)
class DocState:
    key: tuple[int, int]  # (document revision, catalog generation)
    version: int | None
    analysis: Analysis


class VelaLanguageServer(LanguageServer):
    #: Pushes or serves diagnostics; told when the catalog changes (set by build_server).
    diagnostics: DiagnosticsFeature | None
    protocol: VelaProtocol  # protocol_cls below

    def __init__(self) -> None:
        super().__init__("veladev", __version__, protocol_cls=VelaProtocol)
        self.documents = Documents()
        self.diagnostics = None
        self._catalog: Catalog | None = None
        self._catalog_loading: asyncio.Future | None = None
        #: Changes with every catalog switch: part of each analysis's cache key.
        self.catalog_generation = 0
        #: Distinguishes result ids of this process from those of an earlier one.
        self.instance = uuid.uuid4().hex[:8]
        self.docs: dict[str, DocState] = {}
        self._pending: dict[tuple[str, tuple[int, int]], asyncio.Future] = {}
        self.executor = ThreadPoolExecutor(ANALYSIS_WORKERS, thread_name_prefix="veladev-analysis")
        # Replaced analyses, freed after the diagnostics went out: dropping a large file's
        # node tree takes milliseconds that should not delay the answer.
        self.retired: list[DocState] = []
        self._full_collect: asyncio.TimerHandle | None = None
        # Garbage-collector policy of the server process (the appmodel layer has none): an
        # analysis makes tens of thousands of short-lived objects, few in cycles, and a
        # collection in the middle of an edit would scan a large file's fresh node tree.
        # Young generations are collected after each publish, a full collection once the
        # editor has been idle for a moment (release_retired).
        gc.disable()
        gc.freeze()  # what start-up loaded lives as long as the process: never scan it
        # The loop answers while analyses run in threads: hand it the interpreter often.
        sys.setswitchinterval(0.001)
        from .settings import Settings

        self.settings = Settings()
        # Called when the cluster settings change (the live-state watch reconnects).
        self.cluster_listeners: list[Callable[[], None]] = []
        # Called (in a worker thread, in order) when the client shuts the server down.
        self.shutdown_listeners: list[Callable[[], None]] = []
        # Findings beyond the file's own (the drift hint compares with the live cluster);
        # `findings_generation` changes whenever one of them may have changed.
        self.finding_sources: list[Callable[[str, Analysis], list[Finding]]] = []
        self.findings_generation = 0

    # --- the catalog ----------------------------------------------------------------------

    @property
    def catalog(self) -> Catalog:
        # Loaded on first use, so that start-up stays fast.
        if self._catalog is None:
            from ..catalog import bundled_catalog

            self._catalog = bundled_catalog()
        return self._catalog

    def warm_up(self) -> asyncio.Future[Catalog]:
        """Load the validator and the bundled catalog in a worker thread (right after start-up).

        The thread only loads; the catalog is handed over on the event loop, where catalog
        switches happen too, so a switch made meanwhile is never overwritten.
        """
        if self._catalog_loading is None:
            loop = asyncio.get_running_loop()
            self._catalog_loading = loop.run_in_executor(self.executor, _load_validator)
            self._catalog_loading.add_done_callback(self._loaded)
        return self._catalog_loading

    def _loaded(self, future: asyncio.Future) -> None:
        if self._catalog is None and not future.cancelled() and future.exception() is None:
            self._catalog = future.result()

    async def ready_catalog(self) -> Catalog:
        if self._catalog is None:
            await asyncio.shield(self.warm_up())
        return self.catalog

    def set_catalog(self, catalog: Catalog) -> None:
        """Switch catalogs and re-validate every open document against the new one."""
        self._catalog = catalog
        self.catalog_generation += 1
        if self.diagnostics is not None:
            self.diagnostics.catalog_changed()

    # --- documents and their analyses -----------------------------------------------------

    def document(self, uri: str) -> TextDocument:
        """The open document; an unopened one is read from disk, else the request fails."""
        doc = self.documents.get(uri)
        if doc is not None:
            return doc
        parsed = urlparse(uri)
        path = Path(unquote(parsed.path)) if parsed.scheme == "file" else None
        try:
            if path is None:
                raise OSError
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError, ValueError):
            raise JsonRpcInvalidParams(f"{uri} is not open and cannot be read") from None
        return TextDocument(uri, text, None, -1)

    async def analysis(self, uri: str) -> tuple[Analysis, TextDocument]:
        """The analysis of the document's current text, computed in a worker thread."""
        doc = self.document(uri)
        return await self.analysis_of(doc), doc

    async def analysis_of(self, doc: TextDocument) -> Analysis:
        catalog = await self.ready_catalog()
        key = (doc.revision, self.catalog_generation)
        state = self.docs.get(doc.uri)
        if state is not None and state.key == key and doc.revision >= 0:
            return state.analysis
        pending = self._pending.get((doc.uri, key))
        if pending is None:
            from ..appmodel.analysis import analyze

            pending = asyncio.get_running_loop().run_in_executor(self.executor, analyze, doc.text, catalog)
            self._pending[(doc.uri, key)] = pending
            pending.add_done_callback(functools.partial(self._analysed, doc, key))
        return await asyncio.shield(pending)

    def _analysed(self, doc: TextDocument, key: tuple[int, int], future: asyncio.Future) -> None:
        self._pending.pop((doc.uri, key), None)
        if future.cancelled() or future.exception() is not None or doc.revision < 0:
            return
        current = self.documents.get(doc.uri)
        if current is not doc or doc.revision != key[0] or self.catalog_generation != key[1]:
            return  # superseded while it ran
        old = self.docs.get(doc.uri)
        if old is not None:
            self._retire(old)
        self.docs[doc.uri] = DocState(key, doc.version, future.result())

    def findings(self, uri: str, analysis: Analysis) -> list[Finding]:
        """The document's findings, with those of the other sources (live cluster state)."""
        extra = [f for source in self.finding_sources for f in source(uri, analysis)]
        return [*analysis.findings, *extra] if extra else analysis.findings

    def converter(self, analysis: Analysis) -> Converter:
        return Converter(analysis.lines, self.workspace.position_encoding)

    def forget(self, uri: str) -> None:
        state = self.docs.pop(uri, None)
        if state is not None:
            self._retire(state)

    def _retire(self, state: DocState) -> None:
        # Freed on the next turn of the event loop: after the answer that needed the new
        # analysis has been written.
        if not self.retired:
            try:
                asyncio.get_running_loop().call_soon(self.release_retired)
            except RuntimeError:  # no loop (used outside the server): free at once
                return
        self.retired.append(state)

    def release_retired(self) -> None:
        """Free replaced analyses and collect young garbage, once an answer has gone out."""
        self.retired.clear()
        gc.collect(1)
        if self._full_collect is not None:
            self._full_collect.cancel()
        self._full_collect = asyncio.get_running_loop().call_later(2.0, gc.collect)

    # --- transport and process ------------------------------------------------------------

    def start_io(self, stdin=None, stdout=None) -> None:
        """Serve over stdio; the process ends at `exit` or at the end of input."""
        stdin = stdin or sys.stdin.buffer
        serve_stdio(self.protocol, stdin.fileno(), stdout or sys.stdout.buffer, lambda: self.terminate(1), self._ended)

    def start_tcp(self, host: str, port: int) -> None:
        serve_tcp(self.protocol, host, port, lambda: self.terminate(1), self._ended)

    def _ended(self) -> None:
        # The input ended: an orderly end if `shutdown` came first (LSP: exit code 0), else 1.
        self.terminate(0 if self.protocol._shutdown else 1)

    def refresh_diagnostics(self) -> None:
        """Diagnostics of every open document again (asked of the client when it pulls)."""
        if self.diagnostics is not None:
            self.diagnostics.refresh()

    def terminate(self, code: int) -> None:
        """End the process now: a thread still waiting for a cluster must not keep it alive."""
        log.info("exiting with %d", code)
        flush_std_streams()
        os._exit(code)


def _load_validator() -> Catalog:
    from ..appmodel import analysis, complete, navigate  # noqa: F401 - imported for their cost
    from ..catalog import bundled_catalog

    return bundled_catalog()


def build_server() -> VelaLanguageServer:
    from . import (
        catalog_sync,
        code_actions,
        completion,
        delivery,
        devmode,
        diagnostics,
        lenses,
        logs,
        navigation,
        settings,
    )

    server = VelaLanguageServer()
    server.diagnostics = diagnostics.register(server)
    for feature in (completion, navigation, code_actions, settings, catalog_sync, lenses, delivery, devmode, logs):
        feature.register(server)

    @server.feature(lsp.SHUTDOWN)
    async def shutdown(ls: VelaLanguageServer, params: None) -> None:
        for listener in ls.shutdown_listeners:
            try:
                await asyncio.to_thread(listener)
            except Exception:  # shutting down: one part failing must not keep the others running
                log.exception("stopping %s", listener)

    return server


__all__ = ["VelaLanguageServer", "build_server", "lsp"]
