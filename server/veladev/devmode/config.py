"""The dev config of a component and where its workload lives.

Sources, first found wins (as issue 8 item 1 orders them; Nocalhost's own `ReloadSvcCfg`
puts the local file first, but here the Application file is what the user edits):

1. the `nocalhost` trait of the component in the Application file, rendered by
   `veladev.appmodel.render.nocalhost_dev_config` (trait defaults applied, image aliases resolved);
2. the live workload's `dev.nocalhost` annotation (what the trait rendered in the cluster);
3. `.nocalhost/config.yaml` in the local folder (Nocalhost's service config, or an
   application config whose `services` list names the component).

The shape is Nocalhost's service config: `{name, serviceType, containers: [{name, dev: {...}}]}`
(nocalhost `internal/nhctl/profile/svc_config.go`, `ContainerDevConfig`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..cluster.clusters import LOCAL, Placement
from .errors import DevModeError, PlacementChoice

TRAIT = "nocalhost"
NAME_LABEL = "app.oam.dev/name"
COMPONENT_LABEL = "app.oam.dev/component"
APP_NAMESPACE_LABEL = "app.oam.dev/namespace"
LOCAL_CONFIG = Path(".nocalhost") / "config.yaml"
#: Bounded reads: a config file is a few KB.
MAX_CONFIG_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class DevConfig:
    component: str
    service_type: str  # deployment | statefulset
    container: str  # the workload's container to swap ("" = the only one)
    image: str
    work_dir: str = "/home/nocalhost-dev"
    shell: str = ""
    run: tuple[str, ...] = ()
    debug: tuple[str, ...] = ()
    debug_port: int | None = None
    debug_language: str = ""
    hot_reload: bool = False
    sync_type: str = "send"  # send | sendReceive
    file_patterns: tuple[str, ...] = ("./",)
    ignore_patterns: tuple[str, ...] = ()
    port_forwards: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    resources: dict[str, Any] = field(default_factory=dict)
    persistent_volume_dirs: tuple[tuple[str, str], ...] = ()  # (path, capacity)
    storage_class: str = ""
    source: str = ""  # where it came from, for messages


@dataclass(frozen=True, slots=True)
class AppTarget:
    """What the Application file says about the component: where it deploys, its trait."""

    app: str
    app_namespace: str
    component: str
    namespace: str  # the first deploy target's namespace
    trait_config: dict[str, Any] | None  # the rendered service config, None without the trait
    cluster: str = LOCAL  # where the workload runs ("local": the hub)


def load_application(path: Path, text: str | None = None) -> dict[str, Any]:
    """The Application in the file (or in `text`, the editor's unsaved copy of it)."""
    if text is not None:
        data = text.encode()
    else:
        try:
            with path.open("rb") as f:
                data = f.read(MAX_CONFIG_BYTES + 1)
        except OSError as exc:
            raise DevModeError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise DevModeError(f"{path} is larger than 1 MB; is it an Application file?")
    try:
        docs = [d for d in yaml.load_all(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) if d]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise DevModeError(f"{path} is not valid YAML{where}; fix it first") from None
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "Application":
            return doc
    raise DevModeError(f"{path} has no KubeVela Application (kind: Application)")


def _components(app: dict[str, Any]) -> list[dict[str, Any]]:
    comps = (app.get("spec") or {}).get("components") or []
    return [c for c in comps if isinstance(c, dict)]


def _trait(comp: dict[str, Any]) -> dict[str, Any] | None:
    for t in comp.get("traits") or []:
        if isinstance(t, dict) and t.get("type") == TRAIT:
            return t.get("properties") or {}
    return None


def choose_component(app: dict[str, Any], component: str | None, path: Path) -> dict[str, Any]:
    comps = _components(app)
    if component:
        for c in comps:
            if c.get("name") == component:
                return c
        names = ", ".join(str(c.get("name")) for c in comps) or "none"
        raise DevModeError(f"{path} has no component {component!r} (components: {names})")
    with_trait = [c for c in comps if _trait(c) is not None]
    if len(with_trait) == 1:
        return with_trait[0]
    if not with_trait:
        if len(comps) == 1:
            return comps[0]
        raise DevModeError(f"no component of {path} has the nocalhost trait; name the component to develop")
    names = ", ".join(str(c.get("name")) for c in with_trait)
    raise DevModeError(f"several components of {path} have the nocalhost trait ({names}); name one")


def first_deploy_namespace(app: dict[str, Any]) -> str:
    """The namespace of the first deploy target: the topology policy of the first deploy
    step (or, without a workflow, the first topology policy), else the app's namespace."""
    spec = app.get("spec") or {}
    app_ns = (app.get("metadata") or {}).get("namespace") or "default"
    policies = {p.get("name"): p for p in spec.get("policies") or [] if isinstance(p, dict)}
    topologies = [p for p in policies.values() if p.get("type") == "topology"]
    names: list[str] | None = None
    for step in _walk_steps((spec.get("workflow") or {}).get("steps") or []):
        if step.get("type") == "deploy":
            names = list((step.get("properties") or {}).get("policies") or [])
            break
    chosen = [policies[n] for n in names or () if n in policies and policies[n].get("type") == "topology"]
    if names is None:
        chosen = topologies
    for p in chosen:
        ns = (p.get("properties") or {}).get("namespace")
        if ns:
            return str(ns)
    return str(app_ns)


def _walk_steps(steps: list[Any]):
    for s in steps:
        if not isinstance(s, dict):
            continue
        yield s
        yield from _walk_steps(s.get("subSteps") or [])


def app_target(path: Path, component: str | None, namespace: str | None = None, text: str | None = None) -> AppTarget:
    from ..appmodel.render import nocalhost_dev_config
    from ..catalog import bundled_catalog

    app = load_application(path, text)
    comp = choose_component(app, component, path)
    name = str(comp.get("name") or "")
    md = app.get("metadata") or {}
    props = _trait(comp)
    rendered = nocalhost_dev_config(name, props, bundled_catalog()) if props is not None else None
    return AppTarget(
        app=str(md.get("name") or ""),
        app_namespace=str(md.get("namespace") or "default"),
        component=name,
        namespace=namespace or first_deploy_namespace(app),
        trait_config=rendered,
    )


def local_config(local_dir: Path, component: str) -> dict[str, Any] | None:
    """The service entry for `component` in `<local_dir>/.nocalhost/config.yaml`, if any."""
    path = local_dir / LOCAL_CONFIG
    if not path.is_file():
        return None
    try:
        data = path.read_bytes()[:MAX_CONFIG_BYTES]
        doc = yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError):
        raise DevModeError(f"{path} is not readable YAML; fix it or remove it") from None
    if not isinstance(doc, dict):
        raise DevModeError(f"{path} is not a Nocalhost config (expected a mapping)")
    services = ((doc.get("application") or {}).get("services")) if "application" in doc else None
    entries = services if isinstance(services, list) else [doc]
    for entry in entries:
        if isinstance(entry, dict) and entry.get("name") in (component, "", None) and entry.get("containers"):
            return entry
    return None


def annotation_config(workload: dict[str, Any]) -> dict[str, Any] | None:
    from ..appmodel.render import DEV_CONFIG_ANNOTATION

    text = ((workload.get("metadata") or {}).get("annotations") or {}).get(DEV_CONFIG_ANNOTATION)
    if not text:
        return None
    try:
        doc = yaml.load(text[:MAX_CONFIG_BYTES], Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return None
    return doc if isinstance(doc, dict) else None


def _str_list(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return tuple(str(v) for v in value)
    raise DevModeError(f"dev config: {what} must be a list of strings")


def parse_service_config(cfg: dict[str, Any], component: str, source: str) -> DevConfig:
    """A `DevConfig` from a Nocalhost service config (the first container's `dev` block)."""
    service_type = str(cfg.get("serviceType") or "deployment").lower()
    from ..cluster.workloads import KINDS

    if service_type not in KINDS:
        raise DevModeError(
            f"dev config ({source}): serviceType {service_type!r} is not supported; use {' or '.join(KINDS)}"
        )
    containers = [c for c in cfg.get("containers") or [] if isinstance(c, dict)]
    if not containers or not isinstance(containers[0].get("dev"), dict):
        raise DevModeError(f"dev config ({source}) has no containers[].dev block")
    c = containers[0]
    dev = c["dev"]
    image = str(dev.get("image") or "")
    if not image:
        raise DevModeError(f"dev config ({source}) has no dev image; set `image` (e.g. node, python, go)")
    command = dev.get("command") or {}
    debug = dev.get("debug") or {}
    sync = dev.get("sync") or {}
    sync_type = str(sync.get("type") or "send")
    if sync_type not in ("send", "sendReceive", "sendonly"):
        raise DevModeError(f"dev config ({source}): sync.type must be send or sendReceive, not {sync_type!r}")
    env = []
    for e in dev.get("env") or []:
        if isinstance(e, dict) and e.get("name"):
            env.append((str(e["name"]), str(e.get("value", ""))))
    pv_dirs = []
    for d in dev.get("persistentVolumeDirs") or []:
        if isinstance(d, dict) and d.get("path"):
            pv_dirs.append((str(d["path"]), str(d.get("capacity") or "10Gi")))
    port = debug.get("remoteDebugPort") if isinstance(debug, dict) else None
    return DevConfig(
        component=component,
        service_type=service_type,
        container=str(c.get("name") or ""),
        image=image,
        work_dir=str(dev.get("workDir") or "/home/nocalhost-dev"),
        shell=str(dev.get("shell") or ""),
        run=_str_list(command.get("run"), "command.run"),
        debug=_str_list(command.get("debug"), "command.debug"),
        debug_port=int(port) if isinstance(port, (int, str)) and str(port).isdigit() else None,
        debug_language=str(debug.get("language") or "") if isinstance(debug, dict) else "",
        hot_reload=bool(dev.get("hotReload", False)),
        sync_type="sendReceive" if sync_type == "sendReceive" else "send",
        file_patterns=_str_list(sync.get("filePattern"), "sync.filePattern") or ("./",),
        ignore_patterns=_str_list(sync.get("ignoreFilePattern"), "sync.ignoreFilePattern"),
        port_forwards=_str_list(dev.get("portForward"), "portForward"),
        env=tuple(env),
        resources=dict(dev.get("resources") or {}),
        persistent_volume_dirs=tuple(pv_dirs),
        storage_class=str(dev.get("storageClass") or ""),
        source=source,
    )


def resolve_dev_config(
    target: AppTarget, workload: dict[str, Any] | None, local_dir: Path, app_file: Path
) -> DevConfig:
    """The dev config by the order in the module docstring."""
    if target.trait_config is not None:
        return parse_service_config(target.trait_config, target.component, f"nocalhost trait in {app_file.name}")
    if workload is not None:
        cfg = annotation_config(workload)
        if cfg is not None:
            return parse_service_config(cfg, target.component, "the workload's dev.nocalhost annotation")
    cfg = local_config(local_dir, target.component)
    if cfg is not None:
        return parse_service_config(cfg, target.component, str(local_dir / LOCAL_CONFIG))
    raise DevModeError(
        f"component {target.component} has no dev config: add the nocalhost trait to it in "
        f"{app_file.name}, or write {local_dir / LOCAL_CONFIG}"
    )


def _listed(placements: Sequence[Placement]) -> str:
    return ", ".join(str(p) for p in placements)


def _in_namespace(placements: Sequence[Placement], namespace: str | None) -> list[Placement]:
    return [p for p in placements if not namespace or p.namespace == namespace]


def _preferred(placements: Sequence[Placement], namespace: str) -> Placement:
    return next((p for p in placements if p.namespace == namespace), placements[0])


def choose_placement(
    component: str,
    placements: Sequence[Placement],
    recorded: Sequence[Placement],
    cluster: str | None,
    namespace: str | None,
    default_namespace: str,
) -> Placement:
    """The placement to develop in. `placements`: where the component runs (the hub
    Application's status, empty when unknown); `recorded`: those of it in dev mode now (the
    hub's record); `cluster`/`namespace`: what the user named; `default_namespace`: the first
    deploy target's. Without a named cluster, the one placement in dev mode wins (so `end`
    from a new process finds it); placements in one cluster leave only the namespace to
    choose, as with one cluster; several clusters are the user's choice (`PlacementChoice`)."""
    wanted = namespace or default_namespace
    if cluster:
        mine = _in_namespace([p for p in placements if p.cluster == cluster], namespace)
        if mine:
            return _preferred(mine, wanted)
        if not placements:
            return Placement(cluster, wanted)
        where = f"cluster {cluster}" + (f" namespace {namespace}" if namespace else "")
        raise PlacementChoice(f"component {component} does not run in {where}; it runs in {_listed(placements)}")
    in_dev = _in_namespace(recorded, namespace)
    if len(in_dev) == 1:
        return in_dev[0]
    candidates = _in_namespace(placements, namespace) or list(placements)
    clusters = {p.cluster for p in candidates}
    if len(clusters) > 1:
        raise PlacementChoice(
            f"component {component} runs in several clusters ({_listed(candidates)}); "
            "choose one with --cluster (and --namespace)"
        )
    if not candidates:
        return Placement(LOCAL, wanted)
    if namespace and all(p.namespace != namespace for p in candidates):
        return Placement(candidates[0].cluster, namespace)
    return _preferred(candidates, wanted)
