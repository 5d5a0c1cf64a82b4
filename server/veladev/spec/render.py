"""What KubeVela renders for the common built-ins, as plain Kubernetes manifests. Pure.

Used by the dev-mode engine (the nocalhost dev config with the trait's defaults applied) and
by the sandbox's KubeVela stand-in, so both agree with each other and with KubeVela v1.10:
webservice, worker and task components; scaler, env, labels, annotations, command,
container-image and nocalhost traits; override policies. Sources: ../shared/reference/
kubevela.md sections 2.2 and 7.3, nocalhost.md section 1.4.
"""

from __future__ import annotations

import copy
import fnmatch
import json
from dataclasses import dataclass, field
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
RENDERED_COMPONENT_TYPES = ("webservice", "worker", "task")
RENDERED_TRAIT_TYPES = ("scaler", "env", "labels", "annotations", "command", "container-image", "nocalhost")


class RenderError(Exception):
    """Something KubeVela would also refuse to render, worded like KubeVela's status message."""


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


def deep_merge(base: Any, patch: Any) -> Any:
    """mergo with override, as KubeVela's override policy and VelaUX's trigger merge: objects
    merge key by key, anything else (lists included) is replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            out[k] = deep_merge(out.get(k), v) if k in out else copy.deepcopy(v)
        return out
    return copy.deepcopy(patch)


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
    dev["resources"] = p.get("resources", {"limits": {"memory": "2Gi", "cpu": "2"},
                                           "requests": {"memory": "512Mi", "cpu": "0.5"}})
    if p.get("persistentVolumeDirs"):
        dev["persistentVolumeDirs"] = p["persistentVolumeDirs"]
    dev["command"] = p.get("command", {"run": ["sh", "run.sh"], "debug": ["sh", "debug.sh"]})
    if p.get("debug"):
        dev["debug"] = p["debug"]
    dev["hotReload"] = p.get("hotReload", True)
    dev["sync"] = p.get("sync", {"type": "send", "filePattern": ["./"],
                                 "ignoreFilePattern": [".git", ".vscode", ".idea", ".gradle", "build"]})
    if p.get("env"):
        dev["env"] = p["env"]
    dev["portForward"] = p.get("portForward") or [f"{p.get('port')}:{p.get('port')}"]
    return {"name": component, "serviceType": p.get("serviceType", "deployment"),
            "containers": [{"name": component, "dev": dev}]}


# --- components and traits -------------------------------------------------------------------


@dataclass(slots=True)
class RenderContext:
    app: str
    app_namespace: str
    namespace: str  # where this placement deploys (a topology policy's namespace, or the app's)
    app_revision: str = ""  # e.g. frontend-v1
    app_labels: dict[str, str] = field(default_factory=dict)
    app_annotations: dict[str, str] = field(default_factory=dict)


_FILTERED_ANNOTATIONS = ("app.oam.dev/inplace-upgrade", "kubectl.kubernetes.io/last-applied-configuration")


def _common_metadata(ctx: RenderContext, name: str, comp: str, comp_type: str, resource_type: str,
                     extra_labels: dict[str, str] | None = None) -> dict[str, Any]:
    labels = {k: v for k, v in ctx.app_labels.items()}
    labels.update({
        "app.oam.dev/name": ctx.app,
        "app.oam.dev/namespace": ctx.app_namespace,
        "app.oam.dev/component": comp,
        "app.oam.dev/resourceType": resource_type,
    })
    if ctx.app_revision:
        labels["app.oam.dev/appRevision"] = ctx.app_revision
    if resource_type == "WORKLOAD":
        labels["workload.oam.dev/type"] = comp_type
    labels.update(extra_labels or {})
    meta: dict[str, Any] = {"name": name, "namespace": ctx.namespace, "labels": labels}
    annotations = {k: v for k, v in ctx.app_annotations.items() if k not in _FILTERED_ANNOTATIONS}
    if annotations:
        meta["annotations"] = annotations
    return meta


def _container(comp: str, p: dict[str, Any], with_ports: bool) -> dict[str, Any]:
    c: dict[str, Any] = {"name": comp, "image": p["image"]}
    if with_ports:
        if p.get("ports"):
            c["ports"] = [{"containerPort": x.get("containerPort", x["port"]), "protocol": x.get("protocol", "TCP"),
                           "name": x.get("name", f"port-{x['port']}")} for x in p["ports"]]
        elif p.get("port") is not None:
            c["ports"] = [{"containerPort": p["port"]}]
    if p.get("imagePullPolicy"):
        c["imagePullPolicy"] = p["imagePullPolicy"]
    if p.get("cmd"):
        c["command"] = list(p["cmd"])
    if p.get("args"):
        c["args"] = list(p["args"])
    if p.get("env"):
        c["env"] = copy.deepcopy(p["env"])
    resources: dict[str, Any] = {}
    for res in ("cpu", "memory"):
        if p.get(res) is not None:
            resources.setdefault("limits", {})[res] = p[res]
            resources.setdefault("requests", {})[res] = p[res]
    for res, v in (p.get("limit") or {}).items():
        resources.setdefault("limits", {})[res] = v
    if resources:
        c["resources"] = resources
    for probe in ("livenessProbe", "readinessProbe"):
        if p.get(probe):
            c[probe] = copy.deepcopy(p[probe])
    return c


def _pod_template(ctx: RenderContext, comp: str, p: dict[str, Any], container: dict[str, Any]) -> dict[str, Any]:
    labels = dict(p.get("labels") or {})
    labels.update({"app.oam.dev/name": ctx.app, "app.oam.dev/component": comp})
    meta: dict[str, Any] = {"labels": labels}
    if p.get("annotations"):
        meta["annotations"] = dict(p["annotations"])
    spec: dict[str, Any] = {"containers": [container]}
    if p.get("imagePullSecrets"):
        spec["imagePullSecrets"] = [{"name": s} for s in p["imagePullSecrets"]]
    if p.get("hostAliases"):
        spec["hostAliases"] = copy.deepcopy(p["hostAliases"])
    return {"metadata": meta, "spec": spec}


def render_component(ctx: RenderContext, component: dict[str, Any], catalog: Catalog) -> list[dict[str, Any]]:
    """The workload first, then the objects its traits and ports add."""
    name, ctype = component["name"], component["type"]
    d = catalog.get("component", ctype)
    if ctype not in RENDERED_COMPONENT_TYPES or d is None:
        raise RenderError(f'render component "{name}": ComponentDefinition "{ctype}" not found')
    p = apply_defaults(d.schema, component.get("properties") or {})
    if not p.get("image"):
        raise RenderError(f'render component "{name}": parameter.image: incomplete value string')
    meta = _common_metadata(ctx, name, name, ctype, "WORKLOAD")
    outputs: list[dict[str, Any]] = []
    if ctype in ("webservice", "worker"):
        container = _container(name, p, with_ports=ctype == "webservice")
        workload = {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"selector": {"matchLabels": {"app.oam.dev/component": name}},
                     "template": _pod_template(ctx, name, p, container)},
        }
        exposed = [x for x in p.get("ports") or () if x.get("expose")] if ctype == "webservice" else []
        if exposed:
            outputs.append(_service(ctx, name, ctype, "webserviceExpose",
                                    [{"port": x["port"], "targetPort": x["port"], "name": x.get("name", f"port-{x['port']}")}
                                     for x in exposed], p.get("exposeType", "ClusterIP"), resource_type="WORKLOAD"))
    else:  # task
        container = _container(name, p, with_ports=False)
        template = _pod_template(ctx, name, p, container)
        template["spec"]["restartPolicy"] = p.get("restart", "Never")
        count = p.get("count", 1)
        meta["name"] = f"{ctx.app}-{name}"  # KubeVela 1.10 names the Job <app>-<component>
        workload = {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta,
                    "spec": {"parallelism": count, "completions": count, "template": template}}
    for trait in component.get("traits") or ():
        outputs.extend(apply_trait(ctx, workload, name, ctype, trait, catalog))
    return [workload, *outputs]


def _service(ctx: RenderContext, comp: str, ctype: str, output: str, ports: list[dict[str, Any]], svc_type: str,
             resource_type: str = "TRAIT", trait: str = "") -> dict[str, Any]:
    extra = {"trait.oam.dev/type": trait, "trait.oam.dev/resource": output} if trait else {}
    meta = _common_metadata(ctx, comp, comp, ctype, resource_type, extra)
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta,
            "spec": {"selector": {"app.oam.dev/component": comp}, "ports": ports, "type": svc_type}}


def _containers_for(workload: dict[str, Any], name: str, comp: str) -> dict[str, Any]:
    target = name or comp
    for c in workload["spec"]["template"]["spec"]["containers"]:
        if c["name"] == target:
            return c
    raise RenderError(f'container "{target}" not found')


def _per_container(props: dict[str, Any]) -> list[dict[str, Any]]:
    return props["containers"] if isinstance(props.get("containers"), list) else [props]


def apply_trait(ctx: RenderContext, workload: dict[str, Any], comp: str, ctype: str, trait: dict[str, Any],
                catalog: Catalog) -> list[dict[str, Any]]:
    """Patch the workload in place as the trait does; return the objects the trait outputs."""
    ttype = trait.get("type")
    d = catalog.get("trait", ttype)
    if ttype not in RENDERED_TRAIT_TYPES or d is None:
        raise RenderError(f'render trait "{ttype}" of component "{comp}": TraitDefinition "{ttype}" not found')
    raw = trait.get("properties") or {}
    p = apply_defaults(d.schema, raw)
    spec = workload["spec"]
    if ttype == "scaler":
        spec["replicas"] = p.get("replicas", 1)
    elif ttype in ("labels", "annotations"):
        key = ttype
        for meta in (workload["metadata"], spec.get("template", {}).get("metadata")):
            if meta is None:
                continue
            current = meta.setdefault(key, {})
            for k, v in raw.items():  # null deletes (jsonMergePatch)
                if v is None:
                    current.pop(k, None)
                else:
                    current[k] = v
    elif ttype == "env":
        for entry in _per_container(p):
            c = _containers_for(workload, entry.get("containerName", ""), comp)
            env = [] if entry.get("replace") else list(c.get("env") or [])
            unset = set(entry.get("unset") or ())
            env = [e for e in env if e.get("name") not in unset]
            for k, v in (entry.get("env") or {}).items():
                for e in env:
                    if e.get("name") == k:
                        e.clear()
                        e.update({"name": k, "value": v})
                        break
                else:
                    env.append({"name": k, "value": v})
            c["env"] = env
    elif ttype == "command":
        for entry in _per_container(p):
            c = _containers_for(workload, entry.get("containerName", ""), comp)
            if entry.get("command") is not None:
                c["command"] = list(entry["command"])
            if entry.get("args") is not None:
                c["args"] = list(entry["args"])
            else:
                args = [a for a in c.get("args") or [] if a not in set(entry.get("delArgs") or ())]
                args += list(entry.get("addArgs") or ())
                if args or "args" in c:
                    c["args"] = args
    elif ttype == "container-image":
        for entry in _per_container(p):
            c = _containers_for(workload, entry.get("containerName", ""), comp)
            c["image"] = entry["image"]
            if entry.get("imagePullPolicy"):
                c["imagePullPolicy"] = entry["imagePullPolicy"]
    elif ttype == "nocalhost":
        ann = workload["metadata"].setdefault("annotations", {})
        ann["dev.nocalhost/application-name"] = ctx.app
        ann["dev.nocalhost/application-namespace"] = ctx.namespace
        ann[DEV_CONFIG_ANNOTATION] = json.dumps(nocalhost_dev_config(comp, raw, catalog), separators=(",", ":"))
        port = p["port"]
        return [_service(ctx, comp, ctype, "nocalhostService", [{"port": port, "targetPort": port}], "ClusterIP",
                         trait="nocalhost")]
    return []


# --- policies --------------------------------------------------------------------------------


def apply_override(components: list[dict[str, Any]], override: dict[str, Any]) -> list[dict[str, Any]]:
    """KubeVela's override policy (kv:pkg/policy/envbinding/patch.go): deep-merge properties,
    replace a component whose type differs, add an unknown name, disable traits, then filter
    by `selector`."""
    out = [copy.deepcopy(c) for c in components]
    for patch in override.get("components") or ():
        pname, ptype = patch.get("name", ""), patch.get("type", "")
        matched = False
        for i, comp in enumerate(out):
            if pname and not fnmatch.fnmatchcase(comp["name"], pname):
                continue
            if not pname and ptype and comp.get("type") != ptype:
                continue
            matched = True
            if ptype and ptype != comp.get("type"):
                out[i] = {"name": comp["name"], "type": ptype, "properties": copy.deepcopy(patch.get("properties") or {}),
                          "traits": copy.deepcopy(patch.get("traits") or [])}
                continue
            if patch.get("properties"):
                comp["properties"] = deep_merge(comp.get("properties") or {}, patch["properties"])
            traits = list(comp.get("traits") or [])
            for tp in patch.get("traits") or ():
                idx = next((j for j, t in enumerate(traits) if t.get("type") == tp.get("type")), None)
                if tp.get("disable"):
                    if idx is not None:
                        traits.pop(idx)
                elif idx is None:
                    traits.append({"type": tp["type"], "properties": copy.deepcopy(tp.get("properties") or {})})
                else:
                    traits[idx] = {**traits[idx], "properties": deep_merge(traits[idx].get("properties") or {},
                                                                            tp.get("properties") or {})}
            comp["traits"] = traits
        if not matched and pname and "*" not in pname and ptype:
            out.append({"name": pname, "type": ptype, "properties": copy.deepcopy(patch.get("properties") or {}),
                        "traits": copy.deepcopy(patch.get("traits") or [])})
    selector = override.get("selector")
    if selector is not None:
        out = [c for c in out if c["name"] in selector]
    return out
