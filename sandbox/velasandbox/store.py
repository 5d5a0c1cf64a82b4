"""In-memory object store: resourceVersions, optimistic concurrency, generation,
status-subresource semantics, watch with a bounded history, and persistence to the
state directory (so a restarted API server serves the same objects).

The store is single-threaded: every method must be called on the sandbox's event loop.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import datetime as _dt
import json
import logging
import os
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import errors
from .kinds import Kind, all_kinds, lookup
from .selectors import parse_field_selector, parse_label_selector

log = logging.getLogger("velasandbox.store")

HISTORY = 2000
_ALNUM = "bcdfghjklmnpqrstvwxz2456789"


def now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rand_suffix(n: int = 5) -> str:
    return "".join(random.choice(_ALNUM) for _ in range(n))


@dataclass
class Event:
    rv: int
    type: str  # ADDED / MODIFIED / DELETED
    key: tuple[str, str]  # kind key (group, plural)
    obj: dict
    old: dict | None


class Watcher:
    def __init__(self, store: Store, kind: Kind, namespace: str | None, label_sel, field_sel):
        self.store = store
        self.kind = kind
        self.namespace = namespace
        self.lpred = parse_label_selector(label_sel)
        self.fpred = parse_field_selector(field_sel)
        self.queue: asyncio.Queue = asyncio.Queue()
        self.closed = False

    def _matches(self, obj: dict | None) -> bool:
        if obj is None:
            return False
        md = obj.get("metadata", {})
        if self.namespace and md.get("namespace") != self.namespace:
            return False
        return self.lpred(md.get("labels")) and self.fpred(obj)

    def translate(self, ev: Event) -> tuple[str, dict] | None:
        if ev.key != self.kind.key:
            return None
        new_m = self._matches(ev.obj)
        if ev.type == "DELETED":
            return ("DELETED", ev.obj) if new_m else None
        old_m = self._matches(ev.old) if ev.old is not None else False
        if ev.type == "ADDED":
            return ("ADDED", ev.obj) if new_m else None
        if new_m and old_m:
            return ("MODIFIED", ev.obj)
        if new_m:
            return ("ADDED", ev.obj)
        if old_m:
            return ("DELETED", ev.obj)
        return None

    def offer(self, ev: Event):
        t = self.translate(ev)
        if t is not None and not self.closed:
            self.queue.put_nowait(t)

    def close(self):
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(None)
            self.store.watchers.discard(self)


def _admit(kind, name: str, obj: dict) -> None:
    """The kind's admission hooks: fill defaults, then refuse invalid objects with 422."""
    if kind.defaults:
        kind.defaults(obj)
    if kind.validate:
        causes = kind.validate(obj)
        if causes:
            raise errors.invalid(kind, name, causes)


class Store:
    def __init__(self, path: str | None = None):
        self.path = path
        self.rv = 0
        self.objects: dict[tuple[str, str], dict[tuple[str, str], dict]] = {}
        self.history: collections.deque[Event] = collections.deque(maxlen=HISTORY)
        self.history_start = 0  # events with rv > history_start are retained
        self.watchers: set[Watcher] = set()
        self.listeners: list[Callable[[Event], None]] = []
        # (group, plural) -> fn(obj) -> bool: True means "deletion is deferred (graceful)"
        self.delete_hooks: dict[tuple[str, str], Callable[[dict], bool]] = {}
        self._dirty = False
        self._flush_handle: asyncio.TimerHandle | None = None
        if path and os.path.exists(path):
            self.load()

    # ----------------------------------------------------------------- persistence
    def load(self):
        if not self.path:
            return
        with open(self.path) as f:
            data = json.load(f)
        self.rv = int(data.get("resourceVersion", 0))
        self.objects = {}
        for item in data.get("objects", []):
            key = (item["group"], item["plural"])
            obj = item["object"]
            md = obj["metadata"]
            self.objects.setdefault(key, {})[(md.get("namespace", ""), md["name"])] = obj
        self.history.clear()
        self.history_start = self.rv

    def load_keep_history(self):
        """Reload objects from disk as a restarted API server would (etcd keeps history)."""
        hist = list(self.history)
        start = self.history_start
        self.load()
        self.history.extend(hist)
        self.history_start = start

    def snapshot(self) -> dict:
        objs = []
        for (group, plural), items in self.objects.items():
            for obj in items.values():
                objs.append({"group": group, "plural": plural, "object": obj})
        return {"resourceVersion": self.rv, "objects": objs}

    def flush(self):
        self._dirty = False
        self._flush_handle = None
        if not self.path:
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.snapshot(), f)
        os.replace(tmp, self.path)

    def _mark_dirty(self):
        self._dirty = True
        if self.path and self._flush_handle is None:
            try:
                loop = asyncio.get_running_loop()
                self._flush_handle = loop.call_later(0.2, self.flush)
            except RuntimeError:
                self.flush()

    # ----------------------------------------------------------------- events
    def _emit(self, type_: str, kind: Kind, obj: dict, old: dict | None):
        ev = Event(self.rv, type_, kind.key, copy.deepcopy(obj), old)
        if len(self.history) == self.history.maxlen:
            self.history_start = self.history[0].rv
        self.history.append(ev)
        for w in list(self.watchers):
            w.offer(ev)
        for cb in list(self.listeners):
            try:
                cb(ev)
            except Exception:  # noqa: BLE001 - a listener bug must not break writes  # pragma: no cover
                log.exception("store listener failed")
        self._mark_dirty()

    def _next_rv(self) -> str:
        self.rv += 1
        return str(self.rv)

    # ----------------------------------------------------------------- reads
    def _bucket(self, kind: Kind) -> dict:
        return self.objects.setdefault(kind.key, {})

    def get(self, kind: Kind, namespace: str | None, name: str) -> dict:
        obj = self._bucket(kind).get((namespace or "", name))
        if obj is None:
            raise errors.not_found(kind, name)
        return copy.deepcopy(obj)

    def try_get(self, kind: Kind, namespace: str | None, name: str) -> dict | None:
        obj = self._bucket(kind).get((namespace or "", name))
        return copy.deepcopy(obj) if obj is not None else None

    def list(
        self,
        kind: Kind,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[dict], str]:
        lp = parse_label_selector(label_selector)
        fp = parse_field_selector(field_selector)
        out = []
        for (ns, _name), obj in sorted(self._bucket(kind).items()):
            if namespace and ns != namespace:
                continue
            if lp(obj["metadata"].get("labels")) and fp(obj):
                out.append(copy.deepcopy(obj))
        return out, str(self.rv)

    def iter_raw(self, kind: Kind):
        return list(self._bucket(kind).values())

    def namespace_exists(self, ns: str) -> bool:
        return ("", ns) in self.objects.get(("", "namespaces"), {})

    # ----------------------------------------------------------------- writes
    def create(self, kind: Kind, obj: dict) -> dict:
        obj = copy.deepcopy(obj)
        md = obj.setdefault("metadata", {})
        obj["apiVersion"] = kind.api_version
        obj["kind"] = kind.kind
        if not md.get("name"):
            if md.get("generateName"):
                md["name"] = md["generateName"] + rand_suffix()
            else:
                raise errors.invalid(
                    kind,
                    "",
                    [
                        {
                            "reason": "FieldValueRequired",
                            "message": "Required value: name or generateName is required",
                            "field": "metadata.name",
                        }
                    ],
                )
        name = md["name"]
        if kind.namespaced:
            ns = md.get("namespace") or "default"
            md["namespace"] = ns
            if not self.namespace_exists(ns):
                from .kinds import lookup as _lk

                raise errors.not_found(_lk("", "v1", "namespaces"), ns)
        else:
            md.pop("namespace", None)
            ns = ""
        bucket = self._bucket(kind)
        if (ns, name) in bucket:
            raise errors.already_exists(kind, name)
        _admit(kind, name, obj)
        md["uid"] = str(uuid.uuid4())
        md["creationTimestamp"] = now_iso()
        md.pop("deletionTimestamp", None)
        if kind.has_status:
            md["generation"] = 1
        md["resourceVersion"] = self._next_rv()
        bucket[(ns, name)] = obj
        self._emit("ADDED", kind, obj, None)
        return copy.deepcopy(obj)

    @staticmethod
    def _replaced(kind: Kind, obj: dict, old: dict, ns: str, name: str, keep_status: bool) -> dict:
        """`obj` as the new version of `old` (PUT of the main resource): server-owned metadata
        kept, the status kept unless written through its subresource, admitted, generation bumped
        when the spec changed."""
        new = obj
        new["apiVersion"] = kind.api_version
        new["kind"] = kind.kind
        nmd = new["metadata"]
        omd = old["metadata"]
        for f in ("uid", "creationTimestamp", "namespace", "deletionTimestamp", "generation"):
            if f in omd:
                nmd[f] = omd[f]
            else:
                nmd.pop(f, None)
        if kind.namespaced:
            nmd["namespace"] = ns
        if keep_status:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        _admit(kind, name, new)
        if kind.has_status and _spec_of(new) != _spec_of(old):
            nmd["generation"] = int(omd.get("generation", 1)) + 1
        return new

    def update(self, kind: Kind, obj: dict, subresource: str | None = None, require_rv: bool | None = None) -> dict:
        """PUT semantics. ``subresource='status'`` changes only .status."""
        obj = copy.deepcopy(obj)
        md = obj.setdefault("metadata", {})
        name = md.get("name", "")
        ns = (md.get("namespace") or "default") if kind.namespaced else ""
        bucket = self._bucket(kind)
        old = bucket.get((ns, name))
        if old is None:
            raise errors.not_found(kind, name)
        rv = md.get("resourceVersion")
        if require_rv is None:
            require_rv = not kind.builtin
        if not rv and require_rv:
            raise errors.invalid(
                kind,
                name,
                [
                    {
                        "reason": "FieldValueInvalid",
                        "message": "Invalid value: 0x0: must be specified for an update",
                        "field": "metadata.resourceVersion",
                    }
                ],
            )
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(kind, name)
        if subresource == "status":
            new = _with_status_of(obj, old)
        else:
            new = self._replaced(kind, obj, old, ns, name, keep_status=kind.has_status and subresource is None)
        if _same(new, old):
            return copy.deepcopy(old)  # no-op writes do not bump the resourceVersion
        new["metadata"]["resourceVersion"] = self._next_rv()
        bucket[(ns, name)] = new
        # finalizers removed from an object being deleted -> really delete it
        if (
            new["metadata"].get("deletionTimestamp")
            and not new["metadata"].get("finalizers")
            and not self._deferred(kind, new)
        ):
            return self._remove(kind, ns, name)
        self._emit("MODIFIED", kind, new, old)
        return copy.deepcopy(new)

    def _deferred(self, kind: Kind, obj: dict) -> bool:
        hook = self.delete_hooks.get(kind.key)
        return bool(hook and hook(obj))

    def delete(
        self, kind: Kind, namespace: str | None, name: str, preconditions: dict | None = None, grace: int | None = None
    ) -> tuple[dict, bool]:
        """Delete. Returns (object, removed_now)."""
        ns = (namespace or "default") if kind.namespaced else ""
        bucket = self._bucket(kind)
        old = bucket.get((ns, name))
        if old is None:
            raise errors.not_found(kind, name)
        if preconditions:
            if preconditions.get("uid") and preconditions["uid"] != old["metadata"]["uid"]:
                raise errors.conflict(kind, name)
            if (
                preconditions.get("resourceVersion")
                and preconditions["resourceVersion"] != old["metadata"]["resourceVersion"]
            ):
                raise errors.conflict(kind, name)
        if old["metadata"].get("finalizers") or self._deferred(kind, old):
            if not old["metadata"].get("deletionTimestamp"):
                new = copy.deepcopy(old)
                new["metadata"]["deletionTimestamp"] = now_iso()
                if grace is not None:
                    new["metadata"]["deletionGracePeriodSeconds"] = int(grace)
                new["metadata"]["resourceVersion"] = self._next_rv()
                bucket[(ns, name)] = new
                self._emit("MODIFIED", kind, new, old)
                return copy.deepcopy(new), False
            return copy.deepcopy(old), False
        return self._remove(kind, ns, name), True

    def remove_now(self, kind: Kind, namespace: str | None, name: str) -> dict | None:
        """Finish a deferred deletion (used by the pod runtime after the processes are gone)."""
        ns = (namespace or "default") if kind.namespaced else ""
        if (ns, name) not in self._bucket(kind):
            return None
        return self._remove(kind, ns, name)

    def _remove(self, kind: Kind, ns: str, name: str) -> dict:
        old = self._bucket(kind).pop((ns, name))
        gone = copy.deepcopy(old)
        gone["metadata"]["resourceVersion"] = self._next_rv()
        self._emit("DELETED", kind, gone, old)
        return gone

    # ----------------------------------------------------------------- watch
    def watch(
        self,
        kind: Kind,
        namespace: str | None,
        resource_version: str | None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        send_initial_events: bool = False,
        bookmarks: bool = False,
    ) -> Watcher:
        w = Watcher(self, kind, namespace, label_selector, field_selector)
        if resource_version in (None, "", "0") or send_initial_events:
            items, rv = self.list(kind, namespace, label_selector, field_selector)
            for obj in items:
                w.queue.put_nowait(("ADDED", obj))
            if send_initial_events and bookmarks:
                # streaming list (WatchList): the end of the initial events is a BOOKMARK
                w.queue.put_nowait(
                    (
                        "BOOKMARK",
                        {
                            "kind": kind.kind,
                            "apiVersion": kind.api_version,
                            "metadata": {"resourceVersion": rv, "annotations": {"k8s.io/initial-events-end": "true"}},
                        },
                    )
                )
        else:
            try:
                since = int(resource_version)
            except ValueError:
                raise errors.bad_request(f"invalid resourceVersion {resource_version!r}") from None
            if since < self.history_start:
                raise errors.expired(f"too old resource version: {since} ({self.history_start})")
            for ev in self.history:
                if ev.rv > since:
                    t = w.translate(ev)
                    if t is not None:
                        w.queue.put_nowait(t)
        self.watchers.add(w)
        return w

    def close_watchers(self):
        for w in list(self.watchers):
            w.close()


def _with_status_of(obj: dict, old: dict) -> dict:
    """`old` with the status of `obj` (PUT of the status subresource)."""
    new = copy.deepcopy(old)
    if "status" in obj:
        new["status"] = obj["status"]
    else:
        new.pop("status", None)
    return new


def _spec_of(obj: dict) -> Any:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _same(a: dict, b: dict) -> bool:
    a = dict(a)
    b = dict(b)
    a["metadata"] = {k: v for k, v in a.get("metadata", {}).items() if k != "resourceVersion"}
    b["metadata"] = {k: v for k, v in b.get("metadata", {}).items() if k != "resourceVersion"}
    return a == b


def kind_for(group: str, version: str, plural: str) -> Kind | None:
    return lookup(group, version, plural)


__all__ = ["Store", "Watcher", "Event", "now_iso", "rand_suffix", "all_kinds"]
