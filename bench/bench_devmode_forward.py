"""Dev-mode port-forward on velasandbox: veladev's PortForwards against `kubectl port-forward`
to the same pod, in the same run, alternating between the two.

Reproduce:  .venv/bin/python bench/bench_devmode_forward.py [--quick]
(or ./dev bench).  Needs root or unprivileged user namespaces, like the sandbox.

Figures (each for both forwards):
* new-connection request latency: connect, send 64 bytes, read the 64-byte echo, close;
* keep-alive round trip: 64 bytes echoed over one open connection;
* download throughput: the pod's server sends N MB on one connection;
* concurrent requests: 16 clients x new-connection requests at once, total wall time.
Target (issue 8): no slower than kubectl. Figures are printed, never asserted.

veladev's forwards run in a child process of their own (as kubectl's do, and as they do in
`veladev dev up` or the language server), so the benchmark's client threads do not compete
with them for the interpreter lock.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from bench_sandbox_streams import SERVER, pct  # the same echo / "send N bytes" servers
from devmode_bench_setup import WORK_DIR, start_dev_pod, stop

from veladev.devmode import DevPod
from veladev.devmode.forward import PortForwards

NS = "bench-forward"


def recv_exact(s: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed early")
        data += chunk
    return data


def new_connection_request(port: int) -> float:
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(b"p" * 64)
        recv_exact(s, 64)
    return (time.perf_counter() - t0) * 1000


def keepalive_rtts(port: int, n: int) -> list[float]:
    out = []
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(n):
            t0 = time.perf_counter()
            s.sendall(b"k" * 64)
            recv_exact(s, 64)
            out.append((time.perf_counter() - t0) * 1000)
    return out[3:]


def download(port: int, nbytes: int) -> float:
    t0 = time.perf_counter()
    got = 0
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(nbytes.to_bytes(8, "big"))
        while chunk := s.recv(1 << 20):
            got += len(chunk)
    took = time.perf_counter() - t0
    if got != nbytes:
        raise ConnectionError(f"downloaded {got} of {nbytes} bytes")
    return nbytes / took / 1024 / 1024


def concurrent_requests(port: int, clients: int, each: int) -> float:
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as ex:
        list(ex.map(lambda _: [new_connection_request(port) for _ in range(each)], range(clients)))
    return time.perf_counter() - t0


def start_kubectl(kubectl: str, sb, pod: str, cache: str):
    proc = subprocess.Popen(
        [
            kubectl,
            f"--kubeconfig={sb.kubeconfig}",
            f"--cache-dir={cache}",
            "port-forward",
            "-n",
            NS,
            f"pod/{pod}",
            ":7000",
            ":7001",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    ports: dict[int, int] = {}
    while len(ports) < 2:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"kubectl port-forward ended: {proc.stderr.read()}")
        m = re.search(r"127\.0\.0\.1:(\d+) -> (\d+)", line)
        if m:
            ports[int(m.group(2))] = int(m.group(1))
    return proc, ports


def serve_forwards(kubeconfig: str, pod: str) -> int:
    """Child process: PortForwards to the pod, prints `ports <7000> <7001>`, runs until stdin closes."""
    from veladev.cluster import ClusterConfig, connect

    api = connect(ClusterConfig(kubeconfig=kubeconfig))
    fw = PortForwards(api, lambda timeout: DevPod(NS, pod, "dev", WORK_DIR), ["0:7000", "0:7001"])
    fw.start()
    print("ports", fw.local_port(7000), fw.local_port(7001), flush=True)
    sys.stdin.read()
    fw.stop()
    return 0


def start_veladev(sb, pod: str):
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve-forward", sb.kubeconfig, pod],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    line = proc.stdout.readline().split()
    if not line or line[0] != "ports":
        raise SystemExit("the veladev forward process did not start")
    return proc, {7000: int(line[1]), 7001: int(line[2])}


Ports = dict[str, dict[int, int]]  # who ("veladev", "kubectl") -> pod port -> local port
Samples = dict[str, dict[str, list[float]]]  # who -> figure -> samples


def wait_until_answering(ports: Ports, timeout: float = 60) -> None:
    """Both forwards answer before anything is measured."""
    deadline = time.monotonic() + timeout
    for who in ports:
        while True:
            try:
                new_connection_request(ports[who][7000])
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def measure(ports: Ports, rounds: int, reqs: int, rtts: int, mb: int) -> Samples:
    """Each round measures every figure through one forward, then through the other."""
    res: Samples = {who: {"new": [], "keep": [], "mbps": [], "conc": []} for who in ports}
    for _ in range(rounds):
        for who, p in ports.items():
            res[who]["new"] += [new_connection_request(p[7000]) for _ in range(reqs)]
            res[who]["keep"] += keepalive_rtts(p[7000], rtts)
            res[who]["mbps"].append(download(p[7001], mb * 1024 * 1024))
            res[who]["conc"].append(concurrent_requests(p[7000], 16, max(2, reqs // 16)))
    return res


def report(res: Samples, pod: str, rounds: int, mb: int, quick: bool) -> None:
    v, k = res["veladev"], res["kubectl"]
    print(f"\nbench_devmode_forward ({'quick' if quick else 'full'}): velasandbox, pod {pod}, {rounds} round(s)")
    print(f"{'figure':<46}{'veladev':>12}{'kubectl':>12}")

    def row(label, a, b, lower_is_better=True):
        ok = a <= b * 1.0 if lower_is_better else a >= b
        print(f"{label:<46}{a:>12.2f}{b:>12.2f}  [{'ok' if ok else 'slower'}]")

    row("new-connection request median (ms)", statistics.median(v["new"]), statistics.median(k["new"]))
    row("new-connection request p95 (ms)", pct(v["new"], 95), pct(k["new"], 95))
    row("keep-alive round trip median (ms)", statistics.median(v["keep"]), statistics.median(k["keep"]))
    row("keep-alive round trip p95 (ms)", pct(v["keep"], 95), pct(k["keep"], 95))
    row(f"download {mb} MB, median (MB/s)", statistics.median(v["mbps"]), statistics.median(k["mbps"]), False)
    row("16 concurrent clients, wall time median (s)", statistics.median(v["conc"]), statistics.median(k["conc"]))
    print(f"samples: {len(v['new'])} new-connection requests, {len(v['keep'])} keep-alive round trips per forward")
    print(f"reproduce: python bench/bench_devmode_forward.py{' --quick' if quick else ''}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: few samples, 8 MB")
    ap.add_argument("--serve-forward", nargs=2, metavar=("KUBECONFIG", "POD"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_forward:
        return serve_forwards(*args.serve_forward)
    reqs, rtts, mb, rounds = (20, 50, 8, 1) if args.quick else (150, 400, 64, 3)
    sb, api, pod, kubectl = start_dev_pod("bench_devmode_forward", NS, ["python3", "-c", SERVER])
    cache = tempfile.mkdtemp(prefix="bench-forward-kc-")
    kproc = fw = None
    try:
        fw, vports = start_veladev(sb, pod)
        kproc, kports = start_kubectl(kubectl, sb, pod, cache)
        ports = {"veladev": vports, "kubectl": kports}
        wait_until_answering(ports)
        report(measure(ports, rounds, reqs, rtts, mb), pod, rounds, mb, args.quick)
        return 0
    finally:
        if fw:
            fw.stdin.close()
            fw.wait(20)
        if kproc:
            kproc.terminate()
            kproc.wait(20)
        stop(sb)
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
