"""What KubeVela v1.10 renders for the built-ins the stand-in supports, as plain manifests.

No CUE evaluator here: each built-in's template is written out in Python, following its CUE
source in ``kv:vela-templates/definitions/internal/`` (components ``webservice``, ``worker``,
``task``; traits ``scaler``, ``env``, ``labels``, ``annotations``, ``command``,
``container-image``, ``nocalhost``) and the override policy (``kv:pkg/policy/envbinding/
patch.go``). Labels and annotations follow ``kv:pkg/appfile/appfile.go`` and
``kv:pkg/cue/definition/template.go`` (``GetCommonLabels``).

This is the sandbox's own rendering, deliberately independent of veladev's code: the stand-in
is the oracle veladev is tested against, and an oracle that shares the product's code cannot
catch the product's mistakes.
"""

from __future__ import annotations

import copy
import fnmatch
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .definitions import builtin_schema

RENDERED_COMPONENT_TYPES = ("webservice", "worker", "task")
RENDERED_TRAIT_TYPES = ("scaler", "env", "labels", "annotations", "command", "container-image", "nocalhost")

#: The nocalhost trait's language aliases (``nocalhost.cue``: ``language`` and ``#image``).
NOCALHOST_DEV_IMAGES = {
    "go": "nocalhost-docker.pkg.coding.net/nocalhost/dev-images/golang:latest",
    "java": "nocalhost-docker.pkg.coding.net/nocalhost/dev-images/java:latest",
    "python": "nocalhost-docker.pkg.coding.net/nocalhost/dev-images/python:latest",
    "node": "nocalhost-docker.pkg.coding.net/nocalhost/dev-images/node:latest",
    "ruby": "nocalhost-docker.pkg.coding.net/nocalhost/dev-images/ruby:latest",
}

Manifest = dict[str, Any]


class RenderError(Exception):
    """Something KubeVela would also refuse to render, worded like KubeVela's status message."""


def with_defaults(schema: dict[str, Any] | None, value: Any) -> Any:
    """``value`` with the schema's defaults filled in, recursively (CUE's ``*default | T``)."""
    if not isinstance(schema, dict) or not isinstance(value, dict):
        return value
    out = dict(value)
    for name, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, dict):
            continue
        if name not in out and "default" in sub:
            out[name] = copy.deepcopy(sub["default"])
        if isinstance(out.get(name), dict):
            out[name] = with_defaults(sub, out[name])
    return out


def mergo_override(base: Any, patch: Any) -> Any:
    """``mergo.Merge(..., mergo.WithOverride)`` as the override policy and VelaUX's trigger use
    it: objects merge key by key, anything else (lists included) is replaced."""
    if not (isinstance(base, dict) and isinstance(patch, dict)):
        return copy.deepcopy(patch)
    merged = dict(base)
    for key, value in patch.items():
        merged[key] = mergo_override(merged[key], value) if key in merged else copy.deepcopy(value)
    return merged


@dataclass(slots=True)
class RenderContext:
    """The CUE ``context`` of one placement."""

    app: str
    app_namespace: str
    namespace: str  # where this placement deploys (a topology policy's namespace, or the app's)
    cluster: str = "local"  # context.cluster: the placement's cluster (``local`` is the hub)
    app_revision: str = ""  # e.g. frontend-v1
    app_labels: dict[str, str] = field(default_factory=dict)
    app_annotations: dict[str, str] = field(default_factory=dict)


# appfile.go filterAndSetAnnotations, with DefaultFilterAnnots (apis/types/types.go)
_NOT_COPIED_ANNOTATIONS = frozenset({"app.oam.dev/inplace-upgrade", "kubectl.kubernetes.io/last-applied-configuration"})


def _metadata(
    ctx: RenderContext, comp: str, comp_type: str, resource_type: str, trait_labels: dict[str, str] | None = None
) -> Manifest:
    labels = dict(ctx.app_labels)
    labels["app.oam.dev/name"] = ctx.app
    labels["app.oam.dev/namespace"] = ctx.app_namespace
    labels["app.oam.dev/component"] = comp
    labels["app.oam.dev/resourceType"] = resource_type
    if ctx.app_revision:
        labels["app.oam.dev/appRevision"] = ctx.app_revision
    if resource_type == "WORKLOAD":
        labels["workload.oam.dev/type"] = comp_type
    if trait_labels:
        labels.update(trait_labels)
    meta: Manifest = {"name": comp, "namespace": ctx.namespace, "labels": labels}
    copied = {k: v for k, v in ctx.app_annotations.items() if k not in _NOT_COPIED_ANNOTATIONS}
    if copied:
        meta["annotations"] = copied
    return meta


# --- components ------------------------------------------------------------------------------


def _ports(params: dict[str, Any]) -> list[Manifest] | None:
    """webservice.cue: ``ports`` wins over the deprecated single ``port``."""
    if params.get("ports"):
        return [
            {
                "containerPort": p.get("containerPort", p["port"]),
                "protocol": p.get("protocol", "TCP"),
                "name": p.get("name", f"port-{p['port']}"),
            }
            for p in params["ports"]
        ]
    if params.get("port") is not None:
        return [{"containerPort": params["port"]}]
    return None


def _resources(params: dict[str, Any]) -> Manifest:
    """``cpu``/``memory`` set both limit and request; ``limit`` adds limits only."""
    resources: Manifest = {}
    for name in ("cpu", "memory"):
        if params.get(name) is not None:
            resources.setdefault("limits", {})[name] = params[name]
            resources.setdefault("requests", {})[name] = params[name]
    for name, value in (params.get("limit") or {}).items():
        resources.setdefault("limits", {})[name] = value
    return resources


def _main_container(comp: str, params: dict[str, Any], with_ports: bool) -> Manifest:
    container: Manifest = {"name": comp, "image": params["image"]}
    ports = _ports(params) if with_ports else None
    if ports:
        container["ports"] = ports
    for param, key in (
        ("imagePullPolicy", "imagePullPolicy"),
        ("cmd", "command"),
        ("args", "args"),
        ("env", "env"),
        ("livenessProbe", "livenessProbe"),
        ("readinessProbe", "readinessProbe"),
    ):
        if params.get(param):
            container[key] = copy.deepcopy(params[param])
    resources = _resources(params)
    if resources:
        container["resources"] = resources
    return container


def _pod_template(ctx: RenderContext, comp: str, params: dict[str, Any], container: Manifest) -> Manifest:
    labels = {**(params.get("labels") or {}), "app.oam.dev/name": ctx.app, "app.oam.dev/component": comp}
    meta: Manifest = {"labels": labels}
    if params.get("annotations"):
        meta["annotations"] = dict(params["annotations"])
    pod: Manifest = {"containers": [container]}
    if params.get("imagePullSecrets"):
        pod["imagePullSecrets"] = [{"name": s} for s in params["imagePullSecrets"]]
    if params.get("hostAliases"):
        pod["hostAliases"] = copy.deepcopy(params["hostAliases"])
    return {"metadata": meta, "spec": pod}


def _service(
    ctx: RenderContext,
    comp: str,
    comp_type: str,
    ports: list[Manifest],
    service_type: str,
    output: str,
    trait: str = "",
) -> Manifest:
    if trait:
        meta = _metadata(ctx, comp, comp_type, "TRAIT", {"trait.oam.dev/type": trait, "trait.oam.dev/resource": output})
    else:
        meta = _metadata(ctx, comp, comp_type, "WORKLOAD")
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {"selector": {"app.oam.dev/component": comp}, "ports": ports, "type": service_type},
    }


def _deployment(ctx: RenderContext, comp: str, comp_type: str, params: dict[str, Any]) -> list[Manifest]:
    """webservice.cue and worker.cue: a Deployment; webservice adds the ``webserviceExpose``
    Service for ports with ``expose: true``."""
    is_webservice = comp_type == "webservice"
    container = _main_container(comp, params, with_ports=is_webservice)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(ctx, comp, comp_type, "WORKLOAD"),
        "spec": {
            "selector": {"matchLabels": {"app.oam.dev/component": comp}},
            "template": _pod_template(ctx, comp, params, container),
        },
    }
    exposed = [p for p in params.get("ports") or () if p.get("expose")] if is_webservice else []
    if not exposed:
        return [deployment]
    ports = [{"port": p["port"], "targetPort": p["port"], "name": p.get("name", f"port-{p['port']}")} for p in exposed]
    return [
        deployment,
        _service(ctx, comp, comp_type, ports, params.get("exposeType", "ClusterIP"), "webserviceExpose"),
    ]


def _job(ctx: RenderContext, comp: str, comp_type: str, params: dict[str, Any]) -> list[Manifest]:
    """task.cue: a Job named ``<app>-<component>`` in 1.10."""
    template = _pod_template(ctx, comp, params, _main_container(comp, params, with_ports=False))
    template["spec"]["restartPolicy"] = params.get("restart", "Never")
    meta = _metadata(ctx, comp, comp_type, "WORKLOAD")
    meta["name"] = f"{ctx.app}-{comp}"
    count = params.get("count", 1)
    return [
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": meta,
            "spec": {"parallelism": count, "completions": count, "template": template},
        }
    ]


_COMPONENTS: dict[str, Callable[[RenderContext, str, str, dict[str, Any]], list[Manifest]]] = {
    "webservice": _deployment,
    "worker": _deployment,
    "task": _job,
}


def render_component(ctx: RenderContext, component: dict[str, Any]) -> list[Manifest]:
    """The workload first, then the objects its traits and ports add."""
    name, comp_type = component["name"], component["type"]
    build = _COMPONENTS.get(comp_type)
    if build is None:
        raise RenderError(f'render component "{name}": ComponentDefinition "{comp_type}" not found')
    params = with_defaults(builtin_schema("component", comp_type), component.get("properties") or {})
    if not params.get("image"):
        raise RenderError(f'render component "{name}": parameter.image: incomplete value string')
    workload, *outputs = build(ctx, name, comp_type, params)
    for trait in component.get("traits") or ():
        outputs.extend(apply_trait(ctx, workload, name, comp_type, trait))
    return [workload, *outputs]


# --- traits ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _TraitCall:
    ctx: RenderContext
    workload: Manifest
    comp: str
    comp_type: str
    raw: dict[str, Any]  # the properties as written
    params: dict[str, Any]  # with the definition's defaults

    def container(self, name: str) -> Manifest:
        target = name or self.comp
        for c in self.workload["spec"]["template"]["spec"]["containers"]:
            if c["name"] == target:
                return c
        raise RenderError(f'container "{target}" not found')

    def per_container(self) -> list[tuple[Manifest, dict[str, Any]]]:
        """Traits that take either one container's fields or a ``containers`` list."""
        entries = self.params["containers"] if isinstance(self.params.get("containers"), list) else [self.params]
        return [(self.container(e.get("containerName", "")), e) for e in entries]


def _scaler(t: _TraitCall) -> list[Manifest]:
    t.workload["spec"]["replicas"] = t.params.get("replicas", 1)
    return []


def _metadata_patch(key: str) -> Callable[[_TraitCall], list[Manifest]]:
    """labels.cue / annotations.cue: a JSON merge patch on the workload and its pod template
    (a null value deletes)."""

    def patch(t: _TraitCall) -> list[Manifest]:
        for meta in (t.workload["metadata"], t.workload["spec"].get("template", {}).get("metadata")):
            if meta is None:
                continue
            current = meta.setdefault(key, {})
            for k, v in t.raw.items():
                if v is None:
                    current.pop(k, None)
                else:
                    current[k] = v
        return []

    return patch


def _env(t: _TraitCall) -> list[Manifest]:
    for container, entry in t.per_container():
        unset = set(entry.get("unset") or ())
        env = [] if entry.get("replace") else [e for e in container.get("env") or [] if e.get("name") not in unset]
        index = {e.get("name"): i for i, e in enumerate(env)}
        for name, value in (entry.get("env") or {}).items():
            if name in index:
                env[index[name]] = {"name": name, "value": value}
            else:
                index[name] = len(env)
                env.append({"name": name, "value": value})
        container["env"] = env
    return []


def _command(t: _TraitCall) -> list[Manifest]:
    for container, entry in t.per_container():
        if entry.get("command") is not None:
            container["command"] = list(entry["command"])
        if entry.get("args") is not None:
            container["args"] = list(entry["args"])
            continue
        removed = set(entry.get("delArgs") or ())
        args = [a for a in container.get("args") or [] if a not in removed] + list(entry.get("addArgs") or ())
        if args or "args" in container:
            container["args"] = args
    return []


def _container_image(t: _TraitCall) -> list[Manifest]:
    for container, entry in t.per_container():
        container["image"] = entry["image"]
        if entry.get("imagePullPolicy"):
            container["imagePullPolicy"] = entry["imagePullPolicy"]
    return []


def nocalhost_dev_config(comp: str, params: dict[str, Any]) -> dict[str, Any]:
    """The ``dev.nocalhost`` annotation's value (nocalhost.cue ``patch``), before json.Marshal.

    ``params`` already carry the trait's defaults. Keys are in the template's order, so
    ``json.dumps`` gives the text KubeVela writes; optional fields appear only when set.
    """

    def optional(*names: str) -> dict[str, Any]:
        return {n: params[n] for n in names if params.get(n)}

    image = params.get("image", "")
    dev = {
        **optional("gitUrl"),
        "image": NOCALHOST_DEV_IMAGES.get(image, image),
        "shell": params.get("shell"),
        "workDir": params.get("workDir"),
        **optional("storageClass"),
        "resources": params.get("resources"),
        **optional("persistentVolumeDirs"),
        "command": params.get("command"),
        **optional("debug"),
        "hotReload": params.get("hotReload"),
        "sync": params.get("sync"),
        **optional("env"),
        "portForward": params.get("portForward") or [f"{params.get('port')}:{params.get('port')}"],
    }
    return {"name": comp, "serviceType": params.get("serviceType"), "containers": [{"name": comp, "dev": dev}]}


def _nocalhost(t: _TraitCall) -> list[Manifest]:
    """nocalhost.cue: annotations on the workload, and the ``nocalhostService`` output."""
    annotations = t.workload["metadata"].setdefault("annotations", {})
    annotations["dev.nocalhost/application-name"] = t.ctx.app
    annotations["dev.nocalhost/application-namespace"] = t.ctx.namespace
    annotations["dev.nocalhost"] = json.dumps(nocalhost_dev_config(t.comp, t.params), separators=(",", ":"))
    port = t.params["port"]
    return [
        _service(
            t.ctx,
            t.comp,
            t.comp_type,
            [{"port": port, "targetPort": port}],
            "ClusterIP",
            "nocalhostService",
            trait="nocalhost",
        )
    ]


_TRAITS: dict[str, Callable[[_TraitCall], list[Manifest]]] = {
    "scaler": _scaler,
    "labels": _metadata_patch("labels"),
    "annotations": _metadata_patch("annotations"),
    "env": _env,
    "command": _command,
    "container-image": _container_image,
    "nocalhost": _nocalhost,
}


def apply_trait(
    ctx: RenderContext, workload: Manifest, comp: str, comp_type: str, trait: dict[str, Any]
) -> list[Manifest]:
    """Patch the workload in place as the trait does; return the objects the trait outputs."""
    trait_type = trait.get("type")
    patch = _TRAITS.get(trait_type or "")
    if patch is None:
        raise RenderError(
            f'render trait "{trait_type}" of component "{comp}": TraitDefinition "{trait_type}" not found'
        )
    raw = trait.get("properties") or {}
    params = with_defaults(builtin_schema("trait", trait_type or ""), raw)
    return patch(_TraitCall(ctx, workload, comp, comp_type, raw, params))


# --- policies --------------------------------------------------------------------------------


def _patch_traits(traits: list[dict[str, Any]], patches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = list(traits)
    for tp in patches:
        at = next((i for i, t in enumerate(out) if t.get("type") == tp.get("type")), None)
        if tp.get("disable"):
            if at is not None:
                out.pop(at)
        elif at is None:
            out.append({"type": tp["type"], "properties": copy.deepcopy(tp.get("properties") or {})})
        else:
            out[at] = {
                **out[at],
                "properties": mergo_override(out[at].get("properties") or {}, tp.get("properties") or {}),
            }
    return out


def _replacement(name: str, patch: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "type": patch["type"],
        "properties": copy.deepcopy(patch.get("properties") or {}),
        "traits": copy.deepcopy(patch.get("traits") or []),
    }


def apply_override(components: list[dict[str, Any]], override: dict[str, Any]) -> list[dict[str, Any]]:
    """The override policy (``kv:pkg/policy/envbinding/patch.go``): deep-merge properties,
    replace a component whose type differs, add an unknown name, disable traits, then keep
    only the components ``selector`` names."""
    out = [copy.deepcopy(c) for c in components]
    for patch in override.get("components") or ():
        name, ptype = patch.get("name", ""), patch.get("type", "")
        matched = False
        for i, comp in enumerate(out):
            if (name and not fnmatch.fnmatchcase(comp["name"], name)) or (
                not name and ptype and comp.get("type") != ptype
            ):
                continue
            matched = True
            if ptype and ptype != comp.get("type"):
                out[i] = _replacement(comp["name"], patch)
                continue
            if patch.get("properties"):
                comp["properties"] = mergo_override(comp.get("properties") or {}, patch["properties"])
            comp["traits"] = _patch_traits(list(comp.get("traits") or []), list(patch.get("traits") or ()))
        if not matched and name and "*" not in name and ptype:
            out.append(_replacement(name, patch))
    selector = override.get("selector")
    return out if selector is None else [c for c in out if c["name"] in selector]
