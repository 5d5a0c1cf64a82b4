"""`veladev check` from a terminal, as a CI linter would run it."""

import json
import subprocess
import sys

from support import EXAMPLE

VELADEV = [sys.executable, "-m", "veladev"]


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([*VELADEV, *args], capture_output=True, text=True, cwd=cwd, timeout=60)


def test_clean_example_exits_zero():
    r = run("check", str(EXAMPLE))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == ""


def test_errors_print_line_col_severity_code_and_exit_one(tmp_path):
    bad = tmp_path / "app.yaml"
    text = EXAMPLE.read_text().replace("type: sendReceive", "type: sendreceive")
    bad.write_text(text)
    r = run("check", str(tmp_path))
    assert r.returncode == 1
    line = next(i for i, ln in enumerate(text.splitlines()) if "sendreceive" in ln)
    col = text.splitlines()[line].index("sendreceive")
    assert r.stdout.strip().splitlines() == [
        f"{bad}:{line + 1}:{col + 1}: error: nocalhost sync type must be exactly 'send' or 'sendReceive' "
        f"(Nocalhost rejects 'sendreceive'); did you mean 'sendReceive'? [nocalhost-sync-type]"
    ]


def test_warnings_only_exit_zero_and_json_format(tmp_path):
    app = tmp_path / "app.yaml"
    app.write_text(
        EXAMPLE.read_text().replace("          - port: 80\n", "          - port: 80\n            protocoll: TCP\n")
    )
    r = run("check", "--format", "json", str(app))
    assert r.returncode == 0
    data = json.loads(r.stdout)
    assert data[0]["path"] == str(app)
    (f,) = data[0]["findings"]
    assert f["severity"] == "warning" and f["code"] == "unknown-property" and "did you mean 'protocol'" in f["message"]
    assert f["fixes"] == ["Rename to 'protocol'"]


def test_unreadable_file_is_reported_not_a_crash(tmp_path):
    r = run("check", str(tmp_path / "missing.yaml"))
    assert r.returncode == 1 and "cannot read" in r.stderr and "Traceback" not in r.stderr


def test_language_server_start_does_not_import_kubernetes():
    code = "import sys; from veladev.lsp.server import build_server; build_server(); print('kubernetes' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
