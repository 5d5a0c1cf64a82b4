"""Helpers for the dev-mode tests: the example Application deployed to the test's own
namespace (so tests never share a `test` namespace), its file on disk, and the veladev CLI."""

import json
import os
import subprocess
import sys

import yaml

from kv_helpers import Apps, example_app

DEV_IMAGE = "nocalhost-docker.pkg.coding.net/nocalhost/dev-images/node:latest"


class DeployedApp:
    """The example app, targeted at the test's namespace, applied and deployed there."""

    def __init__(self, sandbox, ns, folder, app):
        self.sb, self.ns, self.folder, self.app = sandbox, ns, folder, app
        self.file = folder / "vela-app.yaml"
        self.apps = Apps(sandbox)

    def write(self):
        self.file.write_text(yaml.safe_dump(self.app, sort_keys=False))

    def deployment(self):
        return self.apps.api.sanitize_for_serialization(self.apps.apps.read_namespaced_deployment("frontend", self.ns))

    def application(self):
        return self.apps.get(self.ns, "frontend")

    def cli(self, *args, env=None, timeout=180):
        """`veladev dev ...` in a new process."""
        return subprocess.run(
            [sys.executable, "-m", "veladev", "dev", *args, "--kubeconfig", self.sb.kubeconfig],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})),
        )


def example_in(ns):
    """The example targeted at `ns`, forwarding to a free local port (tests run side by side)."""
    app = example_app()
    app["metadata"]["namespace"] = ns
    app["spec"]["components"][0]["traits"][0]["properties"]["portForward"] = ["0:80"]
    for p in app["spec"]["policies"]:
        p["properties"]["namespace"] = ns if p["name"] == "target-test" else f"{ns}-prod"
    return app


def comparable(obj):
    """What dev end must restore exactly: labels, annotations, spec."""
    md = obj["metadata"]
    return {"labels": md.get("labels"), "annotations": md.get("annotations"), "spec": obj["spec"]}


def dev_state(obj):
    text = (obj["metadata"].get("annotations") or {}).get("dev.veladev.io/state")
    return json.loads(text) if text else None


class Foreground:
    """`veladev dev up ...` running in its own process; its output lines collected."""

    def __init__(self, d, *args):
        import threading

        self.lines = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "veladev", "dev", "up", str(d.file), *args, "--kubeconfig", d.sb.kubeconfig],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.sb = d.sb

    def _read(self):
        assert self.proc.stdout is not None, "started with stdout=PIPE"
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, prefix, timeout=120):
        return self.sb.wait_for(
            lambda: next((line for line in self.lines if line.startswith(prefix)), None),
            timeout=timeout,
            interval=0.05,
            what=f"a line starting {prefix!r} (output so far: {self.lines})",
        )

    def local_port(self):
        line = self.wait_line("[forward] 127.0.0.1:")
        return int(line.split(":", 1)[1].split("->")[0])

    def kill(self):
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self._reader.join(5)

    def interrupt(self):
        import signal

        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(60)
        self._reader.join(5)
        return code


def kubectl_sh(d, pod, script, check=True):
    return d.sb.kubectl("exec", "-n", d.ns, pod, "-c", "frontend", "--", "sh", "-c", script, check=check).stdout


def dev_pod_name(d):
    pods = [
        p
        for p in d.apps.core.list_namespaced_pod(d.ns, label_selector="app.oam.dev/component=frontend").items
        if not p.metadata.deletion_timestamp
        and p.spec.containers[0].image == DEV_IMAGE
        and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
    ]
    return pods[0].metadata.name if len(pods) == 1 else None


def remote_file(d, rel):
    """The file's content in the dev pod's work dir, or None."""
    pod = dev_pod_name(d)
    if pod is None:
        return None
    out = kubectl_sh(d, pod, f"cat /home/nocalhost-dev/{rel} 2>/dev/null || echo '<missing>'", check=False)
    return None if out.strip() == "<missing>" else out


def local_get(url):
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read().decode(errors="replace")
    except (urllib.error.URLError, OSError):
        return None
