"""The topology check against the hub's registered clusters, through `veladev check --kubeconfig`
and through the language server with a configured cluster: an unknown cluster name is an error
at that name (the hint lists the registered names), a clusterLabelSelector that matches no
cluster is an error unless allowEmpty; without a cluster neither is reported. The clusters are
registered as `vela cluster join` does: Secrets in vela-system labelled with their credential
type."""

import asyncio
import base64
import sys
import uuid

import pytest
import pytest_lsp
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from support import run_cli

pytestmark = pytest.mark.sandbox
TAG = uuid.uuid4().hex[:6]
EAST, WEST = f"tc{TAG}-east", f"tc{TAG}-west"
REGION = f"r{TAG}"  # a label value only these clusters have


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture(scope="module")
def registered(sandbox):
    """Two clusters registered on the sandbox hub (Secrets only: nothing needs to answer)."""
    api = sandbox.api_client()
    core = client.CoreV1Api(api)
    try:
        core.create_namespace({"metadata": {"name": "vela-system"}})
    except ApiException as exc:
        if exc.status != 409:
            raise
    for name, zone in ((EAST, "east"), (WEST, "west")):
        core.create_namespaced_secret(
            "vela-system",
            {
                "metadata": {
                    "name": name,
                    "labels": {
                        "cluster.core.oam.dev/cluster-credential-type": "ServiceAccountToken",
                        "region": REGION,
                        "zone": zone,
                    },
                },
                "type": "Opaque",
                "data": {"endpoint": b64("https://127.0.0.1:9"), "token": b64("not-a-real-token")},
            },
        )
    yield (EAST, WEST)
    for name in (EAST, WEST):
        core.delete_namespaced_secret(name, "vela-system")
    api.close()


def app_text(policies: str) -> str:
    return f"""apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: placed
spec:
  components:
    - name: web
      type: webservice
      properties:
        image: nginx:1.25
  policies:
{policies}"""


UNKNOWN = f"""    - name: prod
      type: topology
      properties:
        clusters: [{EAST}, tc{TAG}-nowhere]
"""
EMPTY = f"""    - name: prod
      type: topology
      properties:
        clusterLabelSelector:
          region: {REGION}
          zone: north
"""
MATCHES = f"""    - name: prod
      type: topology
      properties:
        clusterLabelSelector:
          region: {REGION}
          zone: west
"""


def check(tmp_path, policies: str, *options: str):
    path = tmp_path / "app.yaml"
    path.write_text(app_text(policies))
    return run_cli("veladev", "check", *options, str(path)), path


def test_check_reports_an_unknown_cluster_at_its_name(sandbox, registered, tmp_path):
    r, path = check(tmp_path, UNKNOWN, "--kubeconfig", sandbox.kubeconfig)
    assert r.returncode == 1, r.stderr
    col = UNKNOWN.splitlines()[3].index(f"tc{TAG}-nowhere") + 1
    assert f"{path}:15:{col}: error: topology policy 'prod' names cluster 'tc{TAG}-nowhere'" in r.stdout
    assert "[unknown-cluster]" in r.stdout
    hint = r.stdout.split("registered clusters: ")[1]
    assert hint.startswith("local, ") and EAST in hint and WEST in hint
    assert EAST not in r.stdout.split("registered clusters: ")[0].split("names cluster")[1]  # the known one is fine
    # Without a cluster: no such finding, the file is fine.
    r, _ = check(tmp_path, UNKNOWN)
    assert (r.returncode, r.stdout) == (0, ""), r.stderr


def test_check_reports_a_selector_matching_no_cluster_unless_allow_empty(sandbox, registered, tmp_path):
    r, path = check(tmp_path, EMPTY, "--kubeconfig", sandbox.kubeconfig)
    assert r.returncode == 1, r.stderr
    assert (
        f"{path}:15:9: error: topology policy 'prod': clusterLabelSelector {{region={REGION}, zone=north}}" in r.stdout
    )
    assert "[cluster-selector-empty]" in r.stdout and f"{WEST} {{region={REGION}, zone=west}}" in r.stdout
    r, _ = check(tmp_path, EMPTY + "        allowEmpty: true\n", "--kubeconfig", sandbox.kubeconfig)
    assert (r.returncode, r.stdout) == (0, ""), r.stderr
    r, _ = check(tmp_path, MATCHES, "--kubeconfig", sandbox.kubeconfig)
    assert (r.returncode, r.stdout) == (0, ""), r.stderr


def test_check_with_an_unusable_kubeconfig_says_so_in_one_line(tmp_path):
    r, _ = check(tmp_path, UNKNOWN, "--kubeconfig", str(tmp_path / "missing"))
    assert r.returncode == 1
    assert r.stderr.startswith(f"veladev check: no kubeconfig at {tmp_path / 'missing'}")
    assert len(r.stderr.strip().splitlines()) == 1


URI = f"file:///work/placed-{TAG}.yaml"


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "veladev", "lsp"]))
async def server(lsp_client: LanguageClient, sandbox, registered):
    lsp_client.set_configuration({"kubeconfig": sandbox.kubeconfig}, section="veladev")
    await lsp_client.initialize_session(lsp.InitializeParams(capabilities=client_capabilities("neovim@v0.9.1")))
    yield lsp_client
    await lsp_client.shutdown_session()


async def diagnostics_for(client: LanguageClient, text: str, version: int, predicate, timeout: float = 60):
    if version == 1:
        client.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(URI, "yaml", 1, text)))
    else:
        client.text_document_did_change(
            lsp.DidChangeTextDocumentParams(
                lsp.VersionedTextDocumentIdentifier(version=version, uri=URI),
                [lsp.TextDocumentContentChangeWholeDocument(text)],
            )
        )
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        diags = client.diagnostics.get(URI)
        if diags is not None and predicate(diags):
            return diags
        await asyncio.sleep(0.1)
    raise AssertionError(f"diagnostics never matched: {client.diagnostics.get(URI)}")


async def test_the_server_checks_topology_against_the_registered_clusters(server: LanguageClient):
    diags = await diagnostics_for(server, app_text(UNKNOWN), 1, lambda ds: any(d.code == "unknown-cluster" for d in ds))
    (d,) = [d for d in diags if d.code == "unknown-cluster"]
    assert d.severity == lsp.DiagnosticSeverity.Error
    col = UNKNOWN.splitlines()[3].index(f"tc{TAG}-nowhere")
    assert (d.range.start.line, d.range.start.character) == (14, col)
    assert d.range.end.character == col + len(f"tc{TAG}-nowhere")
    assert EAST in d.message.split("registered clusters: ")[1]

    diags = await diagnostics_for(
        server, app_text(EMPTY), 2, lambda ds: any(d.code == "cluster-selector-empty" for d in ds)
    )
    (d,) = [d for d in diags if d.code == "cluster-selector-empty"]
    assert (d.range.start.line, d.range.start.character) == (14, 8)
    await diagnostics_for(
        server,
        app_text(EMPTY + "        allowEmpty: true\n"),
        3,
        lambda ds: not any("cluster" in str(d.code) for d in ds),
    )
    await diagnostics_for(server, app_text(MATCHES), 4, lambda ds: not any("cluster" in str(d.code) for d in ds))


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "veladev", "lsp"]))
async def no_cluster(lsp_client: LanguageClient):
    lsp_client.set_configuration({"kubeconfig": "/nonexistent/kubeconfig"}, section="veladev")
    await lsp_client.initialize_session(lsp.InitializeParams(capabilities=client_capabilities("neovim@v0.9.1")))
    yield lsp_client
    await lsp_client.shutdown_session()


async def test_without_a_cluster_the_server_reports_no_topology_findings(no_cluster: LanguageClient):
    diags = await diagnostics_for(no_cluster, app_text(UNKNOWN + EMPTY.replace("prod", "prod2")), 1, lambda ds: True)
    assert [d.code for d in diags] == []
