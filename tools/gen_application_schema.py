"""Writes schemas/application.schema.json (kept as code so the $defs stay consistent).

Source: KubeVela v1.10.9 CRD core.oam.dev_applications.yaml and the Go types
(kv:apis/core.oam.dev/common/types.go, kv:apis/core.oam.dev/v1beta1/application_types.go,
wf:api/v1alpha1/types.go; kv is kubevela/kubevela, wf kubevela/workflow).
"""

import json
import pathlib

OUT = pathlib.Path(__file__).resolve().parent.parent / "schemas" / "application.schema.json"

str_list = {"type": "array", "items": {"type": "string"}}
free_object = {
    "type": ["object", "null"],
    "description": "Parameters of the definition named by `type`; each definition's schema checks them.",
}
name_pattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

inputs = {
    "type": ["array", "null"],
    "description": "Values taken from other components' or steps' outputs.",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["from"],
        "properties": {
            "from": {"type": "string", "description": "Name of the output to read."},
            "parameterKey": {
                "type": "string",
                "description": "Path in `properties` that receives the value, e.g. `env[0].value`.",
            },
        },
    },
}
outputs = {
    "type": ["array", "null"],
    "description": "Values this component or step exports for others.",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "valueFrom"],
        "properties": {
            "name": {"type": "string", "description": "Name other inputs refer to."},
            "valueFrom": {
                "type": "string",
                "description": "CUE expression over the rendered `output`/`outputs`, e.g. `output.status.podIP`.",
            },
        },
    },
}
mode_enum = {"type": "string", "enum": ["DAG", "StepByStep"]}


def step(sub: bool) -> dict:
    props = {
        "name": {"type": "string", "description": "Step name; unique across the whole workflow (sub-steps included)."},
        "type": {
            "type": "string",
            "description": "WorkflowStepDefinition name, e.g. `deploy`, `suspend`, `step-group`.",
        },
        "meta": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {"alias": {"type": "string", "description": "Display name of the step."}},
        },
        "if": {
            "type": "string",
            "description": "CUE condition, e.g. `status.deploy.succeeded`, or `always` to run even after a failure.",
        },
        "timeout": {
            "type": "string",
            "format": "go-duration",
            "description": "How long the step may run, as a Go duration (`30s`, `10m`, `1h30m`).",
        },
        "dependsOn": {**str_list, "type": ["array", "null"], "description": "Names of steps that must finish first."},
        "inputs": inputs,
        "outputs": outputs,
        "properties": free_object,
    }
    # Sub-steps accept the same fields (nesting is reported by a rule with its own code).
    props["mode"] = {**mode_enum, "description": "Mode of this step-group's sub-steps (KubeVela 1.10)."}
    props["subSteps"] = {
        "type": ["array", "null"],
        "items": {"$ref": "#/$defs/subStep"},
        "description": "Steps of a `step-group`; they cannot nest further.",
    }
    return {"type": "object", "additionalProperties": False, "required": ["type"], "properties": props}


schema = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://github.com/veladev/veladev/schemas/application.schema.json",
    "title": "KubeVela Application (core.oam.dev/v1beta1)",
    "description": "A KubeVela Application: components with traits, policies and a delivery workflow (KubeVela v1.10 CRD).",
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "core.oam.dev/v1beta1", "description": "API group and version of the Application."},
        "kind": {"const": "Application"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "description": "Kubernetes object metadata.",
            "properties": {
                "name": {
                    "type": "string",
                    "pattern": name_pattern,
                    "maxLength": 253,
                    "description": "Name of the Application (a DNS subdomain: lower case letters, digits, '-' and '.').",
                },
                "namespace": {
                    "type": "string",
                    "description": "Namespace of the Application; rendered resources go there unless a topology policy says otherwise.",
                },
                "labels": {
                    "type": ["object", "null"],
                    "additionalProperties": {"type": ["string", "null"]},
                    "description": "Labels; they are copied onto every rendered resource.",
                },
                "annotations": {
                    "type": ["object", "null"],
                    "additionalProperties": {"type": ["string", "null"]},
                    "description": "Annotations, e.g. `app.oam.dev/publishVersion`; copied onto rendered workloads.",
                },
            },
        },
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["components"],
            "description": "What to deploy and how.",
            "properties": {
                "components": {
                    "type": ["array"],
                    "items": {"$ref": "#/$defs/component"},
                    "description": "The components of the application (the only required spec field).",
                },
                "policies": {
                    "type": ["array", "null"],
                    "items": {"$ref": "#/$defs/policy"},
                    "description": "Policies: where to deploy (topology), per-target changes (override), and resource handling.",
                },
                "workflow": {"$ref": "#/$defs/workflow"},
                "rolloutPlan": {
                    "deprecated": True,
                    "x-vela-replacement": "a workflow, or the kruise-rollout addon's `rollout` trait",
                    "x-vela-removed": True,
                    "description": "Removed in KubeVela 1.3: the v1.2 rollout plan. Use a workflow or the `rollout` trait.",
                },
            },
        },
        "status": {"type": ["object", "null"], "description": "Written by the KubeVela controller."},
    },
    "$defs": {
        "component": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "type"],
            "properties": {
                "name": {
                    "type": "string",
                    "pattern": name_pattern,
                    "description": "Component name; also the name of its workload and Service.",
                },
                "type": {
                    "type": "string",
                    "description": "ComponentDefinition name, e.g. `webservice`, `worker`, `task`.",
                },
                "properties": free_object,
                "traits": {
                    "type": ["array", "null"],
                    "items": {"$ref": "#/$defs/trait"},
                    "description": "Operational behaviour attached to the component.",
                },
                "dependsOn": {
                    **str_list,
                    "type": ["array", "null"],
                    "description": "Components that must be deployed first.",
                },
                "inputs": inputs,
                "outputs": outputs,
                "externalRevision": {"type": "string", "description": "Pin a named component revision."},
                "scopes": {
                    "type": ["object", "null"],
                    "additionalProperties": {"type": "string"},
                    "description": "Legacy application scopes.",
                },
            },
        },
        "trait": {
            "type": "object",
            "additionalProperties": False,
            "required": ["type"],
            "properties": {
                "type": {
                    "type": "string",
                    "description": "TraitDefinition name, e.g. `scaler`, `gateway`, `nocalhost`.",
                },
                "properties": free_object,
            },
        },
        "policy": {
            "type": "object",
            "additionalProperties": False,
            "required": ["type"],
            "properties": {
                "name": {"type": "string", "description": "Policy name; deploy steps refer to it."},
                "type": {
                    "type": "string",
                    "description": "PolicyDefinition name, e.g. `topology`, `override`, `apply-once`.",
                },
                "properties": free_object,
            },
        },
        "workflow": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "description": "The delivery workflow. Without one, KubeVela generates a deploy step per topology policy.",
            "properties": {
                "ref": {
                    "type": "string",
                    "description": "Name of a `core.oam.dev/v1alpha1` Workflow in the same namespace (not together with `steps`).",
                },
                "mode": {
                    "type": ["object", "null"],
                    "additionalProperties": False,
                    "properties": {
                        "steps": {**mode_enum, "default": "StepByStep", "description": "How top-level steps run."},
                        "subSteps": {**mode_enum, "default": "DAG", "description": "How sub-steps of step-groups run."},
                    },
                },
                "steps": {
                    "type": ["array", "null"],
                    "items": {"$ref": "#/$defs/step"},
                    "description": "The steps, run StepByStep by default.",
                },
            },
        },
        "step": step(False),
        "subStep": step(True),
    },
}

OUT.write_text(json.dumps(schema, indent=2) + "\n")
print(f"wrote {OUT}")
