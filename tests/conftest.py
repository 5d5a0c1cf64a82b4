# Shared fixtures. The sandbox fixtures (sandbox, sandbox_ns, need_pods) come from
# velasandbox.testing; add other suites' fixtures below.
pytest_plugins = ["velasandbox.testing"]
