"""What the nocalhost trait renders: the Nocalhost dev config. Pure.

veladev renders only what it needs itself: dev mode reads the dev config of a component from
the trait in the open Application (with the trait's defaults applied), as KubeVela would write
it into the workload's ``dev.nocalhost`` annotation
(``kubevela/kubevela: vela-templates/definitions/internal/trait/nocalhost.cue@v1.10.9``).
Rendering whole Applications is the cluster's job; the sandbox's KubeVela stand-in has its own
renderer (``velasandbox.kubevela.render``) so that the two can disagree in tests.
"""

from __future__ import annotations

import copy
from typing import Any

from .definitions import Catalog

NOCALHOST_IMAGES = {
    "go": "nocalhost-docker.pkg.coding.net/nocalhost/dev-images/golang:latest",
    "java": "nocalhost-docker.pkg.coding.net/nocalhost/dev-images/java:latest",
    "python": "nocalhost-docker.pkg.coding.net/nocalhost/dev-images/python:latest",
    "node": "nocalhost-docker.pkg.coding.net/nocalhost/dev-images/node:latest",
    "ruby": "nocalhost-docker.pkg.coding.net/nocalhost/dev-images/ruby:latest",
}
DEV_CONFIG_ANNOTATION = "dev.nocalhost"


def apply_defaults(schema: dict[str, Any] | None, value: Any) -> Any:
    """`value` with the schema's defaults filled in, recursively (CUE's `*default | T`)."""
    if not isinstance(schema, dict) or not isinstance(value, dict):
        return value
    out = dict(value)
    for name, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, dict):
            continue
        if name not in out and "default" in sub:
            out[name] = copy.deepcopy(sub["default"])
        if isinstance(out.get(name), dict):
            out[name] = apply_defaults(sub, out[name])
    return out


# --- nocalhost ------------------------------------------------------------------------------


def nocalhost_dev_config(component: str, props: dict[str, Any], catalog: Catalog | None = None) -> dict[str, Any]:
    """The Nocalhost service config the trait renders (the `dev.nocalhost` annotation, as a dict).

    Field order follows the CUE template, so `json.dumps` gives the same text as KubeVela.
    """
    d = catalog.get("trait", "nocalhost") if catalog is not None else None
    p = apply_defaults(d.schema, props) if d is not None else dict(props)
    image = p.get("image", "")
    dev: dict[str, Any] = {}
    if p.get("gitUrl"):
        dev["gitUrl"] = p["gitUrl"]
    dev["image"] = NOCALHOST_IMAGES.get(image, image)
    dev["shell"] = p.get("shell", "bash")
    dev["workDir"] = p.get("workDir", "/home/nocalhost-dev")
    if p.get("storageClass"):
        dev["storageClass"] = p["storageClass"]
    dev["resources"] = p.get(
        "resources", {"limits": {"memory": "2Gi", "cpu": "2"}, "requests": {"memory": "512Mi", "cpu": "0.5"}}
    )
    if p.get("persistentVolumeDirs"):
        dev["persistentVolumeDirs"] = p["persistentVolumeDirs"]
    dev["command"] = p.get("command", {"run": ["sh", "run.sh"], "debug": ["sh", "debug.sh"]})
    if p.get("debug"):
        dev["debug"] = p["debug"]
    dev["hotReload"] = p.get("hotReload", True)
    dev["sync"] = p.get(
        "sync",
        {"type": "send", "filePattern": ["./"], "ignoreFilePattern": [".git", ".vscode", ".idea", ".gradle", "build"]},
    )
    if p.get("env"):
        dev["env"] = p["env"]
    dev["portForward"] = p.get("portForward") or [f"{p.get('port')}:{p.get('port')}"]
    return {
        "name": component,
        "serviceType": p.get("serviceType", "deployment"),
        "containers": [{"name": component, "dev": dev}],
    }
