"""Pod namespace holder.

Runs as ``unshare --net --mount --uts [--user --map-root-user] python -m velasandbox.nsholder SPEC``.
It brings ``lo`` up, sets the hostname, builds one root filesystem per container on a
namespace-private tmpfs (the host's top-level directories bind-mounted, the pod's own
directories mounted at the container paths), then stays alive so that container processes,
exec and probes can join its namespaces (``nsenter -t <pid>``).  It also serves a unix
socket that hands out TCP sockets connected *inside* the pod's network namespace
(SCM_RIGHTS), which is how port-forward and probes reach the pod.

Everything it mounts lives in its private mount namespace and disappears with the last
process in it; nothing is mounted on the host.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import signal
import socket
import struct
import sys
import threading
import time

MS_RDONLY = 1
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]

SKIP_TOP = {"proc", "sys", "dev", "tmp", "run", "lost+found", "old_root"}


def mount(src, dst, fstype=None, flags=0, data=None):
    r = _libc.mount(
        src.encode() if src else None,
        dst.encode(),
        fstype.encode() if fstype else None,
        flags,
        data.encode() if data else None,
    )
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mount {src} -> {dst}: {os.strerror(e)}")


def lo_up():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        ifr = struct.pack("16sH22x", b"lo", 0)
        res = fcntl.ioctl(s, 0x8913, ifr)  # SIOCGIFFLAGS
        flags = struct.unpack("16sH22x", res)[1]
        fcntl.ioctl(s, 0x8914, struct.pack("16sH22x", b"lo", flags | 1))  # SIOCSIFFLAGS |= IFF_UP
    finally:
        s.close()


class RootBuilder:
    """Builds one container root under ``root`` (a directory on the private tmpfs)."""

    def __init__(self, root: str):
        self.root = root
        self.owned = {root}  # directories we may create entries in
        self.host: set[str] = set()  # bind mounts of host directories (read through, never written)
        self.seq = 0

    def base(self):
        for e in sorted(os.listdir("/")):
            if e in SKIP_TOP:
                continue
            src = "/" + e
            # At the top level only links, directories and regular files are mirrored.
            if os.path.islink(src) or os.path.isdir(src) or os.path.isfile(src):
                self._mirror(src, os.path.join(self.root, e))
        for e in ("proc", "sys", "dev"):
            d = os.path.join(self.root, e)
            os.mkdir(d)
            mount("/" + e, d, None, MS_BIND | MS_REC)
            self.host.add(d)
        for e in ("tmp", "run"):
            os.mkdir(os.path.join(self.root, e), 0o1777 if e == "tmp" else 0o755)
            os.chmod(os.path.join(self.root, e), 0o1777 if e == "tmp" else 0o755)

    def _mirror(self, src: str, dst: str):
        """Show host entry `src` at `dst`: a link copied, a directory or file bind-mounted."""
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        elif os.path.isdir(src):
            os.mkdir(dst)
            mount(src, dst, None, MS_BIND | MS_REC)
            self.host.add(dst)
        else:
            open(dst, "w").close()
            mount(src, dst, None, MS_BIND)

    def _is_owned(self, path: str) -> bool:
        p = path
        while True:
            if p in self.owned:
                return True
            if p in self.host:
                return False
            if p == self.root or len(p) <= len(self.root):
                return True
            p = os.path.dirname(p)

    def _unfold(self, d: str):
        """Make a host-bound directory writable for mountpoints: stash the host view, put a
        tmpfs on top, and re-bind every entry of the host view into it."""
        self.seq += 1
        stash = os.path.join(os.path.dirname(self.root), f".stash-{os.path.basename(self.root)}-{self.seq}")
        os.mkdir(stash)
        mount(d, stash, None, MS_BIND | MS_REC)
        mount("tmpfs", d, "tmpfs", 0, "mode=755")
        for e in os.listdir(stash):
            self._mirror(os.path.join(stash, e), os.path.join(d, e))
        self.owned.add(d)
        self.host.discard(d)

    def _resolve(self, path: str) -> str:
        """Path inside the root for the container path ``path`` (following symlinks inside)."""
        cur = self.root
        parts = [p for p in path.split("/") if p]
        hops = 0
        i = 0
        while i < len(parts):
            nxt = os.path.join(cur, parts[i])
            if os.path.islink(nxt) and hops < 20:
                hops += 1
                target = os.readlink(nxt)
                rest = parts[i + 1 :]
                if target.startswith("/"):
                    cur = self.root
                    parts = [p for p in target.split("/") if p] + rest
                else:
                    parts = [p for p in target.split("/") if p] + rest
                i = 0
                continue
            cur = nxt
            i += 1
        return cur

    def ensure(self, path: str, is_file: bool) -> str:
        target = self._resolve(path)
        parent = os.path.dirname(target)
        if not os.path.isdir(parent):
            self.ensure(parent[len(self.root) :] or "/", False)
        if os.path.lexists(target):
            return target
        if not self._is_owned(parent):
            self._unfold(parent)
        if is_file:
            open(target, "w").close()
        else:
            os.mkdir(target)
        return target

    def bind(self, src: str, path: str, readonly: bool = False):
        is_file = not os.path.isdir(src)
        target = self.ensure(path, is_file)
        mount(src, target, None, MS_BIND | MS_REC)
        if readonly:
            try:
                mount(src, target, None, MS_BIND | MS_REC | MS_RDONLY | 32)  # MS_REMOUNT=32
            except OSError:
                pass
        self.owned.add(target)
        self.host.discard(target)


def netns_inode() -> int:
    return os.stat("/proc/self/ns/net").st_ino


def kill_namespace_members(ino: int, me: int):
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            if os.stat(f"/proc/{pid}/ns/net").st_ino == ino:
                os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass


def serve_ctl(path: str):
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    # sun_path is limited to 108 bytes: bind through a directory fd to keep it short
    dfd = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY)
    try:
        srv.bind(f"/proc/self/fd/{dfd}/{os.path.basename(path)}")
    finally:
        os.close(dfd)
    srv.listen(128)

    threading.Thread(target=_accept_ctl, args=(srv,), daemon=True).start()


def _accept_ctl(srv: socket.socket):
    while True:
        try:
            c, _ = srv.accept()
        except OSError:
            return
        threading.Thread(target=_handle_ctl, args=(c,), daemon=True).start()


def _read_line(conn: socket.socket) -> bytes | None:
    """One request line, None if the connection ends before it does."""
    line = b""
    while not line.endswith(b"\n"):
        chunk = conn.recv(64)
        if not chunk:
            return None
        line += chunk
    return line


def _handle_ctl(conn: socket.socket):
    """`C <port>`: a socket connected to the port inside the pod's network, passed back (SCM_RIGHTS)."""
    try:
        line = _read_line(conn)
        if line is None:
            return
        cmd, _, arg = line.strip().partition(b" ")
        if cmd != b"C":
            conn.sendall(b"ER 22 bad command\n")
            return
        port = int(arg)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", port))
        except OSError as e:
            s.close()
            conn.sendall(f"ER {e.errno or errno.ECONNREFUSED} {e.strerror or e}\n".encode())
            return
        s.settimeout(None)
        socket.send_fds(conn, [b"OK\n"], [s.fileno()])
        s.close()
    except (OSError, ValueError):  # a broken request or connection ends only this request
        pass
    finally:
        conn.close()


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    lo_up()
    try:
        socket.sethostname(spec.get("hostname", "pod")[:63])
    except OSError:
        pass
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    rootfs = spec["rootfs"]
    mount("tmpfs", rootfs, "tmpfs", 0, "mode=755")
    for cname, c in spec["containers"].items():
        root = os.path.join(rootfs, cname)
        os.mkdir(root)
        b = RootBuilder(root)
        b.base()
        for src, dst, ro in sorted(c["mounts"], key=lambda m: m[1].count("/")):
            b.bind(src, dst, ro)
    serve_ctl(spec["ctl"])
    ino = netns_inode()
    me = os.getpid()
    parent = os.getppid()
    sys.stdout.write(f"READY {me} {ino}\n")
    sys.stdout.flush()
    signal.signal(signal.SIGTERM, lambda *a: (kill_namespace_members(ino, me), os._exit(0)))
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:  # the sandbox died: take the pod down with it
            kill_namespace_members(ino, me)
            os._exit(0)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - the parent reads any failure from this line
        sys.stdout.write(f"ERROR {e}\n")
        sys.stdout.flush()
        sys.exit(1)
