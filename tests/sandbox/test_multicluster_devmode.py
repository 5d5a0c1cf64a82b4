"""Dev mode in a managed cluster, through the hub's gateway only (the user's kubeconfig holds
the hub alone): the example app deployed by the hub's KubeVela to edge-1 (test) and edge-2
(prod); the CLI in new processes (several placements -> one sentence, exit 2; --cluster
chooses; start, sync, forward and run, end with exact restore, the pause label and the record
on the hub's Application) and the language server (veladev.dev.placements, dev commands with
`cluster`). Every check of a managed cluster uses that cluster's own client."""

import copy
import os
import shutil
import subprocess
import sys
import threading
import uuid

import pytest
import pytest_lsp
import yaml
from devmode_app_helpers import DEV_IMAGE, comparable, dev_state, local_get
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from kv_helpers import Apps, example_app, make_frontend_repo
from veladev.devmode.workload import PAUSE_LABEL, PLACEMENTS_ANNOTATION

pytestmark = pytest.mark.sandbox

WAIT = 180  # pods start in two clusters on a shared machine
WORK_DIR = "/home/nocalhost-dev"


class McApp:
    """The example app on the hub in namespace `ns`, deployed to `edge-1` and `edge-2` in
    namespace `edge_ns` (another name: the workload's namespace is not the Application's)."""

    def __init__(self, hub, ns, folder):
        self.hub, self.ns, self.folder = hub, ns, folder
        self.edge_ns = ns + "-edge"
        self.file = folder / "vela-app.yaml"
        self.apps = Apps(hub)
        self.edges = {name: hub.clusters[name].api_client() for name in ("edge-1", "edge-2")}
        app = example_app()
        app["metadata"]["namespace"] = ns
        trait = app["spec"]["components"][0]["traits"][0]["properties"]
        trait["portForward"] = ["0:80"]
        app["spec"]["policies"] = [
            {
                "name": "target-test",
                "type": "topology",
                "properties": {"clusters": ["edge-1"], "namespace": self.edge_ns},
            },
            {
                "name": "target-prod",
                "type": "topology",
                "properties": {"clusters": ["edge-2"], "namespace": self.edge_ns},
            },
        ]
        app["spec"]["workflow"]["steps"] = [
            {"name": "deploy-test", "type": "deploy", "properties": {"policies": ["target-test"]}},
            {"name": "deploy-prod", "type": "deploy", "properties": {"policies": ["target-prod"]}},
        ]
        self.app = app
        self.file.write_text(yaml.safe_dump(app, sort_keys=False))

    def deployment(self, cluster):
        from kubernetes import client

        api = self.edges[cluster]
        return api.sanitize_for_serialization(
            client.AppsV1Api(api).read_namespaced_deployment("frontend", self.edge_ns)
        )

    def application(self):
        return self.apps.get(self.ns, "frontend")

    def edge_sh(self, cluster, pod, script):
        """A shell in the pod, with kubectl on the managed cluster itself (not veladev)."""
        kubectl = self.hub.clusters[cluster].kubectl
        return kubectl("exec", "-n", self.edge_ns, pod, "-c", "frontend", "--", "sh", "-c", script, check=False).stdout

    def dev_pod(self, cluster):
        from kubernetes import client

        pods = client.CoreV1Api(self.edges[cluster]).list_namespaced_pod(
            self.edge_ns, label_selector="app.oam.dev/component=frontend"
        )
        ready = [
            p.metadata.name
            for p in pods.items
            if not p.metadata.deletion_timestamp
            and p.spec.containers[0].image == DEV_IMAGE
            and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
        ]
        return ready[0] if len(ready) == 1 else None

    def cli(self, *args, timeout=240):
        """`veladev dev ...` in a new process, with the hub's kubeconfig only."""
        return subprocess.run(
            [sys.executable, "-m", "veladev", "dev", *args, "--kubeconfig", self.hub.kubeconfig],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )

    def close(self):
        for api in self.edges.values():
            api.close()
        self.apps.api.close()


@pytest.fixture(scope="module")
def mc_app(multicluster, tmp_path_factory):
    if multicluster.pods_unsupported:
        pytest.skip(multicluster.pods_unsupported)
    if not shutil.which("node"):
        pytest.skip("node not found on this host (the frontend example runs `node server.js`)")
    repo = make_frontend_repo(str(tmp_path_factory.mktemp("frontend-repo")))
    for name in ("edge-1", "edge-2"):
        multicluster.clusters[name].register_repo("frontend", repo)
    folder = tmp_path_factory.mktemp("mc-dev") / "frontend"
    shutil.copytree(repo, folder, ignore=shutil.ignore_patterns(".git"))
    ns = "mcd-" + uuid.uuid4().hex[:8]
    m = McApp(multicluster, ns, folder)
    m.apps.core.create_namespace({"metadata": {"name": ns}})
    m.apps.create(ns, copy.deepcopy(m.app))
    try:
        a = m.apps.wait_phase(ns, "frontend", "running", timeout=WAIT)
        assert [(s["cluster"], s["namespace"]) for s in a["status"]["services"]] == [
            ("edge-1", m.edge_ns),
            ("edge-2", m.edge_ns),
        ]
        for cluster in ("edge-1", "edge-2"):
            multicluster.wait_for(
                lambda c=cluster: (m.deployment(c).get("status") or {}).get("readyReplicas") == 1,
                timeout=WAIT,
                what=f"frontend ready in {cluster}",
            )
        yield m
    finally:
        m.apps.delete(ns, "frontend")
        m.apps.core.delete_namespace(ns)
        m.close()


def _ended(m, cluster):
    """Dev mode off in `cluster` (a test that failed half-way leaves nothing behind)."""
    if dev_state(m.deployment(cluster)) is not None:
        m.cli("end", str(m.file), "--cluster", cluster, "--takeover")


def test_several_placements_need_a_cluster_one_sentence_exit_2(mc_app):
    m = mc_app
    r = m.cli("start", str(m.file))
    assert r.returncode == 2, r
    assert r.stdout == ""
    assert r.stderr.strip().splitlines() == [
        f"veladev dev: component frontend runs in several clusters (edge-1/{m.edge_ns}, edge-2/{m.edge_ns}); "
        "choose one with --cluster (and --namespace)"
    ]
    r = m.cli("start", str(m.file), "--cluster", "edge-3")
    assert r.returncode == 2
    assert r.stderr.strip() == (
        f"veladev dev: component frontend does not run in cluster edge-3; it runs in edge-1/{m.edge_ns}, edge-2/{m.edge_ns}"
    )
    assert dev_state(m.deployment("edge-1")) is None and dev_state(m.deployment("edge-2")) is None


def test_dev_mode_in_a_managed_cluster_through_the_gateway_with_exact_restore(mc_app):
    m = mc_app
    original, other = m.deployment("edge-1"), m.deployment("edge-2")
    app_before = m.application()["metadata"]
    try:
        r = m.cli("start", str(m.file), "--cluster", "edge-1")
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"dev mode on: Deployment {m.edge_ns}/frontend in cluster edge-1, dev pod frontend-")
        dev = m.deployment("edge-1")
        c = dev["spec"]["template"]["spec"]["containers"][0]
        assert c["image"] == DEV_IMAGE and dev_state(dev)["application"] == f"{m.ns}/frontend"
        assert comparable(m.deployment("edge-2")) == comparable(other)  # the other placement is untouched
        # the pause label and the record are on the hub's Application
        md = m.application()["metadata"]
        assert md["labels"][PAUSE_LABEL] == "true"
        record = yaml.safe_load(md["annotations"][PLACEMENTS_ANNOTATION])
        assert record["workloads"] == [
            {
                "cluster": "edge-1",
                "namespace": m.edge_ns,
                "component": "frontend",
                "kind": "deployment",
                "name": "frontend",
            }
        ]
        status = m.cli("status")
        assert (
            f"edge-1: {m.edge_ns}/frontend (Deployment): application {m.ns}/frontend component frontend"
            in status.stdout
        )
        # terminal: a shell in the dev container in edge-1 (stdin here is a pipe, not a tty)
        term = subprocess.run(
            [sys.executable, "-m", "veladev", "dev", "terminal", str(m.file), "--cluster", "edge-1"]
            + ["--kubeconfig", m.hub.kubeconfig],
            input='echo "host-is:$(hostname)"; echo "dir-is:$(pwd)"; exit 3\n',
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert term.returncode == 3, term.stderr
        assert f"host-is:{m.dev_pod('edge-1')}\n" in term.stdout and f"dir-is:{WORK_DIR}\n" in term.stdout

        # up with run, from a new process that names no cluster: the record says edge-1
        (m.folder / "VERSION").write_text("edited-locally\n")
        up = subprocess.Popen(
            [sys.executable, "-m", "veladev", "dev", "up", str(m.file), "--run", "--kubeconfig", m.hub.kubeconfig],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        lines: list[str] = []
        assert up.stdout is not None
        out = up.stdout
        try:
            threading.Thread(target=lambda: lines.extend(x.rstrip("\n") for x in out), daemon=True).start()

            def forward_line():
                found = next((x for x in lines if x.startswith("[forward] 127.0.0.1:")), None)
                assert found or up.poll() is None, f"dev up ended: {lines}"
                return found

            line = m.hub.wait_for(forward_line, timeout=WAIT, what=f"the forward line (output: {lines})")
            port = int(line.split(":", 1)[1].split("->")[0])
            # sync: the local edit is in the dev pod in edge-1 (read there with edge-1's kubectl)
            pod = m.dev_pod("edge-1")
            m.hub.wait_for(
                lambda: m.edge_sh("edge-1", pod, f"cat {WORK_DIR}/VERSION") == "edited-locally\n",
                timeout=WAIT,
                what="VERSION synced to edge-1",
            )
            # run + forward: node serves the synced files from edge-1 on the local port
            body = m.hub.wait_for(
                lambda: local_get(f"http://127.0.0.1:{port}/"), timeout=WAIT, what="the app through the forward"
            )
            assert "edited-locally" in body
        finally:
            up.terminate()
            up.wait(60)

        # end, from a new process that names no cluster either
        r = m.cli("end", str(m.file))
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == f"dev mode ended: Deployment {m.edge_ns}/frontend in cluster edge-1 is restored"
        assert comparable(m.deployment("edge-1")) == comparable(original)
        md = m.application()["metadata"]
        assert PAUSE_LABEL not in (md.get("labels") or {})
        assert PLACEMENTS_ANNOTATION not in (md.get("annotations") or {})
        for key in ("labels", "annotations"):  # as before dev mode (an emptied map is no map)
            assert (md.get(key) or {}) == (app_before.get(key) or {})
    finally:
        _ended(m, "edge-1")


@pytest.fixture
def dev_states():
    """The veladev/devState notifications the editor received."""
    return []


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "veladev", "lsp"]))
async def editor(lsp_client: LanguageClient, multicluster, dev_states):
    lsp_client.set_configuration({"kubeconfig": multicluster.kubeconfig}, section="veladev")
    lsp_client.feature("veladev/devState")(lambda params: dev_states.append(params))
    await lsp_client.initialize_session(lsp.InitializeParams(capabilities=client_capabilities("visual-studio-code")))
    yield
    await lsp_client.shutdown_session()


async def command(client, name, arg):
    return await client.workspace_execute_command_async(
        lsp.ExecuteCommandParams(command=f"veladev.dev.{name}", arguments=[arg])
    )


def _get(obj, key):
    return obj[key] if isinstance(obj, dict) else getattr(obj, key)


async def test_the_editor_gets_the_placements_and_develops_in_the_chosen_cluster(editor, dev_states, mc_app):
    m = mc_app
    uri = m.file.as_uri()
    original = m.deployment("edge-2")
    try:
        placements = await command(editor, "placements", {"uri": uri, "component": "frontend"})
        assert [(_get(p, "cluster"), _get(p, "namespace")) for p in placements] == [
            ("edge-1", m.edge_ns),
            ("edge-2", m.edge_ns),
        ]
        with pytest.raises(JsonRpcException, match=r"runs in several clusters \(edge-1/.*, edge-2/.*\)"):
            await command(editor, "start", {"uri": uri})
        with pytest.raises(JsonRpcException, match='"cluster": .* is not a cluster name'):
            await command(editor, "start", {"uri": uri, "cluster": "Edge_2"})

        arg = {"uri": uri, "cluster": "edge-2", "namespace": m.edge_ns}
        result = await command(editor, "start", arg)
        assert (_get(result, "cluster"), _get(result, "namespace")) == ("edge-2", m.edge_ns)
        assert m.deployment("edge-2")["spec"]["template"]["spec"]["containers"][0]["image"] == DEV_IMAGE
        assert _get(dev_states[-1], "cluster") == "edge-2"
        assert m.application()["metadata"]["labels"][PAUSE_LABEL] == "true"
        status = await command(editor, "status", {})
        assert [(_get(s, "cluster"), _get(s, "namespace")) for s in status if _get(s, "namespace") == m.edge_ns] == [
            ("edge-2", m.edge_ns)
        ]
        # debug: command.debug runs in edge-2 and the Node inspector answers on the forwarded port
        attach = _get(await command(editor, "debug", arg), "attach")
        port = _get(attach, "port")
        version = m.hub.wait_for(
            lambda: local_get(f"http://127.0.0.1:{port}/json/version"), timeout=WAIT, what="the Node inspector"
        )
        assert "node" in version.lower()
        assert _get(await command(editor, "stopRun", arg), "run") == "stopped"
        terminal = await command(editor, "terminal", arg)
        assert _get(terminal, "command")[4:8] == ["--cluster", "edge-2", "--namespace", m.edge_ns]

        ended = await command(editor, "end", arg)
        assert (_get(ended, "cluster"), _get(ended, "state")) == ("edge-2", "off")
        assert comparable(m.deployment("edge-2")) == comparable(original)
        assert PAUSE_LABEL not in (m.application()["metadata"].get("labels") or {})
    finally:
        _ended(m, "edge-2")


def test_a_stopped_cluster_is_one_sentence_and_nothing_is_damaged(mc_app):
    m = mc_app
    original = m.deployment("edge-1")
    try:
        assert m.cli("start", str(m.file), "--cluster", "edge-1").returncode == 0
        m.hub.stop_cluster("edge-1")
        try:
            r = m.cli("end", str(m.file))
            assert r.returncode == 1 and "Traceback" not in r.stderr
            [line] = r.stderr.strip().splitlines()
            assert line.startswith("veladev dev end: ") and "edge-1" in line and "connection refused" in line, line
            assert m.hub.clusters["edge-1"].token not in r.stderr and m.hub.token not in r.stderr
            assert m.application()["metadata"]["labels"][PAUSE_LABEL] == "true"  # still in dev mode: still paused
            status = m.cli("status")
            assert status.returncode == 0
            assert any(x.startswith("edge-1: unreachable (") for x in status.stdout.splitlines()), status.stdout
        finally:
            m.hub.start_cluster("edge-1")
        # back: end finds the dev workload and restores it exactly
        r = m.cli("end", str(m.file))
        assert r.returncode == 0, r.stderr
        assert comparable(m.deployment("edge-1")) == comparable(original)
        assert PAUSE_LABEL not in (m.application()["metadata"].get("labels") or {})
    finally:
        _ended(m, "edge-1")
