"""veladev's cluster routing (`veladev.cluster.clusters`) against a velasandbox hub with managed
clusters: the registered clusters as KubeVela lists them; list, watch, exec, tar and
port-forward in a managed cluster with a kubeconfig that holds only the hub (every request
through the gateway's proxy); a direct kubeconfig context for a cluster; a stopped cluster
and an unknown one in the gateway's words."""

import io
import tarfile
import threading
import urllib.request
import uuid

import pytest
import yaml
from kubernetes import client, watch

from devmode_helpers import WORK_DIR, DevTarget
from veladev.cluster import ClusterConfig, ClusterError, streams, tunnel
from veladev.cluster.clusters import LOCAL, SECRET_NAMESPACE, connect_cluster, list_clusters
from veladev.cluster.workloads import list_pods
from veladev.devmode.forward import PortForwards

pytestmark = pytest.mark.sandbox

ALIAS = "cluster.core.oam.dev/cluster-alias"
SERVER = ["sh", "-c", f"echo from-edge > {WORK_DIR}/hello.txt && exec python3 -m http.server 8000 -d {WORK_DIR}"]


@pytest.fixture
def hub_only(multicluster):
    """The user's kubeconfig: the hub alone (no context for any managed cluster)."""
    doc = yaml.safe_load(open(multicluster.kubeconfig))
    assert [c["name"] for c in doc["contexts"]] == ["velasandbox"]
    return ClusterConfig(multicluster.kubeconfig)


@pytest.fixture
def edge_ns(multicluster):
    """A fresh namespace in edge-1 (made there directly, as the test's oracle)."""
    edge = multicluster.clusters["edge-1"]
    name = "t-" + uuid.uuid4().hex[:8]
    with edge.api_client() as api:
        client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    yield name
    with edge.api_client() as api:
        client.CoreV1Api(api).delete_namespace(name)


@pytest.fixture
def edge_dev(multicluster, edge_ns):
    """A pod serving its work dir on :8000 in edge-1 (created directly in edge-1)."""
    if multicluster.pods_unsupported:
        pytest.skip(multicluster.pods_unsupported)
    t = DevTarget(multicluster.clusters["edge-1"], edge_ns, command=SERVER)
    yield t
    t.close()


def test_list_clusters_is_local_then_the_registered_ones_with_alias_labels_and_endpoint(multicluster):
    edges = multicluster.clusters
    with multicluster.api_client() as api:
        core = client.CoreV1Api(api)
        core.patch_namespaced_secret("edge-2", SECRET_NAMESPACE, {"metadata": {"annotations": {ALIAS: "east"}}})
        try:
            clusters = list_clusters(api)
        finally:
            core.patch_namespaced_secret("edge-2", SECRET_NAMESPACE, {"metadata": {"annotations": {ALIAS: None}}})
    assert clusters[0].name == LOCAL and clusters[0].endpoint == multicluster.server_url
    by_name = {c.name: c for c in clusters}
    assert sorted(by_name) == ["edge-1", "edge-2", "edge-3", LOCAL]
    assert by_name["edge-2"].alias == "east" and by_name["edge-1"].alias == ""
    # KubeVela's own labels (the credential type) are hidden, the user's are kept
    assert by_name["edge-2"].labels == {"env": "prod", "region": "east"}
    assert by_name["edge-1"].labels == {"env": "test"}
    assert by_name["edge-3"].endpoint == edges["edge-3"].server_url
    text = repr(clusters)
    assert all(edge.token not in text for edge in edges.values())


def test_list_watch_and_exec_in_a_managed_cluster_with_only_the_hubs_kubeconfig(multicluster, hub_only, edge_dev):
    ns = edge_dev.ns
    with connect_cluster(hub_only, "edge-1") as api:
        assert "/clustergateways/edge-1/proxy" in api.configuration.host
        # list: the pod made in edge-1, which the hub does not have
        pods = list_pods(api, ns, "app=dev")
        assert [p["metadata"]["name"] for p in pods] == [edge_dev.pod_name]
        with multicluster.api_client() as hub:
            assert client.CoreV1Api(hub).list_namespaced_pod(ns).items == []
        # watch: a change made in edge-1 arrives through the gateway
        seen: list[str] = []
        w = watch.Watch()

        def watch_config_maps():
            for event in w.stream(client.CoreV1Api(api).list_namespaced_config_map, ns, timeout_seconds=60):
                seen.append(f"{event['type']} {event['object'].metadata.name}")
                if event["object"].metadata.name == "made-in-edge":
                    w.stop()

        watcher = threading.Thread(target=watch_config_maps, daemon=True)
        watcher.start()
        with multicluster.clusters["edge-1"].api_client() as edge:
            client.CoreV1Api(edge).create_namespaced_config_map(ns, {"metadata": {"name": "made-in-edge"}})
        watcher.join(60)
        assert "ADDED made-in-edge" in seen
        # exec: output, exit code and stdin, in the pod of edge-1
        r = streams.exec_run(api, ns, edge_dev.pod_name, "dev", ["sh", "-c", "cat; hostname; exit 3"], stdin=b"in\n")
        assert (r.code, r.stdout.decode()) == (3, f"in\n{edge_dev.pod_name}\n")


def test_tar_up_and_down_in_a_managed_cluster_through_the_gateway(hub_only, edge_dev):
    with connect_cluster(hub_only, "edge-1") as api:
        payload = b"x" * 300_000

        def archive(f):
            with tarfile.open(fileobj=f, mode="w|") as tar:
                info = tarfile.TarInfo("sub/big.bin")
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))

        r = streams.upload_tar(api, edge_dev.ns, edge_dev.pod_name, "dev", WORK_DIR, archive)
        assert r.code == 0, r.stderr
        assert edge_dev.sh(f"wc -c < {WORK_DIR}/sub/big.bin").strip() == str(len(payload))  # kubectl on edge-1
        with streams.download_tar(api, edge_dev.ns, edge_dev.pod_name, "dev", WORK_DIR, ["sub"]) as f:
            with tarfile.open(fileobj=f, mode="r|") as tar:
                got = {m.name: (tar.extractfile(m) or io.BytesIO()).read() for m in tar if m.isfile()}
        assert got == {"sub/big.bin": payload}


@pytest.mark.parametrize("use_tunnel", [True, False], ids=["spdy-tunnel", "websocket-per-connection"])
def test_port_forward_to_a_pod_in_a_managed_cluster_through_the_gateway(multicluster, hub_only, edge_dev, use_tunnel):
    with connect_cluster(hub_only, "edge-1") as api:
        fw = PortForwards(api, edge_dev.resolve, ["0:8000"], use_tunnel=use_tunnel)
        fw.start()
        try:
            port = fw.local_port(8000)

            def get():
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello.txt", timeout=20) as resp:
                    return resp.read()

            assert multicluster.wait_for(get, timeout=60, what="the server in the edge-1 pod") == b"from-edge\n"
            assert fw.mode == ("tunnel" if use_tunnel else "websocket")
        finally:
            fw.stop()


def test_a_context_named_like_the_cluster_is_used_directly(multicluster, tmp_path):
    """The hub's server in this kubeconfig is dead: only a direct connection can answer."""
    hub = yaml.safe_load(open(multicluster.kubeconfig))
    edge = yaml.safe_load(open(multicluster.clusters["edge-1"].kubeconfig))
    hub["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:9"
    for section in ("clusters", "users", "contexts"):
        entry = edge[section][0]
        entry["name"] = "edge-1"
        hub[section].append(entry)
    hub["contexts"][-1]["context"].update(cluster="edge-1", user="edge-1")
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(hub))
    with connect_cluster(ClusterConfig(str(path)), "edge-1") as api:
        assert api.configuration.host == multicluster.clusters["edge-1"].server_url
        names = [n.metadata.name for n in client.CoreV1Api(api).list_namespace().items]
        assert "vela-system" in names


def test_an_unknown_or_stopped_cluster_is_an_error_in_the_gateways_words(multicluster, hub_only):
    calls = {
        "list": lambda api: list_pods(api, "default", ""),
        "exec": lambda api: streams.exec_run(api, "default", "web", "web", ["true"]),
        "port-forward tunnel": lambda api: tunnel.open_tunnel(api, "default", "web"),
    }
    with connect_cluster(hub_only, "edge-9") as api:
        for call in calls.values():
            with pytest.raises(ClusterError, match="no such cluster edge-9"):
                call(api)
    multicluster.stop_cluster("edge-3")
    try:
        with connect_cluster(hub_only, "edge-3") as api:
            for what, call in calls.items():
                with pytest.raises(ClusterError) as err:
                    call(api)
                text = str(err.value)
                assert "cluster edge-3 is unreachable" in text and "connection refused" in text, (what, text)
                assert multicluster.clusters["edge-3"].token not in text and multicluster.token not in text
    finally:
        multicluster.start_cluster("edge-3")
