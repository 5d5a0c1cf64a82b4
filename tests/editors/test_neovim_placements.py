"""Neovim (0.11 and 0.7), headless, with editor-clients/neovim against the real `veladev lsp`
and the `multicluster` sandbox (web placed on edge-1, edge-2 and edge-3, only the hub's
kubeconfig): :VeladevLogs offers the component's placements (vim.ui.select, from
veladev.dev.placements) and streams the chosen cluster's pod log into its buffer;
:VeladevLogs <cluster> asks nothing; the Logs lens asks as well."""

from __future__ import annotations

import json
import sys

import pytest

from editors_support import NVIMS, ROOT, SETUP_FAILED, run_nvim_script

sys.path.insert(0, str(ROOT / "tests" / "sandbox"))
from test_multicluster_status_logs import deploy_shop, undeploy_shop  # noqa: E402

pytestmark = pytest.mark.sandbox
SCRIPT = ROOT / "tests" / "editors" / "nvim_placements.lua"


@pytest.fixture(scope="module")
def shop(multicluster, tmp_path_factory):
    if multicluster.pods_unsupported:
        pytest.skip(multicluster.pods_unsupported)
    ns, path, apps = deploy_shop(multicluster, tmp_path_factory.mktemp("nvim-shop"))
    yield ns, path
    undeploy_shop(ns, apps)


@pytest.mark.parametrize("series", sorted(NVIMS))
def test_neovim_offers_the_placements_and_streams_the_chosen_clusters_log(
    series, multicluster, shop, veladev_cmd, artifacts, tmp_path
):
    nvim = NVIMS[series]
    if not nvim.exists() and not SETUP_FAILED.exists():
        pytest.skip(f"no nvim {series} at {nvim}; run ./dev setup")
    ns, path = shop
    result = run_nvim_script(
        series,
        SCRIPT,
        path,
        cwd=path.parent,
        tmp_path=tmp_path,
        log_dir=artifacts / f"neovim-placements-{series}",
        variables={
            "VELADEV_CMD": json.dumps(veladev_cmd),
            "VELADEV_KUBECONFIG": multicluster.kubeconfig,
            "VELADEV_PICK": "edge-2",
            "VELADEV_LENS_PICK": "edge-1",
        },
    )
    places = [f"edge-{i}/{ns}" for i in (1, 2, 3)]
    # :VeladevLogs and the Logs lens each asked once; :VeladevLogs edge-3 did not ask.
    assert [o["items"] for o in result["offers"]] == [places, places]
    # (the lens names its component; the user command leaves it to the server)
    assert [o["prompt"] for o in result["offers"]] == [
        "The component runs in 3 places: which one?",
        "web runs in 3 places: which one?",
    ]
    assert result["offers_after_named"] == 1
    buffers = result["log_buffers"]
    assert set(buffers) == {f"veladev://logs/web@edge-{i}/{ns}" for i in (1, 2, 3)}, buffers
    # (the buffer's name says where the server read the log: its notifications name the cluster)
    for text in buffers.values():
        assert len([line for line in text.splitlines() if line.startswith("tick ")]) >= 2, text[-300:]
