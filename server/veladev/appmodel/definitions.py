"""The catalog of definitions (component, trait, policy and workflow-step types).

Pure: it is built from schema dictionaries that the `catalog` package reads from the bundled
`schemas/` folder or from a cluster. Validation, completion and hover all read it.
"""

from __future__ import annotations

import copy
import json
import marshal
import re
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator, ValidationError

from .schema_keywords import BRIEF_KEYWORDS

KINDS = ("component", "trait", "policy", "workflowstep")

#: How the Application spells the kinds in messages.
KIND_LABEL = {"component": "component", "trait": "trait", "policy": "policy", "workflowstep": "workflow step"}

#: The Nocalhost serviceType for each workload kind a component renders.
WORKLOAD_SERVICE_TYPE = {
    "deployments.apps": "deployment",
    "statefulsets.apps": "statefulset",
    "daemonsets.apps": "daemonset",
    "jobs.batch": "job",
    "cronjobs.batch": "cronjob",
}

GO_DURATION = re.compile(r"^[-+]?(?:0|(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)$")


@dataclass(frozen=True, slots=True)
class Definition:
    kind: str
    name: str
    schema: dict[str, Any]
    status: str = "builtin"  # builtin | deprecated | removed | cluster
    replacement: str = ""
    workload: str = ""
    applies_to: tuple[str, ...] = ()
    description: str = ""
    origin: str = "bundled"  # bundled | cluster

    @property
    def deprecated(self) -> bool:
        return self.status in ("deprecated", "removed")

    @staticmethod
    def from_schema(kind: str, name: str, schema: dict[str, Any], origin: str = "bundled") -> Definition:
        meta = schema.get("x-vela") or {}
        return Definition(
            kind=kind,
            name=name,
            schema=schema,
            status=meta.get("status", "builtin" if origin == "bundled" else "cluster"),
            replacement=meta.get("replacement", "") or "",
            workload=meta.get("workload", "") or "",
            applies_to=tuple(meta.get("appliesToWorkloads") or ()),
            description=schema.get("description", "") or meta.get("description", ""),
            origin=origin,
        )


def _deprecated_keyword(validator, value, instance, schema):
    # JSON Schema's `deprecated` is only an annotation; we report it, as a warning.
    if value is True:
        yield ValidationError("deprecated", validator="deprecated", validator_value=value, instance=instance)


_format_checker = jsonschema.FormatChecker()


@_format_checker.checks("go-duration")
def _is_go_duration(value: object) -> bool:
    return not isinstance(value, str) or bool(GO_DURATION.match(value))


VelaValidator = jsonschema.validators.extend(
    Draft202012Validator, {**BRIEF_KEYWORDS, "deprecated": _deprecated_keyword}
)


@dataclass
class Catalog:
    application_schema: dict[str, Any]
    definitions: dict[tuple[str, str], Definition] = field(default_factory=dict)
    aliases: dict[tuple[str, str], str] = field(default_factory=dict)
    #: True once a cluster's definitions were merged in: unknown types are then errors.
    live: bool = False
    #: The hub's registered clusters (name -> labels, `local` first) when a cluster is
    #: connected and could list them; None: unknown, so topology policies are not checked.
    clusters: dict[str, dict[str, str]] | None = None
    _validators: dict[int, Any] = field(default_factory=dict, repr=False)
    _errors: OrderedDict[tuple, list[ValidationError]] = field(default_factory=OrderedDict, repr=False)
    _shallow: dict[str, Any] | None = field(default=None, repr=False)

    #: How many validation results are kept (a few per component of the largest apps).
    ERROR_CACHE_SIZE = 8192

    def errors(self, validator, instance: Any, remember: bool = True) -> list[ValidationError]:
        """The validator's errors for `instance`, remembered by content unless not to `remember`.

        Editing one component of a large application then re-validates that component only.
        """
        if not remember:
            return list(validator.iter_errors(instance))
        try:
            # marshal is a faithful, C-fast serialisation (1 and True differ, as they must);
            # format 2 has no back-references, so equal values give equal bytes.
            key = (id(validator), marshal.dumps(instance, 2))
        except ValueError:  # a value marshal cannot hold: no caching
            return list(validator.iter_errors(instance))
        hit = self._errors.get(key)
        if hit is not None:
            self._errors.move_to_end(key)
            return hit
        errors = list(validator.iter_errors(instance))
        self._errors[key] = errors
        if len(self._errors) > self.ERROR_CACHE_SIZE:
            self._errors.popitem(last=False)
        return errors

    @property
    def shallow_application_schema(self) -> dict[str, Any]:
        """The Application schema with components left open: they are checked one by one."""
        if self._shallow is None:
            shallow = copy.deepcopy(self.application_schema)
            del shallow["properties"]["spec"]["properties"]["components"]["items"]
            self._shallow = shallow
        return self._shallow

    def component_validator(self):
        """Validates one component against the Application schema's `$defs/component`."""
        root = self.validator(self.application_schema)
        return self._validators.setdefault(-1, root.evolve(schema=self.application_schema["$defs"]["component"]))

    def add(self, definition: Definition, aliases: Iterable[str] = ()) -> None:
        self.definitions[(definition.kind, definition.name)] = definition
        for alias in aliases:
            self.aliases[(definition.kind, alias)] = definition.name

    def get(self, kind: str, name: str) -> Definition | None:
        d = self.definitions.get((kind, name))
        if d is None and (kind, name) in self.aliases:
            d = self.definitions.get((kind, self.aliases[(kind, name)]))
        return d

    def names(self, kind: str, include_deprecated: bool = False) -> list[str]:
        return sorted(
            n for (k, n), d in self.definitions.items() if k == kind and (include_deprecated or not d.deprecated)
        )

    def validator(self, schema: dict[str, Any]):
        """A compiled validator per schema object, kept for the catalog's lifetime."""
        key = id(schema)
        v = self._validators.get(key)
        if v is None:
            v = VelaValidator(schema, format_checker=_format_checker)
            self._validators[key] = v
        return v

    def merged_with(self, cluster_definitions: Iterable[Definition]) -> Catalog:
        """A new catalog with a cluster's definitions; unknown types then become errors.

        A built-in the cluster also publishes keeps its bundled schema when the cluster's
        knows no parameter ours lacks: ours is closed (unknown names are warned) and carries
        deprecations, while CUE's generated schemas are open. A customised definition (new
        parameters) takes the cluster's schema.
        """
        merged = Catalog(
            self.application_schema, dict(self.definitions), dict(self.aliases), live=True, clusters=self.clusters
        )
        for d in cluster_definitions:
            bundled = self.definitions.get((d.kind, d.name))
            if bundled is not None:
                theirs = set(d.schema.get("properties") or {})
                ours = set(bundled.schema.get("properties") or {})
                if theirs <= ours:
                    continue
                d = Definition(
                    d.kind,
                    d.name,
                    d.schema,
                    bundled.status,
                    bundled.replacement,
                    d.workload or bundled.workload,
                    d.applies_to or bundled.applies_to,
                    d.description or bundled.description,
                    d.origin,
                )
            merged.definitions[(d.kind, d.name)] = d
        return merged


def subschema_at(schema: dict[str, Any] | None, path: Iterable[str | int]) -> dict[str, Any] | None:
    """Follow object properties and array items down a path (enough for completion and hover)."""
    node = schema
    for seg in path:
        if node is None:
            return None
        node = _resolve(node, schema)
        if isinstance(seg, int):
            node = node.get("items") if isinstance(node.get("items"), dict) else _first_variant(node, "items")
        else:
            props = node.get("properties") or {}
            if seg in props:
                node = props[seg]
            elif isinstance(node.get("additionalProperties"), dict):
                node = node["additionalProperties"]
            else:
                node = _first_variant(node, "properties", seg)
    return _resolve(node, schema) if node is not None else None


def _resolve(node: dict[str, Any], root: dict[str, Any] | None) -> dict[str, Any]:
    seen = 0
    while isinstance(node, dict) and "$ref" in node and root is not None and seen < 10:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            break
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        seen += 1
    return node


def _first_variant(node: dict[str, Any], key: str, prop: str | None = None) -> dict[str, Any] | None:
    for comb in ("anyOf", "oneOf", "allOf"):
        for variant in node.get(comb) or ():
            if not isinstance(variant, dict):
                continue
            if prop is None and isinstance(variant.get(key), dict):
                return variant[key]
            if prop is not None and prop in (variant.get("properties") or {}):
                return variant["properties"][prop]
    return None


def object_properties(schema: dict[str, Any] | None, root: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """All property schemas an object may have, across anyOf/oneOf variants."""
    if not schema:
        return {}
    schema = _resolve(schema, root or schema)
    props: dict[str, dict[str, Any]] = dict(schema.get("properties") or {})
    for comb in ("anyOf", "oneOf", "allOf"):
        for variant in schema.get(comb) or ():
            if isinstance(variant, dict):
                for k, v in (_resolve(variant, root or schema).get("properties") or {}).items():
                    props.setdefault(k, v)
    return props


def describe_type(schema: dict[str, Any] | None) -> str:
    if not schema:
        return "any"
    if "enum" in schema:
        return " | ".join(_yaml_scalar(v) for v in schema["enum"])
    t = schema.get("type")
    if isinstance(t, list):
        return " | ".join(t)
    if t == "array":
        return f"list of {describe_type(schema.get('items'))}"
    if t:
        return str(t)
    for comb in ("anyOf", "oneOf"):
        if comb in schema:
            return " | ".join(describe_type(v) for v in schema[comb])
    return "any"


def _yaml_scalar(v: Any) -> str:

    return v if isinstance(v, str) else json.dumps(v)
