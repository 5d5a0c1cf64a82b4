"""Completion of keys, enum values, type names and references."""

from __future__ import annotations

from lsprotocol import types as lsp

from .server import VelaLanguageServer


def register(server: VelaLanguageServer) -> None:
    @server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=[":", "[", ",", "\""]))
    def completion(ls: VelaLanguageServer, params: lsp.CompletionParams) -> lsp.CompletionList | None:
        from ..spec.complete import complete

        analysis, _ = ls.analysis(params.text_document.uri)
        conv = ls.converter(analysis)
        result = complete(analysis.lines, conv.position_in(params.position), ls.catalog)
        if not result.items:
            return None
        return lsp.CompletionList(is_incomplete=False,
                                  items=[conv.completion(i, result.replace) for i in result.items])
