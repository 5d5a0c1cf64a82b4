"""Workflow operations on a live Application, as `vela workflow resume|terminate|restart` do in
KubeVela 1.9/1.10 (kv:pkg/workflow/operation/operation.go)."""

from __future__ import annotations

from ..cluster.apps import get_application, replace_status, update_status
from .workflow import WorkflowError, WorkflowState, read_workflow, resumed_workflow_status, terminated_workflow_status


def resume(api_client, namespace: str, name: str, step: str | None = None) -> WorkflowState:
    """Resume the suspended workflow (or one suspended step): Promote."""

    def change(app: dict) -> dict:
        state = read_workflow(app)
        if state.terminated:
            raise WorkflowError(f"the workflow of {namespace}/{name} is terminated; restart it instead of resuming")
        if not state.suspending_steps() and not state.suspended:
            raise WorkflowError(
                f"application {namespace}/{name} is not waiting for approval "
                f"(workflow {state.run_status or 'not started'})"
            )
        return {"workflow": resumed_workflow_status((app.get("status") or {}).get("workflow"), step)}

    update_status(api_client, namespace, name, change)
    return read_workflow(get_application(api_client, namespace, name))


def terminate(api_client, namespace: str, name: str) -> WorkflowState:
    update_status(
        api_client,
        namespace,
        name,
        lambda app: {"workflow": terminated_workflow_status((app.get("status") or {}).get("workflow"))},
    )
    return read_workflow(get_application(api_client, namespace, name))


def restart(api_client, namespace: str, name: str) -> WorkflowState:
    """Restart the whole workflow: `status.workflow` removed with a full status update, so the
    controller starts a new run from the first step."""

    def change(app: dict) -> dict:
        status = dict(app.get("status") or {})
        if not status.get("workflow"):
            raise WorkflowError(f"application {namespace}/{name} has no workflow run yet; nothing to restart")
        status.pop("workflow", None)
        return status

    replace_status(api_client, namespace, name, change)
    return read_workflow(get_application(api_client, namespace, name))
