"""Rules beyond the schemas: names, references, cycles, durations and the nocalhost trait.

Every rule has a stable code and reports on the exact key or value at fault.
"""

from __future__ import annotations

import re
from typing import Any

from .definitions import GO_DURATION, WORKLOAD_SERVICE_TYPE, Catalog, Definition
from .findings import Severity
from .model import AppModel, Item
from .report import Reporter, did_you_mean
from .schema_keywords import brief
from .topology import check_topology

NOCALHOST_ALIASES = ("go", "java", "python", "node", "ruby")
NOCALHOST_SYNC_TYPES = ("send", "sendReceive")
# KubeVela's deploy step reads these (its own e2e tests pass replication policies to deploy).
DEPLOYABLE_POLICY_TYPES = ("topology", "override", "replication")

# The image reference grammar of github.com/distribution/reference.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?"
IMAGE_REFERENCE = re.compile(
    rf"^(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{{32,}})?$"
)
PORT_FORWARD = re.compile(r"^(\d+):(\d+)$")

# Schema errors at these property paths are left to the rules below, which say more.
_OWNED: dict[tuple[str, str], set[tuple[str, ...]]] = {
    ("trait", "nocalhost"): {("image",), ("sync", "type"), ("debug", "remoteDebugPort"), ("serviceType",)},
    ("workflowstep", "suspend"): {("duration",)},
}


def owns(d: Definition, rel: tuple) -> bool:
    owned = _OWNED.get((d.kind, d.name))
    if not owned:
        return False
    if d.name == "nocalhost" and rel[:1] == ("portForward",) and len(rel) == 2:
        return True
    return rel in owned


def check(rep: Reporter, model: AppModel, catalog: Catalog) -> None:
    _duplicate_names(rep, model.components, "component")
    _duplicate_names(rep, model.policies, "policy")
    _duplicate_names(rep, model.all_steps(), "workflow step")
    _workflow_shape(rep, model)
    _deploy_policies(rep, model, catalog)
    if catalog.clusters is not None:
        check_topology(rep, model, catalog.clusters)
    _dependencies(rep, model.components, "component")
    _dependencies(rep, model.all_steps(), "workflow step")
    for step in model.all_steps():
        if step.type == "suspend":
            _suspend_duration(rep, step)
    for trait in model.traits():
        if trait.type == "nocalhost" and isinstance(trait.properties, dict):
            check_nocalhost(rep, trait, catalog)


def _duplicate_names(rep: Reporter, items: list[Item], label: str) -> None:
    first: dict[str, Item] = {}
    for item in items:
        name = item.name
        if name is None:
            continue
        if name in first:
            line = rep.value_span((*first[name].path, "name")).start.line + 1
            rep.add(
                "duplicate-name",
                Severity.ERROR,
                f"{label} name '{name}' is already used (line {line})",
                rep.value_span((*item.path, "name")),
            )
        else:
            first[name] = item


def _workflow_shape(rep: Reporter, model: AppModel) -> None:
    if model.workflow_ref and model.steps:
        rep.add(
            "workflow-ref-and-steps",
            Severity.ERROR,
            "a workflow cannot set both 'ref' and 'steps' (KubeVela: cannot set steps and ref in workflow at the same time)",
            rep.key_span(("spec", "workflow", "ref")),
        )
    for top in model.steps:
        for sub in top.children:
            if sub.raw.get("subSteps"):
                rep.add(
                    "nested-substeps",
                    Severity.ERROR,
                    f"sub-step '{sub.name or sub.type}' has its own subSteps; step groups cannot nest",
                    rep.key_span((*sub.path, "subSteps")),
                )


def _deploy_policies(rep: Reporter, model: AppModel, catalog: Catalog) -> None:
    names = [p.name for p in model.policies if p.name]
    for step in model.all_steps():
        if step.type != "deploy" or not isinstance(step.properties, dict):
            continue
        refs = step.properties.get("policies")
        for i, ref in enumerate(refs if isinstance(refs, list) else ()):
            if not isinstance(ref, str):
                continue
            path = (*step.path, "properties", "policies", i)
            policy = model.policy(ref)
            if policy is None:
                s = did_you_mean(ref, names)
                fix = rep.replace_value_fix(path, s) if s else None
                rep.add(
                    "unknown-policy-ref",
                    Severity.ERROR,
                    f"deploy step '{step.name or ''}' names policy '{ref}', which is not defined in spec.policies"
                    + (f" (did you mean '{s}'?)" if s else ""),
                    rep.value_span(path),
                    [fix] if fix else [],
                )
            elif policy.type and policy.type not in DEPLOYABLE_POLICY_TYPES and catalog.get("policy", policy.type):
                rep.add(
                    "policy-not-deployable",
                    Severity.ERROR,
                    f"policy '{ref}' is of type '{policy.type}'; deploy steps only take topology, override and replication policies",
                    rep.value_span(path),
                )


def _dependencies(rep: Reporter, items: list[Item], label: str) -> None:
    names = [i.name for i in items if i.name]
    graph: dict[str, list[tuple[str, tuple]]] = {}
    for item in items:
        for idx, dep in item.str_list("dependsOn"):
            path = (*item.path, "dependsOn", idx)
            if dep not in names:
                s = did_you_mean(dep, [n for n in names if n != item.name])
                fix = rep.replace_value_fix(path, s) if s else None
                rep.add(
                    "unknown-dependency",
                    Severity.ERROR,
                    f"{label} '{item.name or ''}' depends on '{dep}', which is not a {label} of this application"
                    + (f" (did you mean '{s}'?)" if s else ""),
                    rep.value_span(path),
                    [fix] if fix else [],
                )
            elif item.name:
                graph.setdefault(item.name, []).append((dep, path))
    for cycle in _cycles(graph):
        text = " -> ".join([*cycle, cycle[0]])
        for a, b in zip(cycle, [*cycle[1:], cycle[0]], strict=True):
            path = next(p for d, p in graph[a] if d == b)
            rep.add("dependency-cycle", Severity.ERROR, f"{label} dependency cycle: {text}", rep.value_span(path))


def _cycles(graph: dict[str, list[tuple[str, tuple]]]) -> list[list[str]]:
    """Each elementary cycle once (found by depth-first search from every node, in order)."""
    found: list[list[str]] = []
    seen_sets: set[frozenset] = set()
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for dep, _ in graph.get(node, ()):
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep) :]
                key = frozenset(cycle)
                if key not in seen_sets:
                    seen_sets.add(key)
                    found.append(list(cycle))
            elif state.get(dep) is None:
                visit(dep, stack)
        stack.pop()
        state[node] = 2

    for n in list(graph):
        if n not in state:
            visit(n, [])
    return found


def _suspend_duration(rep: Reporter, step: Item) -> None:
    props = step.properties if isinstance(step.properties, dict) else {}
    if "duration" not in props:
        return
    d = props["duration"]
    path = (*step.path, "properties", "duration")
    if not isinstance(d, str) or not GO_DURATION.match(d):
        rep.add(
            "invalid-duration",
            Severity.ERROR,
            f"suspend duration {brief(d)} is not a Go duration (use e.g. 30s, 5m, 1h30m; days are not accepted)",
            rep.value_span(path),
        )


# --- nocalhost -----------------------------------------------------------------------------


def check_nocalhost(rep: Reporter, trait: Item, catalog: Catalog) -> None:
    props: dict[str, Any] = trait.properties
    base = (*trait.path, "properties")
    _nocalhost_image(rep, props, base)
    _nocalhost_sync(rep, props, base)
    _nocalhost_ports(rep, props, base)
    comp = trait.parent
    if comp is None or comp.type is None:
        return
    comp_def = catalog.get("component", comp.type)
    _nocalhost_service_type(rep, trait, props, base, comp, comp_def)
    if comp_def is not None:
        _nocalhost_port_declared(rep, props, base, comp, comp_def)
        _nocalhost_service_conflict(rep, props, base, comp)


def _nocalhost_image(rep: Reporter, props: dict, base: tuple) -> None:
    image = props.get("image")
    path = (*base, "image")
    if "image" not in props:
        return  # reported as a missing parameter
    if not isinstance(image, str) or not image:
        rep.add(
            "nocalhost-image",
            Severity.ERROR,
            f"nocalhost image must be a language alias ({', '.join(NOCALHOST_ALIASES)}) or an image reference",
            rep.value_span(path),
        )
        return
    if image in NOCALHOST_ALIASES:
        return
    if image.lower() in NOCALHOST_ALIASES:
        fix = rep.replace_value_fix(path, image.lower())
        rep.add(
            "nocalhost-image",
            Severity.ERROR,
            f"nocalhost image alias '{image}' is case-sensitive; use '{image.lower()}'",
            rep.value_span(path),
            [fix] if fix else [],
        )
    elif not IMAGE_REFERENCE.match(image):
        rep.add(
            "nocalhost-image",
            Severity.ERROR,
            f"nocalhost image '{image}' is neither a language alias ({', '.join(NOCALHOST_ALIASES)}) nor a valid image reference",
            rep.value_span(path),
        )


def _nocalhost_sync(rep: Reporter, props: dict, base: tuple) -> None:
    sync = props.get("sync")
    if not isinstance(sync, dict) or "type" not in sync:
        return
    value = sync["type"]
    if value in NOCALHOST_SYNC_TYPES:
        return
    path = (*base, "sync", "type")
    s = did_you_mean(str(value), NOCALHOST_SYNC_TYPES) if isinstance(value, str) else None
    fix = rep.replace_value_fix(path, s) if s else None
    rep.add(
        "nocalhost-sync-type",
        Severity.ERROR,
        f"nocalhost sync type must be exactly 'send' or 'sendReceive' (Nocalhost rejects {brief(value)})"
        + (f"; did you mean '{s}'?" if s else ""),
        rep.value_span(path),
        [fix] if fix else [],
    )


def _valid_port(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 65535


def _nocalhost_ports(rep: Reporter, props: dict, base: tuple) -> None:
    forwards = props.get("portForward")
    for i, entry in enumerate(forwards if isinstance(forwards, list) else ()):
        m = PORT_FORWARD.match(entry) if isinstance(entry, str) else None
        if m is None or not all(1 <= int(g) <= 65535 for g in m.groups()):
            rep.add(
                "nocalhost-port-forward",
                Severity.ERROR,
                f'portForward entry {brief(entry)} must be "local:remote" with both ports between 1 and 65535',
                rep.value_span((*base, "portForward", i)),
            )
    debug = props.get("debug")
    if isinstance(debug, dict) and "remoteDebugPort" in debug and not _valid_port(debug["remoteDebugPort"]):
        rep.add(
            "nocalhost-debug-port",
            Severity.ERROR,
            f"debug.remoteDebugPort {brief(debug['remoteDebugPort'])} must be a port number between 1 and 65535",
            rep.value_span((*base, "debug", "remoteDebugPort")),
        )


def _nocalhost_service_type(
    rep: Reporter, trait: Item, props: dict, base: tuple, comp: Item, comp_def: Definition | None
) -> None:
    expected = WORKLOAD_SERVICE_TYPE.get(comp_def.workload) if comp_def is not None else None
    actual = props.get("serviceType", "deployment")
    if expected is None or actual == expected:
        return
    path = (*base, "serviceType")
    message = (
        f"nocalhost serviceType is '{actual}'{' (the default)' if 'serviceType' not in props else ''} but "
        f"component '{comp.name}' of type '{comp.type}' renders a {expected}; Nocalhost would ignore this dev config"
    )
    if "serviceType" in props:
        fix = rep.replace_value_fix(path, expected)
        rep.add("nocalhost-service-type", Severity.ERROR, message, rep.value_span(path), [fix] if fix else [])
    else:
        fix = rep.insert_entries_fix(f"Add serviceType: {expected}", base, [("serviceType", expected)])
        rep.add(
            "nocalhost-service-type",
            Severity.ERROR,
            message,
            rep.value_span((*trait.path, "type")),
            [fix] if fix else [],
        )


def declared_ports(comp: Item) -> list[int]:
    """Ports a component declares (webservice `ports[].port` and the deprecated `port`)."""
    props = comp.properties if isinstance(comp.properties, dict) else {}
    ports: list[int] = []
    for entry in props.get("ports") or () if isinstance(props.get("ports"), list) else ():
        if isinstance(entry, dict):
            for key in ("port", "containerPort"):
                if _valid_port(entry.get(key)):
                    ports.append(entry[key])
    if _valid_port(props.get("port")):
        ports.append(props["port"])
    return ports


def _nocalhost_port_declared(rep: Reporter, props: dict, base: tuple, comp: Item, comp_def: Definition) -> None:
    port = props.get("port")
    params = comp_def.schema.get("properties") or {}
    if not _valid_port(port) or not ({"ports", "port"} & set(params)):
        return
    ports = declared_ports(comp)
    if port not in ports:
        known = ", ".join(map(str, ports)) if ports else "none"
        rep.add(
            "nocalhost-port-undeclared",
            Severity.WARNING,
            f"nocalhost port {port} is not a port component '{comp.name}' declares (declared: {known})",
            rep.value_span((*base, "port")),
        )


def _nocalhost_service_conflict(rep: Reporter, props: dict, base: tuple, comp: Item) -> None:
    """webservice's Service for `expose: true` ports and the trait's Service share the name.

    KubeVela applies both outputs to the one Service `<component>` (they collapse into one
    object: kubevela/kubevela#2393), so whichever is applied last wins. That only matters when
    the two differ in what they serve; a port's name alone changes nothing for traffic.
    """
    port = props.get("port")
    if comp.type != "webservice" or not _valid_port(port):
        return
    cprops = comp.properties if isinstance(comp.properties, dict) else {}
    exposed = [
        p
        for p in cprops.get("ports") or ()
        if isinstance(p, dict) and p.get("expose") is True and _valid_port(p.get("port"))
    ]
    if not exposed:
        return
    # As rendered by KubeVela v1.10: webservice.cue `webserviceExpose` (targetPort is the
    # containerPort when given), nocalhost.cue `nocalhostService`; both select the component's pods.
    web = (
        cprops.get("exposeType", "ClusterIP"),
        {
            (
                p["port"],
                p["containerPort"] if _valid_port(p.get("containerPort")) else p["port"],
                p.get("protocol", "TCP"),
            )
            for p in exposed
        },
    )
    dev = ("ClusterIP", {(port, port, "TCP")})
    if web != dev:
        rep.add(
            "nocalhost-service-conflict",
            Severity.WARNING,
            f"the nocalhost trait creates Service '{comp.name}' (port {port}), and webservice creates a different "
            f"Service '{comp.name}' for its expose: true ports; KubeVela applies both to one object, so the "
            "last applied wins. Remove `expose: true` (the trait's Service serves the port) or make them serve "
            "the same ports",
            rep.value_span((*base, "port")),
        )
