"""The language server over raw stdio, in the situations a well-behaved client library never
creates: broken frames, odd URIs and characters, bursts, hostile sizes, a hung cluster and the
end of the session. One fresh `veladev lsp` per test; nothing here measures time (waits have
generous limits only)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from stdio_client import StdioClient
from support import EXAMPLE

TEXT = EXAMPLE.read_text()
BAD = TEXT.replace("type: sendReceive", "type: sendreceive", 1)
PUSH = {"textDocument": {"publishDiagnostics": {"versionSupport": True}}}
PULL = {"textDocument": {"diagnostic": {}}, "workspace": {"diagnostics": {"refreshSupport": True}}}


@pytest.fixture
def server():
    client = StdioClient()
    client.initialize(PUSH)
    yield client
    client.close()


def open_doc(c: StdioClient, uri: str, text: str, version: int = 1) -> None:
    c.notify(
        "textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml", "version": version, "text": text}}
    )


def change(c: StdioClient, uri: str, version: int, text: str, rng: dict | None = None) -> None:
    ch = {"text": text} if rng is None else {"range": rng, "text": text}
    c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [ch]})


def diagnostics(c: StdioClient, uri: str, version: int | None = None, timeout: float = 60) -> list[dict]:
    return c.wait_notification(
        "textDocument/publishDiagnostics",
        lambda p: p["uri"] == uri and (version is None or p.get("version") == version),
        timeout,
    )["diagnostics"]


def raw_request(c: StdioClient, rid: int, method: object, params=None, **extra) -> dict:
    """A request as written, with whatever `method` (the tests send invalid ones too)."""
    msg = {"jsonrpc": "2.0", "id": rid, "method": method, **extra}
    if params is not None:
        msg["params"] = params
    body = json.dumps(msg).encode()
    c.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    return c.response(rid)


def line_of(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.split("\n")) if needle in ln)


# --- 1. URIs as the client sent them --------------------------------------------------------


@pytest.mark.parametrize(
    "uri", ["file:///work/my%20app.yaml", "file:///c%3A/Users/dev/app.yaml", "file:///work/caf%C3%A9/app.yaml"]
)
def test_diagnostics_are_published_under_the_uri_the_client_sent(server, uri):
    open_doc(server, uri, BAD)
    assert [d["code"] for d in diagnostics(server, uri)] == ["nocalhost-sync-type"]
    server.request("workspace/executeCommand", {"command": "veladev.reloadCatalog"})
    assert [d["code"] for d in diagnostics(server, uri)] == ["nocalhost-sync-type"]
    hover = server.request(
        "textDocument/hover",
        {"textDocument": {"uri": uri}, "position": {"line": line_of(BAD, "hotReload"), "character": 14}},
    )
    assert hover and "hotReload" in hover["contents"]["value"]


# --- 2. bursts: coalesced, and other documents answered meanwhile ----------------------------


def large_app(components: int) -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from bench_lsp import generate_large_app

    return generate_large_app(TEXT, components)


def test_a_burst_of_changes_is_analysed_once_for_the_newest_version(server):
    uri = "file:///work/large.yaml"
    text = large_app(110)
    open_doc(server, uri, text)
    diagnostics(server, uri, 1)
    line = line_of(text, "- name: frontend-055")
    col = text.split("\n")[line].index("frontend-055")
    for v in range(2, 62):
        name = f"frontend-e{v}" if v < 61 else "Bad_Name"
        rng = {
            "start": {"line": line, "character": col},
            "end": {"line": line, "character": len(text.split("\n")[line])},
        }
        change(server, uri, v, name, rng)
        text_line = text.split("\n")[line][:col] + name
        text = "\n".join(text.split("\n")[:line] + [text_line] + text.split("\n")[line + 1 :])
    last = diagnostics(server, uri, 61)
    assert any(d["range"]["start"]["line"] == line for d in last)
    # Changes that arrive while an analysis runs are coalesced: a handful of publishes (the
    # client's writes reach the server in a few batches), not one per change.
    server.request("shutdown", None)
    published = [n for n in server.notifications if n["method"] == "textDocument/publishDiagnostics"]
    assert len(published) <= 5, [p["params"]["version"] for p in published]


def test_a_large_document_does_not_stall_requests_on_another(server):
    small = "file:///work/small.yaml"
    big = "file:///work/big.yaml"
    open_doc(server, small, TEXT)
    diagnostics(server, small, 1)
    order: list[str] = []
    open_doc(server, big, large_app(2000))  # tens of thousands of lines: seconds of analysis
    server._next_id += 1
    rid = server._next_id
    server.send(
        {
            "id": rid,
            "method": "textDocument/hover",
            "params": {
                "textDocument": {"uri": small},
                "position": {"line": line_of(TEXT, "hotReload"), "character": 14},
            },
        }
    )
    while len(order) < 2:
        msg = server.read(120)
        if msg.get("id") == rid:
            order.append("hover")
            assert "hotReload" in msg["result"]["contents"]["value"]
        elif msg.get("method") == "textDocument/publishDiagnostics" and msg["params"]["uri"] == big:
            order.append("big diagnostics")
    assert order == ["hover", "big diagnostics"]


# --- 3. linear work on long lines and large mappings ----------------------------------------


def test_a_one_megabyte_line_is_converted_in_linear_time(server):
    # One flow mapping on one line, 1 MB: every outline range and finding lies on that line.
    pad = "é😀" * 250
    comps = ", ".join(
        f'{{name: c{i}, type: webservice, properties: {{image: "{pad}", bogus{i}: 1}}}}' for i in range(2000)
    )
    text = (
        "apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata: {name: one}\nspec: {components: ["
        + comps
        + "]}\n"
    )
    assert len(text.encode("utf-16-le")) // 2 > 1_000_000
    uri = "file:///work/oneline.yaml"
    open_doc(server, uri, text)
    assert len(diagnostics(server, uri, 1, timeout=120)) >= 2000
    symbols = server.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}}, timeout=120)
    assert len(symbols[0]["children"]) == 2000


def test_many_unknown_properties_are_located_in_linear_time(server):
    props = "".join(f"        unknown{i}: {i}\n" for i in range(60000))
    text = TEXT.replace("      properties:\n        image:", "      properties:\n" + props + "        image:", 1)
    assert text != TEXT
    uri = "file:///work/wide.yaml"
    open_doc(server, uri, text)
    diags = diagnostics(server, uri, 1, timeout=120)
    unknown = [d for d in diags if "unknown59999" in d["message"]]
    assert unknown and unknown[0]["range"]["start"]["line"] == line_of(text, "unknown59999:")


# --- 4. broken frames -----------------------------------------------------------------------


def frame(msg: dict, length_delta: int = 0, header: bytes = b"Content-Length") -> bytes:
    body = json.dumps({"jsonrpc": "2.0", **msg}).encode()
    return header + b": %d\r\n\r\n" % (len(body) + length_delta) + body


HOVER = {"textDocument": {"uri": "file:///work/none.yaml"}, "position": {"line": 0, "character": 0}}


@pytest.mark.parametrize("delta", [+7, -7])
def test_a_frame_with_a_wrong_length_costs_only_itself(server, delta):
    server.send_raw(
        frame({"id": 100, "method": "workspace/executeCommand", "params": {"command": "veladev.reloadCatalog"}}, delta)
    )
    server.send_raw(
        frame({"id": 101, "method": "workspace/executeCommand", "params": {"command": "veladev.reloadCatalog"}})
    )
    assert "bundled" in server.response(101)["result"]
    assert "bundled" in server.request("workspace/executeCommand", {"command": "veladev.reloadCatalog"})


def test_header_names_are_case_insensitive(server):
    server.send_raw(
        frame(
            {"id": 7, "method": "workspace/executeCommand", "params": {"command": "veladev.reloadCatalog"}},
            header=b"content-length",
        )
    )
    assert "bundled" in server.response(7)["result"]


def test_invalid_json_gets_a_parse_error_and_the_server_goes_on(server):
    server.send_raw(b"Content-Length: 14\r\n\r\n{not json at }")
    assert server.response(None)["error"]["code"] == -32700
    server.send_raw(b"Content-Length: 4\r\n\r\n\xff\xfe\xfd\xfc")
    assert server.response(None)["error"]["code"] == -32700
    assert "bundled" in server.request("workspace/executeCommand", {"command": "veladev.reloadCatalog"})


# --- 5. line breaks of LSP only -------------------------------------------------------------


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\x85"])
def test_unicode_line_separators_do_not_shift_lines(server, char):
    text = BAD.replace("  name: frontend\n", f'  name: frontend\n  annotations: {{note: "a{char}b"}}\n', 1)
    uri = "file:///work/sep.yaml"
    open_doc(server, uri, text)
    diags = diagnostics(server, uri, 1)
    assert [d["range"]["start"]["line"] for d in diags] == [line_of(text, "type: sendreceive")]
    # An incremental edit below the separator lands on the line the client means.
    line = line_of(text, "type: sendreceive")
    col = text.split("\n")[line].index("sendreceive")
    change(
        server,
        uri,
        2,
        "sendReceive",
        {"start": {"line": line, "character": col}, "end": {"line": line, "character": col + len("sendreceive")}},
    )
    assert diagnostics(server, uri, 2) == []


# --- 6. pull diagnostics: the result id follows the findings --------------------------------


def test_result_id_changes_when_the_catalog_changes():
    c = StdioClient()
    try:
        c.initialize(PULL)
        uri = "file:///work/app.yaml"
        open_doc(c, uri, BAD)
        first = c.request("textDocument/diagnostic", {"textDocument": {"uri": uri}})
        assert [d["code"] for d in first["items"]] == ["nocalhost-sync-type"]
        same = c.request(
            "textDocument/diagnostic", {"textDocument": {"uri": uri}, "previousResultId": first["resultId"]}
        )
        assert same["kind"] == "unchanged"
        c.request("workspace/executeCommand", {"command": "veladev.reloadCatalog"})
        again = c.request(
            "textDocument/diagnostic", {"textDocument": {"uri": uri}, "previousResultId": first["resultId"]}
        )
        assert again["kind"] == "full"
    finally:
        c.close()


# --- 7. a cluster that never answers --------------------------------------------------------


@pytest.fixture
def silent_api_server(tmp_path):
    """A TCP endpoint that accepts connections and never answers, and a kubeconfig for it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: hung, cluster: {{server: "http://127.0.0.1:{sock.getsockname()[1]}"}}}}]
users: [{{name: u, user: {{token: not-a-secret}}}}]
contexts: [{{name: hung, context: {{cluster: hung, user: u}}}}]
current-context: hung
""")
    yield kubeconfig
    stop.set()
    t.join()
    for s in held:
        s.close()
    sock.close()


class ConfiguredClient(StdioClient):
    """Answers workspace/configuration with the given veladev settings."""

    def __init__(self, settings: dict):
        super().__init__()
        self.settings = settings

    def _handle(self, msg: dict) -> None:
        if msg.get("method") == "workspace/configuration" and "id" in msg:
            self.send({"id": msg["id"], "result": [self.settings]})
        else:
            super()._handle(msg)


CONFIGURED = {**PUSH, "workspace": {"configuration": True}}


def test_a_hung_cluster_reload_does_not_block_shutdown(silent_api_server):
    c = ConfiguredClient({"kubeconfig": str(silent_api_server)})
    c.initialize(CONFIGURED)
    c.send({"id": 60, "method": "workspace/executeCommand", "params": {"command": "veladev.reloadCatalog"}})
    open_doc(c, "file:///work/app.yaml", BAD)  # validation goes on meanwhile
    assert [d["code"] for d in diagnostics(c, "file:///work/app.yaml")] == ["nocalhost-sync-type"]
    answer = raw_request(c, 61, "shutdown")
    assert answer.get("error") is None, answer
    c.notify("exit", None)
    assert c.proc.wait(timeout=20) == 0


def test_a_reload_from_a_hung_cluster_times_out_with_one_sentence(silent_api_server, monkeypatch):
    monkeypatch.setenv("VELADEV_CLUSTER_TIMEOUT", "2")
    c = ConfiguredClient({"kubeconfig": str(silent_api_server)})
    try:
        c.initialize(CONFIGURED)
        shown = c.wait_notification("window/showMessage", timeout=60)["message"]
        assert "no answer from the cluster in 2 s" in shown and "\n" not in shown
        result = c.request("workspace/executeCommand", {"command": "veladev.reloadCatalog"}, timeout=60)
        assert "no answer from the cluster" in result
    finally:
        c.close()


def test_end_of_input_ends_the_process_even_with_a_hung_cluster(silent_api_server):
    c = ConfiguredClient({"kubeconfig": str(silent_api_server)})
    c.initialize(CONFIGURED)
    c.send({"id": 70, "method": "workspace/executeCommand", "params": {"command": "veladev.reloadCatalog"}})
    c.request("textDocument/documentSymbol", {"textDocument": {"uri": EXAMPLE.as_uri()}})
    assert c.proc.stdin is not None
    c.proc.stdin.close()
    assert c.proc.wait(timeout=20) == 1  # no shutdown came first


# --- 8. deep nesting ------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [150, 400, 2000])
def test_deep_nesting_is_a_finding_not_a_failure(server, depth):
    text = TEXT.replace(
        "            image: node\n", "            image: node\n            deep: " + "[" * depth + "]" * depth + "\n", 1
    )
    uri = "file:///work/deep.yaml"
    open_doc(server, uri, text)
    diags = diagnostics(server, uri)
    assert [d["code"] for d in diags] == ["yaml-syntax"] and "nesting" in diags[0]["message"]
    assert raw_request(server, 1000, "textDocument/documentSymbol", {"textDocument": {"uri": uri}}).get("error") is None
    assert (
        raw_request(
            server, 1001, "textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 3, "character": 2}}
        ).get("error")
        is None
    )


def test_nesting_within_the_limit_is_validated(server):
    text = TEXT.replace(
        "            image: node\n", "            image: node\n            deep: " + "[" * 90 + "]" * 90 + "\n", 1
    )
    uri = "file:///work/deep.yaml"
    open_doc(server, uri, text)
    assert "yaml-syntax" not in [d["code"] for d in diagnostics(server, uri)]


# --- 9. every request gets exactly one answer -----------------------------------------------


def test_malformed_params_and_missing_params_get_invalid_params(server):
    assert raw_request(server, 1, "textDocument/hover", {"textDocument": 3})["error"]["code"] == -32602
    assert raw_request(server, 2, "textDocument/hover")["error"]["code"] == -32602
    assert raw_request(server, 3, "no/suchMethod", {})["error"]["code"] == -32601
    assert raw_request(server, 4, 42, {})["error"]["code"] == -32600


def test_requests_after_shutdown_get_invalid_request(server):
    assert raw_request(server, 1, "shutdown").get("error") is None
    assert raw_request(server, 2, "shutdown")["error"]["code"] == -32600
    assert raw_request(server, 3, "textDocument/hover", HOVER)["error"]["code"] == -32600
    server.notify("exit", None)
    assert server.proc.wait(timeout=20) == 0


# --- 10. the small ones ---------------------------------------------------------------------


def test_exit_without_shutdown_exits_1():
    c = StdioClient()
    c.initialize(PUSH)
    c.notify("exit", None)
    assert c.proc.wait(timeout=20) == 1


def test_malformed_kubeconfig_is_one_sentence(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nclusters: [\n  token: s3cr3t-value\n")
    c = ConfiguredClient({"kubeconfig": str(kubeconfig)})
    try:
        c.initialize(CONFIGURED)
        # Reading the settings loads the catalog (and fails) ...
        shown = c.wait_notification("window/showMessage")["message"]
        assert "not a valid kubeconfig" in shown and "s3cr3t" not in shown and "\n" not in shown
        # ... and so does a reload.
        result = c.request("workspace/executeCommand", {"command": "veladev.reloadCatalog"})
        assert "not a valid kubeconfig" in result and "s3cr3t" not in result and "\n" not in result
        shown = [n["params"]["message"] for n in c.notifications if n["method"] == "window/showMessage"]
        assert not any("Error in server" in m or "Traceback" in m or "s3cr3t" in m for m in shown)
    finally:
        c.close()


def test_a_repeated_version_number_still_gets_the_new_findings(server):
    uri = "file:///work/app.yaml"
    open_doc(server, uri, TEXT, version=5)
    assert diagnostics(server, uri, 5) == []
    server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    open_doc(server, uri, BAD, version=5)
    assert [d["code"] for d in diagnostics(server, uri, 5)] == ["nocalhost-sync-type"]
    change(server, uri, 5, TEXT)
    assert diagnostics(server, uri, 5) == []


def test_completion_past_the_end_of_a_line_uses_the_line_end(server):
    text = TEXT.replace("type: sendReceive", "type: se", 1)
    uri = "file:///work/app.yaml"
    open_doc(server, uri, text)
    line = line_of(text, "type: se")
    result = server.request(
        "textDocument/completion",
        {"textDocument": {"uri": uri}, "position": {"line": line, "character": len(text.split("\n")[line]) + 1}},
    )
    assert result and {i["label"] for i in result["items"]} == {"send", "sendReceive"}


def test_a_request_on_an_unopened_missing_file_is_one_clear_error(server):
    answer = raw_request(
        server, 9, "textDocument/documentSymbol", {"textDocument": {"uri": "file:///nonexistent/app.yaml"}}
    )
    assert answer["error"]["code"] == -32602
    assert "not open" in answer["error"]["message"] and "Traceback" not in json.dumps(answer)
    assert "data" not in answer["error"]


def test_a_broken_output_ends_the_server():
    c = StdioClient()
    c.initialize(PUSH)
    assert c.proc.stdout is not None
    c.proc.stdout.close()
    open_doc(c, "file:///work/app.yaml", BAD)  # the server's publish finds no reader
    assert c.proc.wait(timeout=30) == 1


def test_the_log_is_quiet_by_default(tmp_path):
    log = tmp_path / "stderr"
    with log.open("wb") as err:
        c = StdioClient(stderr=err)
        c.initialize(PUSH)
        uri = "file:///work/large.yaml"
        open_doc(c, uri, large_app(110))
        diagnostics(c, uri)
        c.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
        c.close()
    assert log.read_text() == ""


def test_log_level_option_is_offered():
    out = subprocess.run([sys.executable, "-m", "veladev", "lsp", "--help"], capture_output=True, text=True, check=True)
    assert "--log-level" in out.stdout
