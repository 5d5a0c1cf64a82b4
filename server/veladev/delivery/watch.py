"""Watch an Application: its phase and each workflow step's state, as they change."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..cluster.apps import watch_applications
from .workflow import WorkflowState, read_workflow


def state_key(state: WorkflowState) -> tuple:
    """What a person watching cares about (messages included, timestamps not)."""
    return (
        state.app_phase,
        state.run_status,
        state.suspended,
        state.terminated,
        state.finished,
        tuple((s.name, s.phase, s.message, tuple((c.name, c.phase) for c in s.sub_steps)) for s in state.steps),
    )


def watch_workflow(
    api_client, namespace: str, name: str, on_change: Callable[[WorkflowState | None], None], stop: Callable[[], bool]
) -> None:
    """Call `on_change` with the current state, then each time it changes (None: deleted),
    until `stop()` returns true."""
    last: list[tuple | None] = [()]

    def event(kind: str, app: dict) -> None:
        state = None if kind == "DELETED" else read_workflow(app)
        key = None if state is None else state_key(state)
        if key != last[0]:
            last[0] = key
            on_change(state)

    watch_applications(api_client, namespace, event, stop, name=name, poll=2.0)


def describe(namespace: str, name: str, state: WorkflowState | None) -> list[str]:
    """Lines for a terminal: the app's phase, then one line per step (and sub-step)."""
    if state is None:
        return [f"{namespace}/{name}: deleted"]
    lines = [
        f"{namespace}/{name}: {state.app_phase or 'no status yet'} (workflow {state.run_status or '-'}"
        f"{', suspended' if state.suspended else ''}{', terminated' if state.terminated else ''})"
    ]
    for step in state.steps:
        lines.append(f"  {step.name:<24} {step.type:<14} {step.phase:<11} {step.message}".rstrip())
        for sub in step.sub_steps:
            lines.append(f"    {sub.name:<22} {sub.type:<14} {sub.phase:<11} {sub.message}".rstrip())
    return lines


def state_json(state: WorkflowState) -> dict[str, Any]:
    def step(s) -> dict[str, Any]:
        return {
            "name": s.name,
            "type": s.type,
            "phase": s.phase,
            "message": s.message,
            "subSteps": [step(c) for c in s.sub_steps],
        }

    return {
        "phase": state.app_phase,
        "workflow": state.run_status,
        "suspended": state.suspended,
        "terminated": state.terminated,
        "finished": state.finished,
        "steps": [step(s) for s in state.steps],
    }
