"""Paths and small helpers shared by the test suites (tests/ is on pytest's pythonpath)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "frontend" / "vela-app.yaml"
CORPUS = ROOT.parent / "shared" / "corpus" / "kubevela-apps"
