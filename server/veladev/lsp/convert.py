"""All translation between veladev's findings and positions and LSP types lives here.

The spec layer counts columns in code points; clients count in the negotiated position
encoding (UTF-16 by default). documents.Positions converts, given the document's lines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types as lsp

from ..appmodel.findings import Finding, Fix, Position, Span
from .documents import Positions

if TYPE_CHECKING:
    from ..appmodel.complete import CompletionItem
    from ..appmodel.navigate import Symbol
    from ..delivery.actions import Action

SOURCE = "veladev"

_COMPLETION_KIND = {
    "property": lsp.CompletionItemKind.Property,
    "value": lsp.CompletionItemKind.Value,
    "type": lsp.CompletionItemKind.Class,
    "reference": lsp.CompletionItemKind.Reference,
}
_SYMBOL_KIND = {
    "application": lsp.SymbolKind.Module,
    "component": lsp.SymbolKind.Class,
    "trait": lsp.SymbolKind.Property,
    "policy": lsp.SymbolKind.Object,
    "workflow": lsp.SymbolKind.Namespace,
    "step": lsp.SymbolKind.Event,
}


class Converter:
    """Converts for one document (its lines) and one client (its position encoding)."""

    def __init__(self, lines: list[str], encoding: str | None):
        self.positions = Positions(lines, encoding)

    def range(self, span: Span) -> lsp.Range:
        return self.positions.range_out(span)

    def position_in(self, pos: lsp.Position) -> Position:
        return self.positions.position_in(pos)

    def span_in(self, rng: lsp.Range) -> Span:
        return self.positions.span_in(rng)

    def diagnostic(self, f: Finding) -> lsp.Diagnostic:
        return lsp.Diagnostic(
            range=self.range(f.span),
            message=f.message,
            severity=lsp.DiagnosticSeverity(int(f.severity)),
            code=f.code,
            source=SOURCE,
            tags=[lsp.DiagnosticTag.Deprecated] if f.code.startswith("deprecated") else None,
        )

    def code_action(self, uri: str, f: Finding, fix: Fix) -> lsp.CodeAction:
        return lsp.CodeAction(
            title=fix.title,
            kind=lsp.CodeActionKind.QuickFix,
            diagnostics=[self.diagnostic(f)],
            is_preferred=fix.preferred or None,
            edit=lsp.WorkspaceEdit(changes={uri: [lsp.TextEdit(self.range(e.span), e.new_text) for e in fix.edits]}),
        )

    def completion(self, item: CompletionItem, replace: Span | None) -> lsp.CompletionItem:
        text = item.insert_text if item.insert_text is not None else item.label
        return lsp.CompletionItem(
            label=item.label,
            kind=_COMPLETION_KIND.get(item.kind, lsp.CompletionItemKind.Text),
            detail=item.detail or None,
            documentation=lsp.MarkupContent(lsp.MarkupKind.Markdown, item.documentation)
            if item.documentation
            else None,
            sort_text=item.sort or None,
            filter_text=item.label,
            tags=[lsp.CompletionItemTag.Deprecated] if item.deprecated else None,
            text_edit=lsp.TextEdit(self.range(replace), text) if replace is not None else None,
            insert_text=None if replace is not None else text,
        )

    def symbol(self, s: Symbol) -> lsp.DocumentSymbol:
        return lsp.DocumentSymbol(
            name=s.name,
            detail=s.detail or None,
            kind=_SYMBOL_KIND.get(s.kind, lsp.SymbolKind.Object),
            range=self.range(s.span),
            selection_range=self.range(s.selection),
            children=[self.symbol(c) for c in s.children] or None,
        )

    def code_lens(self, action: Action) -> lsp.CodeLens:
        # A lens without a command still needs one to show its title; an empty command id
        # makes clients render it as a label (VS Code and LSP4IJ do).
        return lsp.CodeLens(
            range=self.range(action.span),
            command=lsp.Command(
                title=action.title, command=action.command, arguments=[action.arguments] if action.command else None
            ),
        )


# --- dev mode: the JSON the veladev/devState and veladev/runOutput notifications and the
# veladev.dev.status command carry (the editor clients read these shapes).


def dev_state_params(uri: str, component: str | None, namespace: str | None, state, cluster: str | None = None) -> dict:
    """`state`: a `veladev.devmode.session.SessionState`; `cluster`: None until resolved."""
    return {
        "uri": uri,
        "component": component,
        "namespace": namespace,
        "cluster": cluster,
        "state": state.dev,
        "sync": state.sync,
        "forwards": state.forwards,
        "run": state.run,
        "message": state.message,
    }


def placement_entry(placement) -> dict:
    """`placement`: a `veladev.cluster.clusters.Placement` (the veladev.dev.placements result)."""
    return {"cluster": placement.cluster, "namespace": placement.namespace}


def run_output_params(uri: str, component: str | None, text: str) -> dict:
    return {"uri": uri, "component": component, "text": text}


def dev_status_entry(info) -> dict:
    """`info`: a `veladev.devmode.workload.DevWorkloadInfo`."""
    s = info.state
    return {
        "application": f"{s.app_namespace}/{s.app}",
        "cluster": info.ref.cluster,
        "namespace": info.ref.namespace,
        "component": s.component,
        "workload": info.ref.name,
        "holder": str(s.holder),
        "since": s.since,
    }
