"""Quick fixes: the fixes that findings carry, offered where the cursor or selection is."""

from __future__ import annotations

from lsprotocol import types as lsp

from .server import VelaLanguageServer


def register(server: VelaLanguageServer) -> None:
    @server.feature(
        lsp.TEXT_DOCUMENT_CODE_ACTION, lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix])
    )
    async def code_actions(ls: VelaLanguageServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction] | None:
        uri = params.text_document.uri
        analysis, _ = await ls.analysis(uri)
        conv = ls.converter(analysis)
        wanted = conv.span_in(params.range)
        actions = [
            conv.code_action(uri, f, fix)
            for f in ls.findings(uri, analysis)
            if f.fixes and f.span.overlaps(wanted)
            for fix in f.fixes
        ]
        return actions or None
