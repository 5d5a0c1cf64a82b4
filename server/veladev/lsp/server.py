"""The language server: state shared by the features, and their registration.

Handlers stay thin: each feature module gets the document's analysis, calls one function of
the spec layer and converts the result (lsp/convert.py).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer

from .. import __version__
from .convert import Converter

if TYPE_CHECKING:  # the validator (jsonschema, the schemas) loads after start-up
    from ..spec.analysis import Analysis
    from ..spec.definitions import Catalog
    from ..spec.findings import Finding

log = logging.getLogger("veladev.lsp")


@dataclass(slots=True)
class DocState:
    version: int | None
    analysis: "Analysis"


class VelaLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("veladev", __version__)
        self._catalog: "Catalog | None" = None
        self.docs: dict[str, DocState] = {}
        # Replaced analyses, freed after the diagnostics went out: dropping a large file's
        # node tree takes milliseconds that should not delay the answer.
        self.retired: list[DocState] = []
        self._full_collect: asyncio.TimerHandle | None = None
        gc.disable()
        gc.freeze()  # what start-up loaded lives as long as the process: never scan it
        from .settings import Settings

        self.settings = Settings()
        # Called when the cluster settings change (the live-state watch reconnects).
        self.cluster_listeners: list[Callable[[], None]] = []
        # Called (in a worker thread, in order) when the client shuts the server down.
        self.shutdown_listeners: list[Callable[[], None]] = []
        # Findings beyond the file's own (the drift hint compares with the live cluster);
        # `findings_generation` changes whenever one of them may have changed.
        self.finding_sources: list[Callable[[str, "Analysis"], list["Finding"]]] = []
        self.findings_generation = 0

    @property
    def catalog(self) -> "Catalog":
        # Loaded on first use, so that start-up stays fast.
        if self._catalog is None:
            from ..catalog import bundled_catalog

            self._catalog = bundled_catalog()
        return self._catalog

    def analysis(self, uri: str) -> "tuple[Analysis, int | None]":
        """The analysis of the document's current text (cached per version)."""
        from ..spec.analysis import analyze

        doc = self.workspace.get_text_document(uri)
        state = self.docs.get(uri)
        if state is None or state.version != doc.version or doc.version is None:
            if state is not None:
                self._retire(state)
            state = DocState(doc.version, analyze(doc.source, self.catalog))
            self.docs[uri] = state
        return state.analysis, state.version

    def findings(self, uri: str, analysis: "Analysis") -> "list[Finding]":
        """The document's findings, with those of the other sources (live cluster state)."""
        extra = [f for source in self.finding_sources for f in source(uri, analysis)]
        return [*analysis.findings, *extra] if extra else analysis.findings

    def converter(self, analysis: "Analysis") -> Converter:
        return Converter(self.workspace.position_codec, analysis.lines)

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
        """Free replaced analyses and collect young garbage, once an answer has gone out.

        The server runs with automatic garbage collection off: a collection triggered in the
        middle of an edit would scan a large file's fresh node tree and delay diagnostics.
        Young generations are collected here, after the publish; a full collection runs once
        the editor has been idle for a moment.
        """
        self.retired.clear()
        gc.collect(1)
        if self._full_collect is not None:
            self._full_collect.cancel()
        self._full_collect = asyncio.get_running_loop().call_later(2.0, gc.collect)

    def warm_up(self) -> None:
        """Load the validator and the catalog (run in a worker thread right after start-up)."""
        from ..spec import analysis, complete, navigate  # noqa: F401 - imported for their cost

        self.catalog

    def set_catalog(self, catalog: "Catalog") -> None:
        """Switch catalogs and re-validate every open document against the new one."""
        self._catalog = catalog
        self.docs.clear()
        self.refresh_diagnostics()

    def refresh_diagnostics(self) -> None:
        """Diagnostics of every open document again (asked of the client when it pulls)."""
        diagnostics = getattr(self, "diagnostics", None)
        if diagnostics is None:
            return
        if diagnostics.client_pulls:
            caps = self.client_capabilities.workspace
            if caps and caps.diagnostics and caps.diagnostics.refresh_support:
                self.workspace_diagnostic_refresh(None)
        else:
            for uri in list(self.workspace.text_documents):
                diagnostics.schedule(uri)


def build_server() -> VelaLanguageServer:
    from . import (catalog_sync, code_actions, completion, delivery, devmode, diagnostics, lenses, navigation,
                   settings)

    server = VelaLanguageServer()
    for feature in (diagnostics, completion, navigation, code_actions, settings, catalog_sync, lenses, delivery,
                    devmode):
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
