

def test_cli_status_promote_and_trigger(sandbox, api, sandbox_ns):
    import os
    import subprocess
    import sys

    name = f"cli-{uuid.uuid4().hex[:6]}"
    apply_application(api, gated_app(name), sandbox_ns)
    Apps(sandbox, api).wait(sandbox_ns, name, lambda a: read_workflow(a).suspending_steps(), "the gate to suspend")

    def veladev(*args, env=None):
        return subprocess.run([sys.executable, "-m", "veladev", *args], capture_output=True, text=True, timeout=120,
                              env={**os.environ, **(env or {})})

    out = veladev("status", f"{sandbox_ns}/{name}", "--kubeconfig", sandbox.kubeconfig)
    assert out.returncode == 0, out.stderr
    assert "workflowSuspending" in out.stdout and "gate" in out.stdout and "suspending" in out.stdout

    token = sandbox.velaux.create_trigger(name, sandbox_ns)
    out = veladev("trigger", "--velaux", sandbox.velaux.url, "--component", "web", "--image", "sandbox.local/toolchain:v9",
                  env={"VELAUX_TRIGGER_TOKEN": token})
    assert out.returncode == 0, out.stderr
    assert token not in out.stdout + out.stderr
    out = veladev("trigger", "--velaux", sandbox.velaux.url, "--component", "web", "--image", "x",
                  env={"VELAUX_TRIGGER_TOKEN": ""})
    assert out.returncode == 2 and "VELAUX_TRIGGER_TOKEN" in out.stderr

    Apps(sandbox, api).wait(sandbox_ns, name, lambda a: read_workflow(a).suspending_steps(), "the new run to suspend")
    out = veladev("promote", f"{sandbox_ns}/{name}", "--kubeconfig", sandbox.kubeconfig)
    assert out.returncode == 0, out.stderr
    out = veladev("promote", f"{sandbox_ns}/missing-app", "--kubeconfig", sandbox.kubeconfig)
    assert out.returncode == 1 and "not found" in out.stderr and "Traceback" not in out.stderr
