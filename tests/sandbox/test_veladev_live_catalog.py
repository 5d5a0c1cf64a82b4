"""The language server's live catalog: a cluster's published definition schemas (ConfigMaps
`<kind>-schema-<name>`) are read through the official client when a kubeconfig is set."""

import json
import sys
import uuid

import pytest
import pytest_lsp
from kubernetes import client
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from support import EXAMPLE, wait_diagnostics

pytestmark = pytest.mark.sandbox
TRAIT = f"team-sidecar-{uuid.uuid4().hex[:6]}"
URI = "file:///work/live.yaml"


@pytest.fixture(scope="module")
def custom_trait(sandbox):
    """A TraitDefinition carrying a parameter schema; the KubeVela stand-in publishes it."""
    api = sandbox.api_client()
    schema = {
        "type": "object",
        "required": ["image"],
        "properties": {"image": {"type": "string", "description": "Sidecar image"}, "port": {"type": "integer"}},
    }
    body = {
        "apiVersion": "core.oam.dev/v1beta1",
        "kind": "TraitDefinition",
        "metadata": {
            "name": TRAIT,
            "namespace": "vela-system",
            "annotations": {"velasandbox.dev/parameter-schema": json.dumps(schema)},
        },
        "spec": {"appliesToWorkloads": ["deployments.apps"], "schematic": {"cue": {"template": ""}}},
    }
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        "core.oam.dev", "v1beta1", "vela-system", "traitdefinitions", body
    )
    core = client.CoreV1Api(api)
    sandbox.wait_for(
        lambda: (
            core.list_namespaced_config_map("vela-system", field_selector=f"metadata.name=trait-schema-{TRAIT}").items
        ),
        what="the schema ConfigMap",
    )
    yield TRAIT
    api.close()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "veladev", "lsp"]))
async def live(lsp_client: LanguageClient, sandbox, custom_trait):
    lsp_client.set_configuration({"kubeconfig": sandbox.kubeconfig}, section="veladev")
    await lsp_client.initialize_session(lsp.InitializeParams(capabilities=client_capabilities("neovim@v0.9.1")))
    yield
    await lsp_client.shutdown_session()


async def latest_diagnostics(client: LanguageClient, predicate, timeout: float = 30):
    return await wait_diagnostics(client, URI, predicate, timeout)


async def test_cluster_definitions_are_checked_and_unknown_types_become_errors(live: LanguageClient):
    text = EXAMPLE.read_text().replace(
        "      traits:\n",
        f"      traits:\n        - type: {TRAIT}\n"
        '          properties:\n            port: "80"\n'
        "        - type: not-in-this-cluster\n",
        1,
    )
    live.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(URI, "yaml", 1, text)))
    # Once the live catalog has loaded: the custom trait's schema applies (image missing, port
    # a string), and a type the cluster lacks is an error, no longer information.
    diags = await latest_diagnostics(live, lambda ds: any(d.code == "missing-parameter" for d in ds))
    codes = {d.code: d for d in diags}
    assert "'image'" in codes["missing-parameter"].message
    assert codes["wrong-type"].severity == lsp.DiagnosticSeverity.Error
    assert codes["unknown-trait-type"].severity == lsp.DiagnosticSeverity.Error
