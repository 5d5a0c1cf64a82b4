"""A user's mistake, from a terminal: one clear line, the right exit code, never a traceback or a secret.

Every command runs through the installed entry points (`veladev`, `velasandbox`) as a subprocess.
"""

import http.server
import json
import os
import threading

import pytest

from support import EXAMPLE, run_cli

SECRET = "s3cr3t-TOKEN-4711"


def one_line_error(r, code: int) -> str:
    """The single line on stderr of a failed command, after the common checks."""
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stdout + r.stderr, r.stderr
    assert SECRET not in r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


# --- item 3: tracebacks that were, each now one sentence -------------------------------------------


@pytest.fixture
def sandbox_state(tmp_path):
    return {"VELASANDBOX_STATE_DIR": str(tmp_path / "velasandbox")}


@pytest.mark.parametrize(
    "args,code,needle",
    [
        (
            ("veladev", "promote", "frontend", "--kubeconfig", "/etc/hostname"),
            1,
            "cannot read kubeconfig /etc/hostname: it is not a valid kubeconfig",
        ),
        (("veladev", "lsp", "--tcp", "foo"), 2, "'foo' is not HOST:PORT"),
        (("veladev", "lsp", "--tcp", "127.0.0.1:99999"), 2, "port between 1 and 65535"),
        (("veladev", "demo", "--app", "/nonexistent.yaml"), 2, "cannot read --app /nonexistent.yaml: No such file"),
        (("velasandbox", "register-repo", "foo", "/nonexistent"), 2, "/nonexistent is not a directory"),
        (
            ("velasandbox", "add-image", "demo/web:2", "--env", "NOEQUALS", "--", "true"),
            2,
            "'NOEQUALS' is not KEY=VALUE",
        ),
    ],
)
def test_mistakes_get_one_clear_line(args, code, needle, sandbox_state):
    line = one_line_error(run_cli(*args, env=sandbox_state), code)
    assert needle in line and line.startswith(f"{args[0]} {args[1]}:"), line


def test_demo_refuses_a_file_without_an_application_before_starting_a_sandbox(tmp_path, sandbox_state):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    line = one_line_error(run_cli("veladev", "demo", "--app", str(empty), env=sandbox_state), 2)
    assert "must hold one KubeVela Application" in line
    assert not (tmp_path / "velasandbox").exists()


def test_demo_refuses_a_pipe_it_could_read_only_once(tmp_path, sandbox_state):
    fifo = tmp_path / "app.yaml"
    os.mkfifo(fifo)
    line = one_line_error(run_cli("veladev", "demo", "--app", str(fifo), env=sandbox_state, timeout=60), 2)
    assert "must be a regular file" in line
    assert not (tmp_path / "velasandbox").exists()


def test_register_repo_refuses_a_directory_that_is_not_a_repository(tmp_path, sandbox_state):
    line = one_line_error(run_cli("velasandbox", "register-repo", "foo", str(tmp_path), env=sandbox_state), 2)
    assert f"{tmp_path} is not a git repository" in line


# --- item 2: secrets never printed ---------------------------------------------------------------


class EchoingVelaUX(http.server.BaseHTTPRequestHandler):
    """Answers the webhook as a careless server might: quoting the path, token included."""

    def do_POST(self):
        if self.path.startswith("/json/"):
            body, status = b"not json", 200
        else:
            body, status = json.dumps({"Message": f"token {self.path} not found"}).encode(), 404
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def echoing_velaux():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EchoingVelaUX)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "velaux,code",
    [
        ("notaurl", 2),
        ("http://[::1", 2),
        ("http://127.0.0.1:99999", 2),
        (f"http://user:{SECRET}@[::1", 2),
        ("http://127.0.0.1:1", 1),
        (f"http://user:{SECRET}@127.0.0.1:1", 1),
    ],
)
def test_trigger_never_prints_the_token(velaux, code):
    r = run_cli(
        "veladev",
        "trigger",
        "--velaux",
        velaux,
        "--component",
        "x",
        "--image",
        "y",
        env={"VELAUX_TRIGGER_TOKEN": SECRET},
    )
    one_line_error(r, code)


def test_trigger_hides_the_token_a_server_quotes(echoing_velaux):
    r = run_cli(
        "veladev",
        "trigger",
        "--velaux",
        echoing_velaux,
        "--component",
        "x",
        "--image",
        "y",
        env={"VELAUX_TRIGGER_TOKEN": SECRET},
    )
    line = one_line_error(r, 1)
    assert "refused the trigger" in line and "<token>" in line
    r = run_cli(
        "veladev",
        "trigger",
        "--velaux",
        echoing_velaux + "/json",
        "--component",
        "x",
        "--image",
        "y",
        env={"VELAUX_TRIGGER_TOKEN": SECRET},
    )
    assert "answered with something other than a JSON object" in one_line_error(r, 1)


def test_kubeconfig_credentials_never_printed(tmp_path):
    broken = tmp_path / "broken"
    broken.write_text(f"token: {SECRET}\n- [\n")
    not_yaml = tmp_path / "not-a-kubeconfig"
    not_yaml.write_text(f"{SECRET}\n")
    unreachable = tmp_path / "kubeconfig"
    unreachable.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "c",
                "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": SECRET}}],
                "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
            }
        )
    )
    for path in (broken, not_yaml, unreachable):
        for command in ("status", "promote"):
            one_line_error(run_cli("veladev", command, "default/frontend", "--kubeconfig", str(path), timeout=120), 1)


# --- item 4: no quiet wrong answers --------------------------------------------------------------


@pytest.mark.parametrize("ref", ["default/", "/frontend", "a/b/c", "Default/frontend"])
def test_status_refuses_a_malformed_application_reference(ref):
    line = one_line_error(run_cli("veladev", "status", ref), 2)
    assert "is not NAMESPACE/NAME" in line


def test_check_json_lists_an_unreadable_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    r = run_cli("veladev", "check", "--format", "json", str(EXAMPLE), str(missing))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    data = json.loads(r.stdout)
    assert [d["path"] for d in data] == [str(EXAMPLE), str(missing)]
    assert data[1]["error"].startswith("cannot read") and data[1]["findings"] == []


def test_check_of_a_directory_without_yaml_fails(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    line = one_line_error(run_cli("veladev", "check", str(tmp_path)), 2)
    assert line == f"veladev check: no .yaml or .yml files under {tmp_path}"


def test_check_scans_upper_case_suffixes(tmp_path):
    (tmp_path / "APP.YAML").write_text(EXAMPLE.read_text().replace("type: sendReceive", "type: sendreceive"))
    (tmp_path / "other.Yml").write_text(EXAMPLE.read_text())
    r = run_cli("veladev", "check", str(tmp_path))
    assert r.returncode == 1 and "2 file(s) checked" in r.stderr
    assert str(tmp_path / "APP.YAML") in r.stdout


def test_check_reads_standard_input_for_dash():
    r = run_cli("veladev", "check", "-", stdin=EXAMPLE.read_text().replace("type: sendReceive", "type: sendreceive"))
    assert r.returncode == 1, r.stderr
    assert r.stdout.startswith("<stdin>:") and "[nocalhost-sync-type]" in r.stdout
    r = run_cli("veladev", "check", "-", stdin=EXAMPLE.read_text())
    assert (r.returncode, r.stdout) == (0, "") and "1 file(s) checked, 0 finding(s)" in r.stderr


# --- item 7: a terminal user is told terminal things, and components by name -----------------------


def test_missing_kubeconfig_hint_names_the_option_not_the_editor_setting(tmp_path):
    line = one_line_error(run_cli("veladev", "status", "frontend", "--kubeconfig", str(tmp_path / "none")), 1)
    assert "--kubeconfig" in line and "veladev.kubeconfig" not in line


def test_messages_name_the_component_not_its_type(tmp_path):
    app = tmp_path / "app.yaml"
    app.write_text(
        EXAMPLE.read_text()
        .replace("          - port: 80\n", '          - port: "80"\n')
        .replace("            hotReload: true\n", "            hotReload: true\n            bogus: 1\n")
    )
    r = run_cli("veladev", "check", str(app))
    assert "'ports.0.port' of component 'frontend' (webservice) must be integer" in r.stdout, r.stdout
    assert "unknown property 'bogus' in trait 'nocalhost' of component 'frontend'" in r.stdout, r.stdout
