"""Server-side printing (``meta.k8s.io/v1`` Table) for ``kubectl get``."""

from __future__ import annotations

import datetime as dt


def _age(ts: str | None) -> str:
    if not ts:
        return "<unknown>"
    try:
        t = dt.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return "<unknown>"
    s = int((dt.datetime.now(dt.UTC) - t).total_seconds())
    if s < 120:
        return f"{max(s, 0)}s"
    if s < 3600:
        return f"{s // 60}m{s % 60}s" if s < 600 else f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60}m" if s < 36000 else f"{s // 3600}h"
    return f"{s // 86400}d"


def _pod_status(p: dict) -> str:
    if p["metadata"].get("deletionTimestamp"):
        return "Terminating"
    st = p.get("status") or {}
    for cs in st.get("containerStatuses") or []:
        w = (cs.get("state") or {}).get("waiting")
        if w and w.get("reason") and w["reason"] != "ContainerCreating":
            return w["reason"]
        t = (cs.get("state") or {}).get("terminated")
        if t and st.get("phase") == "Running":
            return t.get("reason") or "Error"
    phase = st.get("phase", "Pending")
    if phase == "Pending" and st.get("containerStatuses"):
        return "ContainerCreating"
    if phase == "Succeeded":
        return "Completed"
    if phase == "Failed":
        return "Error"
    return phase


def _col(name, type_="string", fmt="", priority=0):
    return {"name": name, "type": type_, "format": fmt, "description": "", "priority": priority}


#: Printers registered by other kinds (the KubeVela half): kind -> fn(obj, age) -> cells;
#: their columns go into _COLS under the same kind.
ROWS: dict = {}


def _row(kind: str, o: dict):
    md = o["metadata"]
    age = _age(md.get("creationTimestamp"))
    if kind in ROWS:
        return ROWS[kind](o, age)
    spec, st = o.get("spec") or {}, o.get("status") or {}
    if kind == "Pod":
        css = st.get("containerStatuses") or []
        ready = sum(1 for c in css if c.get("ready"))
        restarts = sum(int(c.get("restartCount", 0)) for c in css)
        return [
            md["name"],
            f"{ready}/{len(spec.get('containers') or [])}",
            _pod_status(o),
            restarts,
            age,
            st.get("podIP", "<none>"),
            spec.get("nodeName", "<none>"),
        ]
    if kind == "Deployment":
        return [
            md["name"],
            f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
            st.get("updatedReplicas", 0),
            st.get("availableReplicas", 0),
            age,
        ]
    if kind == "Namespace":
        return [md["name"], st.get("phase", "Active"), age]
    if kind == "Service":
        ports = ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or [])
        return [
            md["name"],
            spec.get("type", "ClusterIP"),
            spec.get("clusterIP", "<none>"),
            "<none>",
            ports or "<none>",
            age,
        ]
    if kind == "Job":
        return [
            md["name"],
            "Complete" if st.get("succeeded") else ("Running" if st.get("active") else "Pending"),
            f"{st.get('succeeded', 0)}/{spec.get('completions', 1)}",
            age,
        ]
    if kind == "Event":
        return [
            _age(o.get("lastTimestamp")),
            o.get("type", ""),
            o.get("reason", ""),
            f"{(o.get('involvedObject') or {}).get('kind', '').lower()}/{(o.get('involvedObject') or {}).get('name', '')}",
            o.get("message", ""),
        ]
    return [md["name"], age]


_COLS = {
    "Pod": [
        _col("Name", fmt="name"),
        _col("Ready"),
        _col("Status"),
        _col("Restarts", "integer"),
        _col("Age"),
        _col("IP", priority=1),
        _col("Node", priority=1),
    ],
    "Deployment": [
        _col("Name", fmt="name"),
        _col("Ready"),
        _col("Up-to-date", "integer"),
        _col("Available", "integer"),
        _col("Age"),
    ],
    "Namespace": [_col("Name", fmt="name"), _col("Status"), _col("Age")],
    "Service": [
        _col("Name", fmt="name"),
        _col("Type"),
        _col("Cluster-IP"),
        _col("External-IP"),
        _col("Port(s)"),
        _col("Age"),
    ],
    "Job": [_col("Name", fmt="name"), _col("Status"), _col("Completions"), _col("Age")],
    "Event": [_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Message")],
}


def wants_table(accept: str) -> bool:
    return "as=Table" in (accept or "")


def to_table(kind: str, objs: list[dict], rv: str | None = None) -> dict:
    cols = _COLS.get(kind, [_col("Name", fmt="name"), _col("Age")])
    rows = []
    for o in objs:
        md = o["metadata"]
        rows.append(
            {
                "cells": _row(kind, o),
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": md},
            }
        )
    metadata = {"resourceVersion": rv} if rv else {}
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": cols,
        "rows": rows,
    }
