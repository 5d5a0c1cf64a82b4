# Shared fixtures and hooks. The sandbox fixtures (sandbox, sandbox_ns, need_pods) come from
# velasandbox.testing; add other suites' fixtures below.
import os

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
