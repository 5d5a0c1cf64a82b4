"""Which one-click actions an Application file offers, given the live state. Pure: the file's
analysis, the live Application and dev states in; positions, titles and commands out. The
language server turns them into code lenses; other front ends could use them too."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..appmodel.analysis import AppDocument
from ..appmodel.findings import Span
from ..appmodel.model import Item
from ..appmodel.topology import LOCAL, Clusters
from ..appmodel.yamldoc import locate_exact, span_of
from .status import UNREACHABLE, ServiceHealth, placement_text, services, step_placements
from .workflow import StepState, read_workflow

NOCALHOST = "nocalhost"


@dataclass(frozen=True, slots=True)
class Action:
    span: Span
    title: str
    command: str = ""  # empty: a label only (state, not an action)
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DevState:
    """What dev mode reports for one component (veladev/devState)."""

    state: str = "off"  # off | starting | on | ending | error
    sync: str = ""
    run: str = "stopped"  # stopped | running | debugging
    message: str = ""


@dataclass(frozen=True, slots=True)
class ClusterView:
    """What the editor knows of the hub's clusters: the registered ones (None: unknown) and
    those it cannot reach (name -> why)."""

    clusters: Clusters | None = None
    unreachable: Mapping[str, str] = field(default_factory=dict)


def app_identity(doc: AppDocument) -> tuple[str, str]:
    meta = doc.value.get("metadata")
    ns = meta.get("namespace") if isinstance(meta, dict) else None
    return ns if isinstance(ns, str) else "default", doc.model.name or ""


def _start(doc: AppDocument, path: tuple) -> Span:
    found = locate_exact(doc.root, path)
    node = found[1] if found else doc.root
    s = span_of(node)
    return Span(s.start, s.start)


def age(since: str | None, now: float | None = None) -> str:
    """'5s', '3m', '2h', '4d' since an RFC 3339 time; '' when unknown."""
    if not since:
        return ""
    try:
        t = time.mktime(time.strptime(since[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    except (ValueError, OverflowError):
        return ""
    secs = max(0, int((now if now is not None else time.time()) - t))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def _step_times(live: dict[str, Any] | None) -> dict[str, str]:
    steps = (((live or {}).get("status") or {}).get("workflow") or {}).get("steps") or []
    out = {}
    for s in steps:
        for x in (s, *(s.get("subSteps") or ())):
            if isinstance(x, dict) and x.get("name"):
                out[x["name"]] = x.get("lastExecuteTime") or x.get("firstExecuteTime") or ""
    return out


_PHASE_ICON = {"succeeded": "✓", "failed": "✗", "running": "…", "suspending": "⏸", "pending": "·", "skipped": "–"}


def _dev_actions(span: Span, args: dict[str, Any], d: DevState) -> list[Action]:
    """A dev-mode component's actions for its dev state."""
    if d.state in ("off", "error"):
        out = [Action(span, "Start dev mode", "veladev.dev.up", args)]
        if d.state == "error" and d.message:
            out.append(Action(span, f"dev mode: {d.message[:80]}"))
        return out
    if d.state in ("starting", "ending"):
        return [Action(span, f"dev mode {d.state}…")]
    running = d.run in ("running", "debugging")
    return [
        Action(
            span,
            "Stop run" if running else "Run",
            "veladev.dev.stopRun" if running else "veladev.dev.run",
            args,
        ),
        Action(span, "Debug", "veladev.dev.debug", args),
        Action(span, "Terminal", "veladev.dev.terminal", args),
        Action(span, f"sync: {d.sync or 'idle'}"),
        Action(span, "End dev mode", "veladev.dev.end", args),
    ]


_HEALTH_ICON = {"healthy": "✓", "unhealthy": "✗", UNREACHABLE: "⚠"}


def _health_title(s: ServiceHealth) -> str:
    """`edge-1 ✓`, `edge-3 ✗ Ready:0/1`, `edge-2 ⚠ unreachable` (namespace when not the app's)."""
    detail = UNREACHABLE if s.health == UNREACHABLE else (s.message if s.health != "healthy" else "")
    return f"{s.cluster} {_HEALTH_ICON[s.health]}{' ' + detail[:60] if detail else ''}"


def _cluster_actions(span: Span, comp: str, placed: list[ServiceHealth]) -> list[Action]:
    """A component's health per cluster, when the app is placed beyond the hub."""
    if all(s.cluster == LOCAL for s in placed):
        return []
    return [Action(span, _health_title(s)) for s in placed if s.component == comp]


def _placement_actions(doc: AppDocument, view: ClusterView) -> list[Action]:
    """Each deploy step's clusters (from the file's policies), when it reaches beyond the hub."""
    if view.clusters is None:
        return []
    out = []
    steps = {s.name: s for s in doc.model.all_steps() if s.name}
    for placed in step_placements(doc.value, view.clusters, view.unreachable):
        where = [p for p in placed.placements]
        if not placed.error and all(p.cluster == LOCAL for p in where):
            continue
        item = steps.get(placed.step)
        span = _start(doc, item.path if item is not None else ("kind",))
        text = placed.error or ", ".join(placement_text(p) for p in where) or "no cluster (allowEmpty)"
        out.append(Action(span, f"→ {text}"))
    return out


def plan_actions(
    doc: AppDocument,
    uri: str,
    cluster: str,
    live: dict[str, Any] | None,
    dev: dict[str, DevState],
    now: float | None = None,
    view: ClusterView | None = None,
) -> list[Action]:
    """The actions for one Application document.

    `cluster` is "" when a cluster is reachable, else a sentence saying why not (shown once, on
    the Application line, instead of live state). `live` is the Application in the cluster
    (None: not deployed yet). `dev` maps component names to their dev state. `view` says which
    clusters are registered and unreachable: components then show their health per cluster
    and deploy steps their clusters.
    """
    view = view or ClusterView()
    ns, name = app_identity(doc)
    base = {"uri": uri, "namespace": ns, "application": name}
    top = _start(doc, ("kind",))
    out = [Action(top, "Deploy", "veladev.deploy", base)]
    if cluster:
        out.append(Action(top, cluster))
    else:
        phase = "not deployed" if live is None else (read_workflow(live).app_phase or "no status yet")
        out.append(Action(top, f"phase: {phase}", "veladev.status", base))

    placed = list(services(live, view.unreachable)) if live is not None and not cluster else None
    for comp in doc.model.components:
        if comp.name:
            out += _component_actions(doc, comp, base, dev.get(comp.name, DevState()), placed)

    if not cluster:
        out += _placement_actions(doc, view)
    if cluster or live is None:
        return out
    return out + _step_actions(doc, base, live, now)


def _component_actions(
    doc: AppDocument, comp: Item, base: dict[str, Any], dev: DevState, placed: list[ServiceHealth] | None
) -> list[Action]:
    """Dev mode (with the nocalhost trait), Push & trigger, and once deployed the health per
    cluster and Logs. `placed`: the app's services (None: not deployed or no cluster)."""
    span = _start(doc, comp.path)
    out = []
    if any(t.type == NOCALHOST for t in comp.children):
        out += _dev_actions(span, {"uri": base["uri"], "component": comp.name}, dev)
    out.append(Action(span, "Push & trigger", "veladev.pushAndTrigger", {**base, "component": comp.name}))
    if placed is not None:
        out += _cluster_actions(span, comp.name or "", placed)
        out.append(Action(span, "Logs", "veladev.logs", {"uri": base["uri"], "component": comp.name}))
    return out


def _step_actions(doc: AppDocument, base: dict[str, Any], live: dict[str, Any], now: float | None) -> list[Action]:
    """State and age on each workflow step, Promote on a suspended one."""
    out = []
    states: dict[str, StepState] = {
        s.name: s for top_step in read_workflow(live).steps for s in (top_step, *top_step.sub_steps)
    }
    times = _step_times(live)
    for step in doc.model.all_steps():
        if not step.name:
            continue
        span = _start(doc, step.path)
        st = states.get(step.name)
        if st is None:
            out.append(Action(span, "not run yet"))
            continue
        when = age(times.get(step.name), now)
        out.append(
            Action(span, f"{_PHASE_ICON.get(st.phase, '')} {st.phase}{' · ' + when + ' ago' if when else ''}".strip())
        )
        if st.phase == "suspending":
            out.append(Action(span, "Promote", "veladev.promote", {**base, "step": step.name}))
    return out
