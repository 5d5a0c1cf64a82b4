"""veladev's cluster routing (`veladev.cluster.clusters`) against velasandbox: the registered
clusters as KubeVela lists them, and requests for `local` on the hub itself."""

import base64
import uuid

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from veladev.cluster import ClusterConfig
from veladev.cluster.clusters import LOCAL, SECRET_NAMESPACE, connect_cluster, list_clusters


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _cluster_secret(name, labels, created_label=True, alias=""):
    md = {"name": name, "namespace": SECRET_NAMESPACE, "labels": dict(labels)}
    if created_label:
        md["labels"]["cluster.core.oam.dev/cluster-credential-type"] = "ServiceAccountToken"
    if alias:
        md["annotations"] = {"cluster.core.oam.dev/cluster-alias": alias}
    data = {"endpoint": _b64(f"https://127.0.0.1:1/{name}\n"), "token": _b64("managed-secret-token")}
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": md, "data": data}


@pytest.fixture
def registered(sandbox):
    """Two hand-made cluster Secrets (and one Secret that is not a cluster) on the hub."""
    suffix = uuid.uuid4().hex[:6]
    names = [f"zz-{suffix}", f"aa-{suffix}", f"plain-{suffix}"]
    with sandbox.api_client() as api:
        core = client.CoreV1Api(api)
        try:
            core.create_namespace({"metadata": {"name": SECRET_NAMESPACE}})
        except ApiException as exc:
            if exc.status != 409:
                raise
        core.create_namespaced_secret(SECRET_NAMESPACE, _cluster_secret(names[0], {"env": "prod"}, alias="Zed"))
        core.create_namespaced_secret(SECRET_NAMESPACE, _cluster_secret(names[1], {"env": "test"}))
        core.create_namespaced_secret(SECRET_NAMESPACE, _cluster_secret(names[2], {}, created_label=False))
        try:
            yield names
        finally:
            for name in names:
                core.delete_namespaced_secret(name, SECRET_NAMESPACE)


def test_list_clusters_is_local_then_the_labelled_secrets_with_alias_labels_and_endpoint(sandbox, registered):
    zz, aa, plain = registered
    with sandbox.api_client() as api:
        clusters = list_clusters(api)
    assert clusters[0].name == LOCAL and clusters[0].endpoint == sandbox.server_url
    by_name = {c.name: c for c in clusters}
    assert plain not in by_name  # no credential-type label: not a cluster
    assert by_name[zz].alias == "Zed" and by_name[zz].labels == {"env": "prod"}  # KubeVela's own labels hidden
    assert by_name[aa].alias == "" and by_name[aa].labels == {"env": "test"}
    assert by_name[zz].endpoint == f"https://127.0.0.1:1/{zz}"
    # aa was registered after zz (newest first), or in the same second (then by name)
    assert [c.name for c in clusters if c.name in (zz, aa)] == [aa, zz]
    assert "managed-secret-token" not in repr(clusters)


def test_local_is_the_hub_itself(sandbox):
    with connect_cluster(ClusterConfig(sandbox.kubeconfig), LOCAL) as api:
        assert api.configuration.host == sandbox.server_url
        assert client.VersionApi(api).get_code().git_version
