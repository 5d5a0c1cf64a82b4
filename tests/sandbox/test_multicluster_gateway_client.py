"""An ApiClient from `clusters.connect_cluster` keeps going through the hub's gateway, request
after request (plain calls and exec streams alike): the kubeconfig loader's token refresh,
which runs before every request, must not point it back at the hub."""

import uuid

from kubernetes import client

from veladev.cluster import ClusterConfig
from veladev.cluster.clusters import connect_cluster


def test_every_request_of_a_gateway_client_reaches_the_managed_cluster(multicluster):
    edge = multicluster.clusters["edge-2"]
    name = "only-in-edge-2-" + uuid.uuid4().hex[:6]
    with edge.api_client() as api:
        client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    try:
        with connect_cluster(ClusterConfig(multicluster.kubeconfig), "edge-2") as api:
            core = client.CoreV1Api(api)
            for _ in range(3):  # the first request refreshes the token; the later ones must still go through
                assert core.read_namespace(name).metadata.name == name
            assert api.configuration.host.endswith("/apis/cluster.core.oam.dev/v1alpha1/clustergateways/edge-2/proxy")
    finally:
        with edge.api_client() as api:
            client.CoreV1Api(api).delete_namespace(name)
