"""Helpers for the KubeVela / VelaUX stand-in tests (official kubernetes client only)."""

import copy
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request

import yaml
from kubernetes import client

GROUP, VERSION = "core.oam.dev", "v1beta1"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "frontend")


class Apps:
    """Applications through CustomObjectsApi."""

    def __init__(self, sandbox, api=None):
        self.sb = sandbox
        self.api = api or sandbox.api_client()
        self.co = client.CustomObjectsApi(self.api)
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)

    def create(self, ns, app):
        return self.co.create_namespaced_custom_object(GROUP, VERSION, ns, "applications", app)

    def get(self, ns, name):
        return self.co.get_namespaced_custom_object(GROUP, VERSION, ns, "applications", name)

    def patch(self, ns, name, body):
        return self.co.patch_namespaced_custom_object(
            GROUP, VERSION, ns, "applications", name, body, _content_type="application/merge-patch+json"
        )

    def patch_status(self, ns, name, body):
        return self.co.patch_namespaced_custom_object_status(
            GROUP, VERSION, ns, "applications", name, body, _content_type="application/merge-patch+json"
        )

    def replace_status(self, ns, name, body):
        return self.co.replace_namespaced_custom_object_status(GROUP, VERSION, ns, "applications", name, body)

    def delete(self, ns, name):
        return self.co.delete_namespaced_custom_object(GROUP, VERSION, ns, "applications", name)

    def wait(self, ns, name, pred, what, timeout=60):
        def check():
            a = self.get(ns, name)
            return a if pred(a) else None

        return self.sb.wait_for(check, timeout=timeout, interval=0.05, what=f"{what} ({ns}/{name})")

    def wait_phase(self, ns, name, phase, timeout=60):
        return self.wait(ns, name, lambda a: (a.get("status") or {}).get("status") == phase, f"phase {phase}", timeout)

    def resume(self, ns, name):
        """KubeVela 1.9/1.10 ResumeWorkflow, written here from KubeVela's
        pkg/workflow/operation/operation.go (not veladev's code, which these tests would otherwise
        check against itself): the whole Application as a merge patch on /status, with
        suspend=false and every suspending step and sub-step set to running."""
        app = self.get(ns, name)
        wf = app["status"]["workflow"]
        wf["suspend"] = False
        for step in wf.get("steps") or []:
            for st in [step, *(step.get("subSteps") or [])]:
                if st.get("phase") == "suspending":
                    st["phase"] = "running"
        return self.patch_status(ns, name, app)


def event_count(apps, ns, name, reason):
    """How many times the stand-in recorded `reason` for Application `name` (aggregated events)."""
    return sum(
        e.count or 1
        for e in apps.core.list_namespaced_event(ns).items
        if e.involved_object.name == name and e.involved_object.kind == "Application" and e.reason == reason
    )


def wait_for_passes(apps, ns, name, reason, passes=2):
    """Wait until the controller has visited the app `passes` more times (evidence that a resync
    ran), so that a check after it proves something happened, or did not, in those passes."""
    start = event_count(apps, ns, name, reason)
    apps.sb.wait_for(
        lambda: event_count(apps, ns, name, reason) >= start + passes,
        timeout=60,
        what=f"{passes} more {reason} passes on {ns}/{name}",
    )


def steps_of(app):
    return {s["name"]: s for s in ((app.get("status") or {}).get("workflow") or {}).get("steps") or []}


def step_phase(app, name):
    return steps_of(app).get(name, {}).get("phase")


def wf_of(app):
    return (app.get("status") or {}).get("workflow") or {}


def app_obj(name, components, steps=None, policies=None, annotations=None, labels=None, mode=None):
    spec = {"components": components}
    if policies is not None:
        spec["policies"] = policies
    if steps is not None:
        spec["workflow"] = {"steps": steps}
        if mode:
            spec["workflow"]["mode"] = mode
    md = {"name": name}
    if annotations:
        md["annotations"] = annotations
    if labels:
        md["labels"] = labels
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Application", "metadata": md, "spec": spec}


def example_app():
    with open(os.path.join(EXAMPLE, "vela-app.yaml")) as f:
        return yaml.safe_load(f)


# ---------------------------------------------------------------------------------------- git


def git(repo, *args):
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.com",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.com",
    )
    return subprocess.run(
        ["git", "-C", repo, *args], check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


def make_frontend_repo(path):
    """examples/frontend as a git repository with tag v1.0.0."""
    shutil.copytree(EXAMPLE, path, dirs_exist_ok=True)
    git(path, "init", "-q")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "frontend v1.0.0")
    git(path, "tag", "v1.0.0")
    return path


def commit_version(repo, version):
    with open(os.path.join(repo, "VERSION"), "w") as f:
        f.write(version + "\n")
    git(repo, "commit", "-qam", f"frontend {version}")
    return git(repo, "rev-parse", "HEAD")


# ---------------------------------------------------------------------------------------- pods


def ready_pod(sb, core, ns, component, timeout=60):
    """The one ready, current pod of a component (after a rollout settles)."""

    def check():
        pods = [
            p
            for p in core.list_namespaced_pod(ns, label_selector=f"app.oam.dev/component={component}").items
            if not p.metadata.deletion_timestamp
        ]
        ready = [p for p in pods if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]
        return ready[0] if len(pods) == 1 and len(ready) == 1 else None

    return sb.wait_for(check, timeout=timeout, what=f"one ready pod of {ns}/{component}")


def http_get(sb, ns, pod, port=80, path="/"):
    """HTTP GET into a pod through the port-forward WebSocket."""
    from kubernetes.stream import portforward

    from sandbox_helpers import recv_all

    core = client.CoreV1Api(sb.api_client())  # portforward() patches the client: its own one
    pf = portforward(core.connect_get_namespaced_pod_portforward, pod, ns, ports=str(port))
    s = pf.socket(port)
    s.setblocking(True)
    s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
    data = recv_all(s)
    s.close()
    return data.decode(errors="replace")


def serves(sb, core, ns, component, text, timeout=60):
    """Wait until the component's pod in `ns` answers with `text` in its page."""
    last = {}

    def check():
        pod = ready_pod(sb, core, ns, component, timeout=timeout)
        body = http_get(sb, ns, pod.metadata.name)
        last["body"] = body
        return body if text in body else None

    return sb.wait_for(check, timeout=timeout, interval=0.2, what=f"{ns}/{component} serving {text!r}")


# ---------------------------------------------------------------------------------------- VelaUX


def ux(sb, method, path, body=None, token=None, headers=None):
    """(status, parsed JSON body) of a request to the VelaUX stand-in."""
    data = json.dumps(body).encode() if body is not None else None
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = f"Bearer {token}"
    h.update(headers or {})
    req = urllib.request.Request(sb.velaux.url + path, data=data, headers=h, method=method)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def ux_login(sb):
    st, body = ux(sb, "POST", "/api/v1/auth/login", {"username": "admin", "password": sb.velaux.admin_password})
    assert st == 200, body
    return body["accessToken"]


def deepcopy(x):
    return copy.deepcopy(x)
