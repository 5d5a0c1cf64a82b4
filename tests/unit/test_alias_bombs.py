"""Alias bombs ("billion laughs") and aliased content: bounded work, findings where aliases are used."""

import json

import pytest
from hostile_inputs import BOMB_SHAPES, alias_bomb

from support import run_cli
from veladev.appmodel.validate import check_text
from veladev.catalog import bundled_catalog

#: `veladev check` of the example peaks at about 30 MB; these bombs once took 1 to 14 GB.
MAX_RSS_MB = 150


@pytest.mark.parametrize("shape", BOMB_SHAPES)
def test_check_refuses_alias_bombs_at_the_alias(tmp_path, shape):
    text = alias_bomb(shape, levels=9)
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    r = run_cli("veladev", "check", "--format", "json", str(path))
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    (result,) = json.loads(r.stdout)
    (finding,) = result["findings"]
    assert finding["code"] == "excessive-aliasing" and finding["severity"] == "error"
    line = text.splitlines()[finding["line"] - 1]
    alias = line[finding["column"] - 1 : finding["endColumn"] - 1]
    assert alias.startswith("*l") and f"alias {alias}" in finding["message"], (finding, line)
    assert r.peak_rss_mb < MAX_RSS_MB, f"{shape}: peak RSS {r.peak_rss_mb:.0f} MB"


def test_check_text_reports_every_bomb_shape_once():
    catalog = bundled_catalog()
    for shape in BOMB_SHAPES:
        for levels in (5, 7, 9, 12):
            fs = check_text(alias_bomb(shape, levels), catalog)
            assert [f.code for f in fs] == ["excessive-aliasing"], (shape, levels, [f.format("x") for f in fs])


APP = """\
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: shared
spec:
  components:
    - name: a
      type: webservice
      properties:
        image: nginx
        ports: &ports
          - port: eighty
    - name: b
      type: webservice
      properties:
        image: nginx
        ports: *ports
"""


def test_aliased_content_is_reported_where_it_is_used():
    fs = [f for f in check_text(APP, bundled_catalog()) if f.code == "wrong-type"]
    lines = APP.splitlines()
    places = sorted((f.span.start.line, f.span.start.col) for f in fs)
    anchor_use = (11, lines[11].index("eighty"))
    alias_use = (16, lines[16].index("*ports"))
    assert places == [anchor_use, alias_use], [f.format("app.yaml") for f in fs]
    assert all(f.fixes == () or f.span.start.line == 11 for f in fs)  # no edit through an alias


def test_moderate_aliasing_is_validated_normally():
    # 300 uses of one anchor: 99% of the nodes come from aliases, but the document stays small.
    uses = "\n".join(f"    - name: c{i}\n      type: webservice\n      properties: *props" for i in range(300))
    text = (
        "apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: many\nspec:\n"
        "  components:\n    - name: base\n      type: webservice\n      properties: &props\n"
        "        image: nginx\n        cpu: [1]\n" + uses + "\n"
    )
    fs = check_text(text, bundled_catalog())
    assert "excessive-aliasing" not in {f.code for f in fs}
    assert sum(f.code == "wrong-type" for f in fs) == 301


def test_aliased_documents_do_not_fill_the_validation_cache():
    # The cache key was the marshalled value: every alias expanded, kept for each version of a file.
    catalog = bundled_catalog()
    before = len(catalog._errors)
    check_text(APP.replace("eighty", "81"), catalog)
    assert len(catalog._errors) == before
    check_text(APP.replace("&ports", "").replace("*ports", "[{port: 82}]"), catalog)
    assert len(catalog._errors) > before  # a document without aliases still is


def test_schema_messages_describe_large_values_briefly():
    catalog = bundled_catalog()
    big = list(range(50_000))
    schema = {
        "type": "object",
        "properties": {
            "s": {"type": "string"},
            "e": {"enum": ["a", "b"]},
            "n": {"maxItems": 2},
            "u": {"uniqueItems": True},
            "o": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "x": {"not": {"type": "array"}},
            "c": {"contains": {"type": "string"}},
        },
    }
    value = {k: big + big if k == "u" else big for k in schema["properties"]}
    errors = list(catalog.validator(schema).iter_errors(value))
    assert {e.validator for e in errors} == {"type", "enum", "maxItems", "uniqueItems", "oneOf", "not", "contains"}
    for e in errors:
        assert len(e.message) < 200 and "a list of" in e.message, e.message
