"""KubeVela workflow state as the editor shows it, and the resume operation. Pure.

Resume follows KubeVela 1.9/1.10 exactly (`ResumeWorkflow` in `kubevela/kubevela:
pkg/workflow/operation/operation.go@v1.10.9`): `suspend` becomes false and
every `suspending` step (or only the named one) becomes `running`; the engine then marks the
suspend step succeeded. Flipping only `suspend` is not enough: a step still `suspending`
suspends the run again.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


class WorkflowError(Exception):
    """The workflow cannot do what was asked; the message says why."""


@dataclass(frozen=True, slots=True)
class StepState:
    name: str
    type: str
    phase: str  # succeeded | failed | skipped | running | pending | suspending
    message: str = ""
    reason: str = ""
    sub_steps: tuple[StepState, ...] = ()


@dataclass(frozen=True, slots=True)
class WorkflowState:
    app_phase: str  # status.status: runningWorkflow, workflowSuspending, running, ...
    run_status: str  # status.workflow.status: executing, suspending, succeeded, ...
    suspended: bool
    terminated: bool
    finished: bool
    message: str
    steps: tuple[StepState, ...] = field(default=())

    def suspending_steps(self) -> list[StepState]:
        return [s for top in self.steps for s in (top, *top.sub_steps) if s.phase == "suspending"]


def _step(raw: dict[str, Any]) -> StepState:
    return StepState(
        raw.get("name", ""),
        raw.get("type", ""),
        raw.get("phase", "pending"),
        raw.get("message", "") or "",
        raw.get("reason", "") or "",
        tuple(_step(s) for s in raw.get("subSteps") or ()),
    )


def read_workflow(app: dict[str, Any]) -> WorkflowState:
    status = app.get("status") or {}
    wf = status.get("workflow") or {}
    return WorkflowState(
        app_phase=status.get("status", "") or "",
        run_status=wf.get("status", "") or "",
        suspended=bool(wf.get("suspend")),
        terminated=bool(wf.get("terminated")),
        finished=bool(wf.get("finished")),
        message=wf.get("message", "") or "",
        steps=tuple(_step(s) for s in wf.get("steps") or ()),
    )


def resumed_workflow_status(workflow: dict[str, Any] | None, step: str | None = None) -> dict[str, Any]:
    """The `status.workflow` after ResumeWorkflow; raises WorkflowError where KubeVela refuses."""
    if not workflow:
        raise WorkflowError("the application has no workflow status yet; nothing to resume")
    if workflow.get("terminated"):
        raise WorkflowError("the workflow is terminated; restart it instead of resuming")
    wf = copy.deepcopy(workflow)
    wf["suspend"] = False
    found = step is None
    for top in wf.get("steps") or ():
        found = _resume_top_step(top, step) or found
        found = _resume_sub_steps(top.get("subSteps") or (), step) or found
    if not found:
        raise WorkflowError(f"can not find step {step}")
    return wf


def _resume_top_step(top: dict[str, Any], step: str | None) -> bool:
    """Resume a suspending top-level step that `step` names (None: every one); True if named."""
    if step is not None and top.get("name") != step:
        return False
    if top.get("phase") == "suspending":
        top["phase"] = "running"
        # OperateSteps: the unfinished sub-steps of a resumed group run again too.
        for sub in top.get("subSteps") or ():
            if sub.get("phase") not in ("succeeded", "failed", "skipped"):
                sub["phase"] = "running"
    return True


def _resume_sub_steps(subs: Iterable[dict[str, Any]], step: str | None) -> bool:
    """Resume the suspending sub-steps `step` names (None: every one); True if one is named."""
    found = False
    for sub in subs:
        if (step is None or sub.get("name") == step) and sub.get("phase") == "suspending":
            found = True
            sub["phase"] = "running"
        elif sub.get("name") == step:
            found = True
    return found


def _unfinished(phase: str | None) -> bool:
    return phase in ("running", "suspending")


def terminated_workflow_status(workflow: dict[str, Any] | None) -> dict[str, Any]:
    """The `status.workflow` after TerminateWorkflow (kv:pkg/workflow/operation/operation.go):
    terminated, not suspended; running or suspending steps fail with reason Terminate, and
    failed ones take that reason unless they failed after retries or timed out."""
    if not workflow:
        raise WorkflowError("the application has no workflow status yet; nothing to terminate")
    if workflow.get("terminated"):
        raise WorkflowError("the workflow is already terminated")
    if workflow.get("finished"):
        raise WorkflowError(
            f"the workflow has already finished ({workflow.get('status') or 'done'}); nothing to terminate"
        )
    wf = copy.deepcopy(workflow)
    wf["terminated"] = True
    wf["suspend"] = False
    for top in wf.get("steps") or ():
        for s in (top, *(top.get("subSteps") or ())):
            if _unfinished(s.get("phase")):
                s["phase"], s["reason"] = "failed", "Terminate"
            elif s.get("phase") == "failed" and s.get("reason") not in ("FailedAfterRetries", "Timeout"):
                s["reason"] = "Terminate"
    return wf


def settled(state: WorkflowState) -> bool:
    """The workflow waits for nobody but a person: finished, suspended or terminated."""
    return (
        state.finished
        or state.terminated
        or bool(state.suspending_steps())
        or state.run_status in ("succeeded", "failed", "terminated", "suspending")
    )
