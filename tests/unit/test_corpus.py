"""Real Applications written by others, against what a correct validator reports (EXPECT.tsv),
and mutated copies of them with the one finding each mutation must add (MUTATIONS.tsv).

Every expectation is (line, severity, code), compared as the full sorted list: a finding with
the wrong code, a spurious one (info included) or a missing one fails."""

import csv

import pytest

from support import CORPUS, MUTATIONS
from veladev.appmodel.validate import check_text
from veladev.catalog import bundled_catalog

Expectation = tuple[int, str, str]


def _table(path) -> list[dict]:
    # The corpus is part of the repository: missing means broken, so this fails at collection.
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def _entries(field: str, severity: str) -> list[Expectation]:
    """`LINE:code:reason;...` (EXPECT.tsv, one severity per column)."""
    out = []
    for entry in filter(str.strip, (field or "").split(";")):
        line, code, _reason = entry.split(":", 2)
        out.append((int(line), severity, code))
    return out


def _expected(row: dict) -> list[Expectation]:
    return sorted(
        _entries(row["errors"], "error") + _entries(row["warnings"], "warning") + _entries(row["info"], "info")
    )


def _found(text: str) -> list[Expectation]:
    return sorted((f.span.start.line + 1, f.severity.label, f.code) for f in check_text(text, bundled_catalog()))


def _read(name: str) -> str:
    return (CORPUS / name).read_bytes().decode("utf-8")


ROWS = _table(CORPUS / "EXPECT.tsv")
BY_FILE = {r["file"]: r for r in ROWS}
MUTANTS = _table(MUTATIONS)


def test_every_corpus_file_has_an_expectation_and_a_source():
    files = sorted(p.name for p in CORPUS.glob("*.yaml"))
    assert len(files) == 40 and files == sorted(BY_FILE)
    sources = _table(CORPUS / "SOURCES.tsv")
    assert sorted(r["file"] for r in sources) == files
    assert all(r["repo"] and r["path"] and r["commit-or-url"] and r["licence"] for r in sources)


@pytest.mark.parametrize("row", ROWS, ids=[r["file"] for r in ROWS])
def test_corpus_file(row):
    findings = _found(_read(row["file"]))
    if row["verdict"] == "yaml-error":
        assert any(code == "yaml-syntax" for _, _, code in findings), findings
        return
    assert findings == _expected(row)
    has_error = any(sev == "error" for _, sev, _ in findings)
    assert has_error == (row["verdict"] == "has-errors")


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m["name"] for m in MUTANTS])
def test_mutated_corpus_file(mutant):
    """A one-line change of a real file adds exactly the findings the table names (and why)."""
    lines = _read(mutant["file"]).splitlines(keepends=True)
    index = int(mutant["line"]) - 1
    assert mutant["from"] in lines[index], f"{mutant['file']}:{mutant['line']} changed: update MUTATIONS.tsv"
    lines[index] = lines[index].replace(mutant["from"], mutant["to"], 1)
    added = []
    for entry in mutant["adds"].split(";"):
        line, severity, code = entry.split(":")
        added.append((int(line), severity, code))
    assert _found("".join(lines)) == sorted(_expected(BY_FILE[mutant["file"]]) + added), mutant["why"]
