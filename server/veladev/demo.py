"""`veladev demo`: the seed's delivery flow, end to end, on a local sandbox cluster.

It starts velasandbox (a local Kubernetes API with real pods, KubeVela and VelaUX stand-ins),
checks the example Application, deploys it (test, then a suspend before prod), ships a new
commit through the VelaUX trigger, shows `test` serving it while `prod` waits, and promotes.
Only this module and the tests import velasandbox.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

from .packaged import packaged_dir

EXAMPLE = packaged_dir("examples") / "frontend"


def _say(step: str, text: str) -> None:
    print(f"[{step}] {text}", flush=True)


def _git(repo: Path, *args: str) -> str:
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="veladev demo",
        GIT_AUTHOR_EMAIL="demo@veladev.invalid",
        GIT_COMMITTER_NAME="veladev demo",
        GIT_COMMITTER_EMAIL="demo@veladev.invalid",
    )
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


def _wait(what: str, check, timeout: float = 120, interval: float = 0.2):
    """Poll `check` until it returns something true; a rollout in progress may fail a check."""
    from .cluster import ClusterError

    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except ClusterError as exc:
            last = exc
        else:
            if result:
                return result
            last = result
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last})")


def _show_workflow(app: dict) -> str:
    from .delivery.workflow import read_workflow

    state = read_workflow(app)
    steps = " -> ".join(f"{s.name}:{s.phase}" for s in state.steps)
    return f"{state.app_phase or 'starting'} | {steps}"


def _local_get(url: str) -> str:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read().decode(errors="replace")
    except (urllib.error.URLError, OSError):
        return ""


def _dev_mode(api, app_path: Path, repo: Path, comp: str) -> None:
    """Dev mode on the component in test: run it from the working copy, edit, see the edit
    live through the forward (hot reload), end dev mode (the workload is restored)."""
    from .devmode.session import DevSession

    output: list[str] = []

    def show(text: str) -> None:
        output.append(text)
        _say("dev run", text.rstrip())

    session = DevSession(api, app_path, comp, local_dir=repo, on_output=show)
    pod = session.start(progress=lambda text: _say("dev", text))
    _say("dev", f"dev mode on: {session.workload.ref}, dev pod {pod.name}")
    try:
        # On a shared machine 8080 may be taken: then any free port (the line below names it).
        forwards = session.up(any_free_port=True)
        assert session.sync is not None and session.forwards is not None  # up() starts both
        session.sync.wait_idle(60)
        _say(
            "dev",
            f"synced {repo} to {pod.work_dir}; forwarding {', '.join(forwards)}"
            + ("" if session.forwards.local_port(80) == 8080 else " (8080 is in use here)"),
        )
        session.run()
        _wait("the run to listen", lambda: any("listening" in t for t in output), timeout=60, interval=0.05)
        url = f"http://127.0.0.1:{session.forwards.local_port(80)}/"
        page = _wait(
            f"{url} to serve v1.0.0",
            lambda: (lambda p: p if "v1.0.0" in p else None)(_local_get(url)),
            timeout=60,
            interval=0.1,
        )
        _say("dev", f"GET {url}: {page.strip()}")
        (repo / "VERSION").write_text("v2.0.0\n")
        edited = time.monotonic()
        page = _wait(
            f"{url} to serve v2.0.0",
            lambda: (lambda p: p if "v2.0.0" in p else None)(_local_get(url)),
            timeout=60,
            interval=0.05,
        )
        _say(
            "dev",
            f"edited VERSION to v2.0.0 in the working copy; GET {url} {time.monotonic() - edited:.2f} s "
            f"later: {page.strip()}",
        )
        _wait(
            "the hot reload",
            lambda: (
                session.process is not None
                and session.process.restarts >= 1
                and sum("listening" in t for t in output) >= 2
            ),
            timeout=60,
            interval=0.05,
        )
        page = _local_get(url)
        _say(
            "dev",
            f"hot reload restarted the run {time.monotonic() - edited:.2f} s after the edit; GET {url}: {page.strip()}",
        )
    finally:
        session.end(progress=lambda text: _say("dev", text))
    _say("dev", f"dev end: {session.workload.ref} is restored and Application reconciliation resumed")


def run(app_file: Path | None = None, keep: bool = False) -> int:
    from .appmodel.findings import Severity
    from .appmodel.validate import check_text
    from .catalog import bundled_catalog
    from .cluster import ClusterError
    from .cluster.apps import apply_application, get_application
    from .cluster.pods import http_get, ready_pod
    from .delivery.promote import promote
    from .delivery.trigger import TriggerError, trigger_webhook
    from .delivery.workflow import WorkflowError, read_workflow
    from .devmode import DevModeError

    app_path = app_file or EXAMPLE / "vela-app.yaml"
    text = app_path.read_text(encoding="utf-8")
    findings = check_text(text, bundled_catalog())
    for f in findings:
        print(f.format(str(app_path)))
    if any(f.severity == Severity.ERROR for f in findings):
        _say("check", "the Application has errors; fix them first")
        return 1
    _say("check", f"{app_path.name}: {len(findings)} finding(s), no errors")

    try:
        from velasandbox.runtime import namespace_support
        from velasandbox.sandbox import Sandbox
    except ImportError:
        _say("sandbox", "velasandbox is not installed (pip install . from the repository)")
        return 1
    reason = namespace_support()
    if reason:
        _say("sandbox", f"cannot run pods here: {reason}")
        return 1
    if not shutil.which("node"):
        _say("sandbox", "the example frontend needs Node.js on this machine (apt-get install nodejs)")
        return 1

    from velasandbox.cli import Announcement

    work = Path(tempfile.mkdtemp(prefix="veladev-demo-"))
    sandbox = Sandbox(str(work / "cluster")).start()
    announcement = Announcement(sandbox)  # `velasandbox status` and `down` see this sandbox
    api = None
    try:
        _say(
            "sandbox",
            f"local cluster at {sandbox.server_url} (kubeconfig {sandbox.kubeconfig}), VelaUX at {sandbox.velaux.url}",
        )
        repo = work / "frontend"
        shutil.copytree(EXAMPLE, repo)
        _git(repo, "init", "-q")
        _git(repo, "add", "-A")
        _git(repo, "commit", "-qm", "frontend v1.0.0")
        _git(repo, "tag", "v1.0.0")
        sandbox.register_repo("frontend", str(repo))

        from kubernetes import config as kube_config

        api = kube_config.new_client_from_config(config_file=sandbox.kubeconfig)
        app = yaml.safe_load(text)
        ns, name = app["metadata"].get("namespace", "default"), app["metadata"]["name"]
        comp = app["spec"]["components"][0]["name"]
        apply_application(api, app, ns)
        _say("deploy", f"applied Application {ns}/{name}")
        suspended = _wait(
            "the workflow to wait for approval",
            lambda: (lambda a: a if read_workflow(a).suspending_steps() else None)(get_application(api, ns, name)),
        )
        _say("deploy", _show_workflow(suspended))
        page = _wait("test to serve the page", lambda: http_get(api, "test", ready_pod(api, "test", comp)))
        _say("test", f"serves: {page.strip()}")

        _dev_mode(api, app_path, repo, comp)
        page = _wait("test to serve the restored page", lambda: http_get(api, "test", ready_pod(api, "test", comp)))
        _say("test", f"serves again: {page.strip()}")

        _git(repo, "commit", "-qam", "frontend v2.0.0")
        commit = _git(repo, "rev-parse", "HEAD")
        token = sandbox.velaux.create_trigger(name, ns)
        result = trigger_webhook(
            sandbox.velaux.url,
            token,
            {comp: {"image": f"sandbox.local/frontend:{commit}"}},
            {"commit": commit, "branch": "main", "user": "developer"},
        )
        _say("trigger", f"pushed {commit[:8]}; VelaUX started {result['version']}")
        _wait(
            "test to serve v2.0.0",
            lambda: "v2.0.0" in http_get(api, "test", ready_pod(api, "test", comp)),
            interval=0.5,
        )
        again = _wait(
            "the new run to wait for approval",
            lambda: (lambda a: a if read_workflow(a).suspending_steps() else None)(get_application(api, ns, name)),
        )
        _say(
            "test", f"serves: {http_get(api, 'test', ready_pod(api, 'test', comp)).strip()}  ({_show_workflow(again)})"
        )

        promote(api, ns, name)
        _say("promote", "resumed the workflow (suspend=false, suspending steps -> running)")
        _wait(
            "prod to serve v2.0.0",
            lambda: "v2.0.0" in http_get(api, "prod", ready_pod(api, "prod", comp)),
            interval=0.5,
        )
        done = _wait(
            "the workflow to finish",
            lambda: (lambda a: a if read_workflow(a).finished else None)(get_application(api, ns, name)),
        )
        _say("prod", f"serves: {http_get(api, 'prod', ready_pod(api, 'prod', comp)).strip()}  ({_show_workflow(done)})")
        _say("done", "test and prod run the pushed commit")
        return 0
    except (ClusterError, TriggerError, WorkflowError, DevModeError, TimeoutError) as exc:
        _say("failed", str(exc))
        return 1
    finally:
        if api is not None:
            api.close()
        if keep and not announcement.terminated:
            _say("sandbox", f"left running: KUBECONFIG={sandbox.kubeconfig} (stop with Ctrl-C)")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        announcement.close()
        sandbox.stop()
        shutil.rmtree(work, ignore_errors=True)
