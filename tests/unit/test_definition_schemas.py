"""Checks for the bundled definition schemas in schemas/definitions/<kind>/<name>.json."""

import json
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[2]
DEFS = ROOT / "schemas" / "definitions"
KINDS = ("component", "trait", "policy", "workflowstep")
STATUSES = ("builtin", "deprecated", "removed")
XVELA_KEYS = {
    "kind": str,
    "name": str,
    "status": str,
    "replacement": str,
    "aliases": list,
    "workload": str,
    "appliesToWorkloads": list,
    "since": str,
    "source": str,
}

FILES = sorted(DEFS.glob("*/*.json"))


def _id(p):
    return f"{p.parent.name}/{p.stem}"


def _load(p):
    with open(p, encoding="utf-8") as f:
        return json.load(f)


def _schema(kind, name):
    return _load(DEFS / kind / f"{name}.json")


def test_there_are_schemas():
    assert FILES, "no schema files found"
    assert {p.parent.name for p in FILES} <= set(KINDS)


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_valid_json_and_metaschema(path):
    doc = _load(path)
    jsonschema.Draft202012Validator.check_schema(doc)
    assert doc.get("$schema") == "https://json-schema.org/draft/2020-12/schema"
    assert doc.get("type") == "object"
    assert isinstance(doc.get("description"), str)


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_x_vela_block(path):
    doc = _load(path)
    xv = doc.get("x-vela")
    assert isinstance(xv, dict), "missing x-vela"
    for key, typ in XVELA_KEYS.items():
        assert key in xv, f"x-vela.{key} missing"
        assert isinstance(xv[key], typ), f"x-vela.{key} should be {typ.__name__}"
    assert xv["kind"] == path.parent.name
    assert xv["name"] == path.stem
    assert xv["status"] in STATUSES
    if xv["status"] == "builtin":
        assert xv["replacement"] == ""
    if xv["status"] == "deprecated":
        assert xv["replacement"], "deprecated definitions name a replacement"
    assert xv["source"].startswith("kv:")
    assert all(isinstance(a, str) for a in xv["aliases"])
    if xv["kind"] != "trait":
        assert xv["appliesToWorkloads"] == []
    if xv["kind"] != "component":
        assert xv["workload"] == ""
    if "notes" in xv:
        assert isinstance(xv["notes"], list) and all(isinstance(n, str) for n in xv["notes"])
    assert set(xv) <= set(XVELA_KEYS) | {"notes"}


def test_aliases_do_not_collide():
    seen: dict[tuple[str, str], str] = {}
    for p in FILES:
        xv = _load(p)["x-vela"]
        for n in [xv["name"], *xv["aliases"]]:
            key = (xv["kind"], n)
            assert key not in seen, f"{key} defined by {seen[key]} and {_id(p)}"
            seen[key] = _id(p)


def _walk(node, path=()):
    """Yield (json-path, subschema) for every subschema in the document."""
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            if k in ("properties", "$defs", "patternProperties"):
                for pk, pv in v.items():
                    yield from _walk(pv, path + (k, pk))
            elif k in ("items", "additionalProperties", "not", "if", "then", "else", "contains"):
                if isinstance(v, dict):
                    yield from _walk(v, path + (k,))
            elif k in ("oneOf", "anyOf", "allOf", "prefixItems"):
                for i, sub in enumerate(v):
                    yield from _walk(sub, path + (k, str(i)))


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_defaults_validate(path):
    doc = _load(path)
    for where, sub in _walk(doc):
        if "default" in sub:
            # the subschema without the x-vela block, as a standalone schema
            standalone = {k: v for k, v in sub.items() if k != "x-vela"}
            errs = list(jsonschema.Draft202012Validator(standalone).iter_errors(sub["default"]))
            assert not errs, f"default at {'/'.join(where)} invalid: {errs[0].message}"


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_every_property_has_description(path):
    doc = _load(path)
    for where, sub in _walk(doc):
        if "if" in where:  # conditions, not parameters
            continue
        if where and where[-2:-1] == ("properties",):
            assert "description" in sub or "$ref" in sub, f"{'/'.join(where)} has no description"


# (kind, name, properties, expect_valid) — taken from real apps in the corpus.
CASES = [
    # 008-nocalhost-bookinfo.yaml
    (
        "trait",
        "nocalhost",
        {
            "port": 9080,
            "gitUrl": "https://github.com/nocalhost/bookinfo-productpage.git",
            "image": "nocalhost-docker.pkg.coding.net/nocalhost/dev-images/python:3.7.7-slim-productpage-with-pydevd",
            "shell": "bash",
            "workDir": "/opt/work",
            "resources": {"limits": {"memory": "1Gi", "cpu": "1"}, "requests": {"memory": "512Mi", "cpu": "0.5"}},
            "debug": {"remoteDebugPort": 9009},
            "hotReload": True,
            "sync": {"type": "send", "filePattern": ["./"], "ignoreFilePattern": [".git", ".idea"]},
            "command": {"run": ["sh", "run.sh"], "debug": ["sh", "debug.sh"]},
            "env": [{"name": "foo", "value": "bar"}],
            "portForward": ["39080:9080"],
        },
        True,
    ),
    ("trait", "nocalhost", {"port": 9080, "image": "go"}, True),
    ("trait", "nocalhost", {"image": "go"}, False),  # port is required
    ("trait", "nocalhost", {"port": 9080, "image": "go", "sync": {"type": "twoWay"}}, False),
    ("trait", "nocalhost", {"port": 9080, "image": "go", "portForward": ["9080"]}, False),
    # 008/009: webservice with the deprecated `port` still validates
    (
        "component",
        "webservice",
        {"image": "nocalhost-docker.pkg.coding.net/nocalhost/bookinfo/productpage:latest", "port": 9080},
        True,
    ),
    ("component", "webservice", {"image": "invalid", "ports": [{"port": 8000}]}, True),  # 063
    ("component", "webservice", {"port": 80}, False),  # image required
    # 047: worker has no `port`; 067: worker has no `name`, deprecated volumes still valid
    (
        "component",
        "worker",
        {"cmd": ["./podinfo", "stress-cpu=3.0"], "image": "stefanprodan/podinfo:4.0.6", "port": 8080},
        False,
    ),
    ("component", "worker", {"name": "count-log", "image": "busybox", "cmd": ["/bin/sh"]}, False),
    (
        "component",
        "worker",
        {
            "image": "busybox",
            "cmd": ["/bin/sh", "-c", "tail -n+1 -f /test-pvc/date.log"],
            "volumes": [{"name": "my-pvc", "type": "pvc", "mountPath": "/test-pvc", "claimName": "my-claim"}],
        },
        True,
    ),
    # 075: scaler only has replicas
    ("trait", "scaler", {"min": 2, "max": 5}, False),
    ("trait", "scaler", {"replicas": 3}, True),
    # 003: labels with null deletes
    (
        "trait",
        "labels",
        {"added-label-key": "added-label-value", "label-key": "modified-label-value", "to-delete-label-key": None},
        True,
    ),
    ("trait", "labels", {"k": 1}, False),
    # 033: env trait
    ("trait", "env", {"env": {"TZ": "Asia/Shanghai"}}, True),
    ("trait", "env", {"containers": [{"containerName": "app", "env": {"A": "b"}}]}, True),
    ("trait", "env", {"envs": {"A": "b"}}, False),
    # 029/037/057: selector-only override is accepted
    ("policy", "override", {"selector": ["hello-rep"]}, True),
    ("policy", "override", {"components": [{"name": "express-server", "properties": {"image": "nginx"}}]}, True),
    # 059 topology
    ("policy", "topology", {"clusters": ["local"], "namespace": "prod"}, True),
    ("policy", "topology", {"cluster": ["local"]}, False),
    # 027/049/063: slack message text supplied through step inputs
    ("workflowstep", "notification", {"slack": {"url": {"value": "https://kubevela.io"}}}, True),
    (
        "workflowstep",
        "notification",
        {"slack": {"url": {"secretRef": {"name": "my-secret", "key": "url"}}, "message": {"text": "hi"}}},
        True,
    ),
    ("workflowstep", "notification", {"slack": {"url": {"value": "x", "secretRef": {"name": "a", "key": "b"}}}}, False),
    ("workflowstep", "notification", {"slack": {"url": "https://kubevela.io"}}, False),
    # 015 / 059: deploy, suspend, apply-component
    ("workflowstep", "deploy", {"policies": ["target-default", "topology-hangzhou-clusters"]}, True),
    ("workflowstep", "deploy", {"policy": ["x"]}, False),
    ("workflowstep", "suspend", {"duration": "30s"}, True),
    ("workflowstep", "apply-component", {"component": "my-server"}, True),
    ("workflowstep", "apply-component", {}, False),
    # gateway (071) and expose with deprecated port (037/041)
    ("trait", "gateway", {"domain": "testsvc.example.com", "http": {"/": 8000}}, True),
    ("trait", "gateway", {"domain": "testsvc.example.com"}, False),
    ("trait", "expose", {"port": [8000]}, True),
    ("trait", "expose", {"ports": [{"port": 80}], "type": "LoadBalancer"}, True),
    # --- batch 2: components, traits, policies ---
    # 011: cpuscaler has cpuUtil, not cpuPercent
    ("trait", "cpuscaler", {"min": 1, "max": 10, "cpuPercent": 60}, False),
    ("trait", "cpuscaler", {"cpuUtil": 70, "min": 1, "max": 3}, True),  # 013
    # 005: affinity
    (
        "trait",
        "affinity",
        {
            "podAffinity": {
                "preferred": [
                    {
                        "weight": 1,
                        "podAffinityTerm": {
                            "labelSelector": {"matchExpressions": [{"key": "secrity", "values": ["S1"]}]},
                            "namespaces": ["default"],
                            "topologyKey": "kubernetes.io/hostname",
                        },
                    }
                ]
            }
        },
        True,
    ),
    (
        "trait",
        "affinity",
        {"podAffinity": {"preferred": [{"weight": 101, "podAffinityTerm": {"topologyKey": "k"}}]}},
        False,
    ),
    # 041: daemon hostPath with mountPropagation/readOnly; resource cpu as number; update strategy
    (
        "component",
        "daemon",
        {
            "image": "prom/node-exporter",
            "imagePullPolicy": "IfNotPresent",
            "volumeMounts": {
                "hostPath": [
                    {
                        "mountPath": "/host/sys",
                        "mountPropagation": "HostToContainer",
                        "name": "sys",
                        "path": "/sys",
                        "readOnly": True,
                    }
                ]
            },
        },
        True,
    ),
    ("trait", "resource", {"cpu": 0.1, "memory": "250Mi"}, True),
    ("trait", "resource", {"cpu": "500m", "memory": "0.5Gi"}, False),
    (
        "trait",
        "k8s-update-strategy",
        {
            "targetAPIVersion": "apps/v1",
            "targetKind": "DaemonSet",
            "strategy": {"type": "RollingUpdate", "rollingStrategy": {"maxSurge": "20%", "maxUnavailable": "30%"}},
        },
        True,
    ),
    # 043: statefulset + storage pvc
    (
        "component",
        "statefulset",
        {
            "cpu": "1",
            "exposeType": "ClusterIP",
            "image": "docker.io/library/postgres:16.4",
            "memory": "2Gi",
            "ports": [{"expose": True, "port": 5432, "protocol": "TCP"}],
            "env": [{"name": "POSTGRES_DB", "value": "mydb"}],
        },
        True,
    ),
    (
        "trait",
        "storage",
        {
            "pvc": [
                {
                    "name": "postgresdb-pvc",
                    "storageClassName": "local-path",
                    "resources": {"requests": {"storage": "2Gi"}},
                    "mountPath": "/var/lib/postgresql/data",
                }
            ]
        },
        True,
    ),
    ("trait", "storage", {"pvc": [{"name": "color-model", "mountPath": "/mnt"}]}, True),  # 055
    ("trait", "storage", {"emptyDir": [{"name": "jvm", "mountPath": "/jvm"}]}, True),  # 033
    # 013: deprecated ingress / pvc still validate their old parameters
    ("trait", "ingress", {"http": {"/": 13666}, "domain": "com.zdww1"}, True),
    ("trait", "ingress-1-20", {"domain": "testsvc.example.com", "http": {"/": 8000}}, True),  # 001
    (
        "trait",
        "pvc",
        {
            "claimName": "aaa",
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "nfs-dynamic-sc",
            "resources": {"requests": {"storage": "1Gi"}},
            "volumesToMount": [{"mountPath": "/aaa", "name": "aaa"}],
        },
        True,
    ),
    # 017: service-binding envMappings
    (
        "trait",
        "service-binding",
        {"envMappings": {"MY_ENV": {"secret": "secret1"}, "MY_ENV2": {"secret": "secret2", "key": "test"}}},
        True,
    ),
    # 035 / 039: take-over (selector object), resource-update
    ("policy", "take-over", {"rules": [{"selector": {"resourceTypes": ["Deployment"]}}]}, True),
    (
        "policy",
        "resource-update",
        {
            "rules": [
                {"selector": {"resourceTypes": ["Secret"]}, "strategy": {"recreateFields": ["data.key"]}},
                {"selector": {"resourceTypes": ["ConfigMap"]}, "strategy": {"op": "replace"}},
            ]
        },
        True,
    ),
    ("policy", "replication", {"keys": ["beijing", "hangzhou"], "selector": ["hello-rep"]}, True),  # 029
    ("policy", "replication", {"selector": ["hello-rep"]}, False),
    # 045 / 073: deprecated env-binding keeps validating old shapes (engine: ocm)
    (
        "policy",
        "envbinding",
        {
            "engine": "ocm",
            "envs": [
                {
                    "name": "prod",
                    "patch": {
                        "components": [
                            {
                                "name": "podinfo-server",
                                "type": "webservice",
                                "properties": {"image": "stefanprodan/podinfo:6.0.0", "port": 9898},
                            }
                        ]
                    },
                    "placement": {"clusterSelector": {"labels": {"purpose": "test"}}},
                }
            ],
        },
        True,
    ),
    (
        "policy",
        "envbinding",
        {
            "envs": [
                {
                    "name": "dev",
                    "placement": {"clusterSelector": {"name": "dev"}},
                    "selector": {"components": ["my-server"]},
                }
            ]
        },
        True,
    ),
    ("policy", "health", {"probeInterval": 30, "probeTimeout": 60}, True),  # 073
    # 037 raw, 035 k8s-objects, 057 ref-objects
    ("component", "raw", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "deployment-msg"}}, True),
    (
        "component",
        "k8s-objects",
        {"objects": [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "busybox-ref"}}]},
        True,
    ),
    ("component", "k8s-objects", {}, False),
    (
        "component",
        "ref-objects",
        {"objects": [{"resource": "deployment", "name": "user"}, {"resource": "service", "name": "user"}]},
        True,
    ),
    # --- batch 3: workflow steps ---
    # 017: export2secret data supplied through inputs; webhook with {value} url and data
    ("workflowstep", "export2secret", {"secretName": "secret1"}, True),
    ("workflowstep", "export2secret", {"data": {"k": "v"}}, False),  # secretName required
    ("workflowstep", "webhook", {"url": {"value": "<url>"}, "data": {"value": "test"}}, True),
    ("workflowstep", "webhook", {"url": {"value": "<your webhook url>"}}, True),  # 061
    ("workflowstep", "webhook", {"data": {}}, False),  # url required
    # 067 / 069: apply-object, read-object
    (
        "workflowstep",
        "apply-object",
        {
            "value": {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "my-cm", "namespace": "default"},
                "data": {"test-key": "test-value"},
            }
        },
        True,
    ),
    (
        "workflowstep",
        "read-object",
        {"apiVersion": "batch/v1", "kind": "Job", "name": "mytask", "namespace": "default", "cluster": "local"},
        True,
    ),
    ("workflowstep", "read-object", {"kind": "Job"}, False),
    # 025: generate-jdbc-connection
    ("workflowstep", "generate-jdbc-connection", {"name": "db-conn", "namespace": "default"}, True),
    ("workflowstep", "print-message-in-status", {"message": "hello"}, True),
    ("workflowstep", "request", {"url": "https://example.com", "method": "PATCH"}, False),
    # deprecated steps keep validating their old shapes (019, 073)
    ("workflowstep", "apply-remaining", {"exceptions": ["server1"]}, True),
    ("workflowstep", "deploy2env", {"policy": "multi-env-policy", "env": "dev"}, True),
    (
        "workflowstep",
        "webhook-notification",
        {
            "slack": {
                "url": {"fromSecret": {"name": "my-secret", "key": "slack"}},
                "message": {"text": "Successfully apply the app in dev cluster."},
            }
        },
        True,
    ),
    (
        "workflowstep",
        "apply-terraform-provider",
        {"type": "alibaba", "accessKey": "a", "secretKey": "b", "region": "cn-hangzhou"},
        True,
    ),
    ("workflowstep", "apply-terraform-provider", {"type": "alibaba", "accessKey": "a"}, False),
]


def _case_id(c):
    return f"{c[0]}/{c[1]}-{'ok' if c[3] else 'bad'}-{json.dumps(c[2], sort_keys=True)[:40]}"


@pytest.mark.parametrize("kind,name,props,expect_valid", CASES, ids=[_case_id(c) for c in CASES])
def test_corpus_examples(kind, name, props, expect_valid):
    path = DEFS / kind / f"{name}.json"
    assert path.exists(), f"the built-in {kind} {name} has no schema at {path.relative_to(DEFS.parents[1])}"
    errors = list(jsonschema.Draft202012Validator(_schema(kind, name)).iter_errors(props))
    if expect_valid:
        assert not errors, [e.message for e in errors]
    else:
        assert errors, "expected a validation error"
