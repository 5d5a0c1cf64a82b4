"""Promote: resume the suspended workflow, exactly as `vela workflow resume` does."""

from __future__ import annotations

from ..cluster.apps import get_application, update_status
from .workflow import WorkflowError, WorkflowState, read_workflow, resumed_workflow_status


def promote(api_client, namespace: str, name: str, step: str | None = None) -> WorkflowState:
    """Resume the workflow (or one suspended step); returns the state as written."""

    def change(app: dict) -> dict:
        state = read_workflow(app)
        if not state.suspending_steps() and not state.suspended:
            raise WorkflowError(f"application {namespace}/{name} is not waiting for approval "
                                f"(workflow {state.run_status or 'not started'})")
        return {"workflow": resumed_workflow_status((app.get("status") or {}).get("workflow"), step)}

    update_status(api_client, namespace, name, change)
    return read_workflow(get_application(api_client, namespace, name))
