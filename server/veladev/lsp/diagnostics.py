"""Diagnostics: pushed after every change (pulled instead where the client pulls).

Bursts of edits are coalesced without a timer: a validation starts at once when none is
running for the document; edits that arrive meanwhile only mark it dirty, and one more run
then covers the latest version. So an edit after a pause is validated immediately.
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
            # Let changes already read from the stream apply first: one run covers them all.
            await asyncio.sleep(0)
            while True:
                self.dirty.discard(uri)
                self.publish(uri)
                await asyncio.sleep(0)
                if uri not in self.dirty:
                    break
        finally:
            self.running.discard(uri)

    def publish(self, uri: str) -> None:
        if uri not in self.server.workspace.text_documents:
            return
        analysis, version = self.server.analysis(uri)
        conv = self.server.converter(analysis)
        self.server.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(
            uri=uri, version=version, diagnostics=[conv.diagnostic(f) for f in self.server.findings(uri, analysis)]))

    def clear(self, uri: str) -> None:
        self.server.forget(uri)
        if not self.client_pulls:
            self.server.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    def pull(self, uri: str, previous: str | None) -> lsp.DocumentDiagnosticReport:
        analysis, version = self.server.analysis(uri)
        result_id = f"{version}.{self.server.findings_generation}"
        if previous is not None and previous == result_id:
            return lsp.UnchangedDocumentDiagnosticReport(result_id=result_id)
        conv = self.server.converter(analysis)
        return lsp.FullDocumentDiagnosticReport(items=[conv.diagnostic(f) for f in self.server.findings(uri, analysis)],
                                                result_id=result_id)


def register(server: VelaLanguageServer) -> None:
    feature = DiagnosticsFeature(server)
    server.diagnostics = feature  # type: ignore[attr-defined]

    def validate(ls: VelaLanguageServer, params) -> None:
        feature.schedule(params.text_document.uri)

    # Opening, changing and saving a document all validate its latest text.
    for method in (lsp.TEXT_DOCUMENT_DID_OPEN, lsp.TEXT_DOCUMENT_DID_CHANGE, lsp.TEXT_DOCUMENT_DID_SAVE):
        server.feature(method)(validate)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: VelaLanguageServer, params: lsp.DidCloseTextDocumentParams) -> None:
        feature.clear(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DIAGNOSTIC,
                    lsp.DiagnosticOptions(identifier="veladev", inter_file_dependencies=False, workspace_diagnostics=False))
    def pull(ls: VelaLanguageServer, params: lsp.DocumentDiagnosticParams) -> lsp.DocumentDiagnosticReport:
        return feature.pull(params.text_document.uri, params.previous_result_id)
