"""Topology against the hub's registered clusters (pure): the check's findings at the exact
name or selector, and each deploy step's placements as KubeVela resolves them."""

import textwrap

import pytest

from veladev.appmodel.findings import Severity
from veladev.appmodel.model import read_model
from veladev.appmodel.topology import PlacementDecision, deploy_placements
from veladev.appmodel.validate import check_text
from veladev.appmodel.yamldoc import parse
from veladev.catalog import bundled_catalog

CLUSTERS = {
    "local": {},
    "edge-1": {"env": "test"},
    "edge-2": {"env": "prod", "region": "east"},
    "edge-3": {"env": "prod", "region": "west"},
}


def with_clusters(clusters):
    catalog = bundled_catalog().merged_with([])
    catalog.clusters = clusters
    return catalog


HEAD = """\
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: demo
  namespace: shop
spec:
  components:
    - name: web
      type: webservice
      properties:
        image: nginx:1.25
  policies:
"""


def app(policies: str, steps: str = "") -> str:
    text = HEAD + textwrap.indent(textwrap.dedent(policies), "    ")
    if steps:
        text += "  workflow:\n    steps:\n" + textwrap.indent(textwrap.dedent(steps), "      ")
    return text


def topo_findings(text: str, clusters=CLUSTERS):
    return [f for f in check_text(text, with_clusters(clusters)) if f.code.startswith(("unknown-cluster", "cluster-"))]


def at(text: str, f) -> str:
    line = text.splitlines()[f.span.start.line]
    return line[f.span.start.col : f.span.end.col]


def test_unknown_cluster_name_is_reported_at_the_name_with_the_registered_names():
    text = app(
        """\
        - name: prod
          type: topology
          properties:
            clusters: ["edge-2", "egde-3", "local"]
        """
    )
    (f,) = topo_findings(text)
    assert (f.code, f.severity) == ("unknown-cluster", Severity.ERROR)
    assert at(text, f) == '"egde-3"'
    assert "did you mean 'edge-3'" in f.message
    assert "registered clusters: local, edge-1, edge-2, edge-3" in f.message
    assert f.fixes and f.fixes[0].edits[0].new_text == '"edge-3"'


def test_selector_matching_nothing_is_reported_at_the_selector_unless_allow_empty():
    text = app(
        """\
        - name: prod
          type: topology
          properties:
            clusterLabelSelector:
              env: staging
        """
    )
    (f,) = topo_findings(text)
    assert (f.code, f.severity) == ("cluster-selector-empty", Severity.ERROR)
    assert at(text, f) == "clusterLabelSelector"
    assert "{env=staging}" in f.message and "edge-2 {env=prod, region=east}" in f.message
    assert topo_findings(text.replace("env: staging", "env: staging\n        allowEmpty: true")) == []


def test_selector_matching_a_cluster_and_known_names_are_fine():
    text = app(
        """\
        - name: prod
          type: topology
          properties:
            clusterLabelSelector: {env: prod, region: west}
        - name: test
          type: topology
          properties:
            clusters: [edge-1, local]
        """
    )
    assert topo_findings(text) == []


def test_without_registered_clusters_there_are_no_topology_findings():
    text = app(
        """\
        - name: prod
          type: topology
          properties:
            clusters: [nowhere]
            clusterLabelSelector: {env: nothing}
        """
    )
    assert [f for f in check_text(text, bundled_catalog()) if "cluster" in f.code] == []
    # `clusters` takes precedence: the selector is not used, so only the name is wrong
    assert [f.code for f in topo_findings(text)] == ["unknown-cluster"]


def test_a_long_cluster_list_is_shortened_in_the_message():
    many: dict[str, dict[str, str]] = {"local": {}, **{f"c-{i:03}": {} for i in range(500)}}
    text = app(
        """\
        - name: p
          type: topology
          properties:
            clusters: [nope]
        """
    )
    (f,) = topo_findings(text, many)
    assert "and 489 more" in f.message and len(f.message) < 400


def placements(text: str):
    doc = parse(text).documents[0]
    return [
        (s.step, [p.label("shop") for p in s.placements], s.error)
        for s in deploy_placements(read_model(doc.value), CLUSTERS)
    ]


POLICIES = """\
- name: test
  type: topology
  properties:
    clusters: [edge-1]
    namespace: staging
- name: prod
  type: topology
  properties:
    clusterLabelSelector: {env: prod}
- name: gone
  type: topology
  properties:
    clusters: [edge-9]
- name: none
  type: topology
  properties:
    clusterLabelSelector: {env: qa}
    allowEmpty: true
- name: tuned
  type: override
  properties:
    components: []
"""


def test_deploy_steps_are_placed_by_their_topology_policies():
    text = app(
        POLICIES,
        """\
        - name: to-test
          type: deploy
          properties:
            policies: [test]
        - name: to-prod
          type: deploy
          properties:
            policies: [tuned, prod, test]
        - name: broken
          type: deploy
          properties:
            policies: [gone]
        - name: empty
          type: deploy
          properties:
            policies: [none]
        - name: hub
          type: deploy
          properties:
            policies: [tuned]
        - name: wait
          type: suspend
        """,
    )
    assert placements(text) == [
        ("to-test", ["edge-1/staging"], ""),
        ("to-prod", ["edge-2/shop", "edge-3/shop", "edge-1/staging"], ""),
        ("broken", [], "failed to get cluster edge-9: no such cluster"),
        ("empty", [], ""),
        ("hub", ["local/shop"], ""),
    ]


def test_without_a_workflow_each_topology_policy_is_a_deploy_step():
    assert placements(app(POLICIES))[:2] == [
        ("deploy-test", ["edge-1/staging"], ""),
        ("deploy-prod", ["edge-2/shop", "edge-3/shop"], ""),
    ]
    no_topology = app("- name: tuned\n  type: override\n  properties: {components: []}\n")
    assert placements(no_topology) == [("deploy", ["local/shop"], "")]


@pytest.mark.parametrize("props", ["{}", "null"])
def test_empty_topology_properties_fail_as_in_kubevela(props):
    text = app(
        f"- name: t\n  type: topology\n  properties: {props}\n",
        "- name: s\n  type: deploy\n  properties: {policies: [t]}\n",
    )
    assert placements(text) == [("s", [], "topology policy t must not have empty properties")]


def test_placement_labels_default_to_the_application_namespace():
    assert PlacementDecision("edge-1", "").label("shop") == "edge-1/shop"
