"""Managed clusters of a KubeVela hub: which are registered, where a component runs, and an
ApiClient that reaches one of them with the hub's credentials alone.

Registration is KubeVela's (`vela cluster join`): one Secret per cluster in `vela-system`,
labelled `cluster.core.oam.dev/cluster-credential-type`; `local` is the hub itself and is
always there (cluster-gateway `pkg/apis/cluster/v1alpha1/virtualcluster_client.go`,
kubevela `pkg/multicluster/virtual_cluster.go`).

Routing is KubeVela's client's (kubevela/pkg `multicluster/transport.go`): a request for a
managed cluster goes to the hub at `/apis/cluster.core.oam.dev/v1alpha1/clustergateways/<c>/proxy/<path>`,
the cluster-gateway's `proxy` subresource, which forwards it (upgrades and watches included)
with the cluster's own credentials; `local` and "" are never proxied. Here the prefix is put
into the ApiClient's host, so every request built from it (plain calls, watches, exec and tar
streams, the port-forward tunnel) takes the same route. A kubeconfig context named exactly
like the cluster means the user can reach it directly, and is used instead.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

from .connection import ClusterConfig, ClusterError, connect

LOCAL = "local"
SECRET_NAMESPACE = "vela-system"
CREDENTIAL_TYPE_LABEL = "cluster.core.oam.dev/cluster-credential-type"
ALIAS_ANNOTATION = "cluster.core.oam.dev/cluster-alias"
#: Labels under this prefix are KubeVela's bookkeeping; listings hide them (as `vela cluster list`).
INTERNAL_LABEL_PREFIX = "cluster.core.oam.dev"
GATEWAY_PATH = "/apis/cluster.core.oam.dev/v1alpha1/clustergateways"
#: A cluster name is a DNS label (the gateway only recognises such names in proxy paths,
#: cluster-gateway `pkg/apis/cluster/v1alpha1/clustergateway_proxy.go`); it goes into a URL path.
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


@dataclass(frozen=True, slots=True)
class ManagedCluster:
    name: str
    alias: str
    labels: dict[str, str] = field(hash=False)
    endpoint: str  # the cluster's API URL as registered; the hub's own for `local`


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one component runs: a cluster ("local" for the hub) and a namespace in it."""

    cluster: str
    namespace: str

    def __str__(self) -> str:
        return f"{self.cluster}/{self.namespace}"


def is_local(cluster: str | None) -> bool:
    return cluster in (None, "", LOCAL)


def check_name(cluster: str) -> str:
    """The cluster name, or ClusterError when it cannot be one (it becomes part of a URL path)."""
    if not _NAME.fullmatch(cluster):
        raise ClusterError(f"{cluster!r} is not a cluster name (a lower-case DNS label, such as edge-1)")
    return cluster


def _decoded(data: dict[str, Any], key: str) -> str:
    try:
        return base64.b64decode(data.get(key) or "").decode().strip()
    except (ValueError, UnicodeDecodeError):
        return ""


def _from_secret(secret: dict[str, Any]) -> ManagedCluster:
    md = secret.get("metadata") or {}
    labels = {k: str(v) for k, v in (md.get("labels") or {}).items() if not k.startswith(INTERNAL_LABEL_PREFIX)}
    # Only the endpoint is read from the data: the credentials stay where they are.
    return ManagedCluster(
        name=str(md.get("name") or ""),
        alias=str((md.get("annotations") or {}).get(ALIAS_ANNOTATION) or ""),
        labels=labels,
        endpoint=_decoded(secret.get("data") or {}, "endpoint"),
    )


def list_clusters(api_client) -> list[ManagedCluster]:
    """`local`, then the hub's registered clusters, newest first (as cluster-gateway lists
    them); ClusterError when the hub cannot be asked."""
    from kubernetes import client

    from .apps import _call

    core = client.CoreV1Api(api_client)
    listed = _call(
        f"list the clusters registered in {SECRET_NAMESPACE}",
        lambda: core.list_namespaced_secret(SECRET_NAMESPACE, label_selector=CREDENTIAL_TYPE_LABEL),
    )
    items = api_client.sanitize_for_serialization(listed).get("items") or []
    secrets = [s for s in items if isinstance(s, dict) and (s.get("metadata") or {}).get("name") != LOCAL]
    secrets.sort(key=lambda s: s["metadata"].get("name") or "")
    secrets.sort(key=lambda s: s["metadata"].get("creationTimestamp") or "", reverse=True)
    local = ManagedCluster(LOCAL, "", {}, str(api_client.configuration.host))
    return [local] + [_from_secret(s) for s in secrets]


def component_placements(application: dict[str, Any], component: str) -> list[Placement]:
    """Where the component runs, from the hub Application's `status.services[]` (one entry
    per component x cluster x namespace; KubeVela writes "" for the hub): in status order,
    each once. A service without a namespace is in the Application's namespace."""
    app_ns = str(((application.get("metadata") or {}).get("namespace")) or "default")
    services = ((application.get("status") or {}).get("services")) or []
    out: list[Placement] = []
    for s in services:
        if not isinstance(s, dict) or s.get("name") != component:
            continue
        p = Placement(str(s.get("cluster") or LOCAL), str(s.get("namespace") or app_ns))
        if p not in out:
            out.append(p)
    return out


def gateway_host(hub_host: str, cluster: str) -> str:
    """The base URL under which the hub's gateway proxies every API path to `cluster`."""
    return f"{hub_host.rstrip('/')}{GATEWAY_PATH}/{check_name(cluster)}/proxy"


def gateway_client(hub_api, cluster: str):
    """A new ApiClient for `cluster` through the gateway, with the hub client's configuration
    (credentials, CA) and the proxy prefix as its host; `hub_api` itself for `local`/""."""
    import copy

    from kubernetes import client

    if is_local(cluster):
        return hub_api
    configuration = copy.deepcopy(hub_api.configuration)
    _pin_host(configuration, gateway_host(hub_api.configuration.host, cluster))
    return client.ApiClient(configuration)


def _context_names(config: ClusterConfig) -> set[str]:
    from kubernetes import config as kube_config

    try:
        contexts, _ = kube_config.list_kube_config_contexts(config_file=str(config.path()))
    except Exception:  # noqa: BLE001 - an unreadable file: connect() below words why
        return set()
    return {str(c.get("name")) for c in contexts or () if isinstance(c, dict)}


def connect_cluster(config: ClusterConfig, cluster: str):
    """A `kubernetes.client.ApiClient` for `cluster`: the hub for `local`/""; a kubeconfig
    context of that exact name when the user has one (direct access); otherwise the hub's
    client with the gateway's proxy prefix as its host, so it uses only the hub's credentials.
    No request is made here: an unknown cluster shows in the first call's error."""
    if is_local(cluster):
        return connect(config)
    check_name(cluster)
    if cluster in _context_names(config):
        return connect(ClusterConfig(str(config.path()), cluster))
    api = connect(config)
    _pin_host(api.configuration, gateway_host(api.configuration.host, cluster))
    return api


def _pin_host(configuration, host: str) -> None:
    """Point the client's configuration at `host` for good. The kubeconfig loader's
    `refresh_api_key_hook`, which the client runs before every authenticated request, writes
    the kubeconfig's server into `host` and installs a new hook of its own (kubernetes
    `config/kube_config.py` `_set_config`). It runs here on a scratch copy, so the shared
    configuration's `host` never changes, not even for a moment: other threads (sync,
    forwards, a command) build their URLs from it at the same time. The token lands in the
    `api_key` dict the copy shares; client certificate files are copied back."""
    import copy

    configuration.host = host
    hook = configuration.refresh_api_key_hook
    if hook is None:
        return
    loader_hook = [hook]

    def refresh_credentials(c) -> None:
        scratch = copy.copy(c)
        loader_hook[0](scratch)
        if scratch.refresh_api_key_hook is not refresh_credentials:
            loader_hook[0] = scratch.refresh_api_key_hook
        c.cert_file, c.key_file = scratch.cert_file, scratch.key_file

    configuration.refresh_api_key_hook = refresh_credentials
