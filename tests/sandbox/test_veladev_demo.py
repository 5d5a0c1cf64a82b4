"""The README's main job, `veladev demo`, runs the whole delivery flow and says so, from a
non-editable install: the wheel built from this repository, installed outside the source tree
(the example app has to ship inside the package)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support import ROOT

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory) -> Path:
    """veladev built as a wheel and installed (without its dependencies, which the test
    environment has) into a folder of its own; returns that folder."""
    work = tmp_path_factory.mktemp("wheel")
    # A copy, because setuptools writes build/ and *.egg-info next to the sources it builds.
    source = shutil.copytree(ROOT, work / "source", ignore=shutil.ignore_patterns(
        ".git", ".venv", "node_modules", ".cache", "artifacts", "build", "*.egg-info", "__pycache__", ".*_cache"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    built = subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(work / "dist"), str(source)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (work / "dist").glob("veladev-*.whl")
    target = work / "site"
    installed = subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)],
                               capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return target


def test_demo_runs_the_flow_end_to_end_from_the_installed_package(installed_wheel, tmp_path):
    from velasandbox.runtime import namespace_support

    reason = namespace_support()
    if reason:
        pytest.skip(reason)
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(installed_wheel))
    where = subprocess.run([sys.executable, "-c", "import veladev, velasandbox; print(veladev.__file__); "
                            "print(velasandbox.__file__)"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert where.stdout.splitlines() == [str(installed_wheel / "veladev" / "__init__.py"),
                                         str(installed_wheel / "velasandbox" / "__init__.py")], where.stdout + where.stderr
    out = subprocess.run([sys.executable, "-m", "veladev", "demo"], capture_output=True, text=True, timeout=600,
                         cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert any(line.startswith("[test] serves:") and "frontend v1.0.0" in line for line in lines), out.stdout
    assert any(line.startswith("[test] serves:") and "frontend v2.0.0" in line for line in lines), out.stdout
    assert any(line.startswith("[prod] serves:") and "frontend v2.0.0" in line and "deploy-prod:succeeded" in line
               for line in lines), out.stdout
    assert lines[-1] == "[done] test and prod run the pushed commit"
