"""Watch an Application: its phase, each workflow step's state, each component's health per
cluster and each deploy step's placements, as they change."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..cluster.apps import watch_applications
from .status import AppStatus, reached_status
from .workflow import WorkflowState


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


def status_key(status: AppStatus | None) -> tuple | None:
    """What a person watching the app cares about (None: deleted)."""
    if status is None:
        return None
    return (state_key(status.workflow), status.services, status.steps)


def watch_status(
    api_client, namespace: str, name: str, on_change: Callable[[AppStatus | None], None], stop: Callable[[], bool]
) -> None:
    """Call `on_change` with the current state, then each time it changes (None: deleted),
    until `stop()` returns true. The clusters the app is placed on are probed again whenever
    the watch is quiet: a cluster the hub stops reaching changes nothing in the Application
    but is a change to the person watching it."""
    last_key: list[tuple | None] = [()]
    last_app: list[dict[str, Any] | None] = [None]

    def show() -> None:
        status = None if last_app[0] is None else reached_status(api_client, last_app[0])
        key = status_key(status)
        if key != last_key[0]:
            last_key[0] = key
            on_change(status)

    def event(kind: str, app: dict[str, Any]) -> None:
        last_app[0] = None if kind == "DELETED" else app
        show()

    def quiet() -> None:
        if last_app[0] is not None:
            show()

    watch_applications(api_client, namespace, event, stop, name=name, poll=2.0, on_quiet=quiet)


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
