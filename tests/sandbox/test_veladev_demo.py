"""The README's main job, `veladev demo`, runs the whole flow and says so, from a non-editable
install (the wheel built from this repository, installed outside the source tree: the example
apps have to ship inside the package): the first deploy, dev mode on `frontend` in `test` (run,
GET 127.0.0.1:8080 shows v1.0.0, the working copy edited to v2.0.0 shows through the forward
and after the hot reload, dev end restores the workload), then commit, trigger and promote;
`veladev demo --clusters` does the same across three managed clusters of a hub."""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import ROOT

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory) -> Path:
    """veladev built as a wheel and installed (without its dependencies, which the test
    environment has) into a folder of its own; returns that folder."""
    work = tmp_path_factory.mktemp("wheel")
    # A copy, because setuptools writes build/ and *.egg-info next to the sources it builds.
    source = shutil.copytree(
        ROOT,
        work / "source",
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "node_modules", ".cache", "artifacts", "build", "*.egg-info", "__pycache__", ".*_cache"
        ),
    )
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-cache-dir"]
    # pip runs `rustc --version` for its user agent, and rustup's proxy writes ~/.rustup/settings.toml:
    # pip gets a home of its own here, so nothing lands in the (test session's) home folder.
    pip_env = dict(os.environ, HOME=str(work / "pip-home"))
    built = subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(work / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        env=pip_env,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (work / "dist").glob("veladev-*.whl")
    target = work / "site"
    installed = subprocess.run(
        [*pip, "install", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
        env=pip_env,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return target


class DemoOutput:
    """`veladev demo`'s output lines, searched in order."""

    def __init__(self, stdout: str):
        self.stdout = stdout
        self.lines = stdout.splitlines()

    def first(self, pred) -> int:
        found = [i for i, line in enumerate(self.lines) if pred(line)]
        assert found, self.stdout
        return found[0]

    def line(self, pred) -> str:
        return self.lines[self.first(pred)]

    def pushed(self) -> tuple[int, str]:
        """The trigger line and the pushed commit (its first 8 hex digits)."""
        triggered = self.first(lambda line: line.startswith("[trigger] pushed"))
        return triggered, self.lines[triggered].split()[2].rstrip(";")

    def serves_commit(self, tag: str, commit: str, workflow: str) -> int:
        """The line where `tag` (e.g. `prod edge-2`) serves v2.0.0 from the commit's image
        while the workflow shows `workflow`."""
        return self.first(
            lambda line: (
                line.startswith(f"[{tag}] serves:")
                and "frontend v2.0.0" in line
                and f"image sandbox.local/frontend:{commit}" in line
                and workflow in line
            )
        )


def run_demo(installed_wheel: Path, cwd: Path, *args: str) -> DemoOutput:
    """`python -m veladev demo ARGS` from the installed wheel (checked to be the one imported)."""
    from velasandbox.runtime import namespace_support

    reason = namespace_support()
    if reason:
        pytest.skip(reason)
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(installed_wheel))
    where = subprocess.run(
        [sys.executable, "-c", "import veladev, velasandbox; print(veladev.__file__); print(velasandbox.__file__)"],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
    )
    assert where.stdout.splitlines() == [
        str(installed_wheel / "veladev" / "__init__.py"),
        str(installed_wheel / "velasandbox" / "__init__.py"),
    ], where.stdout + where.stderr
    out = subprocess.run(
        [sys.executable, "-m", "veladev", "demo", *args], capture_output=True, text=True, timeout=900, cwd=cwd, env=env
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return DemoOutput(out.stdout)


def dev_mode_steps(out: DemoOutput, where: str) -> list[int]:
    """The dev-mode lines in the order they must come: dev mode on `where` (the workload, and
    ` in cluster C` for a managed cluster), the page through the forward (127.0.0.1:8080 unless
    another process on this machine holds it; the demo then says so), the edit seen through
    the forward, the hot reload, dev end."""
    dev_on = out.first(lambda line: line.startswith(f"[dev] dev mode on: {where}, dev pod frontend-"))
    forwarding = out.line(lambda line: line.startswith("[dev] synced ") and "; forwarding 127.0.0.1:" in line)
    port = forwarding.split("forwarding 127.0.0.1:")[1].split("->")[0]
    assert port == "8080" or forwarding.endswith("(8080 is in use here)"), forwarding
    dev_v1 = out.first(
        lambda line: line.startswith(f"[dev] GET http://127.0.0.1:{port}/:") and "frontend v1.0.0" in line
    )
    dev_v2 = out.first(lambda line: line.startswith("[dev] edited VERSION to v2.0.0") and "frontend v2.0.0" in line)
    reloaded = out.first(
        lambda line: line.startswith("[dev] hot reload restarted the run") and "frontend v2.0.0" in line
    )
    dev_end = out.first(
        lambda line: line == f"[dev] dev end: {where} is restored and Application reconciliation resumed"
    )
    assert sum(1 for line in out.lines if line == "[dev run] frontend listening on :80") >= 2  # started, then reloaded
    return [dev_on, dev_v1, dev_v2, reloaded, dev_end]


def test_demo_runs_the_flow_end_to_end_from_the_installed_package(installed_wheel, tmp_path):
    out = run_demo(installed_wheel, tmp_path)
    deployed = out.first(lambda line: line.startswith("[test] serves:") and "frontend v1.0.0" in line)
    dev = dev_mode_steps(out, "Deployment test/frontend")
    restored = out.first(lambda line: line.startswith("[test] serves again:") and "frontend v1.0.0" in line)
    triggered, commit = out.pushed()
    test_v2 = out.serves_commit("test", commit, "approve-prod:suspending")
    prod_v2 = out.serves_commit("prod", commit, "deploy-prod:succeeded")
    assert [deployed, *dev, restored, triggered, test_v2, prod_v2] == sorted(
        [deployed, *dev, restored, triggered, test_v2, prod_v2]
    )
    assert out.lines[-1] == "[done] test and prod run the pushed commit"


def test_demo_clusters_runs_the_flow_across_managed_clusters_through_the_hub(installed_wheel, tmp_path):
    """`veladev demo --clusters`: a hub with edge-1 (env=test), edge-2 and edge-3 (env=prod);
    test placed in edge-1 by name, prod in both env=prod clusters by label; dev mode in edge-1
    through the hub's gateway; after the push and the promotion, BOTH prod clusters serve the
    pushed commit; the status shows every placement; nothing runs on the hub itself."""
    out = run_demo(installed_wheel, tmp_path, "--clusters")
    registered = [
        out.first(
            lambda line, c=c, labels=labels: (
                line.startswith(f"[sandbox] managed cluster {c} ({labels}) at https://127.0.0.1:")
                and line.endswith(f"/apis/cluster.core.oam.dev/v1alpha1/clustergateways/{c}/proxy")
            )
        )
        for c, labels in (("edge-1", "env=test"), ("edge-2", "env=prod"), ("edge-3", "env=prod"))
    ]
    suspended = out.first(
        lambda line: line == "[deploy] workflowSuspending | deploy-test:succeeded -> approve-prod:suspending"
    )
    deployed = out.first(lambda line: line.startswith("[test edge-1] serves:") and "frontend v1.0.0" in line)
    dev = dev_mode_steps(out, "Deployment test/frontend in cluster edge-1")
    restored = out.first(lambda line: line.startswith("[test edge-1] serves again:") and "frontend v1.0.0" in line)
    triggered, commit = out.pushed()
    test_v2 = out.serves_commit("test edge-1", commit, "approve-prod:suspending")
    promoted = out.first(lambda line: line.startswith("[promote] resumed the workflow"))
    prod_v2 = [out.serves_commit(f"prod {c}", commit, "deploy-prod:succeeded") for c in ("edge-2", "edge-3")]
    # what `veladev status` shows: health per component x cluster, then each deploy step's placements
    status = [
        out.first(lambda line, c=c, ns=ns: re.fullmatch(rf"\[status\]\s+frontend\s+{c}\s+{ns}\s+✓ healthy.*", line))
        for c, ns in (("edge-1", "test"), ("edge-2", "prod"), ("edge-3", "prod"))
    ]
    status.append(out.first(lambda line: re.fullmatch(r"\[status\]\s+deploy-test\s+edge-1/test", line)))
    status.append(out.first(lambda line: re.fullmatch(r"\[status\]\s+deploy-prod\s+edge-2/prod, edge-3/prod", line)))
    order = [*registered, suspended, deployed, *dev, restored, triggered, test_v2, promoted, *prod_v2, *status]
    assert order == sorted(order), out.stdout
    # nothing of the app runs on the hub itself
    on_hub = [
        line
        for line in out.lines
        if line.startswith(("[test]", "[prod]")) or re.match(r"\[status\].*(\slocal\s|local/)", line)
    ]
    assert not on_hub, out.stdout
    assert out.lines[-1] == "[done] test and prod run the pushed commit in every cluster"


def test_demo_keep_sandbox_is_seen_by_velasandbox_status_and_down(tmp_path):
    """`velasandbox status` and `down` (no --state-dir) find the sandbox `veladev demo` runs."""
    from support import run_cli
    from velasandbox.runtime import namespace_support

    reason = namespace_support()
    if reason:
        pytest.skip(reason)
    env = dict(os.environ, PYTHONUNBUFFERED="1", VELASANDBOX_STATE_DIR=str(tmp_path / "state"))
    # Files, not pipes: nobody reads the demo's output while it runs, and a full pipe would block it.
    out, err = (tmp_path / "demo.out").open("w+"), (tmp_path / "demo.err").open("w+")
    demo = subprocess.Popen([sys.executable, "-m", "veladev", "demo", "--keep"], stdout=out, stderr=err, env=env)
    try:
        for _ in range(600):  # the demo says where its cluster is once the sandbox is up
            if "[sandbox] local cluster at" in (tmp_path / "demo.out").read_text() or demo.poll() is not None:
                break
            time.sleep(0.5)
        status = run_cli("velasandbox", "status", env=env, timeout=60)
        assert status.returncode == 0, (status.stdout, status.stderr, demo.poll())
        assert f"running (pid {demo.pid})" in status.stdout
        down = run_cli("velasandbox", "down", env=env, timeout=120)
        assert (down.returncode, down.stdout.strip()) == (0, "velasandbox stopped"), (
            down.stderr,
            (tmp_path / "demo.out").read_text(),
            (tmp_path / "demo.err").read_text()[-3000:],
        )
        # Stopped by `down` (SIGTERM) as by Ctrl-C: during the flow (130) or while kept at its end (0).
        assert demo.wait(timeout=120) in (0, 130), (tmp_path / "demo.err").read_text()[-3000:]
        after = run_cli("velasandbox", "status", env=env, timeout=60)
        assert after.returncode == 3 and "not running" in after.stdout
        assert not os.listdir(tmp_path / "state" / "embedded")
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        out.close()
        err.close()


def test_demo_clusters_stops_at_once_when_the_app_names_clusters_the_hub_does_not_have(tmp_path):
    """An --app whose topology names an unknown cluster, or selects none, is checked against the
    hub's registered clusters once the sandbox is up: the finding, exit 1, the sandbox stopped
    (not a deploy step failing until the demo times out)."""
    from support import run_cli
    from velasandbox.runtime import namespace_support

    reason = namespace_support()
    if reason:
        pytest.skip(reason)
    example = (ROOT / "examples" / "frontend" / "vela-app-multicluster.yaml").read_text()
    bad = example.replace('clusters: ["edge-1"]', 'clusters: ["edge-9"]').replace("env: prod", "env: qa")
    assert bad.count("edge-9") == 1 and bad.count("env: qa") == 1
    app = tmp_path / "app.yaml"
    app.write_text(bad)
    env = {"PYTHONUNBUFFERED": "1", "VELASANDBOX_STATE_DIR": str(tmp_path / "state")}
    r = run_cli("veladev", "demo", "--clusters", "--app", str(app), env=env, timeout=600)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stdout.splitlines()
    assert any(
        line.startswith(f"[check] {app}:") and "'edge-9', which is not registered on the hub" in line for line in lines
    ), r.stdout
    assert any(line.startswith("[check] ") and "{env=qa} matches no registered cluster" in line for line in lines)
    assert lines[-1] == "[failed] app.yaml does not fit the sandbox's clusters; fix it first", r.stdout
    assert not any(line.startswith("[deploy]") for line in lines), r.stdout
    after = run_cli("velasandbox", "status", env=env, timeout=60)
    assert after.returncode == 3 and "not running" in after.stdout
    assert not os.listdir(tmp_path / "state" / "embedded")
