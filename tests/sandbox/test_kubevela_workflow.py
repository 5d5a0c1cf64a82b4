"""The KubeVela stand-in without pods: API, workflow engine, resume semantics, definitions and
their schema ConfigMaps (sandbox/README.md cites the KubeVela sources)."""

import json
import re

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kv_helpers import app_obj, step_phase, steps_of, wf_of

pytestmark = pytest.mark.sandbox

# A component that needs no pod: the workflows below never deploy it.
COMP = [{"name": "web", "type": "webservice", "properties": {"image": "sandbox.local/toolchain"}}]


def test_kinds_are_served_with_status_subresource_and_short_names(sandbox):
    out = sandbox.kubectl("api-resources", "--api-group=core.oam.dev", "-o", "wide").stdout
    for plural in (
        "applications",
        "componentdefinitions",
        "traitdefinitions",
        "policydefinitions",
        "workflowstepdefinitions",
    ):
        assert plural in out
    assert re.search(r"applications\s+app,velaapp", out)


def test_validation_refuses_duplicated_component_names(apps, sandbox_ns):
    app = app_obj("dup", COMP + COMP)
    with pytest.raises(ApiException) as e:
        apps.create(sandbox_ns, app)
    assert e.value.status == 422 and "duplicated component name" in e.value.body


def test_suspend_then_flip_only_suspend_resuspends_then_real_resume_continues(apps, sandbox_ns, sandbox):
    steps = [
        {
            "name": "tell",
            "type": "notification",
            "properties": {"slack": {"url": {"value": "https://hooks.invalid/x"}, "message": {"text": "hello"}}},
        },
        {"name": "hold", "type": "suspend", "properties": {"message": "approve me"}},
        {"name": "after", "type": "print-message-in-status", "properties": {"message": "done"}},
    ]
    apps.create(sandbox_ns, app_obj("flow", COMP, steps))
    a = apps.wait_phase(sandbox_ns, "flow", "workflowSuspending")
    wf = wf_of(a)
    assert wf["mode"] == "StepByStep-DAG" and wf["status"] == "suspending"
    assert wf["suspend"] is True and wf["terminated"] is False and wf["finished"] is False
    assert wf["appRevision"] == "flow-v1" and a["status"]["latestRevision"]["name"] == "flow-v1"
    hold = steps_of(a)["hold"]
    assert (hold["phase"], hold["reason"], hold["message"], hold["type"]) == (
        "suspending",
        "Suspend",
        "approve me",
        "suspend",
    )
    assert re.fullmatch(r"[a-z0-9]{10}", hold["id"]) and hold["firstExecuteTime"] and hold["lastExecuteTime"]
    assert step_phase(a, "tell") == "succeeded" and "after" not in steps_of(a)
    # the notification is recorded, not sent (and its URL is not in the record)
    events = apps.core.list_namespaced_event(sandbox_ns).items
    notes = [e.message for e in events if e.reason == "WorkflowNotification"]
    assert notes and "hello" in notes[0] and "hooks.invalid" not in notes[0]

    # Flipping only `suspend` (the pre-1.8 recipe) does not resume: the step is still
    # `suspending`, so the engine suspends again (KubeVela's ResumeWorkflow).
    patched = apps.patch_status(sandbox_ns, "flow", {"status": {"workflow": {"suspend": False}}})
    rv = int(patched["metadata"]["resourceVersion"])
    a = apps.wait(
        sandbox_ns, "flow", lambda x: int(x["metadata"]["resourceVersion"]) > rv and wf_of(x)["suspend"], "re-suspended"
    )
    assert step_phase(a, "hold") == "suspending" and "after" not in steps_of(a)
    assert a["status"]["status"] == "workflowSuspending"

    # The 1.9/1.10 resume: whole object as a merge patch on /status, suspending -> running.
    apps.resume(sandbox_ns, "flow")
    a = apps.wait_phase(sandbox_ns, "flow", "running")
    s = steps_of(a)
    assert s["hold"]["phase"] == "succeeded" and s["after"]["phase"] == "succeeded"
    assert s["after"]["message"] == "done"
    wf = wf_of(a)
    assert wf["status"] == "succeeded" and wf["finished"] is True and wf["suspend"] is False and wf["endTime"]
    assert a["status"]["observedGeneration"] == a["metadata"]["generation"]
    # the suspend timestamp lives in the workflow context ConfigMap, as in KubeVela
    cm = apps.core.read_namespaced_config_map("workflow-flow-context", sandbox_ns)
    assert "suspendTimeStamp" in json.loads(cm.data["vars"])[s["hold"]["id"]]
    assert wf["contextBackend"]["name"] == "workflow-flow-context"


def test_resume_with_a_stale_resource_version_conflicts(apps, sandbox_ns):
    apps.create(sandbox_ns, app_obj("stale", COMP, [{"name": "hold", "type": "suspend"}]))
    a = apps.wait_phase(sandbox_ns, "stale", "workflowSuspending")
    apps.patch(sandbox_ns, "stale", {"metadata": {"annotations": {"touch": "1"}}})
    a["status"]["workflow"]["suspend"] = False
    with pytest.raises(ApiException) as e:
        apps.patch_status(sandbox_ns, "stale", a)  # the body carries the old resourceVersion
    assert e.value.status == 409


def test_suspend_duration_resumes_by_itself(apps, sandbox_ns):
    apps.create(
        sandbox_ns,
        app_obj(
            "timed",
            COMP,
            [
                {"name": "wait", "type": "suspend", "properties": {"duration": "1s"}},
                {"name": "next", "type": "print-message-in-status", "properties": {"message": "m"}},
            ],
        ),
    )
    a = apps.wait_phase(sandbox_ns, "timed", "running", timeout=30)
    assert step_phase(a, "wait") == "succeeded" and step_phase(a, "next") == "succeeded"


def test_step_group_dag_substeps_and_resume(apps, sandbox_ns):
    steps = [
        {
            "name": "group",
            "type": "step-group",
            "subSteps": [
                {"name": "g-hold", "type": "suspend"},
                {"name": "g-msg", "type": "print-message-in-status", "properties": {"message": "sub"}},
            ],
        },
        {"name": "last", "type": "print-message-in-status", "properties": {"message": "end"}},
    ]
    apps.create(sandbox_ns, app_obj("grp", COMP, steps))
    a = apps.wait_phase(sandbox_ns, "grp", "workflowSuspending")
    g = steps_of(a)["group"]
    subs = {s["name"]: s for s in g["subSteps"]}
    # DAG sub-steps: the message step ran although its sibling is suspended
    assert g["phase"] == "suspending" and subs["g-hold"]["phase"] == "suspending"
    assert subs["g-msg"]["phase"] == "succeeded" and "last" not in steps_of(a)
    apps.resume(sandbox_ns, "grp")
    a = apps.wait_phase(sandbox_ns, "grp", "running")
    assert {s["name"]: s["phase"] for s in steps_of(a)["group"]["subSteps"]} == {
        "g-hold": "succeeded",
        "g-msg": "succeeded",
    }
    assert step_phase(a, "last") == "succeeded"


def test_depends_on_in_dag_mode_waits_for_the_dependency(apps, sandbox_ns):
    steps = [
        {"name": "b", "type": "print-message-in-status", "dependsOn": ["a"], "properties": {"message": "b"}},
        {"name": "a", "type": "suspend"},
        {"name": "c", "type": "print-message-in-status", "properties": {"message": "c"}},
    ]
    apps.create(sandbox_ns, app_obj("dag", COMP, steps, mode={"steps": "DAG"}))
    a = apps.wait_phase(sandbox_ns, "dag", "workflowSuspending")
    assert wf_of(a)["mode"] == "DAG-DAG"
    assert step_phase(a, "c") == "succeeded" and step_phase(a, "b") in (None, "pending")
    apps.resume(sandbox_ns, "dag")
    a = apps.wait_phase(sandbox_ns, "dag", "running")
    assert step_phase(a, "b") == "succeeded"


def test_deploy_auto_false_waits_for_approval(apps, sandbox_ns):
    steps = [{"name": "deploy-web", "type": "deploy", "properties": {"auto": False}}]
    apps.create(sandbox_ns, app_obj("gate", COMP, steps))
    a = apps.wait_phase(sandbox_ns, "gate", "workflowSuspending")
    st = steps_of(a)["deploy-web"]
    assert (st["phase"], st["message"]) == ("suspending", 'Waiting approval to the deploy step "deploy-web"')
    assert apps.apps.list_namespaced_deployment(sandbox_ns).items == []
    apps.resume(sandbox_ns, "gate")
    apps.sb.wait_for(lambda: apps.apps.list_namespaced_deployment(sandbox_ns).items, what="deployed after approval")


def test_terminate_and_restart(apps, sandbox_ns):
    apps.create(sandbox_ns, app_obj("term", COMP, [{"name": "hold", "type": "suspend"}]))
    a = apps.wait_phase(sandbox_ns, "term", "workflowSuspending")
    old_id = steps_of(a)["hold"]["id"]
    # vela workflow terminate: terminated=true, suspend=false, suspending -> failed/Terminate
    wf = a["status"]["workflow"]
    wf["terminated"], wf["suspend"] = True, False
    wf["steps"][0].update(phase="failed", reason="Terminate")
    apps.patch_status(sandbox_ns, "term", a)
    a = apps.wait_phase(sandbox_ns, "term", "workflowTerminated")
    assert wf_of(a)["status"] == "terminated"
    # vela workflow restart: status.workflow = nil with a PUT on /status
    del a["status"]["workflow"]
    apps.replace_status(sandbox_ns, "term", a)
    a = apps.wait(
        sandbox_ns,
        "term",
        lambda x: (
            (steps_of(x).get("hold") or {}).get("id") not in (None, old_id)
            and x["status"]["status"] == "workflowSuspending"
        ),
        "a new run",
    )
    assert wf_of(a)["terminated"] is False


def test_spec_change_reruns_but_with_publish_version_only_a_new_version_does(apps, sandbox_ns):
    steps = [{"name": "say", "type": "print-message-in-status", "properties": {"message": "one"}}]
    apps.create(sandbox_ns, app_obj("rev", COMP, steps))
    a = apps.wait_phase(sandbox_ns, "rev", "running")
    assert wf_of(a)["appRevision"] == "rev-v1"
    apps.patch(sandbox_ns, "rev", {"spec": {"workflow": {"steps": [dict(steps[0], properties={"message": "two"})]}}})
    a = apps.wait(
        sandbox_ns, "rev", lambda x: steps_of(x).get("say", {}).get("message") == "two", "re-run on spec change"
    )
    assert wf_of(a)["appRevision"] == "rev-v2" and a["status"]["latestRevision"]["revision"] == 2
    # with a publishVersion, spec edits alone do not re-run the workflow
    apps.patch(sandbox_ns, "rev", {"metadata": {"annotations": {"app.oam.dev/publishVersion": "alpha"}}})
    a = apps.wait(
        sandbox_ns,
        "rev",
        lambda x: wf_of(x).get("appRevision") == "alpha" and x["status"]["status"] == "running",
        "run for alpha",
    )
    apps.patch(sandbox_ns, "rev", {"spec": {"workflow": {"steps": [dict(steps[0], properties={"message": "three"})]}}})
    a = apps.wait(sandbox_ns, "rev", lambda x: x["status"]["latestRevision"]["revision"] == 3, "new revision seen")
    assert wf_of(a)["appRevision"] == "alpha" and steps_of(a)["say"]["message"] == "two"
    apps.patch(sandbox_ns, "rev", {"metadata": {"annotations": {"app.oam.dev/publishVersion": "beta"}}})
    a = apps.wait(sandbox_ns, "rev", lambda x: steps_of(x).get("say", {}).get("message") == "three", "run for beta")
    assert wf_of(a)["appRevision"] == "beta"
    # one ApplicationRevision per spec revision, holding the Application as it was
    revs = apps.co.list_namespaced_custom_object(
        "core.oam.dev", "v1beta1", sandbox_ns, "applicationrevisions", label_selector="app.oam.dev/name=rev"
    )["items"]
    by_name = {r["metadata"]["name"]: r for r in revs}
    assert sorted(by_name) == ["rev-v1", "rev-v2", "rev-v3"]
    assert by_name["rev-v1"]["spec"]["application"]["spec"]["workflow"]["steps"][0]["properties"]["message"] == "one"
    assert by_name["rev-v1"]["status"]["succeeded"] is True


def test_unknown_component_type_fails_the_deploy_step(apps, sandbox_ns):
    comp = [{"name": "web", "type": "no-such-type", "properties": {"image": "x"}}]
    apps.create(sandbox_ns, app_obj("bad", comp, [{"name": "deploy", "type": "deploy"}]))
    a = apps.wait(sandbox_ns, "bad", lambda x: step_phase(x, "deploy") == "failed", "a failed step")
    assert steps_of(a)["deploy"]["message"] == 'render component "web": ComponentDefinition "no-such-type" not found'
    a = apps.wait_phase(sandbox_ns, "bad", "workflowFailed", timeout=60)
    st = steps_of(a)["deploy"]
    assert st["reason"] == "FailedAfterRetries"
    wf = wf_of(a)
    assert wf["status"] == "failed" and wf["terminated"] is True
    assert "failed times of steps have reached the limit" in wf["message"]


def test_default_workflow_without_spec_workflow(apps, sandbox_ns):
    """No spec.workflow: one deploy step per topology policy, DAG-DAG (kv:pkg/workflow/step/generator.go)."""
    pol = [{"name": "here", "type": "topology", "properties": {"clusters": ["local"], "namespace": sandbox_ns}}]
    app = app_obj("gen", [{"name": "w", "type": "worker", "properties": {"image": "no-such/image:1"}}], policies=pol)
    apps.create(sandbox_ns, app)
    a = apps.wait(sandbox_ns, "gen", lambda x: "deploy-here" in steps_of(x), "the generated step")
    assert wf_of(a)["mode"] == "DAG-DAG" and steps_of(a)["deploy-here"]["type"] == "deploy"
    d = apps.apps.read_namespaced_deployment("w", sandbox_ns)
    assert d.metadata.labels["app.oam.dev/name"] == "gen" and d.metadata.labels["workload.oam.dev/type"] == "worker"
    assert (
        "app.oam.dev/last-applied-configuration" in d.metadata.annotations and d.metadata.labels["oam.dev/render-hash"]
    )


# ------------------------------------------------------------------------- definitions


def test_builtin_schema_configmaps(sandbox):
    from veladev.catalog import bundled_catalog

    core = client.CoreV1Api(sandbox.api_client())
    cms = {
        c.metadata.name: c
        for c in core.list_namespaced_config_map("vela-system", label_selector="definition.oam.dev=schema").items
    }
    for name in (
        "component-schema-webservice",
        "component-schema-worker",
        "component-schema-task",
        "trait-schema-nocalhost",
        "trait-schema-scaler",
        "policy-schema-topology",
        "policy-schema-override",
        "policy-schema-apply-once",
        "workflowstep-schema-deploy",
        "workflowstep-schema-suspend",
        "workflowstep-schema-notification",
    ):
        assert name in cms, name
    web = cms["component-schema-webservice"]
    assert web.metadata.labels["definition.oam.dev/name"] == "webservice"
    schema = json.loads(web.data["openapi-v3-json-schema"])
    webservice = bundled_catalog().get("component", "webservice")
    assert webservice is not None
    bundled = webservice.schema
    assert schema["properties"] == bundled["properties"] and "x-vela" not in schema
    assert (
        cms["trait-schema-scaler"].metadata.annotations["definition.oam.dev/appliedWorkloads"]
        == "deployments.apps,statefulsets.apps"
    )
    co = client.CustomObjectsApi(sandbox.api_client())
    d = co.get_namespaced_custom_object("core.oam.dev", "v1beta1", "vela-system", "componentdefinitions", "webservice")
    assert d["status"]["configMapRef"] == "component-schema-webservice"
    assert d["spec"]["workload"]["type"] == "deployments.apps"


def test_trait_definition_through_the_api_publishes_its_schema(sandbox, sandbox_ns, apps):
    from veladev.cluster.definitions import fetch_published_schemas

    api = sandbox.api_client()
    co, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    schema = {
        "type": "object",
        "properties": {"size": {"type": "integer", "default": 3, "title": "size"}},
        "required": ["size"],
    }
    td = {
        "apiVersion": "core.oam.dev/v1beta1",
        "kind": "TraitDefinition",
        "metadata": {
            "name": "my-trait",
            "labels": {"team": "a"},
            "annotations": {"velasandbox.dev/parameter-schema": json.dumps(schema)},
        },
        "spec": {
            "appliesToWorkloads": ["deployments.apps"],
            "schematic": {"cue": {"template": "parameter: {size: *3 | int}"}},
        },
    }
    co.create_namespaced_custom_object("core.oam.dev", "v1beta1", sandbox_ns, "traitdefinitions", td)
    cm = sandbox.wait_for(
        lambda: _try(lambda: core.read_namespaced_config_map("trait-schema-my-trait", sandbox_ns)),
        what="schema ConfigMap",
    )
    assert json.loads(cm.data["openapi-v3-json-schema"]) == schema
    assert cm.metadata.labels == {"team": "a", "definition.oam.dev": "schema", "definition.oam.dev/name": "my-trait"}
    assert cm.metadata.annotations["definition.oam.dev/appliedWorkloads"] == "deployments.apps"
    assert cm.metadata.owner_references[0].kind == "TraitDefinition"
    # the language server's live catalog reads it
    found = {(p.kind, p.name): p for p in fetch_published_schemas(api)}
    assert found[("trait", "my-trait")].schema == schema
    assert found[("trait", "my-trait")].applies_to == ("deployments.apps",)
    # an app using it is refused with a clear message (no CUE evaluator), not "not found"
    comp = [{"name": "w", "type": "worker", "properties": {"image": "x"}, "traits": [{"type": "my-trait"}]}]
    apps.create(sandbox_ns, app_obj("custom", comp, [{"name": "d", "type": "deploy"}]))
    a = apps.wait(sandbox_ns, "custom", lambda x: step_phase(x, "d") == "failed", "failed step")
    assert 'cannot render the TraitDefinition "my-trait"' in steps_of(a)["d"]["message"]
    # deleting the definition removes its ConfigMap
    co.delete_namespaced_custom_object("core.oam.dev", "v1beta1", sandbox_ns, "traitdefinitions", "my-trait")
    sandbox.wait_for(
        lambda: _try(lambda: core.read_namespaced_config_map("trait-schema-my-trait", sandbox_ns)) is None,
        what="ConfigMap garbage-collected",
    )


def test_definition_with_a_bad_schema_gets_no_configmap(sandbox, sandbox_ns):
    api = sandbox.api_client()
    co, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    pd = {
        "apiVersion": "core.oam.dev/v1beta1",
        "kind": "PolicyDefinition",
        "metadata": {"name": "broken", "annotations": {"velasandbox.dev/parameter-schema": "{not json"}},
        "spec": {},
    }
    co.create_namespaced_custom_object("core.oam.dev", "v1beta1", sandbox_ns, "policydefinitions", pd)
    d = sandbox.wait_for(
        lambda: (lambda o: o if (o.get("status") or {}).get("conditions") else None)(
            co.get_namespaced_custom_object("core.oam.dev", "v1beta1", sandbox_ns, "policydefinitions", "broken")
        ),
        what="ReconcileError condition",
    )
    assert d["status"]["conditions"][0]["reason"] == "ReconcileError"
    assert "Could not store capability in ConfigMap" in d["status"]["conditions"][0]["message"]
    assert _try(lambda: core.read_namespaced_config_map("policy-schema-broken", sandbox_ns)) is None


def _try(fn):
    try:
        return fn()
    except ApiException as e:
        if e.status == 404:
            return None
        raise


def test_kubectl_apply_get_and_patch_status(sandbox, sandbox_ns):
    manifest = """
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {name: kc}
spec:
  components: [{name: web, type: webservice, properties: {image: sandbox.local/toolchain}}]
  workflow:
    steps: [{name: hold, type: suspend}]
"""
    sandbox.kubectl("apply", "-n", sandbox_ns, "-f", "-", input=manifest)
    sandbox.wait_for(
        lambda: (
            sandbox.kubectl("get", "app", "kc", "-n", sandbox_ns, "-o", "jsonpath={.status.status}").stdout
            == "workflowSuspending"
        ),
        what="kubectl sees the phase",
    )
    table = sandbox.kubectl("get", "app", "-n", sandbox_ns).stdout.split("\n")
    assert table[0].split() == ["NAME", "COMPONENT", "TYPE", "PHASE", "HEALTHY", "STATUS", "AGE"]
    assert table[1].split()[:4] == ["kc", "web", "webservice", "workflowSuspending"]
    # the same apply again is a no-op; an edit bumps the generation
    sandbox.kubectl("apply", "-n", sandbox_ns, "-f", "-", input=manifest)
    assert (
        sandbox.kubectl("get", "velaapp", "kc", "-n", sandbox_ns, "-o", "jsonpath={.metadata.generation}").stdout == "1"
    )


def test_exposed_ports_get_a_service_and_one_service_status_entry(apps, sandbox_ns):
    comp = [
        {
            "name": "web",
            "type": "webservice",
            "properties": {"image": "no-such/image:1", "ports": [{"port": 80, "expose": True}]},
        }
    ]
    apps.create(sandbox_ns, app_obj("exp", comp, [{"name": "deploy", "type": "deploy"}]))
    a = apps.wait(
        sandbox_ns,
        "exp",
        lambda x: len((x.get("status") or {}).get("appliedResources") or []) == 2,
        "two applied resources",
    )
    svc = apps.core.read_namespaced_service("web", sandbox_ns)
    assert svc.spec.selector == {"app.oam.dev/component": "web"} and svc.spec.ports[0].port == 80
    assert [(s["name"], s["workloadDefinition"]["kind"], s["healthy"]) for s in a["status"]["services"]] == [
        ("web", "Deployment", False)
    ]
    assert a["status"]["status"] == "runningWorkflow"


def test_step_timeout_fails_the_step_and_skips_the_rest(apps, sandbox_ns):
    comp = [{"name": "web", "type": "worker", "properties": {"image": "no-such/image:1"}}]
    steps = [
        {"name": "deploy", "type": "deploy", "timeout": "1s"},
        {"name": "next", "type": "print-message-in-status", "properties": {"message": "x"}},
        {"name": "tell", "type": "print-message-in-status", "if": "always", "properties": {"message": "ran"}},
    ]
    apps.create(sandbox_ns, app_obj("slow", comp, steps))
    a = apps.wait_phase(sandbox_ns, "slow", "workflowFailed", timeout=30)
    s = steps_of(a)
    assert (s["deploy"]["phase"], s["deploy"]["reason"]) == ("failed", "Timeout")
    assert (s["next"]["phase"], s["next"]["reason"]) == ("skipped", "Skip")
    assert (s["tell"]["phase"], s["tell"]["message"]) == ("succeeded", "ran")
    assert wf_of(a)["finished"] is True


def test_terminate_skips_the_remaining_steps_and_a_step_set_running_alone_does_not_resume(apps, sandbox_ns):
    steps = [
        {"name": "hold", "type": "suspend"},
        {"name": "after", "type": "print-message-in-status", "properties": {"message": "x"}},
    ]
    apps.create(sandbox_ns, app_obj("t2", COMP, steps))
    a = apps.wait_phase(sandbox_ns, "t2", "workflowSuspending")
    # A status patch that sets the suspend step back to running but keeps suspend=true is
    # ignored by KubeVela's update filter (only workflow steps changed): nothing resumes.
    a["status"]["workflow"]["steps"][0]["phase"] = "running"
    apps.patch_status(sandbox_ns, "t2", a)
    # A barrier: the controller reconciles in order, so once an Application created after the
    # patch has suspended, a reconcile the patch might have caused has run too.
    apps.create(sandbox_ns, app_obj("t2-barrier", COMP, [{"name": "hold", "type": "suspend"}]))
    apps.wait_phase(sandbox_ns, "t2-barrier", "workflowSuspending")
    a = apps.get(sandbox_ns, "t2")
    assert a["status"]["status"] == "workflowSuspending" and wf_of(a)["suspend"] is True
    assert "after" not in steps_of(a)
    # The next reconcile for another reason (here an annotation) runs the engine, which
    # (checkWorkflowSuspended) runs a suspend step found running: the workflow goes on.
    apps.patch(sandbox_ns, "t2", {"metadata": {"annotations": {"touch": "1"}}})
    a = apps.wait_phase(sandbox_ns, "t2", "running")
    assert step_phase(a, "after") == "succeeded" and wf_of(a)["suspend"] is False
    # terminate a fresh run: the step after the terminated one is skipped
    apps.patch(
        sandbox_ns,
        "t2",
        {
            "spec": {
                "workflow": {
                    "steps": steps
                    + [{"name": "last", "type": "print-message-in-status", "properties": {"message": "y"}}]
                }
            }
        },
    )
    a = apps.wait(
        sandbox_ns,
        "t2",
        lambda x: wf_of(x).get("appRevision") == "t2-v2" and x["status"]["status"] == "workflowSuspending",
        "second run suspended",
    )
    wf = a["status"]["workflow"]
    wf["terminated"], wf["suspend"] = True, False
    wf["steps"][0].update(phase="failed", reason="Terminate")
    apps.patch_status(sandbox_ns, "t2", a)
    a = apps.wait(sandbox_ns, "t2", lambda x: step_phase(x, "last") == "skipped", "remaining steps skipped")
    assert a["status"]["status"] == "workflowTerminated" and step_phase(a, "after") == "skipped"
