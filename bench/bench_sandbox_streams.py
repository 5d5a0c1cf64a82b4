"""velasandbox stream benchmarks: exec round-trip latency, tar upload throughput through
exec, and port-forward throughput/latency against a direct connection into the pod's
network namespace, all in the same run.

Reproduce:  .venv/bin/python bench/bench_sandbox_streams.py [--quick]
(or ./dev bench).  Needs root or unprivileged user namespaces, like the sandbox.
"""

from __future__ import annotations

import argparse
import ctypes
import io
import os
import socket
import statistics
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "sandbox"))

from kubernetes import client  # noqa: E402 - after the sys.path set-up above
from kubernetes.stream import portforward, stream  # noqa: E402 - after the sys.path set-up above

from velasandbox.runtime import namespace_support  # noqa: E402 - after the sys.path set-up above
from velasandbox.testing import start_sandbox  # noqa: E402 - after the sys.path set-up above

SERVER = r"""
import asyncio
async def echo(r, w):
    while True:
        d = await r.read(65536)
        if not d: break
        w.write(d); await w.drain()
    w.close()
async def blast(r, w):
    n = int.from_bytes(await r.readexactly(8), "big")
    chunk = b"x" * 65536
    while n > 0:
        w.write(chunk[:min(n, 65536)]); n -= 65536
        await w.drain()
    w.close()
async def main():
    await asyncio.start_server(echo, "127.0.0.1", 7000)
    await asyncio.start_server(blast, "127.0.0.1", 7001)
    print("listening", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def direct_socket(holder_pid: int, port: int) -> socket.socket:
    """Connect inside the pod's network namespace directly (setns in a helper thread)."""
    libc = ctypes.CDLL(None, use_errno=True)

    def run() -> socket.socket:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/proc/{holder_pid}/ns/net", os.O_RDONLY)
        try:
            if libc.setns(target, 0x40000000) != 0:
                raise OSError(ctypes.get_errno(), "setns")
            s = socket.create_connection(("127.0.0.1", port))
            libc.setns(own, 0x40000000)
            return s
        finally:
            os.close(own)
            os.close(target)

    # a thread of its own: setns changes the calling thread's namespace; its error is raised here
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        d = s.recv(min(1 << 20, n - len(buf)))
        if not d:
            raise EOFError
        buf += d
    return bytes(buf)


def pingpong(s, n, size=64):
    msg = b"p" * size
    lat = []
    for _ in range(n):
        t = time.perf_counter()
        s.sendall(msg)
        recv_exact(s, size)
        lat.append(time.perf_counter() - t)
    return lat


def download(s, nbytes):
    t = time.perf_counter()
    s.sendall(nbytes.to_bytes(8, "big"))
    got = 0
    while got < nbytes:
        d = s.recv(1 << 20)
        if not d:
            break
        got += len(d)
    dt = time.perf_counter() - t
    assert got == nbytes, (got, nbytes)
    return nbytes / dt / 1e6


def kubectl_port_forward(sb, n_ping, mb):
    import re
    import shutil
    import subprocess

    exe = shutil.which("kubectl", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    if not exe:
        return None, None
    proc = subprocess.Popen(
        [
            exe,
            f"--kubeconfig={sb.kubeconfig}",
            f"--cache-dir={sb.state_dir}/kc",
            "port-forward",
            "pod/bench",
            ":7000",
            ":7001",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    try:
        ports: dict[int, int] = {}
        while len(ports) < 2:
            m = re.search(r"127\.0\.0\.1:(\d+) -> (\d+)", proc.stdout.readline())
            if m:
                ports[int(m.group(2))] = int(m.group(1))
        s = socket.create_connection(("127.0.0.1", ports[7000]))
        pingpong(s, 20)
        lat = pingpong(s, n_ping)
        s.close()
        s = socket.create_connection(("127.0.0.1", ports[7001]))
        rate = download(s, mb * 1024 * 1024)
        s.close()
        return lat, rate
    finally:
        proc.terminate()
        proc.wait(20)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer iterations")
    a, _ = ap.parse_known_args()
    reason = namespace_support()
    if reason:
        print(f"bench_sandbox_streams: skipped: {reason}")
        return 0
    n_exec = 30 if a.quick else 100
    n_ping = 200 if a.quick else 1000
    mb = 32 if a.quick else 128
    tar_mb = 16 if a.quick else 64
    sb = start_sandbox(tempfile.mkdtemp(prefix="velasandbox-bench-"))
    try:
        sb.images.add_image("bench/server:1", files={"srv.py": SERVER}, entrypoint=["python3", "srv.py"])
        api = sb.api_client()
        core = client.CoreV1Api(api)
        core.create_namespaced_pod(
            "default",
            {
                "metadata": {"name": "bench"},
                "spec": {
                    "containers": [
                        {
                            "name": "srv",
                            "image": "bench/server:1",
                            "readinessProbe": {"tcpSocket": {"port": 7000}, "periodSeconds": 1},
                        }
                    ]
                },
            },
        )
        sb.wait_for(
            lambda: any(
                c.type == "Ready" and c.status == "True"
                for c in (core.read_namespaced_pod("bench", "default").status.conditions or [])
            ),
            timeout=60,
            what="bench pod ready",
        )
        holder = next(i["holderPid"] for i in sb.pod_info() if i["name"] == "bench")

        def ex(cmd, **kw):
            return stream(
                core.connect_get_namespaced_pod_exec,
                "bench",
                "default",
                command=cmd,
                stderr=True,
                stdin=False,
                stdout=True,
                tty=False,
                **kw,
            )

        # exec round trip
        ex(["true"])
        lat = []
        for _ in range(n_exec):
            t = time.perf_counter()
            ex(["true"])
            lat.append(time.perf_counter() - t)
        # tar upload through exec stdin
        buf = io.BytesIO()
        per = 64 * 1024
        blob = os.urandom(per)
        with tarfile.open(fileobj=buf, mode="w") as tf:
            for i in range(tar_mb * 1024 * 1024 // per):
                ti = tarfile.TarInfo(f"up/f{i}")
                ti.size = per
                tf.addfile(ti, io.BytesIO(blob))
        payload = buf.getvalue()
        t = time.perf_counter()
        resp = stream(
            core.connect_get_namespaced_pod_exec,
            "bench",
            "default",
            command=["sh", "-c", "rm -rf /tmp/up && mkdir -p /tmp/up && tar xf - -C /tmp/up && du -sk /tmp/up"],
            stderr=True,
            stdin=True,
            stdout=True,
            tty=False,
            _preload_content=False,
        )
        for off in range(0, len(payload), 1 << 20):
            resp.write_stdin(payload[off : off + (1 << 20)])
        resp.close_channel(0)
        resp.run_forever(timeout=300)
        tar_dt = time.perf_counter() - t
        assert resp.returncode == 0, resp.read_stderr()
        tar_rate = len(payload) / tar_dt / 1e6
        # port-forward vs direct
        pf = portforward(core.connect_get_namespaced_pod_portforward, "bench", "default", ports="7000")
        ps = pf.socket(7000)
        ps.setblocking(True)
        ds = direct_socket(holder, 7000)
        pingpong(ps, 20)
        pingpong(ds, 20)
        pf_lat = pingpong(ps, n_ping)
        d_lat = pingpong(ds, n_ping)
        ps.close()
        ds.close()
        pf2 = portforward(
            client.CoreV1Api(sb.api_client()).connect_get_namespaced_pod_portforward, "bench", "default", ports="7001"
        )
        s2 = pf2.socket(7001)
        s2.setblocking(True)
        pf_rate = download(s2, mb * 1024 * 1024)
        s2.close()
        d2 = direct_socket(holder, 7001)
        d_rate = download(d2, mb * 1024 * 1024)
        d2.close()
        # kubectl port-forward (SPDY tunnelled in a WebSocket)
        k_lat, k_rate = kubectl_port_forward(sb, n_ping, mb)
    finally:
        sb.stop()
        import shutil

        shutil.rmtree(sb.state_dir, ignore_errors=True)

    def ms(x: float) -> str:
        return f"{x * 1000:.2f} ms"

    def us(x: float) -> str:
        return f"{x * 1e6:.0f} us"

    print(
        "velasandbox stream benchmarks"
        f" (kubernetes client {__import__('kubernetes').__version__}, {os.cpu_count()} CPUs)"
    )
    print(f"  exec round trip (`true`, n={n_exec}):        median {ms(statistics.median(lat))}, p95 {ms(pct(lat, 95))}")
    print(f"  tar upload through exec stdin ({len(payload) / 1e6:.0f} MB):   {tar_rate:.1f} MB/s ({tar_dt:.2f} s)")
    print(f"  64-byte echo round trip, n={n_ping}:")
    print(f"    port-forward:  median {us(statistics.median(pf_lat))}, p95 {us(pct(pf_lat, 95))}")
    print(f"    direct (netns): median {us(statistics.median(d_lat))}, p95 {us(pct(d_lat, 95))}")
    if k_lat:
        print(f"    kubectl port-forward: median {us(statistics.median(k_lat))}, p95 {us(pct(k_lat, 95))}")
    print(
        f"  download {mb} MB: port-forward {pf_rate:.1f} MB/s, direct (netns) {d_rate:.1f} MB/s"
        + (f", kubectl port-forward {k_rate:.1f} MB/s" if k_rate else "")
    )
    print(f"  reproduce: {sys.executable} bench/bench_sandbox_streams.py" + (" --quick" if a.quick else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
