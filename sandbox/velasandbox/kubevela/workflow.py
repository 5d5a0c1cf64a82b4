"""The workflow engine of the KubeVela stand-in (after wf:pkg/executor/workflow.go
and kv:pkg/workflow/step/generator.go; wf is kubevela/workflow, kv kubevela/kubevela).

Pure bookkeeping over ``status.workflow``: the controller hands it a :class:`Run` whose
``status`` is the Application's ``status.workflow`` (mutated in place) and whose ``vars``
is the workflow context (suspend timestamps, kept in the ConfigMap
``workflow-<app>-context`` as KubeVela does), plus callbacks that deploy.

Suspend follows workflow v0.5+/KubeVela 1.8-1.10 (wf:pkg/providers/builtin/workspace.go): the first run of a suspend
step records ``suspendTimeStamp`` in the context and sets the step ``suspending`` and the run
``suspend: true``. On a later run, a step whose phase was turned back to ``running`` (the
resume operation) finds the timestamp and succeeds; a step still ``suspending`` suspends
again, even when only ``suspend`` was flipped to false.
"""

from __future__ import annotations

import datetime as _dt
import random
import re
import string
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..store import now_iso

FINISHED = ("succeeded", "failed", "skipped")
#: KubeVela's executor gives up on a failing step after this many errors (FailedAfterRetries).
MAX_STEP_ERRORS = 10
TERMINATED_AFTER_RETRIES = (
    "The workflow terminates automatically because the failed times of steps have reached the limit"
)

_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Go's time.ParseDuration (the format KubeVela's suspend `duration` takes)."""
    s = (text or "").strip()
    if s in ("0", ""):
        return 0.0
    sign = -1.0 if s.startswith("-") else 1.0
    s = s.lstrip("+-")
    pos, total = 0, 0.0
    for m in _DURATION.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise ValueError(f'time: invalid duration "{text}"')
    return sign * total


def step_id() -> str:
    return "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(10))


class StepWait(Exception):
    """The step is still running (waiting for something); `message` says what."""


@dataclass
class Outcome:
    phase: str  # succeeded | failed | running | suspending | skipped
    message: str = ""
    reason: str = ""


@dataclass
class Run:
    status: dict  # status.workflow, mutated
    vars: dict  # the context variables, mutated
    steps: list[dict]  # spec steps (generated when absent)
    mode_steps: str = "StepByStep"
    mode_sub: str = "DAG"
    execute: Callable[[dict, dict], Awaitable[Outcome]] | None = None  # (step spec, step status) -> Outcome
    errors: dict = field(default_factory=dict)  # step id -> error count (in memory)
    wake_after: float | None = None  # the controller should reconcile again after
    changed: bool = False

    def wake(self, after: float):
        if self.wake_after is None or after < self.wake_after:
            self.wake_after = after


def _status_for(statuses: list[dict], spec: dict) -> dict:
    for st in statuses:
        if st.get("name") == spec.get("name"):
            return st
    st = {"id": step_id(), "name": spec.get("name", ""), "type": spec.get("type", ""), "phase": "pending"}
    statuses.append(st)
    return st


def _set(run: Run, st: dict, out: Outcome):
    """Record an outcome; times change only when something else does (no status churn)."""
    now = now_iso()
    before = (st.get("phase"), st.get("message", ""), st.get("reason", ""))
    after = (out.phase, out.message, out.reason)
    st.setdefault("firstExecuteTime", now)
    if before != after:
        st["phase"] = out.phase
        for k, v in (("message", out.message), ("reason", out.reason)):
            if v:
                st[k] = v
            else:
                st.pop(k, None)
        st["lastExecuteTime"] = now
        run.changed = True
    else:
        st.setdefault("lastExecuteTime", now)


_IF_STATUS = re.compile(
    r'^status(?:\.([A-Za-z_][\w]*)|\["([^"]+)"\])\.(phase\s*(==|!=)\s*"(\w+)"|succeeded|failed|skipped|timeout)$'
)


def eval_if(expr: str, phases: dict[str, str]) -> bool:
    """The `if` forms KubeVela documents: `always`, `status.<step>.<phase>` and
    `status["<step>"].phase == "<phase>"` (joined with && / ||). Other CUE is refused."""
    expr = expr.strip()
    if expr == "always":
        return True
    if "||" in expr:
        return any(eval_if(p, phases) for p in expr.split("||"))
    if "&&" in expr:
        return all(eval_if(p, phases) for p in expr.split("&&"))
    neg = expr.startswith("!")
    m = _IF_STATUS.match(expr.lstrip("!").strip())
    if not m:
        raise ValueError(f"velasandbox cannot evaluate the if expression {expr!r}")
    name = m.group(1) or m.group(2)
    phase = phases.get(name, "pending")
    if m.group(4):
        res = (phase == m.group(5)) if m.group(4) == "==" else (phase != m.group(5))
    else:
        res = phase == m.group(3)
    return not res if neg else res


def _run_suspend(run: Run, st: dict, message: str, duration: str | None) -> Outcome | None:
    """The Suspend provider. Returns None when the step was already resumed (go on)."""
    v = run.vars.setdefault(st["id"], {})
    now = time.time()
    if "suspendTimeStamp" not in v:
        v["suspendTimeStamp"] = int(now * 1000)
        if duration:
            v["resumeTimeStamp"] = int((now + parse_duration(duration)) * 1000)
        run.changed = True
    elif st.get("phase") != "suspending":
        return None  # resumed: the phase was set back to running
    if "resumeTimeStamp" in v:
        left = v["resumeTimeStamp"] / 1000 - now
        if left <= 0:
            return None  # the duration passed: Resume
        run.wake(left)
    if not run.status.get("suspend"):
        run.status["suspend"] = True
        run.changed = True
    return Outcome("suspending", message, "Suspend")


async def run_step(run: Run, spec: dict, st: dict, phases: dict[str, str], mode_sub: str) -> None:
    stype = spec.get("type", "")
    props = spec.get("properties") or {}
    if stype == "suspend":
        out = _run_suspend(run, st, props.get("message", ""), props.get("duration"))
        _set(run, st, out or Outcome("succeeded"))
        return
    if stype == "deploy" and props.get("auto") is False:
        out = _run_suspend(run, st, f'Waiting approval to the deploy step "{spec.get("name", "")}"', None)
        if out is not None:
            _set(run, st, out)
            return
    if stype == "step-group":
        await _run_group(run, spec, st, phases, spec.get("mode") or mode_sub)
        return
    assert run.execute is not None, "the controller gives every run its step executor"
    try:
        out = await run.execute(spec, st)
    except StepWait as w:
        out = Outcome("running", str(w), "Wait")
        run.wake(0.3)
    except Exception as e:  # noqa: BLE001 - a failing step, as KubeVela reports it
        out = _failure(run, st, str(e))
    _set(run, st, out)


def _failure(run: Run, st: dict, message: str) -> Outcome:
    """A failed attempt: reason Execute (retried with back-off) until the limit."""
    n = run.errors[st["id"]] = run.errors.get(st["id"], 0) + 1
    if n >= MAX_STEP_ERRORS:
        return Outcome("failed", message, "FailedAfterRetries")
    run.wake(min(0.05 * 2**n, 1.0))
    return Outcome("failed", message, "Execute")


def _ready(spec: dict, phases: dict[str, str]) -> str:
    """'go', 'wait' or 'skip' for a step's dependsOn."""
    deps = spec.get("dependsOn") or []
    if any(phases.get(d) in ("failed", "skipped") for d in deps):
        return "skip"
    if all(phases.get(d) == "succeeded" for d in deps):
        return "go"
    return "wait"


async def _advance(
    run: Run, specs: list[dict], statuses: list[dict], mode: str, mode_sub: str, scope_phases: dict[str, str]
) -> None:
    """Execute what can run now, StepByStep (one at a time, in order) or DAG (all ready)."""
    failed_before = False
    for spec in specs:
        name = spec.get("name", "")
        st = next((s for s in statuses if s.get("name") == spec.get("name")), None)
        settled = _settled(run, spec, st, mode, scope_phases, failed_before)
        if settled is not None:
            failed_before = settled
            continue
        cond: str = spec.get("if") or ""
        custom_if = bool(cond) and cond != "always"
        dep = _ready(spec, scope_phases)
        if (failed_before or dep == "skip") and cond != "always" and not (custom_if and _safe_if(cond, scope_phases)):
            _set(run, st or _status_for(statuses, spec), Outcome("skipped", "", "Skip"))
            scope_phases[name] = "skipped"
            continue
        if dep == "wait":
            if mode == "DAG":
                continue
            return
        verdict = _check_if(run, spec, statuses, st, scope_phases) if custom_if else None
        if verdict is not None:
            if verdict == "failed" and mode == "StepByStep":
                return
            continue
        st = st or _status_for(statuses, spec)
        await run_step(run, spec, st, scope_phases, mode_sub)
        scope_phases[name] = st["phase"]
        if st["phase"] == "failed" and st.get("reason") == "FailedAfterRetries":
            failed_before = mode == "StepByStep"
            continue
        if mode == "StepByStep" and st["phase"] != "succeeded":
            return


def _settled(
    run: Run, spec: dict, st: dict | None, mode: str, scope_phases: dict[str, str], failed_before: bool
) -> bool | None:
    """For a step with nothing to run now (finished, or timed out just now): whether what follows
    it counts as after a failure; None for a step still to run."""
    phase = st.get("phase") if st else "pending"
    if phase in FINISHED and not (st and phase == "failed" and st.get("reason") == "Execute"):
        # StepByStep skips what follows a failure; DAG only what depends on it (a step failing
        # with reason Execute is retried, with back-off; StepByStep waits for it)
        return failed_before or (phase == "failed" and mode == "StepByStep")
    if st and phase not in FINISHED and _timed_out(run, spec, st):
        _set(run, st, Outcome("failed", "", "Timeout"))
        scope_phases[spec.get("name", "")] = "failed"
        return mode == "StepByStep"
    return None


def _check_if(run: Run, spec: dict, statuses: list[dict], st: dict | None, scope_phases: dict[str, str]) -> str | None:
    """Applies the step's `if`: None when it holds; else the phase it gave the step (skipped,
    or failed for an expression that cannot be evaluated)."""
    name = spec.get("name", "")
    try:
        ok = eval_if(spec["if"], scope_phases)
    except ValueError as e:
        st = st or _status_for(statuses, spec)
        _set(run, st, _failure(run, st, str(e)))
        scope_phases[name] = "failed"
        return "failed"
    if ok:
        return None
    _set(run, st or _status_for(statuses, spec), Outcome("skipped", "", "Skip"))
    scope_phases[name] = "skipped"
    return "skipped"


def _safe_if(cond: str, phases: dict[str, str]) -> bool:
    try:
        return eval_if(cond, phases)
    except ValueError:
        return False


async def _run_group(run: Run, spec: dict, st: dict, phases: dict[str, str], mode: str) -> None:
    subs = st.setdefault("subSteps", [])
    sub_specs = spec.get("subSteps") or []
    sub_phases = dict(phases)
    for s in subs:
        sub_phases[s.get("name", "")] = s.get("phase", "pending")
    if st.get("phase") == "pending":
        _set(run, st, Outcome("running"))
    await _advance(run, sub_specs, subs, mode, mode, sub_phases)
    got = [next((s.get("phase") for s in subs if s.get("name") == x.get("name")), "pending") for x in sub_specs]
    if all(p in ("succeeded", "skipped") for p in got):
        out = Outcome("succeeded")
    elif all(p in FINISHED for p in got) and any(
        s.get("phase") == "failed" and s.get("reason") != "Execute" for s in subs
    ):
        out = Outcome("failed", "", "FailedAfterRetries")
    elif any(p == "suspending" for p in got):
        out = Outcome("suspending", "", "Suspend")
    else:
        out = Outcome("running")
    _set(run, st, out)


async def advance(run: Run) -> None:
    """One pass of the engine over ``run.status`` (a started, unfinished run)."""
    wf = run.status
    statuses = wf.setdefault("steps", [])
    phases = {s.get("name", ""): s.get("phase", "pending") for s in statuses}
    if wf.get("terminated"):
        # "if the workflow is terminated, we still need to execute all the remaining steps"
        # (wf:pkg/executor/workflow.go): after a failure they are skipped unless `if: always`
        await _advance(run, run.steps, statuses, run.mode_steps, run.mode_sub, phases)
        wf_status(run)
        return
    if wf.get("finished"):
        return
    if wf.get("suspend") and _resumed_suspend_step(statuses):
        # checkWorkflowSuspended: a suspend step set back to running runs even while suspend=true
        wf["suspend"] = False
        run.changed = True
    if wf.get("suspend"):
        # suspended: only timed suspends may resume by themselves
        for spec in run.steps:
            st = next((s for s in statuses if s.get("name") == spec.get("name")), None)
            if st is None or st.get("phase") != "suspending":
                continue
            v = run.vars.get(st["id"]) or {}
            if "resumeTimeStamp" in v:
                left = v["resumeTimeStamp"] / 1000 - time.time()
                if left > 0:
                    run.wake(left)
                    continue
                st["phase"] = "running"
                wf["suspend"] = False
                run.changed = True
        if wf.get("suspend"):
            wf_status(run)
            return
    await _advance(run, run.steps, statuses, run.mode_steps, run.mode_sub, phases)
    wf_status(run)


def is_step_finish(st: dict) -> bool:
    """wf:pkg/types IsStepFinish: a failed step is finished unless it is being retried (Execute)."""
    phase, reason = st.get("phase"), st.get("reason") or ""
    if phase == "failed":
        return reason not in ("", "Execute")
    return phase in ("succeeded", "skipped")


def _resumed_suspend_step(statuses: list[dict]) -> bool:
    for st in statuses:
        for s in [st, *(st.get("subSteps") or [])]:
            if s.get("type") == "suspend" and s.get("phase") == "running":
                return True
    return False


def _timed_out(run: Run, spec: dict, st: dict | None) -> bool:
    """The step's `timeout` (Go duration) has passed since its firstExecuteTime."""
    if not spec.get("timeout") or not st or not st.get("firstExecuteTime"):
        return False
    try:
        limit = parse_duration(spec["timeout"])
        first = _dt.datetime.strptime(st["firstExecuteTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.UTC)
    except ValueError:
        return False
    left = first.timestamp() + limit - time.time()
    if left > 0:
        run.wake(left)
        return False
    return True


def wf_status(run: Run) -> None:
    """status.workflow.status / suspend / finished / endTime from the steps."""
    wf = run.status
    statuses = wf.get("steps") or []
    names = [s.get("name") for s in run.steps]
    by_name = {s.get("name"): s for s in statuses}
    phases = [by_name[n].get("phase") if n in by_name else "pending" for n in names]
    done = all(n in by_name and is_step_finish(by_name[n]) for n in names)
    new = dict(wf)
    if wf.get("terminated"):
        failed = [s for s in statuses if s.get("phase") == "failed"]
        new["status"] = "terminated" if all(s.get("reason") == "Terminate" for s in failed) else "failed"
    elif done and any(s.get("phase") == "failed" for s in statuses):
        if any(s.get("reason") == "FailedAfterRetries" for s in statuses):
            new["terminated"] = True  # checkFailedAfterRetries
            new["message"] = TERMINATED_AFTER_RETRIES
        new["status"] = "failed"
        new["finished"] = True
        new.setdefault("endTime", now_iso())
    elif any(p == "suspending" for p in phases):
        new["status"] = "suspending"
        new["suspend"] = True
    elif all(p in ("succeeded", "skipped") for p in phases):
        new["status"] = "succeeded"
        new["finished"] = True
        new["suspend"] = False
        new.setdefault("endTime", now_iso())
    else:
        new["status"] = "executing"
    if new != wf:
        wf.clear()
        wf.update(new)
        run.changed = True


def app_phase(wf: dict | None, healthy: bool) -> str:
    """status.status from the run state (the mapping in kv:application_controller.go)."""
    if not wf:
        return "runningWorkflow"
    s = wf.get("status") or ""
    if wf.get("terminated") and s == "terminated":
        return "workflowTerminated"
    return {
        "suspending": "workflowSuspending",
        "terminated": "workflowTerminated",
        "failed": "workflowFailed",
        "succeeded": "running" if healthy else "unhealthy",
    }.get(s, "runningWorkflow")


def generated_steps(spec: dict) -> list[dict]:
    """KubeVela's default workflow when spec.workflow has no steps (kv:pkg/workflow/step/generator.go)."""
    policies = spec.get("policies") or []
    topo = [p for p in policies if p.get("type") == "topology"]
    over = [p.get("name", "") for p in policies if p.get("type") == "override"]
    if topo:
        return [
            {
                "name": f"deploy-{p.get('name', '')}",
                "type": "deploy",
                "properties": {"policies": over + [p.get("name", "")]},
            }
            for p in topo
        ]
    if over or any(c.get("type") == "ref-objects" for c in spec.get("components") or []):
        return [{"name": "deploy", "type": "deploy", "properties": {"policies": over}}]
    out = []
    for c in spec.get("components") or []:
        s: dict[str, Any] = {
            "name": c.get("name", ""),
            "type": "apply-component",
            "properties": {"component": c.get("name", "")},
        }
        if c.get("dependsOn"):
            s["dependsOn"] = list(c["dependsOn"])
        out.append(s)
    return out


def plan(spec: dict) -> tuple[list[dict], str, str]:
    """(steps, steps mode, sub-steps mode) for an Application spec."""
    wf = spec.get("workflow")
    if wf is None:
        return generated_steps(spec), "DAG", "DAG"
    mode = wf.get("mode") or {}
    steps = wf.get("steps") or []
    if not steps:
        steps = generated_steps(spec)
    return steps, mode.get("steps") or "StepByStep", mode.get("subSteps") or "DAG"
