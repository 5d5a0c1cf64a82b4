"""API core against the real official kubernetes client and kubectl."""

import json
import threading
import urllib.error
import urllib.request

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

pytestmark = pytest.mark.sandbox


def deployment(name, image="sandbox.local/toolchain", replicas=0, labels=None):
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": image, "env": [{"name": "A", "value": "1"}]}]},
            },
        },
    }


def raw(sandbox, method, path, body, ctype="application/json"):
    """A request with the token, independent of the client version."""
    req = urllib.request.Request(
        sandbox.server_url + path,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"Bearer {sandbox.token}", "Content-Type": ctype},
    )
    try:
        with urllib.request.urlopen(req, context=sandbox.ssl_context()) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_unauthorized_without_token(sandbox):
    for path in ("/api/v1/namespaces", "/version", "/apis"):
        req = urllib.request.Request(sandbox.server_url + path)
        with pytest.raises(urllib.error.HTTPError) as ei:
            urllib.request.urlopen(req, context=sandbox.ssl_context())
        assert ei.value.code == 401
        body = json.loads(ei.value.read())
        assert body["kind"] == "Status" and body["code"] == 401 and body["reason"] == "Unauthorized"
    req = urllib.request.Request(sandbox.server_url + "/version", headers={"Authorization": "Bearer wrong"})
    with pytest.raises(urllib.error.HTTPError) as ei:
        urllib.request.urlopen(req, context=sandbox.ssl_context())
    assert ei.value.code == 401


def test_discovery(sandbox):
    with sandbox.api_client() as api:
        v = client.VersionApi(api).get_code()
        assert v.major == "1"
        groups = {g.name for g in client.ApisApi(api).get_api_versions().groups}
        assert {"apps", "batch"} <= groups
        res = client.AppsV1Api(api).get_api_resources()
        names = {r.name for r in res.resources}
        assert {"deployments", "deployments/status", "deployments/scale", "statefulsets", "daemonsets"} <= names
        core = {r.name for r in client.CoreV1Api(api).get_api_resources().resources}
        assert {
            "pods",
            "pods/exec",
            "pods/portforward",
            "pods/log",
            "services",
            "configmaps",
            "secrets",
            "events",
            "namespaces",
        } <= core


def test_crud_and_every_patch_type(sandbox, sandbox_ns):
    ns = sandbox_ns
    with sandbox.api_client() as api:
        apps = client.AppsV1Api(api)
        d = apps.create_namespaced_deployment(ns, deployment("web"))
        assert d.metadata.generation == 1 and d.metadata.uid
        rv1 = d.metadata.resource_version
        # duplicate create -> 409 AlreadyExists
        with pytest.raises(ApiException) as ei:
            apps.create_namespaced_deployment(ns, deployment("web"))
        assert ei.value.status == 409 and json.loads(ei.value.body)["reason"] == "AlreadyExists"
        # 404 NotFound as a Status
        with pytest.raises(ApiException) as ei:
            apps.read_namespaced_deployment("nope", ns)
        st = json.loads(ei.value.body)
        assert ei.value.status == 404 and st["reason"] == "NotFound"
        assert st["message"] == 'deployments.apps "nope" not found'
        # update (PUT) bumps generation; stale resourceVersion -> 409 Conflict
        d = apps.read_namespaced_deployment("web", ns)
        rv1 = d.metadata.resource_version
        d.spec.template.spec.containers[0].image = "img:v2"
        d2 = apps.replace_namespaced_deployment("web", ns, d)
        assert d2.metadata.generation == 2 and d2.metadata.resource_version != rv1
        d.metadata.resource_version = rv1
        with pytest.raises(ApiException) as ei:
            apps.replace_namespaced_deployment("web", ns, d)
        assert ei.value.status == 409 and json.loads(ei.value.body)["reason"] == "Conflict"
        # strategic merge patch: containers merge by name, env merges by name
        p = apps.patch_namespaced_deployment(
            "web",
            ns,
            {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {"name": "main", "env": [{"name": "B", "value": "2"}]},
                                {"name": "side", "image": "sandbox.local/toolchain"},
                            ]
                        }
                    }
                }
            },
        )
        cs = p.spec.template.spec.containers
        assert [c.name for c in cs] == ["main", "side"]
        assert cs[0].image == "img:v2"
        assert {e.name: e.value for e in cs[0].env} == {"A": "1", "B": "2"}
        # SMP delete directive
        p = apps.patch_namespaced_deployment(
            "web", ns, {"spec": {"template": {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}}}
        )
        assert [c.name for c in p.spec.template.spec.containers] == ["main"]
        # JSON merge patch: lists replaced wholesale
        # (CustomObjectsApi sends merge-patch+json in every client version)
        p = client.CustomObjectsApi(api).patch_namespaced_custom_object(
            "apps", "v1", ns, "deployments", "web", {"metadata": {"labels": {"extra": "yes"}}}
        )
        assert p["metadata"]["labels"]["extra"] == "yes"
        # JSON patch
        p = apps.patch_namespaced_deployment(
            "web",
            ns,
            [
                {"op": "replace", "path": "/spec/replicas", "value": 0},
                {"op": "add", "path": "/metadata/annotations", "value": {"k": "v"}},
                {"op": "test", "path": "/metadata/name", "value": "web"},
            ],
        )
        assert p.metadata.annotations == {"k": "v"}
        # patch with a stale resourceVersion precondition -> 409
        with pytest.raises(ApiException) as ei:
            apps.patch_namespaced_deployment("web", ns, {"metadata": {"resourceVersion": rv1, "labels": {"x": "y"}}})
        assert ei.value.status == 409
        # status subresource: main-resource writes ignore .status; /status ignores spec
        cur = apps.read_namespaced_deployment("web", ns)
        gen = cur.metadata.generation
        s = apps.patch_namespaced_deployment_status(
            "web", ns, {"status": {"collisionCount": 7}, "spec": {"replicas": 5}}
        )
        assert s.status.collision_count == 7 and s.spec.replicas == 0 and s.metadata.generation == gen
        m = apps.patch_namespaced_deployment("web", ns, {"status": {"collisionCount": 9}})
        assert m.status.collision_count == 7
        # scale subresource
        sc = apps.read_namespaced_deployment_scale("web", ns)
        assert sc.spec.replicas == 0
        gen = apps.read_namespaced_deployment("web", ns).metadata.generation
        sc = apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 2}})
        assert sc.spec.replicas == 2
        scaled = apps.read_namespaced_deployment("web", ns)
        assert scaled.spec.replicas == 2 and scaled.metadata.generation == gen + 1
        assert apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 0}}).spec.replicas == 0
        assert apps.read_namespaced_deployment("web", ns).spec.replicas == 0
        # 422 Invalid
        with pytest.raises(ApiException) as ei:
            apps.create_namespaced_deployment(ns, {"metadata": {}, "spec": deployment("x")["spec"]})
        assert ei.value.status == 422 and json.loads(ei.value.body)["reason"] == "Invalid"
        # label and field selectors
        apps.create_namespaced_deployment(ns, deployment("other", labels={"app": "other", "tier": "b"}))
        names = [x.metadata.name for x in apps.list_namespaced_deployment(ns, label_selector="app=other").items]
        assert names == ["other"]
        names = [
            x.metadata.name
            for x in apps.list_namespaced_deployment(ns, label_selector="app in (web,other),tier!=b").items
        ]
        assert names == ["web"]
        names = [x.metadata.name for x in apps.list_namespaced_deployment(ns, field_selector="metadata.name=web").items]
        assert names == ["web"]
        # delete
        st = apps.delete_namespaced_deployment("web", ns)
        st = st if isinstance(st, dict) else api.sanitize_for_serialization(st)  # v37: dict, v30: V1Status
        assert st["status"] == "Success"
        with pytest.raises(ApiException) as ei:
            apps.read_namespaced_deployment("web", ns)
        assert ei.value.status == 404


def test_configmap_secret_service(sandbox, sandbox_ns):
    with sandbox.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_config_map(sandbox_ns, {"metadata": {"name": "c"}, "data": {"a": "1"}})
        core.create_namespaced_secret(
            sandbox_ns, {"metadata": {"name": "s"}, "stringData": {"x": "y"}, "data": {"p": "cGFzcw=="}}
        )
        assert core.read_namespaced_secret("s", sandbox_ns).data["x"] == "eQ=="
        core.create_namespaced_service(
            sandbox_ns, {"metadata": {"name": "svc"}, "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}}
        )
        svc = sandbox.wait_for(
            lambda: core.read_namespaced_service("svc", sandbox_ns).spec.cluster_ip, what="clusterIP"
        )
        assert svc.startswith("10.96.")
        # namespace that does not exist -> 404
        with pytest.raises(ApiException) as ei:
            core.create_namespaced_config_map("no-such-ns", {"metadata": {"name": "c"}})
        assert ei.value.status == 404


def test_namespace_deletion_removes_its_objects(sandbox):
    with sandbox.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespace({"metadata": {"name": "doomed"}})
        core.create_namespaced_config_map("doomed", {"metadata": {"name": "c"}})
        client.AppsV1Api(api).create_namespaced_deployment("doomed", deployment("d"))
        core.delete_namespace("doomed")
        sandbox.wait_for(
            lambda: "doomed" not in {n.metadata.name for n in core.list_namespace().items}, what="namespace gone"
        )
        assert core.list_config_map_for_all_namespaces(field_selector="metadata.namespace=doomed").items == []
        assert (
            client.AppsV1Api(api).list_deployment_for_all_namespaces(field_selector="metadata.namespace=doomed").items
            == []
        )


def test_custom_kind_refuses_strategic_patch(sandbox, sandbox_ns):
    from velasandbox.kinds import Kind, register_kind

    register_kind(
        Kind(
            group="example.velasandbox.io",
            version="v1",
            plural="widgets",
            kind="Widget",
            subresources=["status"],
            builtin=False,
            short_names=["wg"],
        )
    )
    with sandbox.api_client() as api:
        co = client.CustomObjectsApi(api)
        w = co.create_namespaced_custom_object(
            "example.velasandbox.io",
            "v1",
            sandbox_ns,
            "widgets",
            {
                "apiVersion": "example.velasandbox.io/v1",
                "kind": "Widget",
                "metadata": {"name": "w"},
                "spec": {"a": [1, 2]},
            },
        )
        assert w["metadata"]["generation"] == 1
        w2 = co.patch_namespaced_custom_object(
            "example.velasandbox.io", "v1", sandbox_ns, "widgets", "w", {"spec": {"a": [3]}}
        )
        assert w2["spec"]["a"] == [3] and w2["metadata"]["generation"] == 2
        code, body = raw(
            sandbox,
            "PATCH",
            f"/apis/example.velasandbox.io/v1/namespaces/{sandbox_ns}/widgets/w",
            {"spec": {"a": [4]}},
            "application/strategic-merge-patch+json",
        )
        assert code == 415 and body["reason"] == "UnsupportedMediaType"
        # update without resourceVersion on a custom resource -> 422
        body = dict(w2)
        body["metadata"] = {"name": "w"}
        with pytest.raises(ApiException) as ei:
            co.replace_namespaced_custom_object("example.velasandbox.io", "v1", sandbox_ns, "widgets", "w", body)
        assert ei.value.status == 422
        s = co.patch_namespaced_custom_object_status(
            "example.velasandbox.io", "v1", sandbox_ns, "widgets", "w", {"status": {"phase": "ok"}}
        )
        assert s["status"] == {"phase": "ok"} and s["metadata"]["generation"] == 2


def test_watch_and_410(sandbox, sandbox_ns):
    ns = sandbox_ns
    with sandbox.api_client() as api:
        core = client.CoreV1Api(api)
        lst = core.list_namespaced_config_map(ns)
        rv = lst.metadata.resource_version
        events = []
        done = threading.Event()

        def run():
            w = watch.Watch()
            for ev in w.stream(core.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=20):
                events.append((ev["type"], ev["object"].metadata.name))
                if ev["type"] == "DELETED":
                    w.stop()
            done.set()

        t = threading.Thread(target=run)
        t.start()
        core.create_namespaced_config_map(ns, {"metadata": {"name": "w1"}, "data": {"a": "1"}})
        core.patch_namespaced_config_map("w1", ns, {"data": {"a": "2"}})
        core.delete_namespaced_config_map("w1", ns)
        assert done.wait(20)
        t.join()
        assert events == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]
        # watch without resourceVersion starts with synthetic ADDED events
        core.create_namespaced_config_map(ns, {"metadata": {"name": "w2"}})
        w = watch.Watch()
        first = next(iter(w.stream(core.list_namespaced_config_map, ns, timeout_seconds=5)))
        w.stop()
        assert first["type"] == "ADDED" and first["object"].metadata.name == "w2"
        # a resourceVersion older than the retained history -> 410 Expired
        sandbox.call(_compact(sandbox))
        with pytest.raises(ApiException) as ei:
            for _ in watch.Watch().stream(core.list_namespaced_config_map, ns, resource_version="1", timeout_seconds=5):
                pass
        assert ei.value.status == 410


async def _compact(sb):
    sb.store.history_start = max(sb.store.history_start, 5)


def test_kubectl_get_apply_patch(sandbox, sandbox_ns):
    ns = sandbox_ns
    manifest = json.dumps(deployment("kd"))
    out = sandbox.kubectl("apply", "--validate=false", "-n", ns, "-f", "-", input=manifest).stdout
    assert "deployment.apps/kd created" in out
    out = sandbox.kubectl("apply", "--validate=false", "-n", ns, "-f", "-", input=manifest).stdout
    assert "deployment.apps/kd unchanged" in out
    changed = deployment("kd")
    changed["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "C", "value": "3"})
    out = sandbox.kubectl("apply", "--validate=false", "-n", ns, "-f", "-", input=json.dumps(changed)).stdout
    assert "deployment.apps/kd configured" in out
    out = sandbox.kubectl("get", "deployments", "-n", ns).stdout
    assert "kd" in out
    out = sandbox.kubectl("get", "deploy", "kd", "-n", ns, "-o", "json").stdout
    obj = json.loads(out)
    assert {e["name"] for e in obj["spec"]["template"]["spec"]["containers"][0]["env"]} == {"A", "C"}
    sandbox.kubectl("patch", "deployment", "kd", "-n", ns, "-p", '{"metadata":{"labels":{"p":"1"}}}')
    sandbox.kubectl("patch", "deployment", "kd", "-n", ns, "--type=merge", "-p", '{"metadata":{"labels":{"q":"2"}}}')
    sandbox.kubectl(
        "patch",
        "deployment",
        "kd",
        "-n",
        ns,
        "--type=json",
        "-p",
        '[{"op":"add","path":"/metadata/labels/r","value":"3"}]',
    )
    labels = json.loads(sandbox.kubectl("get", "deploy", "kd", "-n", ns, "-o", "json").stdout)["metadata"]["labels"]
    assert labels["p"] == "1" and labels["q"] == "2" and labels["r"] == "3"
    out = sandbox.kubectl("get", "ns").stdout
    assert ns in out
    out = sandbox.kubectl("api-resources").stdout
    assert "deployments" in out and "deploy" in out
    sandbox.kubectl("delete", "deployment", "kd", "-n", ns)
    # default (strict) validation goes through the minimal /openapi/v3
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kc"}, "data": {"a": "b"}}
    out = sandbox.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(cm)).stdout
    assert "configmap/kc created" in out
    sandbox.kubectl("delete", "configmap", "kc", "-n", ns, "--wait=true")


def test_extension_registers_kind_and_controller(tmp_path):
    """The extension point the KubeVela half uses: a kind plus a controller."""
    from velasandbox.controllers import Controller
    from velasandbox.kinds import Kind, register_kind
    from velasandbox.testing import start_sandbox

    class GadgetController(Controller):
        primary = ("example.velasandbox.io", "gadgets")
        owns = [("", "configmaps")]

        async def reconcile(self, namespace, name):
            g = self.store.try_get(self.kind, namespace, name)
            if g is None:
                return
            cms = self.sb.store.try_get(K("", "configmaps"), namespace, name)
            if cms is None:
                self.store.create(
                    K("", "configmaps"),
                    {
                        "metadata": {
                            "name": name,
                            "namespace": namespace,
                            "ownerReferences": [
                                {
                                    "apiVersion": g["apiVersion"],
                                    "kind": g["kind"],
                                    "name": name,
                                    "uid": g["metadata"]["uid"],
                                    "controller": True,
                                }
                            ],
                        },
                        "data": {"size": str(g["spec"]["size"])},
                    },
                )
            if (g.get("status") or {}).get("observedGeneration") != g["metadata"]["generation"]:
                g["status"] = {"observedGeneration": g["metadata"]["generation"], "phase": "Ready"}
                self.store.update(self.kind, g, subresource="status")

    def setup(sb):
        register_kind(
            Kind(
                group="example.velasandbox.io",
                version="v1",
                plural="gadgets",
                kind="Gadget",
                subresources=["status"],
                builtin=False,
            )
        )
        sb.controllers.add(GadgetController(sb))

    from velasandbox.controllers import K

    sb = start_sandbox(str(tmp_path / "ext"), pods=False, extensions=[setup])
    try:
        with sb.api_client() as api:
            co = client.CustomObjectsApi(api)
            co.create_namespaced_custom_object(
                "example.velasandbox.io",
                "v1",
                "default",
                "gadgets",
                {
                    "apiVersion": "example.velasandbox.io/v1",
                    "kind": "Gadget",
                    "metadata": {"name": "g"},
                    "spec": {"size": 3},
                },
            )
            g = sb.wait_for(
                lambda: (lambda g: g if (g.get("status") or {}).get("phase") == "Ready" else None)(
                    co.get_namespaced_custom_object("example.velasandbox.io", "v1", "default", "gadgets", "g")
                ),
                what="gadget status",
            )
            assert g["status"]["observedGeneration"] == 1
            assert client.CoreV1Api(api).read_namespaced_config_map("g", "default").data == {"size": "3"}
            out = sb.kubectl("get", "gadgets", "-o", "name").stdout
            assert out.strip() == "gadget.example.velasandbox.io/g"
            co.delete_namespaced_custom_object("example.velasandbox.io", "v1", "default", "gadgets", "g")
            sb.wait_for(
                lambda: (
                    not client.CoreV1Api(api)
                    .list_namespaced_config_map("default", field_selector="metadata.name=g")
                    .items
                ),
                what="owned configmap collected",
            )
    finally:
        sb.stop()
