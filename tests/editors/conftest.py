"""Fixtures for the real-editor tests; the helpers live in editors_support.py (a unique module
name: other test folders have their own conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from editors_support import ARTIFACTS, SETUP_FAILED, BrokenApp, make_broken_app, server_command


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent == here:
            item.add_marker(pytest.mark.editor)


def setup_failure() -> str | None:
    return SETUP_FAILED.read_text().strip() if SETUP_FAILED.exists() else None


@pytest.fixture(autouse=True)
def _editor_setup_ok():
    """An editor set-up that failed makes the editor tests fail (not skip), with the reason."""
    reason = setup_failure()
    if reason:
        pytest.fail(f"editor set-up failed (tools/setup-editors.sh): {reason}")


@pytest.fixture(scope="session")
def veladev_cmd() -> list[str]:
    import shutil

    cmd = server_command()
    if not (Path(cmd[0]).exists() or shutil.which(cmd[0])):
        pytest.skip(f"no language server at {cmd[0]}")
    return cmd


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def broken_app(tmp_path) -> BrokenApp:
    return make_broken_app(tmp_path / "ws")
