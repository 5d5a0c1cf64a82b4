"""Managed clusters on the hub: registration Secrets as `vela cluster join` writes them
(kubevela/kubevela references/cli/cluster.go) and the ClusterGateway objects derived from them
(oam-dev/cluster-gateway pkg/apis/cluster/v1alpha1)."""

import base64
import json
import urllib.error
import urllib.request

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

pytestmark = pytest.mark.sandbox

GROUP, VERSION = "cluster.core.oam.dev", "v1alpha1"
CREDENTIAL_TYPE = "cluster.core.oam.dev/cluster-credential-type"


def _b64(s):
    return base64.b64decode(s).decode()


def test_each_managed_cluster_is_a_sandbox_of_its_own(multicluster):
    edges = multicluster.clusters
    assert sorted(edges) == ["edge-1", "edge-2", "edge-3"]
    ports = {multicluster.port} | {c.port for c in edges.values()}
    tokens = {multicluster.token} | {c.token for c in edges.values()}
    assert len(ports) == 4 and len(tokens) == 4
    for name, c in edges.items():
        assert c.state_dir == f"{multicluster.state_dir}/clusters/{name}"
        with c.api_client() as api:
            # no KubeVela in a managed cluster: vela-system exists (join creates it), no definitions
            names = [n.metadata.name for n in client.CoreV1Api(api).list_namespace().items]
            assert "vela-system" in names
            assert client.CoreV1Api(api).list_namespaced_config_map("vela-system").items == []
        assert getattr(c, "velaux", None) is None
    # the hub's token does not open a managed cluster
    edge = edges["edge-1"]
    req = urllib.request.Request(f"{edge.server_url}/api/v1/namespaces")
    req.add_header("Authorization", f"Bearer {multicluster.token}")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, context=edge.ssl_context(), timeout=20)
    assert e.value.code == 401


def test_registration_secret_as_vela_cluster_join_writes_it(multicluster):
    with multicluster.api_client() as api:
        secrets = client.CoreV1Api(api).list_namespaced_secret("vela-system", label_selector=CREDENTIAL_TYPE).items
    by_name = {s.metadata.name: s for s in secrets}
    assert sorted(by_name) == ["edge-1", "edge-2", "edge-3"]
    s = by_name["edge-2"]
    edge2 = multicluster.clusters["edge-2"]
    assert s.type == "Opaque"
    assert s.metadata.labels == {CREDENTIAL_TYPE: "ServiceAccountToken", "env": "prod", "region": "east"}
    version = json.loads(s.metadata.annotations["cluster.core.oam.dev/cluster-version"])
    assert set(version) == {"major", "minor", "gitVersion", "platform"}
    assert "cluster.core.oam.dev/cluster-alias" not in s.metadata.annotations
    assert _b64(s.data["endpoint"]) == edge2.server_url == f"https://127.0.0.1:{edge2.port}"
    assert _b64(s.data["token"]) == edge2.token
    with open(edge2.ca_file) as f:
        assert _b64(s.data["ca.crt"]) == f.read()
    assert by_name["edge-1"].metadata.labels["env"] == "test"
    assert by_name["edge-3"].metadata.labels["region"] == "west"


def test_clustergateways_list_and_get_with_the_official_client(multicluster):
    with multicluster.api_client() as api:
        groups = {g.name: g for g in client.ApisApi(api).get_api_versions().groups}
        assert groups[GROUP].preferred_version.version == VERSION
        resources = client.CustomObjectsApi(api).get_api_resources(GROUP, VERSION).resources
        gw = next(r for r in resources if r.name == "clustergateways")
        assert gw.namespaced is False and gw.kind == "ClusterGateway" and set(gw.verbs) == {"get", "list"}
        assert any(r.name == "clustergateways/proxy" for r in resources)
        co = client.CustomObjectsApi(api)
        listed = co.list_cluster_custom_object(GROUP, VERSION, "clustergateways")
        assert [o["metadata"]["name"] for o in listed["items"]] == ["edge-1", "edge-2", "edge-3"]
        one = co.get_cluster_custom_object(GROUP, VERSION, "clustergateways", "edge-3")
        assert one["kind"] == "ClusterGateway"
        assert one["spec"]["access"]["endpoint"]["const"]["address"] == multicluster.clusters["edge-3"].server_url
        assert one["spec"]["access"]["credential"]["type"] == "ServiceAccountToken"
        assert one["metadata"]["labels"]["region"] == "west"
        with pytest.raises(ApiException) as e:
            co.get_cluster_custom_object(GROUP, VERSION, "clustergateways", "edge-9")
        assert e.value.status == 404
        # not a cluster: a Secret without the credential-type label
        client.CoreV1Api(api).create_namespaced_secret(
            "vela-system", {"metadata": {"name": "not-a-cluster"}, "stringData": {"endpoint": "https://x"}}
        )
        try:
            listed = co.list_cluster_custom_object(GROUP, VERSION, "clustergateways")
            assert "not-a-cluster" not in [o["metadata"]["name"] for o in listed["items"]]
        finally:
            client.CoreV1Api(api).delete_namespaced_secret("not-a-cluster", "vela-system")
        # watching clustergateways is refused, as upstream ("watch not supported")
        with pytest.raises(ApiException) as e:
            co.list_cluster_custom_object(GROUP, VERSION, "clustergateways", watch=True, _request_timeout=10)
        assert e.value.status == 405 and "watch not supported" in e.value.body


def test_kubectl_get_clustergateways_prints_the_gateway_columns(multicluster):
    out = multicluster.kubectl("get", "clustergateways").stdout.splitlines()
    assert out[0].split() == ["NAME", "PROVIDER", "CREDENTIAL-TYPE", "ENDPOINT-TYPE", "HEALTHY"]
    assert [line.split() for line in out[1:]] == [
        [n, "ServiceAccountToken", "Const", "false"] for n in ("edge-1", "edge-2", "edge-3")
    ]
    api_resources = multicluster.kubectl("api-resources", f"--api-group={GROUP}").stdout
    assert "clustergateways" in api_resources
    got = json.loads(multicluster.kubectl("get", "clustergateway", "edge-1", "-o", "json").stdout)
    assert got["metadata"]["name"] == "edge-1"


def test_the_managed_token_is_shown_only_inside_the_secret(multicluster):
    tokens = [c.token for c in multicluster.clusters.values()]
    shown = [
        multicluster.kubectl("get", "clustergateways", "-o", "yaml").stdout,
        multicluster.kubectl("get", "clustergateway", "edge-1", "-o", "json").stdout,
        multicluster.kubectl("get", "--raw", "/sandbox/status").stdout,
    ]
    multicluster.stop_cluster("edge-1")
    try:
        shown.append(multicluster.kubectl("get", "--raw", _proxy("edge-1", "/api/v1/pods"), check=False).stderr)
    finally:
        multicluster.start_cluster("edge-1")
    for text in shown:
        assert text and not any(t in text for t in tokens)


def _proxy(cluster, path):
    return f"/apis/{GROUP}/{VERSION}/clustergateways/{cluster}/proxy{path}"


def test_add_cluster_after_start_with_alias_and_name_checks(tmp_path):
    from velasandbox.testing import start_sandbox

    hub = start_sandbox(str(tmp_path / "hub"), pods=False)
    try:
        edge = hub.add_cluster("late", {"tier": "gold"}, alias="Late One")
        assert edge.listening and hub.clusters == {"late": edge}
        secret = hub.get("", "secrets", "vela-system", "late")
        assert secret["metadata"]["annotations"]["cluster.core.oam.dev/cluster-alias"] == "Late One"
        assert secret["metadata"]["labels"]["tier"] == "gold"
        for bad, message in [
            ("local", "reserved"),
            ("Edge_1", "DNS label"),
            ("late", "already exists"),
        ]:
            with pytest.raises(ValueError, match=message):
                hub.add_cluster(bad)
        with pytest.raises(ValueError, match="no such cluster nope"):
            hub.stop_cluster("nope")
    finally:
        hub.stop()
    assert not edge.listening and not edge._started  # the hub's stop() stopped its cluster
