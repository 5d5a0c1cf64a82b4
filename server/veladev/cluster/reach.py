"""Whether the hub reaches a managed cluster: `GET /healthz` through the cluster-gateway's
proxy, as `vela cluster probe` does (kubevela `references/cli/cluster.go`). A cluster that is
registered but cut off answers 503 (`dial tcp ...: connection refused`), an unknown one 404
`no such cluster <c>` (cluster-gateway `pkg/apis/cluster/v1alpha1/clustergateway_proxy.go`)."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from .apps import _status_message
from .clusters import GATEWAY_PATH, is_local

#: Seconds a probe may take: a cluster that does not answer in this time is unreachable.
PROBE_TIMEOUT = 5.0


def probe_cluster(api_client, cluster: str, timeout: float = PROBE_TIMEOUT) -> str:
    """'' when the hub reaches `cluster` through its gateway, else why not (one sentence)."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    if is_local(cluster):
        return ""
    try:
        request = api_client.param_serialize(
            "GET",
            f"{GATEWAY_PATH}/{{name}}/proxy/healthz",
            path_params={"name": cluster},
            auth_settings=["BearerToken"],
        )
        response = api_client.call_api(*request, _request_timeout=timeout)
        response.read()
        if not 200 <= response.status < 300:
            raise ApiException(http_resp=response)
    except ApiException as exc:
        return _status_message(exc) or f"{exc.status} {exc.reason or ''}".strip()
    except (HTTPError, OSError) as exc:
        return f"no answer through the hub ({type(exc).__name__})"
    return ""


def unreachable_clusters(api_client, clusters: Iterable[str], timeout: float = PROBE_TIMEOUT) -> dict[str, str]:
    """cluster -> why the hub cannot reach it, for those of `clusters` it cannot reach (probed
    side by side, so a cut-off cluster costs one timeout, not one each)."""
    names = sorted({c for c in clusters if not is_local(c)})
    if not names:
        return {}
    with ThreadPoolExecutor(min(8, len(names)), thread_name_prefix="veladev-probe") as pool:
        reasons = list(pool.map(lambda c: probe_cluster(api_client, c, timeout), names))
    return {c: r for c, r in zip(names, reasons, strict=True) if r}
