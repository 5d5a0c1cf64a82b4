"""The hub's cluster-gateway hop on velasandbox: exec and port-forward to a pod in a managed
cluster, through the hub (`<hub>/apis/cluster.core.oam.dev/v1alpha1/clustergateways/<c>/proxy`,
veladev's `cluster.clusters.connect_cluster`, the route KubeVela's own client takes) against the
same operations directly on the managed cluster's API server, in the same run, alternating.

Reproduce:  .venv/bin/python bench/bench_multicluster_gateway.py [--quick]
Needs root or unprivileged user namespaces, like the sandbox.

Figures (each for both routes; veladev's cluster/streams.py and cluster/tunnel.py):
* exec round trip: `true` run to its end by `streams.exec_run` (one WebSocket each);
* port-forward, new connection: connect, send 64 bytes, read the echo, close, through a running
  `PortForwards` (the SPDY-over-WebSocket tunnel of `cluster/tunnel.py`; a new connection is a
  new SPDY stream on the open tunnel);
* port-forward, one WebSocket per connection (`streams.open_port`, as `http_get` uses): open,
  64-byte echo, close: this one pays the hop's handshakes on every connection;
* port-forward download throughput: the pod sends N MB on one connection through the tunnel;
* kubectl (second opinion): `kubectl exec -- true` wall time and a `kubectl port-forward` download,
  with `--server` set to the gateway path for the hub route.
The hop's cost is stated as gateway minus direct (absolute) and gateway / direct (relative).
Figures are printed, never asserted. The machine's load average is printed with them: on a
shared machine, compare figures of one run, not across runs.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sandbox"))

from bench_devmode_forward import download, keepalive_rtts, new_connection_request  # noqa: E402 - after sys.path
from bench_sandbox_streams import SERVER, pct  # noqa: E402 - after the sys.path set-up above
from kubernetes import client  # noqa: E402 - after the sys.path set-up above

from veladev.cluster import ClusterConfig  # noqa: E402 - after the sys.path set-up above
from veladev.cluster.clusters import connect_cluster, gateway_host  # noqa: E402 - after the sys.path set-up above
from veladev.cluster.pods import wait_ready_pod  # noqa: E402 - after the sys.path set-up above
from veladev.cluster.streams import exec_run, open_port  # noqa: E402 - after the sys.path set-up above
from veladev.devmode import DevPod  # noqa: E402 - after the sys.path set-up above
from veladev.devmode.forward import PortForwards  # noqa: E402 - after the sys.path set-up above
from velasandbox.runtime import namespace_support  # noqa: E402 - after the sys.path set-up above
from velasandbox.testing import start_sandbox  # noqa: E402 - after the sys.path set-up above

CLUSTER = "edge-1"
NS = "default"
POD = "bench"
IMAGE = "bench/server:1"
ROUTES = ("direct", "gateway")


def start_pod(managed) -> None:
    """The echo / "send N bytes" server (ports 7000 / 7001) as a pod in the managed cluster."""
    managed.images.add_image(IMAGE, files={"srv.py": SERVER}, entrypoint=["python3", "srv.py"])
    with managed.api_client() as api:
        client.CoreV1Api(api).create_namespaced_pod(
            NS,
            {
                "metadata": {"name": POD, "labels": {"app": POD}},
                "spec": {
                    "containers": [
                        {
                            "name": "srv",
                            "image": IMAGE,
                            "readinessProbe": {"tcpSocket": {"port": 7000}, "periodSeconds": 1},
                        }
                    ]
                },
            },
        )
        wait_ready_pod(api, NS, f"app={POD}", 120)


def port_stream_request(api) -> float:
    """A new port-forward WebSocket (`streams.open_port`), a 64-byte echo, closed; in ms."""
    t0 = time.perf_counter()
    conn = open_port(api, NS, POD, 7000)
    try:
        conn.send(b"p" * 64)
        got = b""
        while len(got) < 64:
            chunk = conn.recv()
            if chunk is None:
                raise ConnectionError("closed early")
            got += chunk
    finally:
        conn.close()
    return (time.perf_counter() - t0) * 1000


def exec_round_trip(api) -> float:
    t0 = time.perf_counter()
    result = exec_run(api, NS, POD, "srv", ["true"], timeout=60)
    if result.code != 0:
        raise SystemExit(f"exec `true` exited {result.code}: {result.stderr!r}")
    return (time.perf_counter() - t0) * 1000


def serve_forwards(kubeconfig: str, cluster: str) -> int:
    """Child process: PortForwards to the pod through `cluster`'s route, prints `ports <7000>
    <7001>`, runs until stdin closes (a process of its own, as `veladev dev up` runs them)."""
    api = connect_cluster(ClusterConfig(kubeconfig=kubeconfig), cluster)
    fw = PortForwards(api, lambda timeout: DevPod(NS, POD, "srv", "/"), ["0:7000", "0:7001"])
    fw.start()
    print("ports", fw.local_port(7000), fw.local_port(7001), flush=True)
    sys.stdin.read()
    fw.stop()
    return 0


def start_forwards(kubeconfig: str, cluster: str) -> tuple[subprocess.Popen, dict[int, int]]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve-forward", kubeconfig, cluster],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if not line or line[0] != "ports":
        raise SystemExit(f"the veladev forward process for {cluster} did not start")
    return proc, {7000: int(line[1]), 7001: int(line[2])}


def warm(port: int) -> None:
    """Waits until the forward answers (the tunnel is open) before anything is measured."""
    deadline = time.monotonic() + 60
    while True:
        try:
            new_connection_request(port)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class Kubectl:
    """kubectl against either route: the managed cluster's kubeconfig, or the hub's with
    `--server` set to the gateway's proxy path (as `vela cluster export-config` would)."""

    def __init__(self, exe: str, cache: str, kubeconfig: str, server: str = ""):
        self.args = [exe, f"--kubeconfig={kubeconfig}", f"--cache-dir={cache}"]
        if server:
            self.args.append(f"--server={server}")

    def exec_true(self) -> float:
        t0 = time.perf_counter()
        subprocess.run([*self.args, "exec", "-n", NS, POD, "--", "true"], check=True, capture_output=True, timeout=60)
        return (time.perf_counter() - t0) * 1000

    def download(self, nbytes: int) -> float:
        proc = subprocess.Popen(
            [*self.args, "port-forward", "-n", NS, f"pod/{POD}", ":7001"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stderr is not None
        try:
            m = None
            while m is None:
                line = proc.stdout.readline()
                if not line:
                    raise SystemExit(f"kubectl port-forward ended: {proc.stderr.read()}")
                m = re.search(r"127\.0\.0\.1:(\d+) -> 7001", line)
            return download(int(m.group(1)), nbytes)
        finally:
            proc.terminate()
            proc.wait(20)


def measure(args, apis, ports, kubectls, mb: int) -> dict[str, dict[str, list[float]]]:
    n_exec, n_new, n_keep, n_ws, n_kubectl, rounds = (
        (10, 20, 50, 10, 3, 1) if args.quick else (100, 150, 400, 60, 10, 3)
    )
    res: dict[str, dict[str, list[float]]] = {
        r: {"exec": [], "new": [], "keep": [], "ws": [], "mbps": [], "kexec": [], "kmbps": []} for r in ROUTES
    }
    for _ in range(rounds):
        for r in ROUTES:  # the routes take turns, so both see the same background load
            res[r]["exec"] += [exec_round_trip(apis[r]) for _ in range(n_exec // rounds)]
            res[r]["new"] += [new_connection_request(ports[r][7000]) for _ in range(n_new // rounds)]
            res[r]["keep"] += keepalive_rtts(ports[r][7000], n_keep // rounds)
            res[r]["ws"] += [port_stream_request(apis[r]) for _ in range(n_ws // rounds)]
            res[r]["mbps"].append(download(ports[r][7001], mb * 1024 * 1024))
            if kubectls:
                res[r]["kexec"] += [kubectls[r].exec_true() for _ in range(max(1, n_kubectl // rounds))]
                res[r]["kmbps"].append(kubectls[r].download(mb * 1024 * 1024))
    return res


def report(args, res, mb: int, load: tuple[tuple[float, ...], tuple[float, ...]]) -> None:
    d, g = res["direct"], res["gateway"]
    print(f"\nbench_multicluster_gateway ({'quick' if args.quick else 'full'}): velasandbox hub + managed {CLUSTER}")
    print(f"{'figure':<52}{'direct':>10}{'gateway':>10}{'hop cost':>12}{'ratio':>8}")

    def row(label: str, a: list[float], b: list[float], unit_higher_is_better: bool = False) -> None:
        if not a or not b:
            return
        for name, fn in (("median", statistics.median), ("p95", lambda xs: pct(xs, 95))):
            if unit_higher_is_better and name == "p95":
                continue
            x, y = fn(a), fn(b)
            # For throughput the cost is what the hop takes away; for times, what it adds.
            cost = x - y if unit_higher_is_better else y - x
            ratio = (x / y if unit_higher_is_better else y / x) if x and y else float("nan")
            print(f"{label + ' ' + name:<52}{x:>10.2f}{y:>10.2f}{cost:>+12.2f}{ratio:>7.2f}x")

    row("exec `true` round trip, veladev (ms)", d["exec"], g["exec"])
    row("port-forward new connection, tunnel (ms)", d["new"], g["new"])
    row("port-forward keep-alive round trip (ms)", d["keep"], g["keep"])
    row("port-forward new WebSocket per connection (ms)", d["ws"], g["ws"])
    row(f"port-forward download {mb} MB, tunnel (MB/s)", d["mbps"], g["mbps"], True)
    row("kubectl exec `true`, wall time (ms)", d["kexec"], g["kexec"])
    row(f"kubectl port-forward download {mb} MB (MB/s)", d["kmbps"], g["kmbps"], True)
    print(
        f"samples per route: {len(d['exec'])} exec, {len(d['new'])} new connections, {len(d['keep'])} keep-alive "
        f"round trips, {len(d['ws'])} WebSockets, {len(d['mbps'])} downloads, {len(d['kexec'])} kubectl exec"
    )
    print("hop cost: gateway - direct (times: added ms; throughput: MB/s lost); ratio: how many times slower")
    print(
        f"machine: {os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in load[0])} at start, "
        f"{' '.join(f'{x:.2f}' for x in load[1])} at end"
    )
    print(f"reproduce: python bench/bench_multicluster_gateway.py{' --quick' if args.quick else ''}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: few samples, 8 MB")
    ap.add_argument("--no-kubectl", action="store_true", help="veladev's figures only")
    ap.add_argument("--serve-forward", nargs=2, metavar=("KUBECONFIG", "CLUSTER"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_forward:
        return serve_forwards(*args.serve_forward)
    reason = namespace_support()
    if reason:
        print(f"bench_multicluster_gateway: pods cannot run here: {reason}")
        return 2
    mb = 8 if args.quick else 64
    load_start = os.getloadavg()
    hub = start_sandbox()
    cache = tempfile.mkdtemp(prefix="bench-gateway-kc-")
    procs: list[subprocess.Popen] = []
    apis = {}
    try:
        managed = hub.add_cluster(CLUSTER, labels={"env": "test"})
        start_pod(managed)
        # direct: the managed cluster's own kubeconfig; gateway: the hub's, routed by veladev
        kubeconfigs = {"direct": (managed.kubeconfig, "local"), "gateway": (hub.kubeconfig, CLUSTER)}
        ports = {}
        for r, (kubeconfig, cluster) in kubeconfigs.items():
            apis[r] = connect_cluster(ClusterConfig(kubeconfig=kubeconfig), cluster)
            proc, ports[r] = start_forwards(kubeconfig, cluster)
            procs.append(proc)
            warm(ports[r][7000])
            exec_round_trip(apis[r])  # first connection (TLS session, discovery) not counted
        exe = shutil.which("kubectl", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
        kubectls = {}
        if exe and not args.no_kubectl:
            kubectls = {
                "direct": Kubectl(exe, cache, managed.kubeconfig),
                "gateway": Kubectl(exe, cache, hub.kubeconfig, gateway_host(hub.server_url, CLUSTER)),
            }
        res = measure(args, apis, ports, kubectls, mb)
        report(args, res, mb, (load_start, os.getloadavg()))
        return 0
    finally:
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(20)
        for api in apis.values():
            api.close()
        hub.stop()
        shutil.rmtree(hub.state_dir, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
