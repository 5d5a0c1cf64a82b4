"""The parts of an Application that rules, completion and navigation need, read defensively.

A document being typed is often half-formed, so nothing here assumes a field has the right
type: anything unexpected is simply left out (the schema check reports it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .yamldoc import Path

APP_API_VERSION = "core.oam.dev/v1beta1"


def is_application(value: Any) -> bool:
    return isinstance(value, dict) and value.get("apiVersion") == APP_API_VERSION and value.get("kind") == "Application"


@dataclass(slots=True)
class Item:
    """A component, trait, policy or workflow step: something with a `type` and `properties`."""

    kind: str  # component | trait | policy | workflowstep
    path: Path
    raw: dict[str, Any]
    parent: Item | None = None  # the component of a trait, the step-group of a sub-step
    children: list[Item] = field(default_factory=list)  # traits of a component, sub-steps of a group

    @property
    def name(self) -> str | None:
        n = self.raw.get("name")
        return n if isinstance(n, str) else None

    @property
    def type(self) -> str | None:
        t = self.raw.get("type")
        return t if isinstance(t, str) else None

    @property
    def properties(self) -> Any:
        return self.raw.get("properties")

    def str_list(self, key: str) -> list[tuple[int, str]]:
        v = self.raw.get(key)
        return [(i, s) for i, s in enumerate(v) if isinstance(s, str)] if isinstance(v, list) else []


@dataclass(slots=True)
class AppModel:
    name: str | None
    components: list[Item]
    policies: list[Item]
    steps: list[Item]  # top-level steps; sub-steps are their children
    workflow_ref: str | None

    def traits(self) -> list[Item]:
        return [t for c in self.components for t in c.children]

    def all_steps(self) -> list[Item]:
        return [s for top in self.steps for s in (top, *top.children)]

    def items(self) -> list[Item]:
        return [*self.components, *self.traits(), *self.policies, *self.all_steps()]

    def component(self, name: str) -> Item | None:
        return next((c for c in self.components if c.name == name), None)

    def policy(self, name: str) -> Item | None:
        return next((p for p in self.policies if p.name == name), None)


def _dicts(value: Any) -> list[tuple[int, dict[str, Any]]]:
    return [(i, v) for i, v in enumerate(value) if isinstance(v, dict)] if isinstance(value, list) else []


def _dict_at(parent: dict[str, Any], key: str) -> dict[str, Any]:
    """parent[key] if it is a mapping, else an empty one."""
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def read_model(app: dict[str, Any]) -> AppModel:
    meta = _dict_at(app, "metadata")
    spec = _dict_at(app, "spec")
    components = []
    for i, raw in _dicts(spec.get("components")):
        comp = Item("component", ("spec", "components", i), raw)
        comp.children = [Item("trait", (*comp.path, "traits", j), t, parent=comp) for j, t in _dicts(raw.get("traits"))]
        components.append(comp)
    policies = [Item("policy", ("spec", "policies", i), raw) for i, raw in _dicts(spec.get("policies"))]
    workflow = _dict_at(spec, "workflow")
    steps = []
    for i, raw in _dicts(workflow.get("steps")):
        step = Item("workflowstep", ("spec", "workflow", "steps", i), raw)
        step.children = [
            Item("workflowstep", (*step.path, "subSteps", j), s, parent=step) for j, s in _dicts(raw.get("subSteps"))
        ]
        steps.append(step)
    ref = workflow.get("ref")
    name = meta.get("name")
    return AppModel(
        name if isinstance(name, str) else None, components, policies, steps, ref if isinstance(ref, str) else None
    )
