"""`./dev` itself: help without installing anything, and a usage error for a wrong command."""

import subprocess

import pytest

from support import ROOT


@pytest.mark.parametrize("args", [[], ["help"], ["--help"]])
def test_help_lists_the_commands_and_exits_0(args):
    out = subprocess.run([str(ROOT / "dev"), *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    commands = [line.split()[0] for line in out.stdout.splitlines() if line.startswith("  ") and line.split()]
    assert {"demo", "test", "setup", "lint", "bench", "help"} <= set(commands), out.stdout
    assert "set -euo" not in out.stdout and out.stderr == ""


def test_unknown_command_is_a_usage_error():
    out = subprocess.run([str(ROOT / "dev"), "dmeo"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.splitlines()[0] == "./dev: unknown command 'dmeo'" and out.stdout == ""
