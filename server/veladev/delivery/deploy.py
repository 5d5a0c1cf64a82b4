"""Deploy: create or update the Application from the file, as `vela up -f` does, and say what
changed in its spec."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from ..appmodel.model import is_application
from ..cluster import ClusterError
from ..cluster.apps import apply_application, get_application, patch_application


class DeployError(Exception):
    """The file cannot be deployed; the message says why."""


@dataclass(frozen=True, slots=True)
class DeployResult:
    namespace: str
    name: str
    created: bool
    changes: tuple[str, ...] = field(default=())

    def summary(self) -> str:
        if self.created:
            return f"created application {self.namespace}/{self.name}"
        if not self.changes:
            return f"application {self.namespace}/{self.name} is unchanged"
        return f"updated application {self.namespace}/{self.name}: " + "; ".join(self.changes)


def application_from_text(text: str) -> dict[str, Any]:
    """The one Application in a YAML file's documents."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise DeployError(f"the file is not valid YAML{where}; fix it first") from None
    apps = [d for d in docs if is_application(d)]
    if len(apps) != 1:
        raise DeployError(
            "the file holds no KubeVela Application"
            if not apps
            else f"the file holds {len(apps)} Applications; deploy needs exactly one"
        )
    app = apps[0]
    if not isinstance(app.get("metadata"), dict) or not isinstance(app["metadata"].get("name"), str):
        raise DeployError("the Application has no metadata.name")
    return app


def _label(item: Any, index: int) -> str:
    return item["name"] if isinstance(item, dict) and isinstance(item.get("name"), str) else str(index)


def spec_changes(old: Any, new: Any, path: str = "spec", limit: int = 20) -> list[str]:
    """Human-readable differences (lists of named items are compared by name)."""
    diff = _SpecDiff(limit)
    diff.walk(old, new, path)
    return diff.out


def _presence(key: Any, a: dict, b: dict) -> str | None:
    """'removed' or 'added' when only one side has `key`."""
    if key not in b:
        return "removed"
    if key not in a:
        return "added"
    return None


class _SpecDiff:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.out: list[str] = []

    def walk(self, a: Any, b: Any, at: str) -> None:
        if len(self.out) >= self.limit or a == b:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            self._dicts(a, b, at)
            return
        if isinstance(a, list) and isinstance(b, list) and self._named_lists(a, b, at):
            return
        self.out.append(f"{at}: {_short(a)} -> {_short(b)}")

    def _dicts(self, a: dict, b: dict, at: str) -> None:
        for k in sorted(set(a) | set(b), key=str):
            change = _presence(k, a, b)
            if change:
                self.out.append(f"{at}.{k} {change}")
            else:
                self.walk(a[k], b[k], f"{at}.{k}")

    def _named_lists(self, a: list, b: list, at: str) -> bool:
        """Compare by item name; False when the names are not unique (then compared whole)."""
        named_a = {_label(x, i): x for i, x in enumerate(a)}
        named_b = {_label(x, i): x for i, x in enumerate(b)}
        if len(named_a) != len(a) or len(named_b) != len(b):
            return False
        for k in named_a.keys() | named_b.keys():
            change = _presence(k, named_a, named_b)
            if change:
                self.out.append(f"{at}[{k}] {change}")
        for k in named_b:
            if k in named_a:
                self.walk(named_a[k], named_b[k], f"{at}[{k}]")
        return True


def merge_patch(old: Any, new: Any) -> Any:
    """The JSON merge patch (RFC 7386) that turns `old` into `new`."""
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return new
    patch: dict[str, Any] = {k: None for k in old if k not in new}
    for k, v in new.items():
        if k not in old or old[k] != v:
            patch[k] = merge_patch(old.get(k), v)
    return patch


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else yaml.safe_dump(value, default_flow_style=True).strip()
    return text if len(text) <= 60 else text[:57] + "..."


def deploy(api_client, app: dict[str, Any], namespace: str | None = None) -> DeployResult:
    ns = namespace or app["metadata"].get("namespace") or "default"
    name = app["metadata"]["name"]
    try:
        live = get_application(api_client, ns, name)
    except ClusterError as exc:
        if "not found" not in str(exc):
            raise
        live = None
    if live is None:
        apply_application(api_client, app, ns)
        return DeployResult(ns, name, True)
    desired = {
        "metadata": {k: app["metadata"].get(k) or {} for k in ("labels", "annotations")},
        "spec": app.get("spec") or {},
    }
    # Like `vela up`, the file replaces the spec: what it no longer has is removed (null in a
    # merge patch). Labels and annotations are only added or changed: controllers own others.
    patch_application(
        api_client,
        ns,
        name,
        lambda current: {
            "metadata": desired["metadata"],
            "spec": merge_patch(current.get("spec") or {}, desired["spec"]),
        },
    )
    changes = spec_changes(live.get("spec") or {}, app.get("spec") or {})
    for key in ("labels", "annotations"):
        old, new = live["metadata"].get(key) or {}, app["metadata"].get(key) or {}
        changes += [
            f"metadata.{key}.{k}: {_short(old.get(k))} -> {_short(v)}" for k, v in new.items() if old.get(k) != v
        ]
    return DeployResult(ns, name, False, tuple(changes))
