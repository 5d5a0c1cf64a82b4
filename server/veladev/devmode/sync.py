"""File sync between a local folder and the dev container's work dir, over exec and tar.

Nothing is installed in the container: everything runs through `sh`, `tar`, `find`, `xargs`
and `md5sum`, which busybox and coreutils images both have (what `kubectl cp` needs, plus
the hash tool).

* Changes: watchdog events are debounced into batches (`debounce` seconds of quiet, at most
  `max_delay` after the first event); a batch is one exec: a tar streamed into `tar -x` in the
  work dir, then `rm -rf` of the deleted paths. A file whose content hash equals what was last
  synced is not sent (editors' no-op saves, files just received from the pod).
* Full sync (start, and after every reconnect): local files are hashed while the container
  hashes the same paths with `md5sum` (both at once), and only files whose content differs
  are sent. Content decides, never mtimes (mtimes differ after every checkout or copy). The
  hashes are computed in the container each time rather than kept in a manifest there,
  because a manifest can lie (the container's processes write too, and a new pod starts
  empty). MD5, not SHA-256: this is change detection between two copies of the developer's
  own files, and `md5sum` costs the container less than half the CPU of `sha256sum`. Files only the container
  has are left alone, unless this sync created them and they were since deleted locally: a
  build output in the pod is not ours to delete.
* `sendReceive`: the container's tree is polled (`find -newer` a stamp file in the pod's
  /tmp, so only changed files are hashed). A changed remote file comes back unless that would
  leave the local folder (absolute paths, `..`, symlinks pointing out, or a write through a
  local symlink): those are refused and reported. A local file edited since the last sync is
  never overwritten: the remote version is written beside it as `<name>.remote-conflict`
  (never synced back) and reported. As Nocalhost's default `deleteProtection`, remote
  deletions are not applied locally.
* A failing exec (pod replaced, stream dropped) puts the sync in `error`; it then asks the
  PodResolver for the current pod, and does a full sync there by itself.
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import stat
import struct
import tarfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..cluster import ClusterError, streams
from .errors import DevModeError
from .patterns import PathFilter
from .pod import DevPod, PodResolver

if TYPE_CHECKING:
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers.api import BaseObserver

log = logging.getLogger("veladev.devmode.sync")

CONFLICT_SUFFIX = ".remote-conflict"
_RM_BATCH = 200  # paths per `rm` exec: they travel in the request URL


@dataclass(frozen=True, slots=True)
class SyncStatus:
    state: str = "stopped"  # idle | syncing | error | stopped
    pending: int = 0  # changed paths waiting for the next batch
    last_sync: float | None = None  # time.time() of the last completed batch
    last_error: str = ""
    files_sent: int = 0
    files_deleted: int = 0
    files_received: int = 0
    conflicts: tuple[str, ...] = ()  # local paths kept beside the local file (`*.remote-conflict`)
    refused: tuple[str, ...] = ()  # remote paths refused (would leave the local folder)
    pod: str = ""


@dataclass(frozen=True, slots=True)
class SyncBatch:
    sent: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    received: tuple[str, ...] = ()
    full: bool = False  # a full (initial or reconnect) sync
    compared: int = 0  # files compared by hash in a full sync
    started: float = 0.0  # time.monotonic()
    finished: float = 0.0
    conflicts: tuple[str, ...] = field(default=())


def file_digest(path: Path) -> str:
    """The MD5 of a regular file (what `md5sum` prints), or `link:<target>` for a symlink."""
    if path.is_symlink():
        return "link:" + os.readlink(path)
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _parse_md5sum(text: str) -> dict[str, str]:
    """`md5sum` output -> {relative path: hash}; coreutils prefixes escaped names with `\\`."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        escaped = line.startswith("\\")
        if escaped:
            line = line[1:]
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 32 or name == "-":
            continue
        if escaped:
            name = name.replace("\\n", "\n").replace("\\\\", "\\")
        out[_relative(name)] = digest
    return out


def _relative(name: str) -> str:
    return name[2:] if name.startswith("./") else name


def safe_relative(path: str) -> str | None:
    """The normalised relative path, or None if it is absolute or climbs out with `..`."""
    if not path or path.startswith("/") or "\\" in path and os.sep == "\\":
        return None
    norm = posixpath.normpath(path)
    if norm in (".", "") or norm == ".." or norm.startswith("../") or norm.startswith("/"):
        return None
    return norm


# Lists the pod's files and hashes those changed since the last poll ($0 work dir, $1 stamp id).
_POLL_SCRIPT = (
    'cd "$0" 2>/dev/null || exit 0; S="/tmp/.veladev-sync-$1"; touch "$S.next"; '
    'echo "@list"; find . -name .git -prune -o \\( -type f -o -type l \\) -print; '
    'echo "@hash"; if [ -e "$S" ]; then N="-newer $S"; else N=""; fi; '
    "find . -name .git -prune -o -type f $N -print0 | xargs -0 -r md5sum -- 2>/dev/null; "
    'echo "@links"; find . -name .git -prune -o -type l $N -exec sh -c \'for l; do printf "%s\\t%s\\n" "$l" "$(readlink "$l")"; done\' sh {} +; '
    'mv "$S.next" "$S"'
)


class FileSync:
    """Keeps the dev container's work dir in step with a local folder (see the module doc)."""

    def __init__(
        self,
        api_client,
        resolve_pod: PodResolver,
        local_dir: Path,
        mode: str = "send",
        file_patterns: Iterable[str] = ("./",),
        ignore_patterns: Iterable[str] = (),
        on_change: Callable[[SyncStatus], None] | None = None,
        on_batch: Callable[[SyncBatch], None] | None = None,
        *,
        debounce: float = 0.015,
        max_delay: float = 0.1,
        poll_interval: float = 1.0,
        heartbeat: float = 2.0,
        timeout: float = 120,
        reconnect_timeout: float = 120,
    ):
        if mode not in ("send", "sendReceive"):
            raise DevModeError(f"sync type {mode!r} is not supported; use send or sendReceive")
        self.api_client = api_client
        self.resolve_pod = resolve_pod
        self.local_dir = Path(local_dir).resolve()
        self.mode = mode
        self.filter = PathFilter(file_patterns, ignore_patterns)
        self.on_change = on_change
        self.on_batch = on_batch
        self.debounce, self.max_delay, self.poll_interval = debounce, max_delay, poll_interval
        self.heartbeat = heartbeat
        self.timeout, self.reconnect_timeout = timeout, reconnect_timeout
        self._status = SyncStatus()
        self._cond = threading.Condition()
        self._dirty: set[str] = set()
        self._first_event = 0.0
        self._last_event = 0.0
        self._full = True
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._observer: BaseObserver | None = None
        self._pod: DevPod | None = None
        # What both sides hold, as far as this sync knows: relative path -> content hash.
        self._synced: dict[str, str] = {}
        self._refused: dict[str, str] = {}  # remote path -> hash refused (not asked for again)
        self._stamp = hashlib.sha256(f"{os.getpid()}-{id(self)}-{time.time()}".encode()).hexdigest()[:12]

    # -- public surface ------------------------------------------------------------------
    @property
    def status(self) -> SyncStatus:
        return self._status

    def start(self) -> None:
        """Starts watching and the initial sync in the background (see `wait_idle`)."""
        if not self.local_dir.is_dir():
            raise DevModeError(f"cannot sync {self.local_dir}: it is not a directory")
        from watchdog import events as ev
        from watchdog.observers import Observer

        self._stopping = False
        self._observer = Observer()
        # no open / close-without-write events: reading files (ours, for the tar) is no change
        changes = [
            ev.FileCreatedEvent,
            ev.DirCreatedEvent,
            ev.FileModifiedEvent,
            ev.FileClosedEvent,
            ev.FileDeletedEvent,
            ev.DirDeletedEvent,
            ev.FileMovedEvent,
            ev.DirMovedEvent,
        ]
        self._observer.schedule(_event_handler(self), str(self.local_dir), recursive=True, event_filter=changes)
        self._observer.start()
        self._thread = threading.Thread(target=self._run, name="veladev-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(10)
        if self._thread is not None:
            self._thread.join(30)
        self._set(state="stopped", pending=0)

    def wait_idle(self, timeout: float = 60) -> SyncStatus:
        """Waits until nothing is pending and the last sync succeeded; returns the status
        (whatever it is after `timeout`)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while time.monotonic() < deadline:
                s = self._status
                if s.state == "idle" and not self._dirty and not self._full and s.last_sync is not None:
                    return s
                self._cond.wait(min(0.05, max(0.0, deadline - time.monotonic())))
        return self._status

    def request_full_sync(self) -> None:
        with self._cond:
            self._full = True
            self._cond.notify_all()

    # -- events ---------------------------------------------------------------------------
    def _local_event(self, abs_path: str) -> None:
        try:
            rel = Path(abs_path).relative_to(self.local_dir).as_posix()
        except ValueError:
            return
        if rel in ("", ".") or self.filter.ignored(rel) or rel.endswith(CONFLICT_SUFFIX):
            return
        now = time.monotonic()
        with self._cond:
            if not self._dirty:
                self._first_event = now
            self._dirty.add(rel)
            self._last_event = now
            self._cond.notify_all()
        if self._status.pending != len(self._dirty):
            self._set(pending=len(self._dirty))

    # -- status ---------------------------------------------------------------------------
    def _set(self, **changes) -> None:
        with self._cond:
            if self._stopping and changes.get("state", "stopped") != "stopped":
                del changes["state"]  # a batch finishing after stop() does not revive the status
            new = replace(self._status, **changes)
            changed = new != self._status
            self._status = new
            self._cond.notify_all()
        if changed and self.on_change:
            try:
                self.on_change(new)
            except Exception:  # a listener's failure must not stop the sync
                log.exception("sync status listener failed")

    # -- worker ---------------------------------------------------------------------------
    def _run(self) -> None:
        backoff = 0.5
        interval = self.poll_interval if self.mode == "sendReceive" else self.heartbeat
        next_poll = time.monotonic() + interval
        while True:
            work = self._next_work(next_poll)
            if work is None:
                return
            full, dirty = work
            try:
                next_poll = self._sync_step(full, dirty, next_poll, interval)
                backoff = 0.5
            except Exception as exc:  # noqa: BLE001 - the sync thread must outlive any one failure
                self._failed(exc, dirty, backoff)
                backoff = min(backoff * 2, 5.0)

    def _due(self) -> float:
        """When the pending batch is due: after a quiet gap, at most max_delay after its first event."""
        return min(self._last_event + self.debounce, self._first_event + self.max_delay)

    def _next_work(self, next_poll: float) -> tuple[bool, set[str]] | None:
        """Waits for a full sync, a batch whose debounce is over, or the next poll / heartbeat;
        returns (full sync?, the batch's paths), or None once stopping."""
        with self._cond:
            while not self._stopping and not self._full:
                now = time.monotonic()
                batch_at = self._due() if self._dirty else float("inf")
                if now >= batch_at or now >= next_poll:
                    break
                self._cond.wait(min(batch_at, next_poll) - now)
            if self._stopping:
                return None
            full, self._full = self._full, False
            dirty: set[str] = set()
            if full or (self._dirty and time.monotonic() >= self._due()):
                dirty, self._dirty = self._dirty, set()
            return full, dirty

    def _sync_step(self, full: bool, dirty: set[str], next_poll: float, interval: float) -> float:
        """One round of syncing; returns when the next poll / heartbeat is due."""
        if self._pod is None or full:
            self._connect()
        if full:
            self._full_sync()
        elif dirty:
            self._incremental(dirty)
        if time.monotonic() >= next_poll or full:
            if self.mode == "sendReceive":
                self._poll_remote()
            elif not full:
                self._check_pod()
            next_poll = time.monotonic() + interval
        if self._status.state != "idle":
            self._set(state="idle", last_error="")
        return next_poll

    def _failed(self, exc: Exception, dirty: set[str], backoff: float) -> None:
        """Reports a failed round, keeps its paths for the full sync that follows, waits `backoff`."""
        msg = str(exc) or type(exc).__name__
        if isinstance(exc, (ClusterError, DevModeError, OSError)):
            log.warning("sync failed: %s; reconnecting", msg)
        else:  # a bug or a malformed answer from the pod: report it, then start over
            log.exception("sync failed")
            msg = f"sync failed ({type(exc).__name__}: {msg})"
        with self._cond:
            self._full = True
            self._dirty |= dirty
            self._pod = None
        self._set(state="error", last_error=msg, pending=len(self._dirty))
        with self._cond:
            if not self._stopping:
                self._cond.wait(backoff)

    def _connect(self) -> None:
        pod = self.resolve_pod(self.reconnect_timeout)
        if self._pod is None or pod != self._pod:
            log.info("syncing into %s/%s:%s", pod.namespace, pod.name, pod.work_dir)
        self._pod = pod
        self._set(pod=pod.name)

    def _check_pod(self) -> None:
        """Heartbeat in `send` mode: a replaced pod (a new, empty work dir) gets a full sync
        without waiting for the next local change."""
        pod = self.resolve_pod(min(self.heartbeat, 5.0))
        if pod != self._pod:
            log.info("dev pod is now %s", pod.name)
            with self._cond:
                self._full = True

    # -- local side -----------------------------------------------------------------------
    def _walk(self, start: str = "") -> dict[str, Path]:
        """Every accepted file (or symlink) under `start` (relative), by relative path."""
        found: dict[str, Path] = {}
        base = str(self.local_dir)
        stack = [start]
        while stack:
            rel_dir = stack.pop()
            try:
                entries = os.scandir(os.path.join(base, rel_dir) if rel_dir else base)
            except OSError:
                continue
            with entries:
                for e in entries:
                    rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
                    try:
                        is_dir = e.is_dir(follow_symlinks=False)
                    except OSError:
                        continue
                    if is_dir:
                        if self.filter.may_contain(rel):
                            stack.append(rel)
                    elif self.filter.accepts(rel) and not rel.endswith(CONFLICT_SUFFIX):
                        found[rel] = Path(e.path)
        return found

    def _hash_local(self, files: dict[str, Path]) -> dict[str, str]:
        out = {}
        for rel, p in files.items():
            try:
                out[rel] = file_digest(p)
            except OSError:
                continue  # vanished or unreadable since the walk; its own event follows
        return out

    # -- remote side ----------------------------------------------------------------------
    def _exec(self, command: list[str], what: str) -> streams.ExecResult:
        pod = self._pod
        assert pod is not None
        r = streams.exec_run(self.api_client, pod.namespace, pod.name, pod.container, command, timeout=self.timeout)
        return r

    def _remote_hashes(self, paths: list[str]) -> dict[str, str]:
        pod = self._pod
        assert pod is not None
        out: dict[str, str] = {}
        for i in range(0, len(paths), 2000):
            # paths travel as stdin (a NUL-separated list), not in the URL; `head -c` because
            # with the v4 exec protocol (Kubernetes < 1.30) stdin never reaches its end
            listing = b"\0".join(p.encode("utf-8", "surrogateescape") for p in paths[i : i + 2000]) + b"\0"
            r = streams.exec_run(
                self.api_client,
                pod.namespace,
                pod.name,
                pod.container,
                [
                    "sh",
                    "-c",
                    'cd "$0" 2>/dev/null || exit 0; head -c "$1" | xargs -0 -r md5sum -- 2>/dev/null; exit 0',
                    pod.work_dir,
                    str(len(listing)),
                ],
                stdin=listing,
                timeout=self.timeout,
            )
            if r.code != 0:
                raise ClusterError(
                    f"cannot hash files in {pod.name}:{pod.work_dir}: {r.stderr.decode(errors='replace').strip()[:200]}"
                )
            out.update(_parse_md5sum(r.stdout.decode(errors="surrogateescape")))
        return out

    def _ship(self, send: dict[str, Path], delete: list[str]) -> dict[str, str]:
        """Sends the files (one tar) and removes the deleted paths; returns what was sent,
        with the hash of the bytes that went (computed while they are read for the tar)."""
        pod = self._pod
        assert pod is not None
        sent: dict[str, str] = {}

        def write(out) -> None:
            written = 0
            for rel, p in sorted(send.items()):
                try:
                    st = os.lstat(p)
                except OSError:
                    continue
                mode, mtime = stat.S_IMODE(st.st_mode), int(st.st_mtime)
                if stat.S_ISREG(st.st_mode):
                    try:
                        f = open(p, "rb")
                    except OSError:
                        continue
                    header = tar_header(rel, st.st_size, mode, mtime)
                    with f:
                        out.write(header)
                        reader = _HashingReader(f, st.st_size)
                        while chunk := reader.read(1 << 20):
                            out.write(chunk)
                    out.write(bytes(-st.st_size % 512))
                    written += len(header) + st.st_size + (-st.st_size % 512)
                    sent[rel] = reader.hexdigest()
                elif stat.S_ISLNK(st.st_mode):
                    target = os.readlink(p)
                    header = tar_header(rel, 0, mode, mtime, target)
                    out.write(header)
                    written += len(header)
                    sent[rel] = "link:" + target
            # end of archive: two zero blocks, padded to a whole 10 KiB record
            out.write(bytes(1024 + (-(written + 1024) % 10240)))

        first = delete[:_RM_BATCH]
        r = streams.upload_tar(
            self.api_client,
            pod.namespace,
            pod.name,
            pod.container,
            pod.work_dir,
            write,
            then='if [ $# -gt 0 ]; then rm -rf -- "$@"; fi',
            args=first,
            timeout=self.timeout,
        )
        self._check(r, "send files")
        for i in range(_RM_BATCH, len(delete), _RM_BATCH):
            r = self._exec(
                streams.sh('cd "$1" && shift && rm -rf -- "$@"', pod.work_dir, *delete[i : i + _RM_BATCH]),
                "delete files",
            )
            self._check(r, "delete files")
        return sent

    def _check(self, r: streams.ExecResult, what: str) -> None:
        if r.code != 0:
            pod = self._pod
            detail = r.stderr.decode(errors="replace").strip().splitlines()
            raise ClusterError(
                f"{what} in {pod.name if pod else '?'}: exit {r.code}" + (f" ({detail[-1][:200]})" if detail else "")
            )

    # -- sync steps -----------------------------------------------------------------------
    def _full_sync(self) -> None:
        started = time.monotonic()
        self._set(state="syncing")
        local = self._walk()
        # the container hashes the walked paths while we hash them here; once its answer is
        # in, files it does not have are not hashed first (the tar writer hashes them)
        with ThreadPoolExecutor(1, thread_name_prefix="veladev-sync-remote-hash") as pool:
            remote_hashes = pool.submit(self._remote_hashes, sorted(local))
            hashes: dict[str, str] = {}
            for rel, p in local.items():
                if remote_hashes.done():
                    break
                try:
                    hashes[rel] = file_digest(p)
                except OSError:
                    continue
            remote = remote_hashes.result()  # the container's error, if any, is raised here
        for rel in local.keys() & remote.keys() - hashes.keys():
            try:
                hashes[rel] = file_digest(local[rel])
            except OSError:
                continue
        send = {rel: p for rel, p in local.items() if rel not in remote or hashes.get(rel) != remote[rel]}
        # deleted locally since this sync sent them: remove in the pod too
        delete = sorted(rel for rel in self._synced if rel not in local)
        sent = self._ship(send, delete) if send or delete else {}
        self._synced = {rel: h for rel, h in hashes.items() if remote.get(rel) == h}
        self._synced.update(sent)
        self._finish(
            SyncBatch(
                sent=tuple(sorted(sent)),
                deleted=tuple(delete),
                full=True,
                compared=len(local),
                started=started,
                finished=time.monotonic(),
            )
        )

    def _incremental(self, dirty: set[str]) -> None:
        started = time.monotonic()
        self._set(state="syncing")
        send: dict[str, Path] = {}
        hashes: dict[str, str] = {}
        delete: list[str] = []
        for rel in sorted(dirty):
            p = self.local_dir / rel
            if p.is_dir() and not p.is_symlink():  # a created or moved-in directory: everything in it
                files = self._walk(rel)
                for r2, h in self._hash_local(files).items():
                    if self._synced.get(r2) != h:
                        send[r2], hashes[r2] = files[r2], h
            elif os.path.lexists(p):
                changed = self._changed_hash(rel, p)
                if changed is not None:
                    send[rel], hashes[rel] = p, changed
            elif self._forget(rel):
                delete.append(rel)
        if not send and not delete:
            self._set(pending=len(self._dirty))
            return
        sent = self._ship(send, delete)
        self._synced.update(sent)
        self._finish(
            SyncBatch(sent=tuple(sorted(sent)), deleted=tuple(delete), started=started, finished=time.monotonic())
        )

    def _changed_hash(self, rel: str, p: Path) -> str | None:
        """The hash of a synced file that differs from what the pod holds, else None."""
        if not self.filter.accepts(rel):
            return None
        try:
            h = file_digest(p)
        except OSError:
            return None
        return h if self._synced.get(rel) != h else None

    def _forget(self, rel: str) -> bool:
        """Forgets a path gone here (the file, or a directory with everything under it); True
        if the pod holds something there to delete."""
        prefix = rel + "/"
        gone = [s for s in self._synced if s == rel or s.startswith(prefix)]
        for s in gone:
            del self._synced[s]
        return bool(gone)

    def _finish(self, batch: SyncBatch) -> None:
        s = self._status
        self._set(
            state="idle",
            last_sync=time.time(),
            last_error="",
            pending=len(self._dirty),
            files_sent=s.files_sent + len(batch.sent),
            files_deleted=s.files_deleted + len(batch.deleted),
            files_received=s.files_received + len(batch.received),
            conflicts=s.conflicts + tuple(c for c in batch.conflicts if c not in s.conflicts),
        )
        if self.on_batch and (batch.sent or batch.deleted or batch.received or batch.full):
            try:
                self.on_batch(batch)
            except Exception:
                log.exception("sync batch listener failed")

    # -- sendReceive ------------------------------------------------------------------------
    def _poll_remote(self) -> None:
        pod = self._pod
        assert pod is not None
        r = self._exec(["sh", "-c", _POLL_SCRIPT, pod.work_dir, self._stamp], "list remote files")
        self._check(r, "list remote files")
        section, listed, links = "", set(), {}
        hash_lines = []
        for line in r.stdout.decode(errors="surrogateescape").split("\n"):
            if line in ("@list", "@hash", "@links"):
                section = line
                continue
            if not line:
                continue
            if section == "@list":
                listed.add(_relative(line))
            elif section == "@hash":
                hash_lines.append(line)
            elif section == "@links":
                name, _, target = line.partition("\t")
                links[_relative(name)] = target
        hashed = _parse_md5sum("\n".join(hash_lines))
        for rel, target in links.items():
            hashed[rel] = "link:" + target
        changed = {
            rel: h
            for rel, h in hashed.items()
            if self._synced.get(rel) != h
            and self._refused.get(rel) != h
            and self.filter.accepts(rel)
            and not rel.endswith(CONFLICT_SUFFIX)
        }
        # deleteProtection: remote deletions are not applied locally; forget them
        for rel in [s for s in self._synced if s not in listed]:
            del self._synced[rel]
        if changed:
            self._receive(changed)

    def _inside(self, target: Path) -> bool:
        try:
            target.resolve(strict=False).relative_to(self.local_dir)
            return True
        except ValueError:
            return False

    def _receive(self, changed: dict[str, str]) -> None:
        started = time.monotonic()
        pod = self._pod
        assert pod is not None
        refused: list[str] = []
        wanted = self._wanted(changed, refused)
        received: list[str] = []
        conflicts: list[str] = []
        if wanted:
            self._set(state="syncing")
            with (
                streams.download_tar(
                    self.api_client,
                    pod.namespace,
                    pod.name,
                    pod.container,
                    pod.work_dir,
                    sorted(wanted),
                    timeout=self.timeout,
                ) as data,
                tarfile.open(fileobj=data, mode="r|") as tf,
            ):
                for ti in tf:
                    self._receive_member(tf, ti, wanted, refused, received, conflicts)
        if refused:
            log.warning("refused remote paths outside %s: %s", self.local_dir, ", ".join(refused[:10]))
            s = self._status
            self._set(refused=s.refused + tuple(r for r in refused if r not in s.refused))
        if received or conflicts:
            self._finish(
                SyncBatch(
                    received=tuple(received), conflicts=tuple(conflicts), started=started, finished=time.monotonic()
                )
            )

    def _wanted(self, changed: dict[str, str], refused: list[str]) -> dict[str, str]:
        """The changed remote paths (safe relative path -> hash) that may land in the folder;
        the others go to `refused` (and are not asked for again until they change)."""
        wanted: dict[str, str] = {}
        for rel, h in changed.items():
            safe = safe_relative(rel)
            if safe is None or not self._inside(self.local_dir / safe):
                refused.append(rel)
                self._refused[rel] = h  # reported once, until it changes again
                continue
            if h.startswith("link:"):
                target = h[5:]
                if target.startswith("/") or not self._inside((self.local_dir / safe).parent / target):
                    refused.append(rel)
                    self._refused[rel] = h
                    continue
            wanted[safe] = h
        return wanted

    def _receive_member(
        self,
        tf: tarfile.TarFile,
        ti: tarfile.TarInfo,
        wanted: dict[str, str],
        refused: list[str],
        received: list[str],
        conflicts: list[str],
    ) -> None:
        """Writes one member of the downloaded tar into the folder (beside an edited local file,
        as a conflict copy), or lists it in `refused`."""
        rel = safe_relative(_relative(ti.name))
        if rel is None or rel not in wanted:
            refused.append(ti.name)
            return
        if not (ti.isreg() or ti.issym()):
            return
        dest = self.local_dir / rel
        # no write through a local symlink (or a symlinked parent) out of the folder
        if not self._inside(dest.parent) or (dest.is_symlink() and not ti.issym()):
            refused.append(rel)
            return
        if ti.issym() and (ti.linkname.startswith("/") or not self._inside(dest.parent / ti.linkname)):
            refused.append(rel)
            return
        local_hash = None
        if os.path.lexists(dest):
            try:
                local_hash = file_digest(dest)
            except OSError:
                local_hash = "?"
        remote_hash = wanted[rel]
        if local_hash == remote_hash:
            self._synced[rel] = remote_hash
            return
        edited_here = local_hash is not None and local_hash != self._synced.get(rel)
        out = dest.with_name(dest.name + CONFLICT_SUFFIX) if edited_here else dest
        self._write(tf, ti, out)
        if edited_here:
            conflicts.append(out.relative_to(self.local_dir).as_posix())
        else:
            self._synced[rel] = remote_hash
            received.append(rel)

    def _write(self, tf: tarfile.TarFile, ti: tarfile.TarInfo, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not self._inside(dest.parent):
            raise DevModeError(f"refused to write {dest}: outside {self.local_dir}")
        tmp = dest.with_name(f".{dest.name}.veladev-tmp")
        if os.path.lexists(tmp):
            os.unlink(tmp)
        if ti.issym():
            os.symlink(ti.linkname, tmp)
        else:
            src = tf.extractfile(ti)
            assert src is not None
            # O_EXCL|O_NOFOLLOW: never through a symlink planted at the temporary name
            fd = os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), stat.S_IMODE(ti.mode) | 0o600
            )
            with os.fdopen(fd, "wb") as f:
                while chunk := src.read(1 << 20):
                    f.write(chunk)
        os.replace(tmp, dest)


_USTAR = struct.Struct("100s8s8s8s12s12s8s1s100s6s2s32s32s8s8s155s12x")


def tar_header(name: str, size: int, mode: int, mtime: int, symlink: str | None = None) -> bytes:
    """The tar header block(s) of one file or symlink: ustar (long names split into prefix and
    name), or tarfile's GNU header when ustar cannot hold the name. Written by hand because
    tarfile spends more time per member than reading a small file costs."""
    raw, link = name.encode("utf-8", "surrogateescape"), (symlink or "").encode("utf-8", "surrogateescape")
    prefix = b""
    if len(raw) > 100:
        cut = raw.rfind(b"/", 0, 156)
        if cut > 0 and len(raw) - cut - 1 <= 100:
            prefix, raw = raw[:cut], raw[cut + 1 :]
    if len(raw) > 100 or len(link) > 100 or size >= 8**11 or mtime < 0 or mtime >= 8**11:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode, ti.mtime = size, mode, max(mtime, 0)
        if symlink is not None:
            ti.type, ti.linkname = tarfile.SYMTYPE, symlink
        return ti.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")
    block = bytearray(
        _USTAR.pack(
            raw,
            b"%07o\0" % mode,
            b"0000000\0",
            b"0000000\0",
            b"%011o\0" % size,
            b"%011o\0" % mtime,
            b" " * 8,
            b"2" if symlink is not None else b"0",
            link,
            b"ustar\0",
            b"00",
            b"",
            b"",
            b"",
            b"",
            prefix,
        )
    )
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


class _HashingReader:
    """Reads exactly `size` bytes of a file for the tar (zero-padded if it shrank meanwhile,
    cut if it grew: its own watch event follows) and hashes what was read."""

    def __init__(self, f, size: int):
        self._f, self._left = f, size
        self._md5 = hashlib.md5(usedforsecurity=False)

    def read(self, n: int = -1) -> bytes:
        n = self._left if n < 0 else min(n, self._left)
        data = self._f.read(n) if n else b""
        if len(data) < n:
            data += bytes(n - len(data))
        self._left -= len(data)
        self._md5.update(data)
        return data

    def hexdigest(self) -> str:
        return self._md5.hexdigest()


def _event_handler(sync: FileSync) -> FileSystemEventHandler:
    """A watchdog handler for which every event marks its path(s) dirty (watchdog is imported
    only when a sync starts)."""
    from watchdog.events import FileSystemEventHandler

    class Handler(FileSystemEventHandler):
        def dispatch(self, event) -> None:
            if event.event_type in ("opened", "closed_no_write"):
                return
            sync._local_event(os.fsdecode(event.src_path))
            dest = getattr(event, "dest_path", "")
            if dest:
                sync._local_event(os.fsdecode(dest))

    return Handler()
