"""The delivery engine behind the editor's one-click actions, through the CLI verbs, against
the sandbox (KubeVela and VelaUX stand-ins), real git (local bare repositories, and an HTTP
remote that refuses credentials) and real HTTP."""

import http.server
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
import yaml

from kv_helpers import Apps, app_obj, git, wf_of
from veladev import cli
from veladev.delivery.workflow import read_workflow

pytestmark = pytest.mark.sandbox
ROOT = Path(__file__).resolve().parents[2]
VELADEV = [sys.executable, "-m", "veladev"]


def gated(name, ns, image="sandbox.local/toolchain"):
    comps = [{"name": "web", "type": "worker", "properties": {"image": image}}]
    steps = [
        {"name": "gate", "type": "suspend", "properties": {"message": "approve me"}},
        {
            "name": "announce",
            "type": "notification",
            "properties": {"slack": {"url": {"value": "http://127.0.0.1:9/hook"}, "message": {"text": "done"}}},
        },
    ]
    app = app_obj(name, comps, steps=steps)
    app["metadata"]["namespace"] = ns
    return app


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def kube(sandbox):
    return ["--kubeconfig", sandbox.kubeconfig]


@pytest.fixture
def apps(sandbox):
    return Apps(sandbox)


def write_app(path: Path, app) -> Path:
    path.write_text(yaml.safe_dump(app, sort_keys=False))
    return path


# ------------------------------------------------------------------------------------ deploy


def test_deploy_creates_then_reports_what_changed(sandbox, sandbox_ns, apps, kube, tmp_path, capsys):
    name = f"dep-{uuid.uuid4().hex[:6]}"
    app = gated(name, sandbox_ns)
    app["spec"]["workflow"]["mode"] = {"steps": "StepByStep"}
    f = write_app(tmp_path / "app.yaml", app)
    code, out, _ = run(capsys, "deploy", str(f), *kube)
    assert code == 0 and f"created application {sandbox_ns}/{name}" in out

    code, out, _ = run(capsys, "deploy", str(f), *kube)
    assert code == 0 and "unchanged" in out

    app["spec"]["components"][0]["properties"]["image"] = "sandbox.local/toolchain:v2"
    del app["spec"]["workflow"]["mode"]  # as `vela up`: what the file no longer has goes
    write_app(f, app)
    code, out, _ = run(capsys, "deploy", str(f), *kube)
    assert code == 0
    assert "spec.components[web].properties.image: sandbox.local/toolchain -> sandbox.local/toolchain:v2" in out
    assert "spec.workflow.mode removed" in out
    live = apps.get(sandbox_ns, name)
    assert live["spec"]["components"][0]["properties"]["image"] == "sandbox.local/toolchain:v2"
    assert "mode" not in live["spec"]["workflow"]


def test_deploy_errors_are_one_clear_sentence(sandbox, kube, tmp_path, capsys):
    app = gated("nowhere", "no-such-namespace-x")
    code, _, err = run(capsys, "deploy", str(write_app(tmp_path / "a.yaml", app)), *kube)
    assert code == 1 and "no-such-namespace-x" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1

    (tmp_path / "pod.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n")
    code, _, err = run(capsys, "deploy", str(tmp_path / "pod.yaml"), *kube)
    assert code == 2 and "no KubeVela Application" in err

    (tmp_path / "bad.yaml").write_text("kind: [\n")
    code, _, err = run(capsys, "deploy", str(tmp_path / "bad.yaml"), *kube)
    assert code == 2 and "not valid YAML" in err


# ------------------------------------------------------------------------------ watch, workflow


def test_status_watch_streams_phase_and_step_states(sandbox, sandbox_ns, apps, kube, tmp_path):
    name = f"watch-{uuid.uuid4().hex[:6]}"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "server"))
    # The watch starts before the app exists: it must report it as soon as it appears.
    apps.create(sandbox_ns, gated(name, sandbox_ns))
    proc = subprocess.Popen(
        [*VELADEV, "status", "--watch", "--timeout", "120", f"{sandbox_ns}/{name}", *kube],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    seen = []

    stdout, stderr = proc.stdout, proc.stderr
    assert stdout is not None and stderr is not None

    def read_until(pred):
        for line in stdout:
            seen.append(line.rstrip())
            if pred(line.strip()):
                return
        raise AssertionError("the watch ended early:\n" + "\n".join(seen) + stderr.read())

    try:
        read_until(lambda line: line.startswith("gate") and "suspending" in line)
        Apps(sandbox).resume(sandbox_ns, name)
        read_until(lambda line: line.startswith("announce") and "succeeded" in line)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = "\n".join(seen)
    assert text.count("--- ") >= 3, text  # several states as they changed: a stream, not one print
    assert "workflowSuspending" in text and "running" in text


def test_workflow_terminate_then_restart_then_resume(sandbox, sandbox_ns, apps, kube, capsys):
    name = f"ops-{uuid.uuid4().hex[:6]}"
    apps.create(sandbox_ns, gated(name, sandbox_ns))
    apps.wait(sandbox_ns, name, lambda a: read_workflow(a).suspending_steps(), "the gate to suspend")
    ref = f"{sandbox_ns}/{name}"

    code, out, _ = run(capsys, "workflow", "terminate", ref, *kube)
    assert code == 0, out
    done = apps.wait_phase(sandbox_ns, name, "workflowTerminated")
    gate = wf_of(done)["steps"][0]
    assert (gate["phase"], gate["reason"]) == ("failed", "Terminate") and wf_of(done)["terminated"]

    code, _, err = run(capsys, "workflow", "resume", ref, *kube)
    assert code == 1 and "terminated" in err and "restart" in err

    code, out, _ = run(capsys, "workflow", "restart", ref, *kube)
    assert code == 0
    again = apps.wait(
        sandbox_ns,
        name,
        lambda a: read_workflow(a).suspending_steps() and not wf_of(a).get("terminated"),
        "a new run to suspend at the gate",
    )
    assert wf_of(again)["steps"][0]["phase"] == "suspending"

    code, out, _ = run(capsys, "workflow", "resume", ref, "--step", "gate", *kube)
    assert code == 0
    apps.wait(sandbox_ns, name, lambda a: wf_of(a).get("finished"), "the workflow to finish")
    code, _, err = run(capsys, "workflow", "terminate", ref, *kube)
    assert code == 1 and "already finished" in err


# ------------------------------------------------------------------------------------ git push


@pytest.fixture
def repos(tmp_path):
    """A working clone with upstream `origin/main` in a local bare repository."""
    bare, work = tmp_path / "origin.git", tmp_path / "work"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    work.mkdir()
    git(str(work), "init", "-q", "-b", "main")
    (work / "server.js").write_text("// v1\n")
    git(str(work), "add", "-A")
    git(str(work), "commit", "-qm", "v1")
    git(str(work), "remote", "add", "origin", str(bare))
    git(str(work), "push", "-q", "-u", "origin", "main")
    return bare, work


def commit(work: Path, text: str) -> str:
    (work / "server.js").write_text(text)
    git(str(work), "commit", "-qam", text.strip())
    return git(str(work), "rev-parse", "HEAD")


def push_cli(capsys, work, app_file, *extra):
    return run(
        capsys,
        "push",
        str(app_file),
        "--repo",
        str(work),
        "--image-template",
        "sandbox.local/frontend:{short_commit}-{branch}-{component}",
        *extra,
    )


def test_push_errors_name_the_cause(sandbox, kube, repos, tmp_path, capsys):
    bare, work = repos
    f = write_app(tmp_path / "app.yaml", gated("p", "default"))

    plain = tmp_path / "plain"
    plain.mkdir()
    code, _, err = push_cli(capsys, plain, f, *kube)
    assert code == 1 and "not in a git repository" in err

    code, _, err = push_cli(capsys, work, f, *kube)
    assert code == 1 and "nothing to push" in err and "origin/main" in err

    git(str(work), "checkout", "-qb", "feature")
    commit(work, "// feature\n")
    code, _, err = push_cli(capsys, work, f, *kube)
    assert code == 1 and "no upstream" in err and "git push -u origin feature" in err
    git(str(work), "checkout", "-q", "main")

    # Someone else pushed first: the remote has a commit this clone lacks.
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(bare), str(other)], check=True)
    commit(other, "// theirs\n")
    git(str(other), "push", "-q")
    commit(work, "// mine\n")
    code, _, err = push_cli(capsys, work, f, *kube)
    assert code == 1 and "rejected" in err and "pull or rebase" in err

    code, _, err = push_cli(capsys, work, f, *kube, "--image-template", "x:{tag}")
    assert code == 2 and "{tag}" in err


def test_push_authentication_failure_never_shows_the_credentials(sandbox, kube, repos, tmp_path, capsys):
    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - git's smart HTTP discovery: refuse every credential
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.end_headers()

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        _, work = repos
        git(str(work), "remote", "set-url", "origin", f"http://dev:s3cr3t-pw@127.0.0.1:{httpd.server_port}/app.git")
        commit(work, "// v2\n")
        code, _, err = push_cli(capsys, work, write_app(tmp_path / "app.yaml", gated("p", "default")), *kube)
    finally:
        httpd.shutdown()
    assert code == 1 and "authentication failed" in err
    assert "s3cr3t-pw" not in err and "Traceback" not in err


def test_push_and_trigger_through_velaux_with_a_token_file(
    sandbox, sandbox_ns, apps, repos, tmp_path, capsys, monkeypatch
):
    bare, work = repos
    name = f"pt-{uuid.uuid4().hex[:6]}"
    apps.create(sandbox_ns, gated(name, sandbox_ns))
    token = sandbox.velaux.create_trigger(name, sandbox_ns)
    (tmp_path / "token").write_text(token + "\n")
    monkeypatch.delenv("VELAUX_TRIGGER_TOKEN", raising=False)
    f = write_app(tmp_path / "app.yaml", gated(name, sandbox_ns))
    sha = commit(work, "// v2\n")

    code, out, err = push_cli(capsys, work, f, "--velaux", sandbox.velaux.url, "--token-file", str(tmp_path / "token"))
    assert code == 0, err
    assert git(str(bare), "rev-parse", "main") == sha  # really pushed
    image = f"sandbox.local/frontend:{sha[:7]}-main-web"
    assert f"image {image}" in out and "VelaUX started" in out and token not in out
    live = apps.get(sandbox_ns, name)
    assert live["spec"]["components"][0]["properties"]["image"] == image

    # A wrong token: the error names VelaUX and never the token.
    monkeypatch.setenv("VELAUX_TRIGGER_TOKEN", "wrongtoken123456")
    commit(work, "// v3\n")
    code, out, err = push_cli(capsys, work, f, "--velaux", sandbox.velaux.url)
    assert code == 1 and "VelaUX refused" in err and "wrongtoken123456" not in err + out

    code, _, err = push_cli(capsys, work, f, "--velaux", sandbox.velaux.url, "--token-env", "NO_SUCH_VAR_X")
    assert code == 1 and "no trigger token" in err


def test_push_and_trigger_patches_the_application_without_velaux(
    sandbox, sandbox_ns, apps, kube, repos, tmp_path, capsys
):
    _, work = repos
    name = f"pd-{uuid.uuid4().hex[:6]}"
    apps.create(sandbox_ns, gated(name, sandbox_ns))
    apps.wait(sandbox_ns, name, lambda a: read_workflow(a).suspending_steps(), "the gate to suspend")
    f = write_app(tmp_path / "app.yaml", gated(name, sandbox_ns))
    sha = commit(work, "// v2\n")
    code, out, err = push_cli(capsys, work, f, *kube)
    assert code == 0, err
    assert "patched the Application" in out
    live = apps.get(sandbox_ns, name)
    assert live["spec"]["components"][0]["properties"]["image"] == f"sandbox.local/frontend:{sha[:7]}-main-web"
    # A spec change re-runs the workflow: it suspends at the gate again.
    apps.wait(sandbox_ns, name, lambda a: read_workflow(a).suspending_steps(), "the new run to suspend")

    code, out, err = push_cli(capsys, work, f, *kube, "--no-push")
    assert code == 0 and "using pushed" in out


# ------------------------------------------------------------------------------------ CI


def test_ci_snippets_use_a_secret_variable(tmp_path, capsys):
    f = write_app(tmp_path / "app.yaml", gated("frontend", "default"))
    code, out, _ = run(capsys, "ci", "gitlab", str(f), "--image-template", "reg.example.com/fe:{short_commit}")
    assert code == 0
    gl = yaml.safe_load((tmp_path / ".gitlab-ci.yml").read_text())
    job = gl["webhook-request"]
    assert job["variables"]["BUILD_IMAGE"] == "reg.example.com/fe:$CI_COMMIT_SHORT_SHA"
    assert '"$VELAUX_WEBHOOK_URL"' in job["script"][0] and '{"upgrade":{"web":' in job["script"][0]

    code, out, _ = run(capsys, "ci", "github", str(f), "--image-template", "reg.example.com/fe:{commit}")
    assert code == 0
    gh = yaml.safe_load((tmp_path / ".github/workflows/velaux-trigger.yml").read_text())
    step = gh["jobs"]["webhook-request"]["steps"][0]
    assert step["env"]["VELAUX_WEBHOOK_URL"] == "${{ secrets.VELAUX_WEBHOOK_URL }}"
    assert 'BUILD_IMAGE="reg.example.com/fe:$GITHUB_SHA"' in step["run"]

    code, _, err = run(capsys, "ci", "gitlab", str(f), "--image-template", "x:{commit}")
    assert code == 2 and "already exists" in err
