"""The language server end to end, over stdio, as an editor drives it."""

import asyncio
import re
from collections.abc import Sequence

import pytest
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient

from stdio_client import StdioClient
from support import EXAMPLE

URI = "file:///work/app.yaml"


def open_doc(client: LanguageClient, text: str, uri: str = URI, version: int = 1) -> None:
    client.text_document_did_open(
        lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(uri=uri, language_id="yaml", version=version, text=text))
    )


def change_doc(client: LanguageClient, text: str, version: int, uri: str = URI) -> None:
    client.text_document_did_change(
        lsp.DidChangeTextDocumentParams(
            lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
            [lsp.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


async def diagnostics_for(client: LanguageClient, uri: str = URI, version: int | None = None) -> list[lsp.Diagnostic]:
    """Wait until diagnostics for `uri` (and `version`, if given) are published."""
    for _ in range(100):
        params = await asyncio.wait_for(client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), 10)
        if params.uri == uri and (version is None or params.version == version):
            return list(params.diagnostics)
    raise AssertionError("no diagnostics published")


def example_with(old: str, new: str) -> str:
    text = EXAMPLE.read_text()
    assert old in text
    return text.replace(old, new, 1)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines()) if needle in line)


async def test_example_app_has_no_diagnostics(client: LanguageClient):
    open_doc(client, EXAMPLE.read_text())
    assert await diagnostics_for(client) == []


async def test_sync_type_error_and_quick_fix(client: LanguageClient):
    text = example_with("type: sendReceive", "type: sendreceive")
    open_doc(client, text)
    diags = await diagnostics_for(client)
    assert [d.code for d in diags] == ["nocalhost-sync-type"]
    d = diags[0]
    line = line_of(text, "type: sendreceive")
    col = text.splitlines()[line].index("sendreceive")
    assert d.severity == lsp.DiagnosticSeverity.Error
    assert (d.range.start.line, d.range.start.character, d.range.end.character) == (line, col, col + len("sendreceive"))

    actions = await code_actions(client, [d])
    assert actions and actions[0].title == "Change to 'sendReceive'"
    fixed = apply_edits(text, edits_of(actions[0]))
    assert fixed == EXAMPLE.read_text()

    change_doc(client, fixed, 2)
    assert await diagnostics_for(client, version=2) == []


async def test_columns_count_utf16_units_after_an_emoji_on_the_same_line(client: LanguageClient):
    # The emoji is one code point and two UTF-16 units; "名" and "é" are one of each.
    text, n = re.subn(
        r"sync:\n(?: {14}.*\n)+", 'sync: {filePattern: ["😀名é"], type: sendreceive}\n', EXAMPLE.read_text()
    )
    assert n == 1
    open_doc(client, text)
    diags = await diagnostics_for(client)
    assert [d.code for d in diags] == ["nocalhost-sync-type"]
    line = line_of(text, "type: sendreceive")
    prefix = text.splitlines()[line].split("sendreceive")[0]
    col = len(prefix.encode("utf-16-le")) // 2
    assert col == len(prefix) + 1
    assert (diags[0].range.start, diags[0].range.end) == (
        lsp.Position(line, col),
        lsp.Position(line, col + len("sendreceive")),
    )
    actions = await code_actions(client, diags)
    assert edits_of(actions[0])[0].range == diags[0].range


async def code_actions(client: LanguageClient, diags: list[lsp.Diagnostic]) -> list[lsp.CodeAction]:
    """The quick fixes the server offers for the first of `diags`, as an editor asks for them."""
    result = await client.text_document_code_action_async(
        lsp.CodeActionParams(lsp.TextDocumentIdentifier(URI), diags[0].range, lsp.CodeActionContext(diagnostics=diags))
    )
    actions = [a for a in result or () if isinstance(a, lsp.CodeAction)]
    assert len(actions) == len(result or ()), "code actions, not bare commands"
    return actions


def edits_of(action: lsp.CodeAction) -> list[lsp.TextEdit]:
    """The edits a quick fix makes to the test document."""
    assert action.edit is not None and action.edit.changes is not None
    return list(action.edit.changes[URI])


def labels_of(result: lsp.CompletionList | Sequence[lsp.CompletionItem] | None) -> set[str]:
    assert isinstance(result, lsp.CompletionList)
    return {i.label for i in result.items}


def apply_edits(text: str, edits: list[lsp.TextEdit]) -> str:
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for ln in lines:
        offsets.append(offsets[-1] + len(ln))

    def off(p: lsp.Position) -> int:
        return offsets[p.line] + p.character

    for e in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[: off(e.range.start)] + e.new_text + text[off(e.range.end) :]
    return text


async def test_missing_parameter_quick_fix_inserts_defaults(client: LanguageClient):
    text = EXAMPLE.read_text().replace(
        "            port: 80\n            image: node\n", "            image: node\n", 1
    )
    open_doc(client, text)
    diags = await diagnostics_for(client)
    missing = [d for d in diags if d.code == "missing-parameter"]
    assert len(missing) == 1 and "'port'" in missing[0].message
    actions = await code_actions(client, missing)
    fixed = apply_edits(text, edits_of(actions[0]))
    change_doc(client, fixed, 2)
    remaining = await diagnostics_for(client, version=2)
    assert "missing-parameter" not in [d.code for d in remaining]
    assert "port: 0" in fixed  # a typed placeholder where the definition has no default


async def test_deprecated_type_warning_and_replacement(client: LanguageClient):
    text = example_with(
        'type: deploy\n        properties:\n          policies: ["target-prod"]',
        'type: deploy2env\n        properties:\n          policies: ["target-prod"]',
    )
    open_doc(client, text)
    diags = await diagnostics_for(client)
    dep = [d for d in diags if d.code == "deprecated-type"]
    assert dep and dep[0].severity == lsp.DiagnosticSeverity.Warning and "'deploy'" in dep[0].message
    actions = await code_actions(client, dep)
    assert any(a.title == "Replace with 'deploy'" for a in actions)


async def test_syntax_error_is_one_diagnostic_and_server_keeps_going(client: LanguageClient):
    text = EXAMPLE.read_text().replace("  components:\n", "  components:\n   - name: [broken\n", 1)
    open_doc(client, text)
    diags = await diagnostics_for(client)
    assert [d.code for d in diags] == ["yaml-syntax"]
    change_doc(client, EXAMPLE.read_text(), 2)
    assert await diagnostics_for(client, version=2) == []


async def test_other_yaml_is_ignored(client: LanguageClient):
    open_doc(client, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: 1}\nbogus: true\n")
    assert await diagnostics_for(client) == []


def test_burst_of_edits_ends_with_latest_version():
    """Eleven quick edits: the last version's diagnostics arrive, and nothing older after them.
    The raw client keeps every notification in arrival order; a further edit is the barrier."""
    text = EXAMPLE.read_text()
    uri = "file:///work/burst.yaml"
    server = StdioClient()
    try:
        server.initialize({"textDocument": {"publishDiagnostics": {"versionSupport": True}}})
        server.notify(
            "textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}}
        )
        server.wait_notification("textDocument/publishDiagnostics", lambda p: p["uri"] == uri and p["version"] == 1)

        def change(version: int, new_text: str) -> None:
            server.notify(
                "textDocument/didChange",
                {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": new_text}]},
            )

        for v in range(2, 12):
            change(v, text.replace("port: 80\n            image: node", f"port: {v}\n            image: node"))
        change(12, example_with("type: sendReceive", "type: sendreceive"))
        latest = server.wait_notification(
            "textDocument/publishDiagnostics", lambda p: p["uri"] == uri and p["version"] == 12
        )
        assert [d["code"] for d in latest["diagnostics"]] == ["nocalhost-sync-type"]
        server.notifications.clear()
        change(13, text)
        assert (
            server.wait_notification(
                "textDocument/publishDiagnostics", lambda p: p["uri"] == uri and p["version"] == 13
            )["diagnostics"]
            == []
        )
        stale = [
            n["params"]["version"]
            for n in server.notifications
            if n["method"] == "textDocument/publishDiagnostics"
            and n["params"]["uri"] == uri
            and n["params"]["version"] < 12
        ]
        assert stale == [], f"older versions published after version 12: {stale}"
    finally:
        server.close()


async def test_completion_offers_trait_parameters(client: LanguageClient):
    text = example_with("            hotReload: true\n", "            hotReload: true\n            \n")
    open_doc(client, text)
    line = line_of(text, "hotReload: true") + 1
    result = await client.text_document_completion_async(
        lsp.CompletionParams(lsp.TextDocumentIdentifier(URI), lsp.Position(line, 12))
    )
    labels = labels_of(result)
    assert {"serviceType", "shell", "gitUrl", "resources"} <= labels
    assert "hotReload" not in labels  # already present


async def test_completion_of_enum_type_names_and_policy_refs(client: LanguageClient):
    text = example_with("type: sendReceive", "type: se")
    open_doc(client, text)
    line = line_of(text, "type: se")
    col = text.splitlines()[line].index("se") + 2
    result = await client.text_document_completion_async(
        lsp.CompletionParams(lsp.TextDocumentIdentifier(URI), lsp.Position(line, col))
    )
    assert labels_of(result) == {"send", "sendReceive"}

    text2 = example_with("- type: nocalhost", "- type: sca")
    change_doc(client, text2, 2)
    line = line_of(text2, "- type: sca")
    result = await client.text_document_completion_async(
        lsp.CompletionParams(
            lsp.TextDocumentIdentifier(URI), lsp.Position(line, text2.splitlines()[line].index("sca") + 3)
        )
    )
    assert {"scaler", "nocalhost"} <= labels_of(result)

    text3 = example_with('policies: ["target-prod"]', 'policies: ["target-')
    change_doc(client, text3, 3)
    line = next(i for i, ln in enumerate(text3.splitlines()) if ln.endswith('["target-'))
    result = await client.text_document_completion_async(
        lsp.CompletionParams(lsp.TextDocumentIdentifier(URI), lsp.Position(line, len(text3.splitlines()[line])))
    )
    assert labels_of(result) == {"target-test", "target-prod"}


async def hover_at(client: LanguageClient, text: str, line_needle: str, word: str) -> str:
    """The hover text one character into `word` on the line containing `line_needle`."""
    line = line_of(text, line_needle)
    hover = await client.text_document_hover_async(
        lsp.HoverParams(lsp.TextDocumentIdentifier(URI), lsp.Position(line, text.splitlines()[line].index(word) + 1))
    )
    assert hover is not None and isinstance(hover.contents, lsp.MarkupContent)
    return hover.contents.value


async def test_hover_shows_description_type_and_default(client: LanguageClient):
    text = EXAMPLE.read_text()
    open_doc(client, text)
    value = await hover_at(client, text, "hotReload: true", "hotReload")
    assert "hotReload" in value and "boolean" in value
    assert "Default: `true`" in value

    value = await hover_at(client, text, "type: webservice", "webservice")
    assert "webservice" in value and "`image` (required)" in value


async def test_document_symbols_outline(client: LanguageClient):
    open_doc(client, EXAMPLE.read_text())
    symbols = await client.text_document_document_symbol_async(
        lsp.DocumentSymbolParams(lsp.TextDocumentIdentifier(URI))
    )
    assert symbols and all(isinstance(s, lsp.DocumentSymbol) for s in symbols)
    app = symbols[0]
    assert isinstance(app, lsp.DocumentSymbol) and app.children is not None
    assert app.name == "frontend"
    names = [(c.name, c.detail) for c in app.children]
    assert names[:3] == [("frontend", "webservice"), ("target-test", "topology"), ("target-prod", "topology")]
    assert [t.name for t in app.children[0].children or ()] == ["nocalhost"]
    workflow = app.children[3]
    assert [s.name for s in workflow.children or ()] == ["deploy-test", "approve-prod", "deploy-prod"]
    for s in [app, *app.children]:
        assert s.range.start <= s.selection_range.start and s.selection_range.end <= s.range.end or s is app


async def test_go_to_definition_of_policy_reference(client: LanguageClient):
    text = EXAMPLE.read_text()
    open_doc(client, text)
    line = line_of(text, 'policies: ["target-prod"]')
    loc = await client.text_document_definition_async(
        lsp.DefinitionParams(
            lsp.TextDocumentIdentifier(URI), lsp.Position(line, text.splitlines()[line].index("target-prod") + 3)
        )
    )
    target_line = line_of(text, "- name: target-prod")
    assert isinstance(loc, lsp.Location)
    assert loc.range.start.line == target_line
    assert text.splitlines()[target_line][loc.range.start.character : loc.range.end.character] == "target-prod"


async def test_pull_diagnostics_and_bad_settings(puller: LanguageClient):
    open_doc(puller, example_with("type: sendReceive", "type: sendreceive"))
    report = await puller.text_document_diagnostic_async(lsp.DocumentDiagnosticParams(lsp.TextDocumentIdentifier(URI)))
    assert isinstance(report, lsp.RelatedFullDocumentDiagnosticReport)
    assert [d.code for d in report.items] == ["nocalhost-sync-type"]
    again = await puller.text_document_diagnostic_async(
        lsp.DocumentDiagnosticParams(lsp.TextDocumentIdentifier(URI), previous_result_id=report.result_id)
    )
    assert again.kind == "unchanged"
    # The wrongly typed setting was reported, not fatal.
    for _ in range(50):
        if puller.messages:
            break
        await asyncio.sleep(0.1)
    assert any("veladev.context" in m.message for m in puller.messages)


APP_HEAD = "apiVersion: core.oam.dev/v1beta1\nkind: Application\n"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", []),
        ("---\n", []),
        (APP_HEAD, [(0, 0, "missing-field")]),
        (APP_HEAD + "spec: 3\n", [(0, 0, "missing-field"), (2, 6, "wrong-type")]),
    ],
    ids=["empty", "empty-document", "no-spec", "spec-not-a-mapping"],
)
async def test_degenerate_documents(client: LanguageClient, text: str, expected: list):
    open_doc(client, text)
    diags = await diagnostics_for(client)
    assert sorted((d.range.start.line, d.range.start.character, d.code) for d in diags) == expected
    assert all(d.severity == lsp.DiagnosticSeverity.Error for d in diags)


async def test_reload_catalog_command_without_cluster(client: LanguageClient):
    result = await client.workspace_execute_command_async(lsp.ExecuteCommandParams(command="veladev.reloadCatalog"))
    assert isinstance(result, str) and "bundled" in result


async def test_unreachable_kubeconfig_is_reported_and_validation_goes_on(puller: LanguageClient):
    for _ in range(50):
        if any("kubeconfig" in m.message for m in puller.messages):
            break
        await asyncio.sleep(0.1)
    assert any("no kubeconfig at /nonexistent/kubeconfig" in m.message for m in puller.messages)
    open_doc(puller, EXAMPLE.read_text())
    report = await puller.text_document_diagnostic_async(lsp.DocumentDiagnosticParams(lsp.TextDocumentIdentifier(URI)))
    assert isinstance(report, lsp.RelatedFullDocumentDiagnosticReport)
    assert list(report.items) == []
