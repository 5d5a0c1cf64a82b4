"""Settings under `veladev.*`, read with workspace/configuration and kept in sync on change."""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from typing import Any

from lsprotocol import types as lsp

log = logging.getLogger("veladev.lsp.settings")


@dataclass(slots=True)
class Settings:
    #: Path of the kubeconfig for cluster features (default: $KUBECONFIG or ~/.kube/config).
    kubeconfig: str = ""
    #: kubeconfig context to use (default: the current context).
    context: str = ""
    #: Image of a pushed commit for Push & trigger: {commit} {short_commit} {branch} {component}.
    imageTemplate: str = ""
    #: VelaUX address; when set, Push & trigger calls its webhook instead of patching the app.
    velauxUrl: str = ""
    #: File holding the VelaUX trigger token (else $VELAUX_TRIGGER_TOKEN; never a setting value).
    velauxTokenFile: str = ""

    @classmethod
    def parse(cls, raw: Any) -> tuple[Settings, list[str]]:
        """Settings from the client's object; unknown or wrongly typed entries are named, not fatal."""
        problems: list[str] = []
        values: dict[str, Any] = {}
        if raw is None:
            return cls(), problems
        if not isinstance(raw, dict):
            return cls(), [f"veladev settings must be an object, not {type(raw).__name__}"]
        known = {f.name: f for f in fields(cls)}
        for key, value in raw.items():
            f = known.get(key)
            if f is None:
                continue  # other client-side settings (server command, trace) share the section
            if not isinstance(value, str):
                problems.append(f"veladev.{key} must be a string")
                continue
            values[key] = value
        return cls(**values), problems


def register(server) -> None:
    async def refresh(ls) -> None:
        caps = ls.client_capabilities
        if not (caps and caps.workspace and caps.workspace.configuration):
            return
        try:
            result = await ls.workspace_configuration_async(
                lsp.ConfigurationParams(items=[lsp.ConfigurationItem(section="veladev")])
            )
        except Exception as exc:  # noqa: BLE001 -- whatever the client's failure, keep the defaults
            log.warning("could not read settings: %s", exc)
            return
        settings, problems = Settings.parse(result[0] if result else None)
        for p in problems:
            ls.window_show_message(lsp.ShowMessageParams(lsp.MessageType.Warning, f"veladev: {p}; using the default"))
        cluster_changed = (settings.kubeconfig, settings.context) != (ls.settings.kubeconfig, ls.settings.context)
        ls.settings = settings
        if cluster_changed:
            from .catalog_sync import refresh_catalog

            for listener in ls.cluster_listeners:
                listener()
            await refresh_catalog(ls)

    @server.feature(lsp.INITIALIZED)
    async def initialized(ls, params: lsp.InitializedParams) -> None:
        # The validator loads in a worker thread while the editor finishes its start-up.
        ls.warm_up()
        await refresh(ls)

    @server.feature(lsp.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def changed(ls, params: lsp.DidChangeConfigurationParams) -> None:
        await refresh(ls)
