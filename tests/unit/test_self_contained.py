"""The repository stands alone: no file points at research notes kept beside it."""

import subprocess

from support import ROOT

# Spelled in pieces so that this file does not match itself.
OUTSIDE = ("../" + "shared", "/work/" + "shared", "shared/" + "reference")


def test_no_tracked_file_points_outside_the_repository():
    files = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert len(files) > 100
    hits = []
    for name in files:
        path = ROOT / name
        if not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        hits += [f"{name}: {needle}" for needle in OUTSIDE if needle in text]
    assert hits == []
