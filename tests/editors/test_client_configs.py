"""Static checks that keep the three clients in step with the server: the settings every client
declares are the ones the server reads, and the JetBrains template is well-formed. (There is
no JetBrains IDE here: this does not show that LSP4IJ works, only that the template is sane.)"""

from __future__ import annotations

import dataclasses
import json
import shlex

from editors_support import ROOT

CLIENTS = ROOT / "editor-clients"


def server_settings() -> set[str]:
    from veladev.lsp.settings import Settings

    return {f.name for f in dataclasses.fields(Settings)}


def test_vscode_declares_every_server_setting():
    props = json.loads((CLIENTS / "vscode" / "package.json").read_text())["contributes"]["configuration"]["properties"]
    declared = {key.split(".", 1)[1] for key in props}
    assert server_settings() <= declared, server_settings() - declared


def test_jetbrains_template_is_complete():
    tdir = CLIENTS / "jetbrains" / "veladev"
    template = json.loads((tdir / "template.json").read_text())
    assert template["id"] == "veladev" and template["name"]
    for command in template["programArgs"].values():
        argv = shlex.split(command)
        inner = shlex.split(argv[2]) if argv[:2] == ["sh", "-c"] else argv
        assert inner[-1] == "lsp" and "veladev" in inner[0], command
    patterns = {p for m in template["fileTypeMappings"] for p in m["fileType"].get("patterns", [])}
    assert {"*.yaml", "*.yml"} <= patterns
    assert all(m["languageId"] == "yaml" for m in template["fileTypeMappings"])
    settings = json.loads((tdir / "settings.json").read_text())
    assert set(settings["veladev"]) == server_settings()
    json.loads((tdir / "initializationOptions.json").read_text())
    assert (tdir / "README.md").exists()
