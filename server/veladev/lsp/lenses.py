"""Code lenses: Deploy and the phase on the Application, dev-mode actions and Push & trigger on
components with the nocalhost trait, state and age on each workflow step with Promote on a
suspended one; plus the drift hint. Computed by `delivery.actions` from the file and the live
state that `live.LiveState` keeps current in a worker."""

from __future__ import annotations

import logging

from lsprotocol import types as lsp

from ..delivery.actions import app_identity, plan_actions
from ..delivery.drift import image_drift
from .live import LiveState
from .server import VelaLanguageServer

log = logging.getLogger("veladev.lsp.lenses")


def live_state(ls: VelaLanguageServer) -> LiveState:
    return ls.live  # type: ignore[attr-defined]


def register(server: VelaLanguageServer) -> None:
    live = LiveState(server)
    server.live = live  # type: ignore[attr-defined]
    server.cluster_listeners.append(live.reset)
    server.shutdown_listeners.append(live.close)
    told: set[str] = set()

    def drift(uri: str, analysis) -> list:
        if live.unavailable():
            return []
        out = []
        for doc in analysis.apps:
            known, app = live.application(*app_identity(doc))
            if known and app is not None:
                out.extend(image_drift(doc, app))
        return out

    server.finding_sources.append(drift)

    @server.feature(lsp.TEXT_DOCUMENT_CODE_LENS, lsp.CodeLensOptions(resolve_provider=False))
    async def code_lens(ls: VelaLanguageServer, params: lsp.CodeLensParams) -> list[lsp.CodeLens] | None:
        uri = params.text_document.uri
        live.lenses_asked = True
        analysis, _ = await ls.analysis(uri)
        if not analysis.apps:
            return None
        conv = ls.converter(analysis)
        problem = live.unavailable()
        if problem and problem not in told:
            told.add(problem)
            log.info("code lenses without live state: %s", problem)
        lenses = []
        for doc in analysis.apps:
            known, app = (False, None) if problem else live.application(*app_identity(doc))
            shown = problem or ("" if known else "loading live state…")
            for action in plan_actions(doc, uri, shown, app, live.dev_states(uri), view=live.clusters):
                lenses.append(conv.code_lens(action))
        return lenses
