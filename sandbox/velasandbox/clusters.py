"""Managed clusters as KubeVela registers them: one Secret per cluster in the hub's
``vela-system``, as ``vela cluster join`` writes it (kubevela/kubevela v1.10.9
``references/cli/cluster.go``, ``pkg/multicluster/cluster_management.go``; the format read by
oam-dev/cluster-gateway ``pkg/apis/cluster/v1alpha1/clustergateway_types_secret.go``).

Pure helpers (no I/O): name checks, the Secret, and reading a Secret back as the gateway does.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass

from .apiserver import VERSION_INFO

LOCAL = "local"
SECRET_NAMESPACE = "vela-system"
CREDENTIAL_TYPE_LABEL = "cluster.core.oam.dev/cluster-credential-type"
ENDPOINT_TYPE_LABEL = "cluster.core.oam.dev/cluster-endpoint-type"
ALIAS_ANNOTATION = "cluster.core.oam.dev/cluster-alias"
VERSION_ANNOTATION = "cluster.core.oam.dev/cluster-version"
SERVICE_ACCOUNT_TOKEN = "ServiceAccountToken"

# the gateway only recognises DNS-label names in proxy paths (clustergateway_proxy.go)
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_KEY = re.compile(r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")


def check_cluster_name(name: str) -> None:
    """Raise ValueError (one sentence) unless `name` can name a managed cluster."""
    if name == LOCAL:
        raise ValueError("cluster name `local` is reserved for the hub cluster")
    if len(name) > 63 or not _DNS_LABEL.fullmatch(name):
        raise ValueError(
            f"cluster name {name!r} is not a DNS label (lower-case letters, digits and '-', at most 63 characters)"
        )


def check_labels(labels: dict[str, str]) -> None:
    """Raise ValueError unless every key and value is a valid Kubernetes label."""
    for k, v in labels.items():
        if len(k) > 316 or not _LABEL_KEY.fullmatch(k) or k.startswith("cluster.core.oam.dev"):
            raise ValueError(f"{k!r} is not a label key a cluster may carry")
        if len(v) > 63 or not _LABEL_VALUE.fullmatch(v):
            raise ValueError(f"{v!r} (label {k}) is not a valid label value")


def registration_secret(name: str, endpoint: str, ca_pem: bytes, token: str, labels: dict, alias: str) -> dict:
    """The Secret `vela cluster join` writes for a ServiceAccountToken credential."""
    version = {k: VERSION_INFO[k] for k in ("major", "minor", "gitVersion", "platform")}
    annotations = {VERSION_ANNOTATION: json.dumps(version, separators=(",", ":"))}
    if alias:
        annotations[ALIAS_ANNOTATION] = alias
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": name,
            "namespace": SECRET_NAMESPACE,
            "labels": {**labels, CREDENTIAL_TYPE_LABEL: SERVICE_ACCOUNT_TOKEN},
            "annotations": annotations,
        },
        "data": {
            "endpoint": _b64(endpoint.encode()),
            "ca.crt": _b64(ca_pem),
            "token": _b64(token.encode()),
        },
    }


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@dataclass(frozen=True, slots=True)
class ClusterAccess:
    """How the gateway reaches a cluster, read from its Secret."""

    name: str
    endpoint: str
    ca_pem: bytes | None  # None: the gateway connects without verifying (as upstream does)
    token: str
    credential_type: str
    endpoint_type: str

    def __repr__(self) -> str:  # the token never reaches logs or messages
        return f"ClusterAccess(name={self.name!r}, endpoint={self.endpoint!r})"


def is_cluster_secret(secret: dict) -> bool:
    """Whether a Secret registers a cluster: it carries the credential-type label."""
    return CREDENTIAL_TYPE_LABEL in ((secret.get("metadata") or {}).get("labels") or {})


def access_of(secret: dict) -> ClusterAccess:
    data = secret.get("data") or {}

    def field(key: str) -> bytes | None:
        raw = data.get(key)
        return base64.b64decode(raw) if raw else None

    md = secret["metadata"]
    labels = md.get("labels") or {}
    return ClusterAccess(
        name=md["name"],
        endpoint=(field("endpoint") or b"").decode().strip(),
        ca_pem=field("ca.crt") or field("ca"),
        token=(field("token") or b"").decode().strip(),
        credential_type=labels.get(CREDENTIAL_TYPE_LABEL, ""),
        endpoint_type=labels.get(ENDPOINT_TYPE_LABEL, "Const"),
    )


def cluster_gateway(secret: dict) -> dict:
    """The ClusterGateway object the gateway derives from a cluster Secret.

    Upstream also shows the credential (``spec.access.credential.serviceAccountToken``) to
    anyone who may GET the object; the stand-in leaves it out, so the managed cluster's token
    is only ever in the Secret."""
    md = secret["metadata"]
    access = access_of(secret)
    const: dict = {"address": access.endpoint}
    if access.ca_pem:
        const["caBundle"] = _b64(access.ca_pem)
    else:
        const["insecure"] = True
    return {
        "apiVersion": "cluster.core.oam.dev/v1alpha1",
        "kind": "ClusterGateway",
        "metadata": {
            k: md[k]
            for k in ("name", "uid", "resourceVersion", "creationTimestamp", "labels", "annotations")
            if k in md
        },
        "spec": {
            "provider": "",
            "access": {
                "endpoint": {"type": access.endpoint_type, "const": const},
                "credential": {"type": access.credential_type},
            },
        },
        "status": {},
    }
