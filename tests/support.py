"""Paths and small helpers shared by the test suites (tests/ is on pytest's pythonpath)."""

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pygls.protocol import default_converter
from pytest_lsp import LanguageClient
from pytest_lsp.client import register_lsp_features

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "frontend" / "vela-app.yaml"
# Real Applications written by others, with what a correct validator reports (tests/corpus/README.md).
CORPUS = ROOT / "tests" / "corpus" / "kubevela-apps"
MUTATIONS = ROOT / "tests" / "corpus" / "MUTATIONS.tsv"


@dataclass
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    peak_rss_mb: float  # the child's own peak resident memory, from the kernel (wait4)


# Runs argv[2:] as its child and writes the child's own peak RSS (KB, from wait4) to fd argv[1];
# its exit status is the child's.
_LAUNCHER = """
import os, sys
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
os.write(int(sys.argv[1]), str(usage.ru_maxrss).encode())
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def _read_peak_kb(fd: int) -> int:
    with os.fdopen(fd, "rb") as f:
        text = f.read().decode()
    return int(text) if text else 0


def run_cli(
    program: str, *args: str, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 120
) -> CliRun:
    """Run an installed entry point (`veladev`, `velasandbox`) as a user would, from its script."""
    script = Path(sys.executable).with_name(program)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as inp:
        inp.write((stdin or "").encode())
        inp.seek(0)
        # Through a small launcher, which reports the program's peak memory on a pipe: Linux carries
        # the forking process's peak RSS over exec into the child's ru_maxrss, so a program
        # started straight from a large pytest process would report pytest's peak as its own.
        rss_read, rss_write = os.pipe()
        proc = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, str(rss_write), str(script), *args],
            stdin=inp,
            stdout=out,
            stderr=err,
            env=None if env is None else {**os.environ, **env},
            pass_fds=(rss_write,),
            start_new_session=True,  # the launcher and the program end together on a timeout
        )
        os.close(rss_write)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                os.wait4(proc.pid, 0)
                os.close(rss_read)
                raise AssertionError(f"{program} {' '.join(args)} still running after {timeout:.0f} s")
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return CliRun(
            proc.returncode,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            _read_peak_kb(rss_read) / 1024,
        )


async def wait_diagnostics(client, uri: str, predicate, timeout: float = 30):
    """The client's latest diagnostics of `uri` once `predicate` accepts them (AssertionError
    with the last ones after `timeout` seconds)."""
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        diags = client.diagnostics.get(uri)
        if diags is not None and predicate(diags):
            return diags
        await asyncio.sleep(0.1)
    raise AssertionError(f"diagnostics never matched: {client.diagnostics.get(uri)}")


_Client = TypeVar("_Client", bound=LanguageClient)


def lsp_client_factory(cls: type[_Client]) -> Callable[[], _Client]:
    """A `client_factory` for pytest-lsp's ClientServerConfig: a client of `cls` (a LanguageClient
    with typed fields of its own for what a test records) with the handlers pytest-lsp's own
    client has (make_test_lsp_client), so diagnostics, progress and messages are recorded too."""

    def make() -> _Client:
        client = cls(converter_factory=default_converter)
        register_lsp_features(client)
        return client

    return make
