"""Paths and small helpers shared by the test suites (tests/ is on pytest's pythonpath)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "frontend" / "vela-app.yaml"
# Real Applications written by others, with what a correct validator reports (tests/corpus/README.md).
CORPUS = ROOT / "tests" / "corpus" / "kubevela-apps"
MUTATIONS = ROOT / "tests" / "corpus" / "MUTATIONS.tsv"
