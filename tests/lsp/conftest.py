import sys

import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from support import ROOT

SERVER = [sys.executable, "-m", "veladev", "lsp"]


async def _start(client: LanguageClient, caps: str):
    await client.initialize_session(
        lsp.InitializeParams(
            capabilities=client_capabilities(caps),
            root_uri=ROOT.as_uri(),
            workspace_folders=[lsp.WorkspaceFolder(ROOT.as_uri(), "root")],
        )
    )


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient):
    """A client that takes pushed diagnostics (Neovim 0.9's capabilities)."""
    await _start(lsp_client, "neovim@v0.9.1")
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def puller(lsp_client: LanguageClient):
    """A client that pulls diagnostics (Neovim 0.11's capabilities) and has settings."""
    lsp_client.set_configuration({"kubeconfig": "/nonexistent/kubeconfig", "context": 3}, section="veladev")
    await _start(lsp_client, "neovim@v0.11.0")
    yield
    await lsp_client.shutdown_session()
