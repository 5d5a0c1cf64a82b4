"""The multi-cluster editor in VS Code (code-server driven by Playwright), against the
`multicluster` sandbox with only the hub's kubeconfig: the code lenses show the component's
health per cluster and deploy-prod's clusters; Logs from its lens asks where (a quick pick of the
component's placements, from veladev.dev.placements) and shows the chosen cluster's pod log in an
output channel; the KubeVela view lists the component per cluster. Screenshots go to
artifacts/editors/vscode-multicluster/."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
from test_vscode import CHROMIUM, HARNESS, CodeServer, _missing
from test_vscode_seed_flow import DRIVER

from editors_support import ROOT

sys.path.insert(0, str(ROOT / "tests" / "sandbox"))
from test_multicluster_status_logs import deploy_shop, undeploy_shop  # noqa: E402

pytestmark = [pytest.mark.sandbox, pytest.mark.skipif(_missing() is not None, reason=_missing() or "")]


def test_clusters_in_lenses_view_and_the_placement_choice_for_logs(multicluster, veladev_cmd, artifacts, tmp_path):
    if multicluster.pods_unsupported:
        pytest.skip(multicluster.pods_unsupported)
    ws = tmp_path / "ws"
    ws.mkdir()
    ns, path, apps = deploy_shop(multicluster, ws)
    logs = artifacts / "vscode-multicluster"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    (tmp_path / "cs").mkdir()
    cs = CodeServer(tmp_path / "cs", ws, veladev_cmd, logs)
    cs.set_settings({"veladev.kubeconfig": multicluster.kubeconfig, "veladev.namespaces": [ns]})
    lines = path.read_text().splitlines()
    opts = {
        "flow": "multicluster",
        "url": cs.url,
        "harness": str(HARNESS),
        "chromium": str(CHROMIUM),
        "shots": str(logs),
        "out": str(logs / "result.json"),
        "lines": {
            "component": lines.index("    - name: web") + 1,
            "deployProd": lines.index("      - name: deploy-prod") + 1,
        },
    }
    try:
        cs.install_extension()
        cs.start()
        output = cs.run_node(DRIVER, json.dumps(opts), timeout=900)
    finally:
        cs.stop()
        undeploy_shop(ns, apps)
    (logs / "driver.log").write_text(output)
    result = json.loads((logs / "result.json").read_text())
    assert result.get("ok"), (
        f"{result.get('error')}\nsteps: {result.get('steps')}\nlenses: {result.get('lensesAtFailure')}"
    )
    assert {"edge-1 ✓", "edge-2 ✓", "edge-3 ✓", "Logs"} <= set(result["lensesClusters"])
    # The quick pick offers each placement: the cluster, its namespace beside it (a row's text
    # runs label and description together).
    assert result["placementChoice"] == [f"edge-{i}{ns}" for i in (1, 2, 3)]
    assert "tick" in result["logOutput"]
    assert f"veladev logs: web @ edge-2/{ns}" in result["outputChannels"]
    rows = result["viewRows"]
    for i in (1, 2, 3):
        assert f"edge-{i}{ns} · healthy" in rows, rows
    assert f"deploy-prodsucceeded · → edge-2/{ns}, edge-3/{ns}" in rows, rows
