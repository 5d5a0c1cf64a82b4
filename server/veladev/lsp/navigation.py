"""Hover, document symbols (outline) and go-to-definition."""

from __future__ import annotations

from lsprotocol import types as lsp

from .server import VelaLanguageServer


def _navigate():
    from ..appmodel import navigate  # loaded after start-up, with the validator

    return navigate


def register(server: VelaLanguageServer) -> None:
    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    async def hover(ls: VelaLanguageServer, params: lsp.HoverParams) -> lsp.Hover | None:
        analysis, _ = await ls.analysis(params.text_document.uri)
        conv = ls.converter(analysis)
        info = _navigate().hover(analysis, conv.position_in(params.position), ls.catalog)
        if info is None:
            return None
        return lsp.Hover(
            contents=lsp.MarkupContent(lsp.MarkupKind.Markdown, info.markdown), range=conv.range(info.span)
        )

    @server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    async def symbols(ls: VelaLanguageServer, params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol] | None:
        analysis, _ = await ls.analysis(params.text_document.uri)
        conv = ls.converter(analysis)
        return [conv.symbol(s) for s in _navigate().outline(analysis)] or None

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    async def definition(ls: VelaLanguageServer, params: lsp.DefinitionParams) -> lsp.Location | None:
        uri = params.text_document.uri
        analysis, _ = await ls.analysis(uri)
        conv = ls.converter(analysis)
        span = _navigate().definition(analysis, conv.position_in(params.position))
        return lsp.Location(uri, conv.range(span)) if span is not None else None
