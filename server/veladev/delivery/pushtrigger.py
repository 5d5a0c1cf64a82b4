"""Push & trigger: push the current branch, then move the component to the image built from
the pushed commit, through VelaUX's webhook when one is configured, else by patching the
Application directly (which re-runs its workflow, as any spec change does)."""

from __future__ import annotations

import os
import re
import string
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cluster.apps import patch_application
from .gitpush import Pushed, push_current_branch
from .trigger import TriggerError, trigger_webhook

PLACEHOLDERS = ("commit", "short_commit", "branch", "component")
TOKEN_ENV = "VELAUX_TRIGGER_TOKEN"
PUBLISH_VERSION = "app.oam.dev/publishVersion"


def check_image_template(template: str) -> None:
    """Raises TriggerError naming an unknown or malformed placeholder."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise TriggerError(
            f"image template {template!r} is malformed ({exc}); use {{commit}}, {{short_commit}}, "
            f"{{branch}} or {{component}}"
        ) from None
    unknown = [f for f in fields if f not in PLACEHOLDERS]
    if unknown:
        raise TriggerError(
            f"image template {template!r} uses unknown placeholder {{{unknown[0]}}}; "
            f"known: " + ", ".join("{" + p + "}" for p in PLACEHOLDERS)
        )
    if not template.strip():
        raise TriggerError("the image template is empty; set one, e.g. registry.example.com/app:{short_commit}")


def render_image(template: str, commit: str, branch: str, component: str) -> str:
    check_image_template(template)
    # A branch like feature/x is not a valid tag: characters outside the tag alphabet become '-'.
    tag_branch = re.sub(r"[^A-Za-z0-9_.-]", "-", branch)
    return template.format(commit=commit, short_commit=commit[:7], branch=tag_branch, component=component)


def read_token(env: str = TOKEN_ENV, token_file: str = "") -> str:
    """The VelaUX trigger token: from the environment, else from a file (first line)."""
    token = os.environ.get(env, "").strip()
    if token:
        return token
    if token_file:
        path = Path(os.path.expanduser(token_file))
        try:
            token = path.read_text(encoding="utf-8").strip().splitlines()[0].strip() if path.stat().st_size else ""
        except (OSError, UnicodeDecodeError, IndexError):
            raise TriggerError(f"cannot read the VelaUX token file {path}") from None
        if not token:
            raise TriggerError(f"the VelaUX token file {path} is empty")
    return token


@dataclass(frozen=True, slots=True)
class Shipped:
    pushed: Pushed
    image: str
    via: str  # "velaux" | "patch"
    version: str = ""

    def summary(self) -> str:
        what = "pushed" if self.pushed.pushed else "using pushed"
        how = f"VelaUX started {self.version}" if self.via == "velaux" else "patched the Application"
        return f"{what} {self.pushed.short_commit} to {self.pushed.upstream}; image {self.image}; {how}"


def set_component_image(
    api_client, namespace: str, name: str, component: str, image: str, code_info: dict[str, str] | None = None
) -> dict[str, Any]:
    """Patch the component's image in the Application; a publishVersion, when the app uses one,
    is bumped too (with one, KubeVela re-runs the workflow only when it changes)."""

    def change(app: dict[str, Any]) -> dict[str, Any]:
        comps = [dict(c) for c in (app.get("spec") or {}).get("components") or []]
        target = next((c for c in comps if c.get("name") == component), None)
        if target is None:
            names = ", ".join(str(c.get("name")) for c in comps) or "none"
            raise TriggerError(f"application {namespace}/{name} has no component {component} (it has: {names})")
        target["properties"] = {**(target.get("properties") or {}), "image": image}
        patch: dict[str, Any] = {"spec": {"components": comps}}
        annotations = (app.get("metadata") or {}).get("annotations") or {}
        if PUBLISH_VERSION in annotations:
            short = (code_info or {}).get("commit", "")[:7]
            patch["metadata"] = {
                "annotations": {PUBLISH_VERSION: f"veladev-{time.strftime('%Y%m%d%H%M%S')}-{short}".rstrip("-")}
            }
        return patch

    return patch_application(api_client, namespace, name, change)


def push_and_trigger(
    repo: Path,
    api_client,
    namespace: str,
    name: str,
    component: str,
    image_template: str,
    velaux_url: str = "",
    token: str = "",
    push: bool = True,
) -> Shipped:
    check_image_template(image_template)
    if velaux_url and not token:
        raise TriggerError(
            f"a VelaUX URL is configured but no trigger token: set ${TOKEN_ENV}, a token file, "
            f"or store it in the editor (it is a secret, never a setting)"
        )
    pushed = push_current_branch(repo, push=push)
    image = render_image(image_template, pushed.commit, pushed.branch, component)
    code_info = {k: v for k, v in (("commit", pushed.commit), ("branch", pushed.branch), ("user", pushed.user)) if v}
    if velaux_url:
        result = trigger_webhook(velaux_url, token, {component: {"image": image}}, code_info)
        return Shipped(pushed, image, "velaux", str(result.get("version", "")))
    set_component_image(api_client, namespace, name, component, image, code_info)
    return Shipped(pushed, image, "patch")
