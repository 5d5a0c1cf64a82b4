"""Dev mode's workload swap on real sandbox pods, through the engine: start swaps and pauses,
end restores exactly; lock contention; an unpullable dev image; KubeVela's state-keep keeps
running during dev mode and does not revert the swap."""

import pytest
from devmode_app_helpers import DEV_IMAGE, comparable, dev_state

from kv_helpers import wait_for_passes
from veladev.devmode import DevModeError
from veladev.devmode.config import app_target, resolve_dev_config
from veladev.devmode.workload import KEEP_ALIVE, PAUSE_LABEL, DevWorkload, Holder, list_dev_workloads, pvc_name

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("need_pods")]


def _engine(d, holder=None, namespace=None):
    target = app_target(d.file, None, namespace)
    return DevWorkload.locate(
        d.apps.api, target, lambda obj: resolve_dev_config(target, obj, d.folder, d.file), holder=holder
    )


def test_start_swaps_and_pauses_then_end_restores_exactly(deployed):
    d = deployed
    original = d.deployment()
    messages: list[str] = []
    pod = _engine(d).start(progress=messages.append, timeout=60)
    assert pod.namespace == d.ns and pod.container == "frontend" and pod.work_dir == "/home/nocalhost-dev"
    assert messages and messages[-1] == f"dev pod {pod.name} is ready"

    dev = d.deployment()
    c = dev["spec"]["template"]["spec"]["containers"][0]
    assert (c["image"], c["command"], c["workingDir"]) == (DEV_IMAGE, KEEP_ALIVE, "/home/nocalhost-dev")
    assert "readinessProbe" not in c and "args" not in c
    assert dev["spec"]["replicas"] == 1 and dev["spec"]["strategy"] == {"type": "Recreate"}
    assert {"name": "veladev-workdir", "mountPath": "/home/nocalhost-dev"} in c["volumeMounts"]
    assert {"name": "veladev-workdir", "emptyDir": {}} in dev["spec"]["template"]["spec"]["volumes"]
    assert c["resources"]["limits"] == {"memory": "2Gi", "cpu": "2"}  # the trait's default
    state = dev_state(dev)
    me = Holder.me()
    assert (state["user"], state["host"], state["application"]) == (me.user, me.host, f"{d.ns}/frontend")
    assert d.application()["metadata"]["labels"][PAUSE_LABEL] == "true"
    [listed] = [i for i in list_dev_workloads(d.apps.api) if i.ref.namespace == d.ns]
    assert (listed.ref.name, listed.state.holder, listed.state.app) == ("frontend", me, "frontend")

    # starting again as the holder resumes (nothing changes)
    again = _engine(d).start(timeout=60)
    assert again.name == pod.name and d.deployment()["metadata"]["generation"] == dev["metadata"]["generation"]

    _engine(d).end(timeout=60)
    restored = d.deployment()
    assert comparable(restored) == comparable(original)
    assert PAUSE_LABEL not in (d.application()["metadata"].get("labels") or {})
    assert not [i for i in list_dev_workloads(d.apps.api) if i.ref.namespace == d.ns]


def test_a_second_developer_gets_the_holder_unless_taking_over(deployed):
    d = deployed
    alice, bob = Holder("alice", "laptop-a"), Holder("bob", "laptop-b")
    _engine(d, alice).start(timeout=60)
    with pytest.raises(DevModeError, match="in dev mode by alice@laptop-a since .*--takeover"):
        _engine(d, bob).start(timeout=60)
    with pytest.raises(DevModeError, match="in dev mode by alice@laptop-a"):
        _engine(d, bob).end(timeout=60)
    _engine(d, bob).start(takeover=True, timeout=60)
    assert dev_state(d.deployment())["user"] == "bob"
    with pytest.raises(DevModeError, match="by bob@laptop-b"):
        _engine(d, alice).end(timeout=60)
    _engine(d, bob).end(timeout=60)
    assert dev_state(d.deployment()) is None


def test_an_unpullable_dev_image_is_a_clear_error_and_the_workload_is_restored(deployed):
    d = deployed
    original = d.deployment()
    d.app["spec"]["components"][0]["traits"][0]["properties"]["image"] = "registry.invalid/no/such-dev-image:1"
    d.write()
    with pytest.raises(DevModeError) as err:
        _engine(d).start(timeout=60)
    text = str(err.value)
    assert "the dev image registry.invalid/no/such-dev-image:1 cannot be pulled (ErrImagePull" in text
    assert "is restored" in text and "nocalhost trait's `image`" in text
    assert comparable(d.deployment()) == comparable(original)
    assert PAUSE_LABEL not in (d.application()["metadata"].get("labels") or {})


def test_state_keep_runs_during_dev_mode_and_does_not_revert_the_swap(fast_resync, sandbox, deployed):
    d = deployed
    _engine(d).start(timeout=60)
    # KubeVela's resync still visits the paused app (three periods here) ...
    wait_for_passes(d.apps, d.ns, "frontend", "ReconcilePaused", passes=3)
    # ... and leaves the dev workload as dev mode made it
    c = d.deployment()["spec"]["template"]["spec"]["containers"][0]
    assert (c["image"], c["command"]) == (DEV_IMAGE, KEEP_ALIVE)
    _engine(d).end(timeout=60)
    # once dev mode ends, state-keep runs again: drift is reverted as before
    d.apps.apps.patch_namespaced_deployment(
        "frontend",
        d.ns,
        {"spec": {"template": {"spec": {"containers": [{"name": "frontend", "image": "sandbox.local/toolchain"}]}}}},
    )
    sandbox.wait_for(
        lambda: d.deployment()["spec"]["template"]["spec"]["containers"][0]["image"] == "sandbox.local/frontend:v1.0.0",
        timeout=30,
        what="state-keep reverts drift",
    )


def test_a_component_that_is_not_deployed_says_what_to_do(deployed):
    with pytest.raises(DevModeError, match="not deployed in namespace nowhere: deploy the Application"):
        _engine(deployed, namespace="nowhere")


def test_statefulset_and_an_earlier_pause_label_are_restored(sandbox, sandbox_ns, tmp_path):
    """serviceType statefulset; an Application that was already paused stays paused after end."""
    from kubernetes import client

    from kv_helpers import Apps

    ns, apps = sandbox_ns, Apps(sandbox)
    app = {
        "apiVersion": "core.oam.dev/v1beta1",
        "kind": "Application",
        "metadata": {"name": "store", "namespace": ns, "labels": {PAUSE_LABEL: "true"}},
        "spec": {
            "components": [
                {
                    "name": "db",
                    "type": "webservice",
                    "properties": {"image": "db:1"},
                    "traits": [
                        {
                            "type": "nocalhost",
                            "properties": {
                                "port": 5432,
                                "image": "python",
                                "serviceType": "statefulset",
                                "persistentVolumeDirs": [{"path": "/data", "capacity": "1Gi"}],
                            },
                        }
                    ],
                }
            ]
        },
    }
    apps.create(ns, app)
    (tmp_path / "store.yaml").write_text(__import__("yaml").safe_dump(app))
    labels = {"app.oam.dev/name": "store", "app.oam.dev/component": "db", "app.oam.dev/namespace": ns}
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", "labels": labels},
        "spec": {
            "replicas": 2,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {
                    "containers": [
                        {
                            "name": "db",
                            "image": "sandbox.local/toolchain",
                            "command": ["sleep", "infinity"],
                            "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 1},
                        }
                    ]
                },
            },
        },
    }
    api = client.AppsV1Api(apps.api)
    api.create_namespaced_stateful_set(ns, sts)

    def read():
        return apps.api.sanitize_for_serialization(api.read_namespaced_stateful_set("db", ns))

    sandbox.wait_for(lambda: (read().get("status") or {}).get("readyReplicas") == 2, timeout=60, what="db ready")
    original = read()

    target = app_target(tmp_path / "store.yaml", None)
    assert target.namespace == ns
    dev = DevWorkload.locate(
        apps.api, target, lambda obj: resolve_dev_config(target, obj, tmp_path, tmp_path / "store.yaml")
    )
    pod = dev.start(timeout=90)
    assert pod.name == "db-0" and pod.container == "db"
    swapped = read()
    assert swapped["spec"]["replicas"] == 1
    assert swapped["spec"]["template"]["spec"]["containers"][0]["command"] == KEEP_ALIVE
    # persistentVolumeDirs: a claim per directory, mounted there, kept after dev mode ends
    claim = pvc_name("db", "/data")
    assert {"name": "veladev-pv-0", "persistentVolumeClaim": {"claimName": claim}} in swapped["spec"]["template"][
        "spec"
    ]["volumes"]
    sandbox.kubectl("exec", "-n", ns, "db-0", "-c", "db", "--", "sh", "-c", "echo kept > /data/f")
    dev.end(timeout=90)
    assert client.CoreV1Api(apps.api).read_namespaced_persistent_volume_claim(claim, ns).spec.resources.requests == {
        "storage": "1Gi"
    }
    assert comparable(read()) == comparable(original)
    assert apps.get(ns, "store")["metadata"]["labels"][PAUSE_LABEL] == "true"  # as it was before
    apps.api.close()


def test_a_dev_config_that_does_not_match_the_workload_says_what_to_change(deployed):
    d = deployed
    d.app["spec"]["components"][0]["traits"][0]["properties"]["serviceType"] = "statefulset"
    d.write()
    with pytest.raises(
        DevModeError,
        match=f"says serviceType statefulset, but component frontend runs as "
        f"Deployment {d.ns}/frontend; set serviceType: deployment",
    ):
        _engine(d)
    assert dev_state(d.deployment()) is None  # nothing touched
