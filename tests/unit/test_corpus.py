"""Real Applications written by others, against what a correct validator reports (EXPECT.tsv)."""

import csv

import pytest

from support import CORPUS
from veladev.catalog import bundled_catalog
from veladev.spec.findings import Severity
from veladev.spec.validate import check_text

if not (CORPUS / "EXPECT.tsv").exists():  # pragma: no cover - the corpus sits beside the repository
    pytest.skip("corpus not found next to the repository", allow_module_level=True)


def _rows():
    with open(CORPUS / "EXPECT.tsv", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def _lines(field: str) -> set[int]:
    return {int(entry.split(":", 1)[0]) for entry in (field or "").split(";") if entry.strip()}


ROWS = _rows()


@pytest.mark.parametrize("row", ROWS, ids=[r["file"] for r in ROWS])
def test_corpus_file(row):
    text = (CORPUS / row["file"]).read_bytes().decode("utf-8")
    findings = check_text(text, bundled_catalog())
    by_sev = {s: {f.span.start.line + 1 for f in findings if f.severity == s} for s in Severity}
    shown = [f.format(row["file"]) for f in findings]
    if row["verdict"] == "yaml-error":
        assert any(f.code == "yaml-syntax" for f in findings), shown
        return
    # Every expected error at its line, and no error where none is expected.
    assert by_sev[Severity.ERROR] == _lines(row["errors"]), shown
    # Deprecated and unknown things are warned at their lines; nothing else is warned.
    assert by_sev[Severity.WARNING] == _lines(row["warnings"]), shown
    # Types that are not built-ins are information only (offline).
    assert _lines(row["info"]) <= by_sev[Severity.INFO], shown
