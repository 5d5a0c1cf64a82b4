"""Resume computed as KubeVela 1.9/1.10's ResumeWorkflow does (kubevela/kubevela: pkg/workflow/operation/operation.go@v1.10.9)."""

from typing import Any

import pytest

from veladev.delivery.workflow import WorkflowError, read_workflow, resumed_workflow_status

SUSPENDED: dict[str, Any] = {
    "suspend": True,
    "terminated": False,
    "finished": False,
    "status": "suspending",
    "steps": [
        {"name": "deploy-test", "type": "deploy", "phase": "succeeded"},
        {"name": "approve-prod", "type": "suspend", "phase": "suspending", "reason": "Suspend"},
        {"name": "deploy-prod", "type": "deploy", "phase": "pending"},
    ],
}


def test_resume_sets_suspend_false_and_suspending_steps_running():
    wf = resumed_workflow_status(SUSPENDED)
    assert wf["suspend"] is False
    assert [s["phase"] for s in wf["steps"]] == ["succeeded", "running", "pending"]
    assert SUSPENDED["steps"][1]["phase"] == "suspending"  # the input is not changed


def test_resume_one_step_only_and_unknown_step():
    wf = {**SUSPENDED, "steps": [*SUSPENDED["steps"], {"name": "gate2", "type": "suspend", "phase": "suspending"}]}
    out = resumed_workflow_status(wf, step="gate2")
    assert [s["phase"] for s in out["steps"]] == ["succeeded", "suspending", "pending", "running"]
    with pytest.raises(WorkflowError, match="can not find step nope"):
        resumed_workflow_status(wf, step="nope")


def test_resume_group_runs_its_unfinished_sub_steps():
    wf = {
        "suspend": True,
        "steps": [
            {
                "name": "g",
                "type": "step-group",
                "phase": "suspending",
                "subSteps": [
                    {"name": "a", "type": "suspend", "phase": "suspending"},
                    {"name": "b", "type": "deploy", "phase": "succeeded"},
                ],
            }
        ],
    }
    out = resumed_workflow_status(wf)
    assert out["steps"][0]["phase"] == "running"
    assert [s["phase"] for s in out["steps"][0]["subSteps"]] == ["running", "succeeded"]


def test_terminated_or_missing_workflow_cannot_resume():
    with pytest.raises(WorkflowError, match="terminated"):
        resumed_workflow_status({**SUSPENDED, "terminated": True})
    with pytest.raises(WorkflowError, match="no workflow status"):
        resumed_workflow_status(None)


def test_read_workflow_lists_suspending_steps():
    state = read_workflow({"status": {"status": "workflowSuspending", "workflow": SUSPENDED}})
    assert state.app_phase == "workflowSuspending" and state.suspended
    assert [s.name for s in state.suspending_steps()] == ["approve-prod"]
