"""`veladev demo`: the seed's delivery flow, end to end, on a local sandbox cluster.

It starts velasandbox (a local Kubernetes API with real pods, KubeVela and VelaUX stand-ins),
checks the example Application, deploys it (test, then a suspend before prod), runs dev mode on
the component in test, ships a new commit through the VelaUX trigger, shows `test` serving it
while `prod` waits, and promotes.

`--clusters` runs the same steps across managed clusters: the sandbox is a hub with clusters
`edge-1` (env=test), `edge-2` and `edge-3` (env=prod) registered as KubeVela registers them; the
multi-cluster example places test in edge-1 and prod in every cluster labelled env=prod, and
everything in a managed cluster (dev mode, reads, HTTP requests) goes through the hub's
cluster-gateway with the hub's credentials alone.
Only this module and the tests import velasandbox.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .packaged import packaged_dir

EXAMPLE = packaged_dir("examples") / "frontend"
SINGLE_CLUSTER_APP = EXAMPLE / "vela-app.yaml"
MULTICLUSTER_APP = EXAMPLE / "vela-app-multicluster.yaml"
#: The managed clusters of `--clusters`, with their labels (the example's policies select them).
MANAGED_CLUSTERS = {"edge-1": {"env": "test"}, "edge-2": {"env": "prod"}, "edge-3": {"env": "prod"}}


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


@dataclass(frozen=True, slots=True)
class Target:
    """One place an environment of the Application runs: a cluster (`local` is the hub) and a
    namespace, with an ApiClient that reaches that cluster (through the hub's gateway for a
    managed one)."""

    env: str
    cluster: str
    namespace: str
    api: Any = field(compare=False)

    @property
    def tag(self) -> str:
        """The output's step tag: `test`, or `test edge-1` in a managed cluster."""
        from .cluster.clusters import is_local

        return self.env if is_local(self.cluster) else f"{self.env} {self.cluster}"

    def page(self, component: str) -> str:
        """What the component's ready pod serves on port 80."""
        from .cluster.pods import http_get, ready_pod

        return http_get(self.api, self.namespace, ready_pod(self.api, self.namespace, component)).strip()


@dataclass
class Demo:
    """The state the steps share: the sandbox, the example's git repository, the Application."""

    sandbox: Any
    kubeconfig: str
    api: Any  # the hub's
    app_path: Path
    app: dict
    repo: Path
    clients: dict[str, Any] = field(default_factory=dict)

    @property
    def ns(self) -> str:
        return self.app["metadata"].get("namespace", "default")

    @property
    def name(self) -> str:
        return self.app["metadata"]["name"]

    @property
    def comp(self) -> str:
        return self.app["spec"]["components"][0]["name"]

    def client(self, cluster: str):
        """An ApiClient for `cluster`, made once: the hub's for `local`, else through the gateway."""
        from .cluster.clusters import gateway_client, is_local

        if is_local(cluster):
            return self.api
        if cluster not in self.clients:
            self.clients[cluster] = gateway_client(self.api, cluster)
        return self.clients[cluster]

    def application(self) -> dict:
        from .cluster.apps import get_application

        return get_application(self.api, self.ns, self.name)

    def targets(self, env: str, app: dict | None = None) -> list[Target]:
        """Where `env` runs now: the component's placements in the Application's status whose
        namespace is the one the `deploy-<env>` step's topology policies name."""
        from .cluster.clusters import component_placements

        namespace = _env_namespace(self.app, env)
        placements = component_placements(app or self.application(), self.comp)
        return [
            Target(env, p.cluster, p.namespace, self.client(p.cluster))
            for p in sorted(placements, key=lambda p: p.cluster)
            if p.namespace == namespace
        ]

    def close(self) -> None:
        for client in [self.api, *self.clients.values()]:
            client.close()


def _env_namespace(app: dict, env: str) -> str:
    """The namespace of the topology policies that the workflow step `deploy-<env>` uses
    (the environment's name when the step or its policies name none)."""
    policies = {p.get("name"): p for p in (app.get("spec") or {}).get("policies") or []}
    steps = ((app.get("spec") or {}).get("workflow") or {}).get("steps") or []
    step: dict = next((s for s in steps if s.get("name") == f"deploy-{env}"), {})
    for name in (step.get("properties") or {}).get("policies") or []:
        policy = policies.get(name) or {}
        if policy.get("type") == "topology" and (policy.get("properties") or {}).get("namespace"):
            return str(policy["properties"]["namespace"])
    return env


# ---------------------------------------------------------------- the steps, in order


def _check(app_path: Path) -> bool:
    from .appmodel.findings import Severity
    from .appmodel.validate import check_text
    from .catalog import bundled_catalog

    findings = check_text(app_path.read_text(encoding="utf-8"), bundled_catalog())
    for f in findings:
        print(f.format(str(app_path)))
    if any(f.severity == Severity.ERROR for f in findings):
        _say("check", "the Application has errors; fix them first")
        return False
    _say("check", f"{app_path.name}: {len(findings)} finding(s), no errors")
    return True


def _check_on_hub(app_path: Path, kubeconfig: str) -> bool:
    """The file against the running hub, as `veladev check --kubeconfig` checks it: its topology
    policies against the registered clusters (a cluster KubeVela cannot find would leave the
    deploy step failing until the demo times out)."""
    from .appmodel.findings import Severity
    from .appmodel.validate import check_text
    from .catalog import bundled_catalog
    from .catalog.live import load_live_catalog
    from .cluster import ClusterConfig

    catalog = load_live_catalog(bundled_catalog(), ClusterConfig(kubeconfig, ""))
    errors = [f for f in check_text(app_path.read_text(encoding="utf-8"), catalog) if f.severity == Severity.ERROR]
    for f in errors:
        _say("check", f.format(str(app_path)))
    return not errors


def _why_no_sandbox() -> str:
    """Why the sandbox cannot run the example here ("" when it can)."""
    try:
        from velasandbox.runtime import namespace_support
    except ImportError:
        return "velasandbox is not installed (pip install . from the repository)"
    reason = namespace_support()
    if reason:
        return f"cannot run pods here: {reason}"
    if not shutil.which("node"):
        return "the example frontend needs Node.js on this machine (apt-get install nodejs)"
    return ""


def _start_sandbox(work: Path, clusters: bool):
    from velasandbox.sandbox import Sandbox

    from .cluster.clusters import gateway_host

    sandbox = Sandbox(str(work / "cluster")).start()
    try:
        _say(
            "sandbox",
            f"local cluster at {sandbox.server_url} (kubeconfig {sandbox.kubeconfig}), VelaUX at {sandbox.velaux.url}",
        )
        for name, labels in MANAGED_CLUSTERS.items() if clusters else ():
            managed = sandbox.add_cluster(name, labels=labels)
            shown = ",".join(f"{k}={v}" for k, v in labels.items())
            _say(
                "sandbox",
                f"managed cluster {name} ({shown}) at {managed.server_url}, registered on the hub; "
                f"veladev reaches it with the hub's credentials at {gateway_host(sandbox.server_url, name)}",
            )
    except BaseException:
        sandbox.stop()
        raise
    return sandbox


def _make_repo(work: Path, sandbox) -> Path:
    """The example as a git repository at tag v1.0.0, which the sandbox builds images from."""
    repo = work / "frontend"
    shutil.copytree(EXAMPLE, repo)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "frontend v1.0.0")
    _git(repo, "tag", "v1.0.0")
    # `sandbox.local/frontend:<commit>` images: one registry every cluster pulls from
    for cluster in [sandbox, *sandbox.clusters.values()]:
        cluster.register_repo("frontend", str(repo))
    return repo


def _suspended(demo: Demo, what: str) -> dict:
    from .delivery.workflow import read_workflow

    return _wait(what, lambda: (lambda a: a if read_workflow(a).suspending_steps() else None)(demo.application()))


def _placed(demo: Demo, env: str, app: dict) -> list[Target]:
    targets = demo.targets(env, app)
    if not targets:
        from .delivery.workflow import WorkflowError

        namespace = _env_namespace(demo.app, env)
        raise WorkflowError(f"deploy-{env} placed {demo.comp} in no cluster's namespace {namespace}")
    return targets


def _deploy(demo: Demo) -> list[Target]:
    """Apply the Application; the workflow deploys test and waits for approval; test serves."""
    from .cluster.apps import apply_application

    apply_application(demo.api, demo.app, demo.ns)
    _say("deploy", f"applied Application {demo.ns}/{demo.name}")
    suspended = _suspended(demo, "the workflow to wait for approval")
    _say("deploy", _show_workflow(suspended))
    tests = _placed(demo, "test", suspended)  # deploy-test has succeeded: its placements are in the status
    for t in tests:
        _say(t.tag, f"serves: {_wait(f'{t.tag} to serve the page', lambda t=t: t.page(demo.comp))}")
    return tests


def _dev_mode(demo: Demo, target: Target) -> None:
    """Dev mode on the component in test: run it from the working copy, edit, see the edit
    live through the forward (hot reload), end dev mode (the workload is restored)."""
    from .devmode.session import DevSession

    output: list[str] = []

    def show(text: str) -> None:
        output.append(text)
        _say("dev run", text.rstrip())

    session = DevSession(
        demo.api,
        demo.app_path,
        demo.comp,
        namespace=target.namespace,
        cluster=target.cluster,
        connect_to=demo.client,  # the same gateway client as every other step in that cluster
        local_dir=demo.repo,
        on_output=show,
    )
    pod = session.start(progress=lambda text: _say("dev", text))
    _say("dev", f"dev mode on: {session.workload.ref}, dev pod {pod.name}")
    try:
        _edit_and_reload(session, demo.repo, output, pod)
    finally:
        session.end(progress=lambda text: _say("dev", text))
    _say("dev", f"dev end: {session.workload.ref} is restored and Application reconciliation resumed")


def _edit_and_reload(session, repo: Path, output: list[str], pod) -> None:
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

    def serving(version: str) -> str:
        return _wait(
            f"{url} to serve {version}",
            lambda: (lambda p: p if version in p else None)(_local_get(url)),
            timeout=60,
            interval=0.05,
        )

    _say("dev", f"GET {url}: {serving('v1.0.0').strip()}")
    (repo / "VERSION").write_text("v2.0.0\n")
    edited = time.monotonic()
    page = serving("v2.0.0")
    _say(
        "dev",
        f"edited VERSION to v2.0.0 in the working copy; GET {url} {time.monotonic() - edited:.2f} s "
        f"later: {page.strip()}",
    )
    _wait(
        "the hot reload",
        lambda: (
            session.process is not None and session.process.restarts >= 1 and sum("listening" in t for t in output) >= 2
        ),
        timeout=60,
        interval=0.05,
    )
    _say(
        "dev",
        f"hot reload restarted the run {time.monotonic() - edited:.2f} s after the edit; GET {url}: "
        f"{_local_get(url).strip()}",
    )


def _served_again(demo: Demo, tests: list[Target]) -> None:
    for t in tests:
        page = _wait(f"{t.tag} to serve the restored page", lambda t=t: t.page(demo.comp))
        _say(t.tag, f"serves again: {page}")


def _push_and_trigger(demo: Demo) -> str:
    """Commit the edit and start a new delivery through VelaUX's webhook trigger; the commit."""
    from .delivery.trigger import trigger_webhook

    _git(demo.repo, "commit", "-qam", "frontend v2.0.0")
    commit = _git(demo.repo, "rev-parse", "HEAD")
    token = demo.sandbox.velaux.create_trigger(demo.name, demo.ns)
    result = trigger_webhook(
        demo.sandbox.velaux.url,
        token,
        {demo.comp: {"image": f"sandbox.local/frontend:{commit}"}},
        {"commit": commit, "branch": "main", "user": "developer"},
    )
    _say("trigger", f"pushed {commit[:8]}; VelaUX started {result['version']}")
    return commit


def _serves_commit(demo: Demo, target: Target, commit: str) -> str:
    """What the target serves once its pod runs the commit's image and serves v2.0.0: the
    page, then the pod and its image as the cluster reports them."""
    from .cluster.pods import pod_images, ready_pod

    def check() -> str | None:
        pod = ready_pod(target.api, target.namespace, demo.comp)
        images = [i for i in pod_images(target.api, target.namespace, pod) if i.endswith(f":{commit}")]
        page = target.page(demo.comp) if images else ""
        return f"{page}  (pod {pod}, image {images[0]}" if "v2.0.0" in page else None

    return _wait(f"{target.tag} to serve v2.0.0 from {commit[:8]}", check, interval=0.5)


def _test_runs_commit(demo: Demo, tests: list[Target], commit: str) -> None:
    served = {t: _serves_commit(demo, t, commit) for t in tests}
    waiting = _show_workflow(_suspended(demo, "the new run to wait for approval"))
    for t, what in served.items():
        _say(t.tag, f"serves: {what}; {waiting})")


def _promote(demo: Demo, commit: str) -> None:
    from .delivery.promote import promote
    from .delivery.workflow import read_workflow

    promote(demo.api, demo.ns, demo.name)
    _say("promote", "resumed the workflow (suspend=false, suspending steps -> running)")
    done = _wait(
        "the workflow to finish",
        lambda: (lambda a: a if read_workflow(a).finished else None)(demo.application()),
    )
    for t in _placed(demo, "prod", done):  # the workflow has finished: every placement is in the status
        _say(t.tag, f"serves: {_serves_commit(demo, t, commit)}; {_show_workflow(done)})")


def _status(demo: Demo) -> None:
    """What `veladev status` shows: the workflow, each component's health per cluster (every
    cluster probed through the hub) and each deploy step's placements."""
    from .delivery.status import application_status, describe_status

    for line in describe_status(application_status(demo.api, demo.ns, demo.name)):
        _say("status", line)


def _flow(demo: Demo) -> None:
    tests = _deploy(demo)
    _dev_mode(demo, tests[0])
    _served_again(demo, tests)
    commit = _push_and_trigger(demo)
    _test_runs_commit(demo, tests, commit)
    _promote(demo, commit)
    _status(demo)


def run(app_file: Path | None = None, keep: bool = False, clusters: bool = False) -> int:
    from .cluster import ClusterError
    from .delivery.trigger import TriggerError
    from .delivery.workflow import WorkflowError
    from .devmode import DevModeError

    app_path = app_file or (MULTICLUSTER_APP if clusters else SINGLE_CLUSTER_APP)
    if not _check(app_path):
        return 1
    reason = _why_no_sandbox()
    if reason:
        _say("sandbox", reason)
        return 1
    from kubernetes import config as kube_config

    from velasandbox.cli import Announcement

    work = Path(tempfile.mkdtemp(prefix="veladev-demo-"))
    sandbox = _start_sandbox(work, clusters)
    announcement = Announcement(sandbox)  # `velasandbox status` and `down` see this sandbox
    demo = None
    try:
        if not _check_on_hub(app_path, sandbox.kubeconfig):
            _say("failed", f"{app_path.name} does not fit the sandbox's clusters; fix it first")
            return 1
        repo = _make_repo(work, sandbox)
        api = kube_config.new_client_from_config(config_file=sandbox.kubeconfig)
        app = yaml.safe_load(app_path.read_text(encoding="utf-8"))
        demo = Demo(sandbox, sandbox.kubeconfig, api, app_path, app, repo)
        _flow(demo)
        _say("done", "test and prod run the pushed commit" + (" in every cluster" if clusters else ""))
        return 0
    except (ClusterError, TriggerError, WorkflowError, DevModeError, TimeoutError) as exc:
        _say("failed", str(exc))
        return 1
    finally:
        if demo is not None:
            demo.close()
        _keep_running(keep, announcement, sandbox)
        announcement.close()
        sandbox.stop()
        shutil.rmtree(work, ignore_errors=True)


def _keep_running(keep: bool, announcement, sandbox) -> None:
    if keep and not announcement.terminated:
        _say("sandbox", f"left running: KUBECONFIG={sandbox.kubeconfig} (stop with Ctrl-C)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
