"""Diagnostics: pushed after every change (pulled instead where the client pulls).

Bursts of edits are coalesced without a timer: an analysis starts at once when none is
running for the document; edits that arrive meanwhile are applied to the text and only mark
the document dirty, and when the analysis ends it is not published but followed by one of
the newest text. So an edit after a pause is validated immediately, and a burst costs at
most the analysis in progress plus one more.
"""

from __future__ import annotations

import asyncio
import logging

from lsprotocol import types as lsp

from .server import VelaLanguageServer

log = logging.getLogger("veladev.lsp.diagnostics")


class DiagnosticsFeature:
    def __init__(self, server: VelaLanguageServer):
        self.server = server
        self.running: set[str] = set()
        self.dirty: set[str] = set()
        self.tasks: set[asyncio.Task] = set()

    @property
    def client_pulls(self) -> bool:
        caps = self.server.client_capabilities
        return bool(caps and caps.text_document and caps.text_document.diagnostic)

    def schedule(self, uri: str) -> None:
        if self.client_pulls:
            return
        if uri in self.running:
            self.dirty.add(uri)
            return
        self.running.add(uri)
        task = asyncio.ensure_future(self._run(uri))
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("diagnostics failed", exc_info=task.exception())

    async def _run(self, uri: str) -> None:
        try:
            while True:
                self.dirty.discard(uri)
                doc = self.server.documents.get(uri)
                if doc is None:
                    return
                revision = doc.revision
                analysis = await self.server.analysis_of(doc)
                if uri in self.dirty or doc.revision != revision:
                    continue  # edited meanwhile: analyse the newest text instead
                if self.server.documents.get(uri) is not doc:
                    return  # closed (or reopened, which scheduled its own run)
                conv = self.server.converter(analysis)
                self.server.text_document_publish_diagnostics(
                    lsp.PublishDiagnosticsParams(
                        uri=uri,
                        version=doc.version,
                        diagnostics=[conv.diagnostic(f) for f in self.server.findings(uri, analysis)],
                    )
                )
                return
        finally:
            self.running.discard(uri)

    def catalog_changed(self) -> None:
        """Findings may differ under the new catalog: drop the analyses, then refresh."""
        self.server.docs.clear()
        self.refresh()

    def refresh(self) -> None:
        """Diagnostics of every open document again, or ask pulling clients to pull again."""
        if self.client_pulls:
            caps = self.server.client_capabilities.workspace
            if caps and caps.diagnostics and caps.diagnostics.refresh_support:
                self.server.workspace_diagnostic_refresh(None)
        else:
            for doc in self.server.documents:
                self.schedule(doc.uri)

    def clear(self, uri: str) -> None:
        self.server.forget(uri)
        if not self.client_pulls:
            self.server.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    async def pull(
        self, uri: str, previous: str | None
    ) -> lsp.FullDocumentDiagnosticReport | lsp.UnchangedDocumentDiagnosticReport:
        analysis, doc = await self.server.analysis(uri)
        # The findings are a function of the text, the catalog and the live cluster's state
        # (drift hints): the id names all three.
        result_id = (
            f"{self.server.instance}.{doc.revision}.{self.server.catalog_generation}.{self.server.findings_generation}"
        )
        if previous is not None and previous == result_id and doc.revision >= 0:
            return lsp.UnchangedDocumentDiagnosticReport(result_id=result_id)
        conv = self.server.converter(analysis)
        return lsp.FullDocumentDiagnosticReport(
            items=[conv.diagnostic(f) for f in self.server.findings(uri, analysis)], result_id=result_id
        )


def register(server: VelaLanguageServer) -> DiagnosticsFeature:
    feature = DiagnosticsFeature(server)

    def validate(ls: VelaLanguageServer, params) -> None:
        feature.schedule(params.text_document.uri)

    # Opening, changing and saving a document all validate its latest text.
    for method in (lsp.TEXT_DOCUMENT_DID_OPEN, lsp.TEXT_DOCUMENT_DID_CHANGE, lsp.TEXT_DOCUMENT_DID_SAVE):
        server.feature(method)(validate)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: VelaLanguageServer, params: lsp.DidCloseTextDocumentParams) -> None:
        feature.clear(params.text_document.uri)

    @server.feature(
        lsp.TEXT_DOCUMENT_DIAGNOSTIC,
        lsp.DiagnosticOptions(identifier="veladev", inter_file_dependencies=False, workspace_diagnostics=False),
    )
    async def pull(
        ls: VelaLanguageServer, params: lsp.DocumentDiagnosticParams
    ) -> lsp.FullDocumentDiagnosticReport | lsp.UnchangedDocumentDiagnosticReport:
        return await feature.pull(params.text_document.uri, params.previous_result_id)

    return feature
