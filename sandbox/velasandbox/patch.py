"""Patch machinery: strategic merge patch (a documented subset), JSON merge patch
(RFC 7386) and JSON patch (RFC 6902)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from .errors import ApiError, bad_request

_DELETE = object()

# Strategic-merge list strategies, keyed by (parent field, field) or (field,) suffixes.
# value: merge key, or "" for a primitive set (dedup union).
_POD_SPEC_LISTS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
}
_CONTAINER_LISTS = {"env": "name", "ports": "containerPort", "volumeMounts": "mountPath", "volumeDevices": "devicePath"}
_CONTAINER_PARENTS = {"containers", "initContainers", "ephemeralContainers"}


def _list_merge_key(path: list[str], field: str) -> str | None:
    parent = path[-1] if path else ""
    if parent == "metadata":
        if field == "finalizers":
            return ""
        if field == "ownerReferences":
            return "uid"
    if parent in _CONTAINER_PARENTS and field in _CONTAINER_LISTS:
        return _CONTAINER_LISTS[field]
    if parent == "spec" and field in _POD_SPEC_LISTS:
        return _POD_SPEC_LISTS[field]
    if parent == "spec" and field == "ports":  # Service.spec.ports
        return "port"
    if parent == "status" and field == "conditions":
        return "type"
    return None


def _strip(v: Any) -> Any:
    """Remove patch directives from a value that is inserted literally."""
    if isinstance(v, dict):
        return {
            k: _strip(x)
            for k, x in v.items()
            if not (
                k.startswith("$patch")
                or k.startswith("$retainKeys")
                or k.startswith("$setElementOrder/")
                or k.startswith("$deleteFromPrimitiveList/")
            )
        }
    if isinstance(v, list):
        return [_strip(x) for x in v]
    return v


def strategic_merge(original: Any, patch: Any, path: list[str] | None = None) -> Any:
    path = path or []
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip(patch)
    if directive == "delete":
        return _DELETE
    result = copy.deepcopy(original) if isinstance(original, dict) else {}
    for k, v in patch.items():
        if not k.startswith("$"):
            _merge_field(result, k, v, path)
    return _apply_list_directives(result, patch, path)


def _merge_field(result: dict, k: str, v: Any, path: list[str]) -> None:
    """Merges the patch's value `v` for field `k` into `result`."""
    if v is None:
        result.pop(k, None)
    elif isinstance(v, dict):
        r = strategic_merge(result.get(k), v, path + [k])
        if r is _DELETE:
            result.pop(k, None)
        else:
            result[k] = r
    elif isinstance(v, list):
        key = _list_merge_key(path, k)
        result[k] = _strip(v) if key is None else _merge_list(result.get(k) or [], v, key, path + [k])
    else:
        result[k] = v


def _apply_list_directives(result: dict, patch: dict, path: list[str]) -> dict:
    """$deleteFromPrimitiveList/, then $setElementOrder/, then $retainKeys, as kubectl sends them."""
    for k, v in patch.items():
        f = k.split("/", 1)[1] if k.startswith("$deleteFromPrimitiveList/") else None
        if f is not None and isinstance(result.get(f), list):
            result[f] = [x for x in result[f] if x not in v]
    for k, v in patch.items():
        f = k.split("/", 1)[1] if k.startswith("$setElementOrder/") else None
        if f is not None and isinstance(result.get(f), list):
            result[f] = _order(result[f], v, _list_merge_key(path, f))
    if "$retainKeys" in patch:
        keep = set(patch["$retainKeys"] or [])
        result = {k: v for k, v in result.items() if k in keep}
    return result


def _order(items: list, order: list, key: str | None) -> list:
    def ident(x):
        return x.get(key) if (key and isinstance(x, dict)) else x

    wanted = [ident(o) for o in order]
    inorder = [x for x in items if ident(x) in wanted]
    inorder.sort(key=lambda x: wanted.index(ident(x)))
    rest = [x for x in items if ident(x) not in wanted]
    return inorder + rest


def _merge_list(orig: list, patch: list, key: str, path: list[str]) -> list:
    if any(isinstance(e, dict) and e.get("$patch") == "replace" and len(e) == 1 for e in patch):
        return [_strip(e) for e in patch if not (isinstance(e, dict) and e.get("$patch") == "replace")]
    if key == "":  # primitive set
        out = list(orig)
        for e in patch:
            if e not in out:
                out.append(e)
        return out
    out = copy.deepcopy(orig)
    for e in patch:
        if not isinstance(e, dict):
            raise bad_request(f"cannot merge non-map element into list {'.'.join(path)}")
        if e.get("$patch") == "delete":
            out = [o for o in out if not (isinstance(o, dict) and o.get(key) == e.get(key))]
            continue
        if key not in e:
            raise bad_request(f"map: {e} does not contain declared merge key: {key}")
        _merge_element(out, e, key, path)
    return out


def _merge_element(out: list, e: dict, key: str, path: list[str]) -> None:
    """Merges the patch's element `e` into the element of `out` with the same merge key, else appends it."""
    for i, o in enumerate(out):
        if isinstance(o, dict) and o.get(key) == e[key]:
            out[i] = strategic_merge(o, e, path)
            return
    out.append(_strip(e))


def merge_patch(original: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(original) if isinstance(original, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


def _pointer(p: str) -> list[str]:
    if p == "":
        return []
    if not p.startswith("/"):
        raise bad_request(f"invalid JSON pointer {p!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in p[1:].split("/")]


def _parent(doc: Any, tokens: list[str]):
    cur = doc
    for t in tokens[:-1]:
        if isinstance(cur, list):
            try:
                cur = cur[int(t)]
            except (ValueError, IndexError):
                raise _jp_err(f"path segment {t!r} not found") from None
        elif isinstance(cur, dict):
            if t not in cur:
                raise _jp_err(f"doc is missing path: {t!r}")
            cur = cur[t]
        else:
            raise _jp_err(f"path segment {t!r} not found")
    return cur


def _jp_err(msg: str) -> ApiError:
    return ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: {msg}")


def _get(doc, tokens):
    cur = doc
    for t in tokens:
        if isinstance(cur, list):
            try:
                cur = cur[int(t)]
            except (ValueError, IndexError):
                raise _jp_err(f"path {t!r} not found") from None
        elif isinstance(cur, dict) and t in cur:
            cur = cur[t]
        else:
            raise _jp_err(f"path {t!r} not found")
    return cur


def _add(doc, tokens, value):
    if not tokens:
        return value
    par = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(par, list):
        if last == "-":
            par.append(value)
        else:
            i = int(last)
            if i > len(par):
                raise _jp_err("index out of range")
            par.insert(i, value)
    elif isinstance(par, dict):
        par[last] = value
    else:
        raise _jp_err("cannot add to a scalar")
    return doc


def _remove(doc, tokens):
    par = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(par, list):
        try:
            return par.pop(int(last))
        except (ValueError, IndexError):
            raise _jp_err(f"unable to remove nonexistent index {last}") from None
    if isinstance(par, dict) and last in par:
        return par.pop(last)
    raise _jp_err(f"unable to remove nonexistent key: {last}: missing value")


def json_patch(original: Any, ops: Any) -> Any:
    """RFC 6902 JSON patch."""
    if not isinstance(ops, list):
        raise bad_request("json patch must be an array of operations")
    doc = copy.deepcopy(original)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op:
            raise bad_request(f"invalid json patch operation {op!r}")
        kind = op["op"]
        tokens = _pointer(op.get("path", ""))
        apply = _JSON_PATCH_OPS.get(kind) if isinstance(kind, str) else None
        if apply is None:
            raise bad_request(f"Unexpected kind of json patch operation: {kind!r}")
        doc = apply(doc, tokens, op)
    return doc


def _op_add(doc: Any, tokens: list[str], op: dict) -> Any:
    return _add(doc, tokens, copy.deepcopy(op.get("value")))


def _op_remove(doc: Any, tokens: list[str], op: dict) -> Any:
    _remove(doc, tokens)
    return doc


def _op_replace(doc: Any, tokens: list[str], op: dict) -> Any:
    if not tokens:
        return copy.deepcopy(op.get("value"))
    _get(doc, tokens)
    par = _parent(doc, tokens)
    if isinstance(par, list):
        par[int(tokens[-1])] = copy.deepcopy(op.get("value"))
    else:
        par[tokens[-1]] = copy.deepcopy(op.get("value"))
    return doc


def _op_move_or_copy(doc: Any, tokens: list[str], op: dict) -> Any:
    src = _pointer(op.get("from", ""))
    val = copy.deepcopy(_get(doc, src))
    if op["op"] == "move":
        _remove(doc, src)
    return _add(doc, tokens, val)


def _op_test(doc: Any, tokens: list[str], op: dict) -> Any:
    if _get(doc, tokens) != op.get("value"):
        raise _jp_err(f"testing value {op.get('path')} failed")
    return doc


_JSON_PATCH_OPS: dict[str, Callable[[Any, list[str], dict], Any]] = {
    "add": _op_add,
    "remove": _op_remove,
    "replace": _op_replace,
    "move": _op_move_or_copy,
    "copy": _op_move_or_copy,
    "test": _op_test,
}
