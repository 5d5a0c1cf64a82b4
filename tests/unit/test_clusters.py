"""Cluster routing without a cluster: placements from an Application's status, names that
can be cluster names, and which host (and whose credentials) `connect_cluster` gives for the
hub, a managed cluster reached through the gateway and one with a direct context."""

import threading

import pytest
import yaml

from veladev.cluster import ClusterConfig, ClusterError
from veladev.cluster.clusters import (
    LOCAL,
    Placement,
    check_name,
    component_placements,
    connect_cluster,
    gateway_client,
)

HUB = "https://127.0.0.1:6443"
DIRECT = "https://127.0.0.1:7443"


def _kubeconfig(tmp_path, extra_contexts=()):
    contexts = [{"name": "hub", "context": {"cluster": "hub", "user": "hub"}}]
    clusters = [{"name": "hub", "cluster": {"server": HUB, "insecure-skip-tls-verify": True}}]
    users = [{"name": "hub", "user": {"token": "hub-token"}}]
    for name in extra_contexts:
        contexts.append({"name": name, "context": {"cluster": name, "user": name}})
        clusters.append({"name": name, "cluster": {"server": DIRECT, "insecure-skip-tls-verify": True}})
        users.append({"name": name, "user": {"token": f"{name}-token"}})
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "hub",
        "contexts": contexts,
        "clusters": clusters,
        "users": users,
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return ClusterConfig(str(path))


def _token(api) -> str:
    """The bearer token a request would carry (running the client's refresh hook, as each
    request does: it must not move the host back to the kubeconfig's server)."""
    return api.configuration.auth_settings()["BearerToken"]["value"]


def test_placements_come_from_status_services_in_order_once_with_empty_cluster_as_local():
    app = {
        "metadata": {"name": "shop", "namespace": "apps"},
        "status": {
            "services": [
                {"name": "web", "cluster": "edge-2", "namespace": "prod"},
                {"name": "db", "cluster": "edge-2", "namespace": "prod"},
                {"name": "web", "cluster": "", "namespace": "apps"},
                {"name": "web", "cluster": "edge-2", "namespace": "prod"},  # e.g. a second env
                {"name": "web", "cluster": "edge-1"},  # no namespace: the app's
                "not a service",
            ]
        },
    }
    assert component_placements(app, "web") == [
        Placement("edge-2", "prod"),
        Placement(LOCAL, "apps"),
        Placement("edge-1", "apps"),
    ]
    assert component_placements(app, "db") == [Placement("edge-2", "prod")]
    assert component_placements(app, "cache") == []
    assert component_placements({"metadata": {"name": "new"}}, "web") == []


@pytest.mark.parametrize("name", ["edge-1", "a", "x" * 63, "0prod"])
def test_dns_labels_are_cluster_names(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "Edge-1", "edge_1", "-edge", "edge-", "../local", "a/b", "x" * 64, "a?b=c"])
def test_other_names_are_refused_before_they_reach_a_url(name, tmp_path):
    with pytest.raises(ClusterError, match="is not a cluster name"):
        check_name(name)
    if name:  # "" is the hub for connect_cluster (as for KubeVela)
        with pytest.raises(ClusterError, match="is not a cluster name"):
            connect_cluster(_kubeconfig(tmp_path), name)


def test_local_and_empty_are_the_hub_itself(tmp_path):
    config = _kubeconfig(tmp_path)
    for name in (LOCAL, ""):
        with connect_cluster(config, name) as api:
            assert api.configuration.host == HUB
            assert _token(api) == "Bearer hub-token"


def test_a_managed_cluster_goes_through_the_gateway_proxy_with_the_hubs_credentials(tmp_path):
    gateway = f"{HUB}/apis/cluster.core.oam.dev/v1alpha1/clustergateways/edge-1/proxy"
    with connect_cluster(_kubeconfig(tmp_path), "edge-1") as api:
        for _request in range(3):  # each request runs the loader's hook (which replaces itself)
            assert _token(api) == "Bearer hub-token"
            assert api.configuration.host == gateway
        assert gateway_client(api, "local") is api
    with connect_cluster(_kubeconfig(tmp_path), LOCAL) as hub, gateway_client(hub, "edge-1") as api:
        for _request in range(3):
            assert _token(api) == "Bearer hub-token"
            assert api.configuration.host == gateway
        assert hub.configuration.host == HUB


def test_a_context_named_like_the_cluster_is_used_directly(tmp_path):
    config = _kubeconfig(tmp_path, extra_contexts=["edge-1"])
    with connect_cluster(config, "edge-1") as api:
        assert api.configuration.host == DIRECT
        assert _token(api) == "Bearer edge-1-token"
    with connect_cluster(config, "edge-2") as api:  # no such context: through the hub
        assert api.configuration.host.startswith(f"{HUB}/apis/cluster.core.oam.dev/")


def test_no_kubeconfig_is_the_usual_error(tmp_path):
    with pytest.raises(ClusterError, match="no kubeconfig"):
        connect_cluster(ClusterConfig(str(tmp_path / "none")), "edge-1")


def test_a_refused_handshake_says_why_from_the_status_body_and_drops_the_headers():
    from veladev.cluster.streams import handshake_reason

    body = b'{"kind":"Status","status":"Failure","message":"no such cluster edge-9","code":404}'
    text = f"Handshake status 404 Not Found -+-+- {{'set-cookie': 'session=s3cret'}} -+-+- {body!r}"
    assert handshake_reason(text) == "Handshake status 404 Not Found: no such cluster edge-9"
    quoted = b'{"message":"pods \\"web\\" not found"}'
    assert handshake_reason(f"Handshake status 404 Not Found -+-+- {{}} -+-+- {quoted!r}").endswith(
        ': pods "web" not found'
    )
    assert handshake_reason("Handshake status 500 Internal Server Error -+-+- {} -+-+- b'oops'") == (
        "Handshake status 500 Internal Server Error"
    )
    assert handshake_reason("Connection refused") == "Connection refused"


def test_the_gateway_host_never_changes_while_another_thread_refreshes_credentials(tmp_path):
    # The sync, the forwards and a command share one client: while one of them runs the
    # loader's refresh hook (before each request), another builds its URL from `host`.
    gateway = f"{HUB}/apis/cluster.core.oam.dev/v1alpha1/clustergateways/edge-1/proxy"
    seen: set[str] = set()
    done = threading.Event()
    with connect_cluster(_kubeconfig(tmp_path), "edge-1") as api:

        def refresh_often() -> None:
            for _request in range(20000):
                _token(api)
            done.set()

        refresher = threading.Thread(target=refresh_often)
        refresher.start()
        while not done.is_set():
            seen.add(api.configuration.host)
        refresher.join()
    assert seen == {gateway}
