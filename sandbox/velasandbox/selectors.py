"""Label and field selectors (the subset of k8s.io/apimachinery/pkg/labels and fields
that clients use: =, ==, !=, in, notin, exists, !exists; field paths with =, ==, !=)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import bad_request

_REQ = re.compile(r"\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(==|!=|=|\s+in\s+|\s+notin\s+)\s*(\([^)]*\)|[^,\s]*))?\s*")


def _split_top(s: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return parts


def parse_label_selector(s: str | None):
    """Return a predicate on a labels dict."""
    if not s:
        return lambda labels: True
    reqs = [_requirement(part) for part in _split_top(s)]

    def pred(labels: dict | None) -> bool:
        labels = labels or {}
        return all(_CHECKS[op](key in labels, labels.get(key), val) for key, op, val in reqs)

    return pred


# operator -> whether a label (present?, value) satisfies a requirement's value(s)
_CHECKS: dict[str, Callable[[bool, Any, Any], bool]] = {
    "=": lambda have, v, val: v == val,
    "!=": lambda have, v, val: not (have and v == val),
    "in": lambda have, v, val: have and v in val,
    "notin": lambda have, v, val: not (have and v in val),
    "exists": lambda have, v, val: have,
    "!exists": lambda have, v, val: not have,
}


def _requirement(part: str) -> tuple[str, str, Any]:
    """(key, operator, value or set of values) of one requirement of a label selector."""
    m = _REQ.fullmatch(part)
    if not m:
        raise bad_request(f"unable to parse requirement: {part!r}")
    neg, key, op, val = m.group(1), m.group(2), (m.group(3) or "").strip(), m.group(4)
    if op in ("in", "notin"):
        return key, op, {v.strip() for v in val.strip("()").split(",") if v.strip()}
    if op:
        if neg:
            raise bad_request(f"unable to parse requirement: {part!r}")
        return key, "!=" if op == "!=" else "=", val
    return key, "!exists" if neg else "exists", None


def match_labels_selector(selector: dict | None):
    """Predicate from a LabelSelector object ({matchLabels, matchExpressions})."""
    selector = selector or {}
    ml = selector.get("matchLabels") or {}
    exprs = selector.get("matchExpressions") or []

    def pred(labels):
        labels = labels or {}
        for k, v in ml.items():
            if labels.get(k) != v:
                return False
        for e in exprs:
            k, op, vals = e.get("key"), e.get("operator"), e.get("values") or []
            if op == "In" and labels.get(k) not in vals:
                return False
            if op == "NotIn" and k in labels and labels[k] in vals:
                return False
            if op == "Exists" and k not in labels:
                return False
            if op == "DoesNotExist" and k in labels:
                return False
        return True

    return pred


def _field(obj: dict, path: str):
    cur: Any = obj
    for p in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(p)
    return cur


def parse_field_selector(s: str | None):
    if not s:
        return lambda obj: True
    reqs = []
    for part in s.split(","):
        part = part.strip()
        if not part:
            continue
        for op in ("!=", "==", "="):
            if op in part:
                k, v = part.split(op, 1)
                reqs.append((k.strip(), "!=" if op == "!=" else "=", v.strip()))
                break
        else:
            raise bad_request(f"invalid selector: {s!r}; can't understand {part!r}")

    def pred(obj):
        for k, op, v in reqs:
            have = _field(obj, k)
            have = "" if have is None else str(have)
            if op == "=" and have != v:
                return False
            if op == "!=" and have == v:
                return False
        return True

    return pred
