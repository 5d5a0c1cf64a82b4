"""KubeVela's applicator, as the stand-in does it (kv:pkg/utils/apply/apply.go, patch.go@v1.10.9).

Every rendered resource goes through :func:`apply`: a three-way merge between the
last-applied state (annotation ``app.oam.dev/last-applied-configuration``), the desired
manifest and the live object. Fields KubeVela rendered are put back; fields it never
rendered survive (a container added by hand, ``spec.replicas`` without a scaler trait,
annotations the app did not set). The label ``oam.dev/render-hash`` is stamped.

Plus the ownership guard (labels ``app.oam.dev/name`` + ``app.oam.dev/namespace``) and
apply-once strategies (copy listed paths from the live object into the manifest).

Everything here runs on the sandbox loop against a :class:`~.targets.ClusterTarget`: the hub's
store or a managed cluster's API, the same merge either way.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from typing import Any

from .. import kinds
from ..errors import ApiError
from ..patch import (
    _list_merge_key,  # the same list strategies the API server's SMP uses
    merge_patch,
    strategic_merge,
)
from .targets import ClusterTarget

LAST_APPLIED = "app.oam.dev/last-applied-configuration"
RENDER_HASH = "oam.dev/render-hash"
APP_NAME = "app.oam.dev/name"
APP_NAMESPACE = "app.oam.dev/namespace"


class ApplyError(Exception):
    """A resource KubeVela would refuse to apply (worded like KubeVela)."""


def kind_of(obj: dict) -> kinds.Kind:
    k = kinds.by_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
    if k is None:
        raise ApplyError(f'no matches for kind "{obj.get("kind")}" in version "{obj.get("apiVersion")}"')
    return k


def render_hash(obj: dict) -> str:
    data = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(data).hexdigest()[:16]


def _deletions(last: Any, desired: Any, path: list[str]) -> Any:
    """The part of a patch that removes what was applied before and is no longer desired."""
    if not isinstance(last, dict) or not isinstance(desired, dict):
        return None
    out: dict = {}
    for k, v in last.items():
        if k not in desired:
            out[k] = None
        elif isinstance(v, dict) and isinstance(desired[k], dict):
            sub = _deletions(v, desired[k], path + [k])
            if sub:
                out[k] = sub
        elif isinstance(v, list) and isinstance(desired[k], list):
            key = _list_merge_key(path, k)
            items = _list_deletions(v, desired[k], key, path + [k]) if key else None
            if items:
                out[k] = items
    return out


def _list_deletions(last: list, desired: list, key: str, path: list[str]) -> list[dict]:
    """For a merge-keyed list: delete entries that are gone, recurse into the rest."""
    want = {e.get(key): e for e in desired if isinstance(e, dict)}
    items = []
    for e in last:
        if not isinstance(e, dict):
            continue
        if e.get(key) not in want:
            items.append({key: e.get(key), "$patch": "delete"})
        else:
            sub = _deletions(e, want[e.get(key)], path)
            if sub:
                items.append({key: e.get(key), **sub})
    return items


def three_way(kind: kinds.Kind, last: dict | None, desired: dict, live: dict) -> dict:
    """The object after applying ``desired`` over ``live`` given the ``last`` applied state."""
    if kind.builtin:
        dels = _deletions(last or {}, desired, [])
        merged = strategic_merge(live, dels) if dels else copy.deepcopy(live)
        # merge-keyed lists: deletions first, then the desired entries
        return strategic_merge(merged, desired)
    dels = _deletions(last or {}, desired, []) if last else {}
    return merge_patch(merge_patch(live, dels) if dels else live, desired)


def prepare(desired: dict) -> dict:
    """Stamp the render hash and the last-applied annotation on a rendered manifest."""
    obj = copy.deepcopy(desired)
    md = obj.setdefault("metadata", {})
    md.setdefault("labels", {})[RENDER_HASH] = render_hash(desired)
    last = copy.deepcopy(obj)
    (last["metadata"].get("annotations") or {}).pop(LAST_APPLIED, None)
    if not last["metadata"].get("annotations"):
        last["metadata"].pop("annotations", None)
    md.setdefault("annotations", {})[LAST_APPLIED] = json.dumps(last, sort_keys=True, separators=(",", ":"))
    return obj


def check_owner(live: dict, app: str, app_ns: str):
    labels = live.get("metadata", {}).get("labels") or {}
    owner = (labels.get(APP_NAME), labels.get(APP_NAMESPACE))
    if owner == (app, app_ns):
        return
    md = live["metadata"]
    what = f"{live.get('kind')} {md.get('namespace', '')}/{md.get('name')}".replace(" /", " ")
    if owner[0] is None:
        raise ApplyError(f"{what} exists but is not managed by any application")
    raise ApplyError(f"{what} is managed by other application {owner[1]}/{owner[0]}")


async def apply(
    target: ClusterTarget,
    desired: dict,
    app: str,
    app_ns: str,
    skip_same_hash: bool = False,
    keep_paths: list[str] | None = None,
    create_missing: bool = True,
) -> dict | None:
    """Apply one rendered manifest in a cluster. Returns the live object (None when not created)."""
    kind = kind_of(desired)
    md = desired["metadata"]
    ns = md.get("namespace") if kind.namespaced else None
    live = await target.get(kind, ns, md["name"])
    if live is None:
        if not create_missing:
            return None
        if ns:
            # KubeVela creates the target namespace of a topology placement when missing.
            await target.ensure_namespace(ns)
        return await target.create(kind, prepare(desired))
    check_owner(live, app, app_ns)
    if live["metadata"].get("deletionTimestamp"):
        return live
    if keep_paths:
        desired = keep_live_paths(desired, live, keep_paths)
    obj = prepare(desired)
    if (
        skip_same_hash
        and (live["metadata"].get("labels") or {}).get(RENDER_HASH) == obj["metadata"]["labels"][RENDER_HASH]
    ):
        return live
    last_raw = (live["metadata"].get("annotations") or {}).get(LAST_APPLIED)
    try:
        last = json.loads(last_raw) if last_raw else None
    except ValueError:
        last = None
    new = three_way(kind, last, obj, live)
    new["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
    try:
        return await target.update(kind, new)
    except ApiError as e:
        if e.code == 422:
            raise ApplyError(e.message) from None
        raise


# ---------------------------------------------------------------------------------------
# apply-once paths ("spec.template.spec.containers[0].image", "*")

_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _tokens(path: str) -> list[str | int]:
    return [int(i) if i else k for k, i in _TOKEN.findall(path)]


def get_path(obj: Any, path: str) -> tuple[bool, Any]:
    cur = obj
    for t in _tokens(path):
        if isinstance(t, int):
            if not isinstance(cur, list) or t >= len(cur):
                return False, None
            cur = cur[t]
        else:
            if not isinstance(cur, dict) or t not in cur:
                return False, None
            cur = cur[t]
    return True, copy.deepcopy(cur)


def set_path(obj: Any, path: str, value: Any):
    toks = _tokens(path)
    cur = obj
    for i, t in enumerate(toks[:-1]):
        nxt = toks[i + 1]
        if isinstance(t, int):
            while len(cur) <= t:
                cur.append({} if not isinstance(nxt, int) else [])
            cur = cur[t]
        else:
            if t not in cur or not isinstance(cur[t], (dict, list)):
                cur[t] = [] if isinstance(nxt, int) else {}
            cur = cur[t]
    last = toks[-1]
    if isinstance(last, int):
        while len(cur) <= last:
            cur.append(None)
    cur[last] = value


def keep_live_paths(desired: dict, live: dict, paths: list[str]) -> dict:
    """apply-once: take the listed paths (or the whole object for "*") from the live object."""
    if "*" in paths:
        keep = copy.deepcopy(live)
        for f in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
            keep["metadata"].pop(f, None)
        keep.pop("status", None)
        return keep
    out = copy.deepcopy(desired)
    for p in paths:
        found, value = get_path(live, p)
        if found:
            set_path(out, p, value)
    return out
