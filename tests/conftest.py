# Shared fixtures and hooks. The sandbox fixtures (sandbox, sandbox_ns, need_pods) come from
# velasandbox.testing; add other suites' fixtures below.
import os
import shutil
import tempfile
from pathlib import Path

import pytest

pytest_plugins = ["velasandbox.testing"]

# The CI runner sets CI=true. There every test runs on a machine that has what the tests need
# (Linux namespaces, Node.js, the editors from ./dev setup), so a skip means a test silently
# did not run: it is turned into a failure that gives the skip's reason. A contributor's laptop
# may show the skips listed in the README ("Tests that may skip").
STRICT = os.environ.get("CI") == "true"


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    return longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)


def _fail_skip(report, what: str) -> None:
    report.outcome = "failed"
    report.longrepr = f"{what} skipped under CI=true, where every test must run: {_skip_reason(report)}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if STRICT and report.skipped and not hasattr(report, "wasxfail"):
        _fail_skip(report, item.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if STRICT and report.skipped:  # a module that skips itself as a whole (allow_module_level)
        _fail_skip(report, report.nodeid)


# Tests and the tools they start keep their files under their own temporary or project folders.
# Every process the tests start sees HOME and the XDG base directories in one folder made for
# this session; a test that needs a tool's home (code-server, Chromium, Neovim, npm) gives it
# a folder of its own. At the end of the session that folder must be empty: anything there
# would have landed in the user's real home (~/.kube/cache, ~/.config/chromium, ...).
# XDG_RUNTIME_DIR is where VS Code puts its IPC sockets (else the system temp folder).
HOME_VARS = {
    "HOME": "",
    "XDG_CONFIG_HOME": ".config",
    "XDG_CACHE_HOME": ".cache",
    "XDG_DATA_HOME": ".local/share",
    "XDG_STATE_HOME": ".local/state",
    "XDG_RUNTIME_DIR": "run",
}


def pytest_configure(config):
    if hasattr(config, "workerinput") or "VELADEV_TEST_HOME" in os.environ:
        return  # already set for this session
    tempfile.gettempdir()  # this process's own temporary files stay in the system temp folder
    home = Path(tempfile.mkdtemp(prefix="veladev-home-"))
    for var, sub in HOME_VARS.items():
        (home / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        os.environ[var] = str(home / sub)
    os.environ["VELADEV_TEST_HOME"] = str(home)
    config._veladev_home = home


def leftovers(home: Path) -> list[str]:
    """Files, sockets and links (not folders) that processes left in the session's home."""
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if not p.is_dir() or p.is_symlink())


def pytest_sessionfinish(session, exitstatus):
    home = getattr(session.config, "_veladev_home", None)
    if home is None:
        return
    left = leftovers(home)
    shutil.rmtree(home, ignore_errors=True)
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        reporter.write_line(
            "FAILED: the tests left files in the home folder (they would be in the user's "
            f"real home): {', '.join(left[:20])}",
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
