"""Dev-mode start and end on the sandbox: `dev start` -> dev pod Ready, and `dev end` ->
original pod Ready, through veladev's engine (the same calls as `veladev dev start|end`),
median and p95 over several runs. Target (issue 8): start <= 3 s.

Reproduce:  .venv/bin/python bench/bench_devmode_start.py [--runs N | --quick]
(or ./dev bench).  Needs root or unprivileged user namespaces, and node (the example's server).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
EXAMPLE = os.path.join(ROOT, "examples", "frontend")

from veladev.cluster.apps import apply_application, get_application  # noqa: E402 - after the sys.path set-up above
from veladev.devmode.session import locate  # noqa: E402 - after the sys.path set-up above
from velasandbox.runtime import namespace_support  # noqa: E402 - after the sys.path set-up above
from velasandbox.testing import start_sandbox  # noqa: E402 - after the sys.path set-up above

TARGET_START = 3.0


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def _git(repo, *args):
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="b",
        GIT_AUTHOR_EMAIL="b@example.invalid",
        GIT_COMMITTER_NAME="b",
        GIT_COMMITTER_EMAIL="b@example.invalid",
    )
    subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True, env=env)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10, help="start/end cycles to measure (default 10)")
    ap.add_argument("--quick", action="store_true", help="2 cycles (a smoke run)")
    args = ap.parse_args()
    if args.quick:
        args.runs = 2
    reason = namespace_support()
    if reason:
        print(f"bench_devmode_start: cannot run pods here: {reason}")
        return 1
    if not shutil.which("node"):
        print("bench_devmode_start: the example needs node on this machine")
        return 1
    work = tempfile.mkdtemp(prefix="bench-devmode-")
    sb = start_sandbox(os.path.join(work, "cluster"))
    try:
        repo = os.path.join(work, "frontend")
        shutil.copytree(EXAMPLE, repo)
        _git(repo, "init", "-q")
        _git(repo, "add", "-A")
        _git(repo, "commit", "-qm", "v1")
        _git(repo, "tag", "v1.0.0")
        sb.register_repo("frontend", repo)
        app_file = os.path.join(repo, "vela-app.yaml")
        with open(app_file) as f:
            app = yaml.safe_load(f)
        api = sb.api_client()
        apply_application(api, app, "default")
        sb.wait_for(
            lambda: (
                (get_application(api, "default", "frontend").get("status") or {}).get("status") == "workflowSuspending"
            ),
            timeout=120,
            what="the example deployed to test",
        )
        dev = locate(api, Path(app_file))
        dev.wait_restored(120)
        starts, ends = [], []
        for i in range(args.runs):
            t0 = time.perf_counter()
            dev.start(timeout=60)
            t1 = time.perf_counter()
            dev.end(timeout=60)
            t2 = time.perf_counter()
            starts.append(t1 - t0)
            ends.append(t2 - t1)
            print(f"  run {i + 1}: start {starts[-1]:.2f} s, end {ends[-1]:.2f} s", flush=True)
        api.close()
    finally:
        sb.stop()
        shutil.rmtree(work, ignore_errors=True)

    def line(name, xs):
        return f"{name:<36} {statistics.median(xs):>7.2f} {pct(xs, 95):>7.2f}"

    load = os.getloadavg()[0]
    print(f"\nveladev dev mode on velasandbox, {args.runs} runs (load average {load:.1f})")
    print(f"{'':<36} {'median':>7} {'p95':>7}")
    print(
        line("dev start -> dev pod Ready (s)", starts)
        + f"   target median <= {TARGET_START:.0f} s: {'met' if statistics.median(starts) <= TARGET_START else 'MISSED'}"
    )
    print(line("dev end -> original pod Ready (s)", ends))
    print("reproduce: python bench/bench_devmode_start.py" + (" --quick" if args.quick else f" --runs {args.runs}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
