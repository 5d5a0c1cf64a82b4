"""The live catalog: when a cluster is configured, its definitions replace the bundled view.

Loading runs in a worker thread; until it finishes (or when it fails) the bundled built-ins
serve, so validation never waits for a cluster.
"""

from __future__ import annotations

import asyncio
import logging
import os

from lsprotocol import types as lsp

from ..cluster import ClusterConfig, ClusterError, NoKubeconfig
from .server import VelaLanguageServer

log = logging.getLogger("veladev.lsp.catalog")

RELOAD_COMMAND = "veladev.reloadCatalog"
#: Bound of a whole reload in seconds, unless $VELADEV_CLUSTER_TIMEOUT says otherwise (each
#: cluster call has its own timeout too, see cluster/definitions.py).
RELOAD_TIMEOUT_S = 60.0


def reload_timeout() -> float:
    try:
        value = float(os.environ.get("VELADEV_CLUSTER_TIMEOUT", RELOAD_TIMEOUT_S))
    except ValueError:
        return RELOAD_TIMEOUT_S
    return value if value > 0 else RELOAD_TIMEOUT_S


async def refresh_catalog(ls: VelaLanguageServer) -> str:
    """Load the configured cluster's catalog (or go back to the bundled one); returns a summary."""
    from ..catalog import bundled_catalog

    settings = ls.settings
    if not settings.kubeconfig:
        catalog, summary = bundled_catalog(), "using the bundled KubeVela v1.10 definitions (no cluster configured)"
    else:
        from ..catalog.live import load_live_catalog

        config = ClusterConfig(settings.kubeconfig, settings.context)
        timeout = reload_timeout()
        try:
            catalog = await asyncio.wait_for(asyncio.to_thread(load_live_catalog, bundled_catalog(), config), timeout)
        except (TimeoutError, ClusterError) as exc:
            if isinstance(exc, asyncio.TimeoutError):
                exc = ClusterError(f"no answer from the cluster in {timeout:g} s")
            hint = "; set veladev.kubeconfig to your cluster's kubeconfig" if isinstance(exc, NoKubeconfig) else ""
            message = f"veladev: could not load the cluster's definitions ({exc}{hint}); using the bundled definitions"
            ls.window_show_message(lsp.ShowMessageParams(lsp.MessageType.Warning, message))
            return message
        cluster_defs = sum(1 for d in catalog.definitions.values() if d.origin == "cluster")
        clusters = "" if catalog.clusters is None else f"; {len(catalog.clusters)} cluster(s) registered on the hub"
        summary = (
            f"using the cluster's definitions ({cluster_defs} custom or customised, {len(catalog.definitions)} in all)"
            + clusters
        )
    ls.set_catalog(catalog)
    log.info(summary)
    return summary


def register(server: VelaLanguageServer) -> None:
    @server.command(RELOAD_COMMAND)
    async def reload_catalog(ls: VelaLanguageServer, *args) -> str:
        summary = await refresh_catalog(ls)
        ls.window_show_message(lsp.ShowMessageParams(lsp.MessageType.Info, f"veladev: {summary}"))
        return summary
