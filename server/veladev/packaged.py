"""Folders that ship inside the veladev package: the schemas and the example app."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def packaged_dir(name: str) -> Path:
    """`name` (a top-level folder of the repository) as installed inside the package.

    A wheel carries it as `veladev/<name>` (pyproject.toml maps it there); an editable install
    maps only server/, so there the folder is found at the repository root.
    """
    inside = _PACKAGE / name
    return inside if inside.is_dir() else _PACKAGE.parents[1] / name
