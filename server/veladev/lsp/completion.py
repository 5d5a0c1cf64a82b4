"""Completion of keys, enum values, type names and references."""

from __future__ import annotations

import asyncio

from lsprotocol import types as lsp

from .server import VelaLanguageServer


def register(server: VelaLanguageServer) -> None:
    @server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=[":", "[", ",", '"']))
    async def completion(ls: VelaLanguageServer, params: lsp.CompletionParams) -> lsp.CompletionList | None:
        from ..appmodel.complete import complete

        analysis, _ = await ls.analysis(params.text_document.uri)
        conv = ls.converter(analysis)
        # Completion re-parses the text around the cursor: in a worker thread, like analyses.
        result = await asyncio.get_running_loop().run_in_executor(
            ls.executor, complete, analysis.lines, conv.position_in(params.position), ls.catalog
        )
        if not result.items:
            return None
        return lsp.CompletionList(is_incomplete=False, items=[conv.completion(i, result.replace) for i in result.items])
