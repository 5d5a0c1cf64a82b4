"""Status, lenses and logs of an Application placed on managed clusters, against the
`multicluster` sandbox (a hub and edge-1, edge-2, edge-3), with only the hub's kubeconfig:
`veladev status` shows each component's health per cluster and each deploy step's placements,
a stopped cluster as `unreachable` while the rest still shows; `veladev logs` and the server's
`veladev.logs` read a pod's log in the chosen cluster through the hub's cluster-gateway; the
code lenses carry the clusters."""

import asyncio
import json
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import pytest_lsp
import yaml
from kubernetes import client
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from kv_helpers import Apps
from support import run_cli

pytestmark = pytest.mark.sandbox
TICKER = "velasandbox-test/ticker:1"
WAIT = 180  # pods start in three clusters on a shared machine


def app_text(ns: str) -> str:
    return f"""apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: shop
  namespace: {ns}
spec:
  components:
    - name: web
      type: webservice
      properties:
        image: {TICKER}
  policies:
    - name: test
      type: topology
      properties:
        clusters: [edge-1]
    - name: prod
      type: topology
      properties:
        clusterLabelSelector:
          env: prod
  workflow:
    steps:
      - name: deploy-test
        type: deploy
        properties:
          policies: [test]
      - name: deploy-prod
        type: deploy
        properties:
          policies: [prod]
"""


def deploy_shop(multicluster, folder: Path) -> tuple[str, Path, Apps]:
    """The app deployed on the hub, placed on edge-1 (test) and edge-2 + edge-3 (prod, by
    label), each pod printing `tick N` lines; (namespace, its file in `folder`, Apps on the hub).
    `undeploy_shop` removes it."""
    for cluster in multicluster.clusters.values():
        cluster.images.add_image(
            TICKER,
            entrypoint=[
                "python3",
                "-u",
                "-c",
                "import itertools, time\nfor i in itertools.count():\n    print('tick', i, flush=True)\n    time.sleep(0.3)",
            ],
        )
    ns = "st-" + uuid.uuid4().hex[:8]
    path = folder / "app.yaml"
    path.write_text(app_text(ns))
    apps = Apps(multicluster)
    apps.core.create_namespace({"metadata": {"name": ns}})
    apps.create(ns, yaml.safe_load(path.read_text()))

    def healthy_everywhere():
        services = (apps.get(ns, "shop").get("status") or {}).get("services") or []
        return {s.get("cluster") for s in services if s.get("healthy")} == {"edge-1", "edge-2", "edge-3"}

    multicluster.wait_for(healthy_everywhere, timeout=WAIT, what="web healthy in edge-1, edge-2 and edge-3")
    return ns, path, apps


def undeploy_shop(ns: str, apps: Apps) -> None:
    try:
        apps.delete(ns, "shop")
        apps.core.delete_namespace(ns)
    finally:
        apps.api.close()


@pytest.fixture(scope="module")
def shop(multicluster, tmp_path_factory):
    if multicluster.pods_unsupported:
        pytest.skip(multicluster.pods_unsupported)
    ns, path, apps = deploy_shop(multicluster, tmp_path_factory.mktemp("shop"))
    yield ns, path, apps
    undeploy_shop(ns, apps)


def edge_pods(multicluster, cluster: str, ns: str) -> set[str]:
    with multicluster.clusters[cluster].api_client() as api:
        return {p.metadata.name for p in client.CoreV1Api(api).list_namespaced_pod(ns).items}


class Stopped:
    """A managed cluster cut off for the block (restarted however it ends)."""

    def __init__(self, hub, name):
        self.hub, self.name = hub, name

    def __enter__(self):
        self.hub.stop_cluster(self.name)

    def __exit__(self, *exc):
        self.hub.start_cluster(self.name)


def test_status_shows_health_per_cluster_and_each_steps_placements(multicluster, shop):
    ns, _, _ = shop
    r = run_cli("veladev", "status", f"{ns}/shop", "--kubeconfig", multicluster.kubeconfig)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    for cluster in ("edge-1", "edge-2", "edge-3"):
        assert any(line.split()[:5] == ["web", cluster, ns, "✓", "healthy"] for line in lines), r.stdout
    assert f"  deploy-test  edge-1/{ns}" in lines
    assert f"  deploy-prod  edge-2/{ns}, edge-3/{ns}" in lines or f"  deploy-prod  edge-3/{ns}, edge-2/{ns}" in lines


def test_a_stopped_cluster_is_unreachable_and_the_rest_of_the_app_still_shows(multicluster, shop):
    ns, _, _ = shop
    with Stopped(multicluster, "edge-3"):
        r = run_cli("veladev", "status", f"{ns}/shop", "--kubeconfig", multicluster.kubeconfig, "--format", "json")
        assert r.returncode == 0, r.stderr
        status = json.loads(r.stdout)
        health = {(s["component"], s["cluster"]): s["health"] for s in status["services"]}
        assert health == {("web", "edge-1"): "healthy", ("web", "edge-2"): "healthy", ("web", "edge-3"): "unreachable"}
        assert "connection refused" in status["unreachable"]["edge-3"]
        prod = next(p for p in status["placements"] if p["step"] == "deploy-prod")
        assert {(p["cluster"], p["reach"]) for p in prod["placements"]} == {("edge-2", ""), ("edge-3", "unreachable")}
        text = run_cli("veladev", "status", f"{ns}/shop", "--kubeconfig", multicluster.kubeconfig)
        assert text.returncode == 0 and "unreachable" in text.stdout and "running" in text.stdout.splitlines()[0]
    r = run_cli("veladev", "status", f"{ns}/shop", "--kubeconfig", multicluster.kubeconfig, "--format", "json")
    assert json.loads(r.stdout)["unreachable"] == {}


def test_status_watch_shows_health_per_cluster_and_a_cluster_going_unreachable(multicluster, shop):
    ns, _, _ = shop
    hub = ["--kubeconfig", multicluster.kubeconfig]
    # Nothing changes: one state, with what `veladev status` shows.
    r = run_cli("veladev", "status", f"{ns}/shop", "--watch", "--timeout", "6", *hub)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("--- ") == 1, r.stdout
    once = run_cli("veladev", "status", f"{ns}/shop", *hub)
    assert r.stdout.split("\n", 1)[1].strip() == once.stdout.strip()
    assert f"  deploy-test  edge-1/{ns}" in r.stdout.splitlines()

    # A cluster the hub stops reaching changes nothing in the Application, yet is a change.
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("veladev")), "status", f"{ns}/shop", "--watch", "--timeout", "120", *hub],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = proc.stdout, proc.stderr
    assert stdout is not None and stderr is not None
    seen: list[str] = []

    def read_until(pred) -> None:
        for line in stdout:
            seen.append(line.rstrip())
            if pred(line.rstrip()):
                return
        raise AssertionError("the watch ended early:\n" + "\n".join(seen) + stderr.read())

    def edge_3(health: str):
        return lambda line: line.split()[:2] == ["web", "edge-3"] and health in line.split()

    try:
        read_until(edge_3("healthy"))
        with Stopped(multicluster, "edge-3"):
            read_until(edge_3("unreachable"))
            read_until(lambda line: line.startswith("  deploy-prod ") and f"edge-3/{ns} (unreachable)" in line)
        read_until(edge_3("healthy"))  # back
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    states = "\n".join(seen).split("--- ")
    assert len(states) >= 4, seen  # healthy, edge-3 unreachable, healthy again


def test_logs_of_a_chosen_cluster_come_through_the_gateway(multicluster, shop):
    ns, path, _ = shop
    hub = ["--kubeconfig", multicluster.kubeconfig]
    r = run_cli("veladev", "logs", str(path), *hub)
    assert r.returncode == 2
    assert r.stderr.startswith("veladev logs: component web runs in several places (")
    assert f"edge-1/{ns}" in r.stderr and f"edge-3/{ns}" in r.stderr and "--cluster" in r.stderr
    r = run_cli("veladev", "logs", str(path), "--cluster", "edge-9", *hub)
    assert r.returncode == 2 and "does not run in cluster edge-9" in r.stderr

    r = run_cli("veladev", "logs", str(path), "--cluster", "edge-2", *hub)
    assert r.returncode == 0, r.stderr
    assert "tick 0\ntick 1\n" in r.stdout
    header = r.stderr.strip().splitlines()[0]
    assert header.startswith(f"[edge-2/{ns} pod ")
    assert header.split(" pod ")[1].rstrip("]") in edge_pods(multicluster, "edge-2", ns)

    # -f: new lines keep coming until the user stops it
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("veladev")), "logs", str(path), "--cluster", "edge-1", "-f", *hub],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        seen = [proc.stdout.readline() for _ in range(220)]  # the last 200 lines, then new ones
        if not all(line.startswith("tick ") for line in seen):
            proc.kill()
            raise AssertionError(f"{seen[-3:]} {proc.stderr.read()}")
        numbers = [int(line.split()[1]) for line in seen]
        assert numbers == sorted(numbers) and numbers[-1] > numbers[0]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 130


#: The veladev/logOutput notifications the editor received, in order.
LOGS: list = []


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "veladev", "lsp"]))
async def editor(lsp_client: LanguageClient, multicluster):
    lsp_client.set_configuration({"kubeconfig": multicluster.kubeconfig}, section="veladev")
    LOGS.clear()

    @lsp_client.feature(lsp.WORKSPACE_CODE_LENS_REFRESH)
    def refresh(params):
        return None

    @lsp_client.feature("veladev/logOutput")
    def log_output(params):
        LOGS.append(params)

    await lsp_client.initialize_session(
        lsp.InitializeParams(capabilities=client_capabilities("visual_studio_code@v1.65.2"))
    )
    yield lsp_client
    await lsp_client.shutdown_session()


async def lens_titles(client: LanguageClient, uri: str, line: int) -> list[str]:
    got = await client.text_document_code_lens_async(lsp.CodeLensParams(lsp.TextDocumentIdentifier(uri))) or []
    return [lens.command.title for lens in got if lens.range.start.line == line and lens.command]


async def wait_titles(client, uri, line, pred, what, timeout=90):
    deadline = asyncio.get_running_loop().time() + timeout
    titles: list[str] = []
    while asyncio.get_running_loop().time() < deadline:
        titles = await lens_titles(client, uri, line)
        if pred(titles):
            return titles
        await asyncio.sleep(0.3)
    raise AssertionError(f"lenses never showed {what}: {titles}")


async def test_lenses_carry_the_clusters_and_logs_stream_from_the_chosen_one(
    editor: LanguageClient, multicluster, shop
):
    ns, path, _ = shop
    uri = path.as_uri()
    text = path.read_text()
    editor.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(uri, "yaml", 1, text)))
    lines = text.splitlines()
    comp = lines.index("    - name: web")
    prod = lines.index("      - name: deploy-prod")
    test = lines.index("      - name: deploy-test")

    titles = await wait_titles(
        editor, uri, comp, lambda ts: {"edge-1 ✓", "edge-2 ✓", "edge-3 ✓"} <= set(ts), "web healthy in three clusters"
    )
    assert "Logs" in titles
    await wait_titles(editor, uri, test, lambda ts: f"→ edge-1/{ns}" in ts, "deploy-test's cluster")
    prod_clusters = (f"→ edge-2/{ns}, edge-3/{ns}", f"→ edge-3/{ns}, edge-2/{ns}")
    await wait_titles(editor, uri, prod, lambda ts: any(t in prod_clusters for t in ts), "deploy-prod's clusters")

    with Stopped(multicluster, "edge-3"):
        titles = await wait_titles(editor, uri, comp, lambda ts: "edge-3 ⚠ unreachable" in ts, "edge-3 unreachable")
        assert {"edge-1 ✓", "edge-2 ✓"} <= set(titles)
        assert any("edge-3" in t and "(unreachable)" in t for t in await lens_titles(editor, uri, prod))

    result = await editor.workspace_execute_command_async(
        lsp.ExecuteCommandParams("veladev.logs", [{"uri": uri, "component": "web", "cluster": "edge-1"}])
    )
    assert result is not None and result["ok"], result
    assert (result["cluster"], result["namespace"]) == ("edge-1", ns)
    assert result["pod"] in edge_pods(multicluster, "edge-1", ns)
    # (pygls hands notifications of methods it does not know over as named tuples)
    sent = "".join(p.text for p in LOGS)
    ticks = [int(line.split()[1]) for line in sent.splitlines()]
    assert 2 <= len(ticks) <= 200 and ticks == list(range(ticks[0], ticks[0] + len(ticks)))  # the last lines
    assert getattr(LOGS[-1], "ended", None) is True and {p.cluster for p in LOGS} == {"edge-1"}

    # follow: new lines keep coming until veladev.logs.stop, which ends the stream
    LOGS.clear()
    args = {"uri": uri, "component": "web", "cluster": "edge-2", "follow": True}
    result = await editor.workspace_execute_command_async(lsp.ExecuteCommandParams("veladev.logs", [args]))
    assert result is not None and result["ok"] and result["cluster"] == "edge-2", result

    async def until(pred, what, timeout=60):
        deadline = asyncio.get_running_loop().time() + timeout
        while not pred():
            assert asyncio.get_running_loop().time() < deadline, f"never {what}: {LOGS[-3:]}"
            await asyncio.sleep(0.1)

    def newest() -> int:
        lines = "".join(p.text for p in LOGS).split()
        return int(lines[-1]) if len(lines) >= 2 and lines[-2] == "tick" else -1

    await until(lambda: newest() >= 0, "a first tick")
    first = newest()
    await until(lambda: newest() >= first + 3, "new ticks while following")
    stopped = await editor.workspace_execute_command_async(
        lsp.ExecuteCommandParams("veladev.logs.stop", [{"uri": uri, "component": "web"}])
    )
    assert stopped is not None and stopped["message"] == "stopped 1 log stream(s)"
    await until(lambda: getattr(LOGS[-1], "ended", None) is True, "the end of the stream")
    count = len(LOGS)
    await asyncio.sleep(1.5)  # ticks come every 0.3 s: none arrives once stopped
    assert len(LOGS) == count

    # the view's listing: each component per cluster, each deploy step's clusters
    listing = await editor.workspace_execute_command_async(
        lsp.ExecuteCommandParams("veladev.applications", [{"namespaces": [ns]}])
    )
    assert listing is not None and listing["ok"], listing
    (shop_app,) = listing["applications"]
    assert {(s["cluster"], s["health"]) for s in shop_app["services"]} == {
        ("edge-1", "healthy"),
        ("edge-2", "healthy"),
        ("edge-3", "healthy"),
    }
    assert [p["step"] for p in shop_app["placements"]] == ["deploy-test", "deploy-prod"]

    chooser = await editor.workspace_execute_command_async(
        lsp.ExecuteCommandParams("veladev.logs", [{"uri": uri, "component": "web"}])
    )
    assert chooser is not None and not chooser["ok"] and "runs in several places" in chooser["message"]
