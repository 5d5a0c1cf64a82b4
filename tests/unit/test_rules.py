"""The validator's rules, one case each: the code, the severity and the exact place."""

import textwrap

import pytest
import yaml

from veladev.appmodel.findings import Severity
from veladev.appmodel.validate import check_text
from veladev.catalog import bundled_catalog

CAT = bundled_catalog()

BASE = """\
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: demo
spec:
  components:
    - name: web
      type: webservice
      properties:
        image: nginx:1.25
        ports:
          - port: 80
      traits:
        - type: nocalhost
          properties:
            port: 80
            image: node
            portForward: ["8080:80"]
            sync:
              type: send
    - name: db
      type: worker
      properties:
        image: postgres:16
  policies:
    - name: test
      type: topology
      properties:
        namespace: test
    - name: once
      type: apply-once
      properties:
        enable: true
  workflow:
    steps:
      - name: deploy-test
        type: deploy
        properties:
          policies: ["test"]
      - name: wait
        type: suspend
        properties:
          duration: 30s
"""


def findings(text: str):
    return check_text(textwrap.dedent(text), CAT)


def only(text: str, code: str):
    fs = findings(text)
    assert [f.code for f in fs] == [code], [f.format("app.yaml") for f in fs]
    return fs[0]


def at(text: str, needle: str, occurrence: int = 0) -> tuple[int, int]:
    """(line, column) of the n-th occurrence of `needle`."""
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(needle, start + 1)
    line = text.count("\n", 0, start)
    return line, start - (text.rfind("\n", 0, start) + 1)


def test_base_is_clean():
    assert findings(BASE) == []


CASES = [
    # (id, old, new, code, severity, needle at the finding's start)
    (
        "duplicate-component",
        "- name: db",
        "- name: web",
        "duplicate-name",
        Severity.ERROR,
        ("web\n      type: worker", 0),
    ),
    ("duplicate-step", "- name: wait", "- name: deploy-test", "duplicate-name", Severity.ERROR, ("deploy-test", 1)),
    (
        "duplicate-policy",
        "- name: once",
        "- name: test",
        "duplicate-name",
        Severity.ERROR,
        ("test\n      type: apply-once", 0),
    ),
    ("unknown-policy", 'policies: ["test"]', 'policies: ["tset"]', "unknown-policy-ref", Severity.ERROR, ('"tset"', 0)),
    (
        "policy-not-deployable",
        'policies: ["test"]',
        'policies: ["once"]',
        "policy-not-deployable",
        Severity.ERROR,
        ('"once"]', 0),
    ),
    (
        "unknown-component-dependency",
        "- name: db\n      type: worker",
        "- name: db\n      dependsOn: [wbe]\n      type: worker",
        "unknown-dependency",
        Severity.ERROR,
        ("wbe", 0),
    ),
    ("bad-duration", "duration: 30s", "duration: 1d", "invalid-duration", Severity.ERROR, ("1d", 0)),
    (
        "bad-timeout",
        "type: suspend",
        "type: suspend\n        timeout: 10 minutes",
        "invalid-duration",
        Severity.ERROR,
        ("10 minutes", 0),
    ),
    ("sync-type", "type: send\n", "type: sendreceive\n", "nocalhost-sync-type", Severity.ERROR, ("sendreceive", 0)),
    ("image-alias-case", "image: node", "image: Node", "nocalhost-image", Severity.ERROR, ("Node", 0)),
    (
        "image-invalid",
        "image: node",
        "image: 'not an image!'",
        "nocalhost-image",
        Severity.ERROR,
        ("'not an image!'", 0),
    ),
    (
        "port-forward",
        '["8080:80"]',
        '["8080:80", "80800:80"]',
        "nocalhost-port-forward",
        Severity.ERROR,
        ('"80800:80"', 0),
    ),
    (
        "debug-port",
        "portForward:",
        "debug: {remoteDebugPort: 70000}\n            portForward:",
        "nocalhost-debug-port",
        Severity.ERROR,
        ("70000", 0),
    ),
    (
        "port-undeclared",
        "            port: 80\n",
        "            port: 8080\n",
        "nocalhost-port-undeclared",
        Severity.WARNING,
        ("8080", 0),
    ),
    (
        "service-conflict",
        "          - port: 80\n",
        "          - port: 80\n            expose: true\n          - port: 443\n            expose: true\n",
        "nocalhost-service-conflict",
        Severity.WARNING,
        ("80\n            image: node", 0),
    ),
    (
        "unknown-property",
        "image: postgres:16",
        "image: postgres:16\n        imagePullPolicyy: Always",
        "unknown-property",
        Severity.WARNING,
        ("imagePullPolicyy", 0),
    ),
    ("wrong-type", "enable: true", "enable: 'yes'", "wrong-type", Severity.ERROR, ("'yes'", 0)),
    (
        "missing-parameter",
        "        image: postgres:16\n",
        "        cmd: [run]\n",
        "missing-parameter",
        Severity.ERROR,
        ("properties:\n        cmd", 0),
    ),
    (
        "missing-field",
        "    - name: db\n      type: worker",
        "    - name: db\n      tipe: worker",
        "missing-field",
        Severity.ERROR,
        ("name: db", 0),
    ),
    (
        "unknown-trait-offline",
        "- type: nocalhost",
        "- type: my-trait",
        "unknown-trait-type",
        Severity.INFO,
        ("my-trait", 0),
    ),
    (
        "deprecated-property",
        "        image: postgres:16\n",
        "        image: postgres:16\n        volumes: []\n",
        "deprecated-property",
        Severity.WARNING,
        ("volumes", 0),
    ),
    ("enum", "    steps:\n", "    mode: {steps: Dag}\n    steps:\n", "invalid-value", Severity.ERROR, ("Dag", 0)),
    (
        "duplicate-key",
        "        image: postgres:16\n",
        "        image: postgres:16\n        image: postgres:17\n",
        "duplicate-key",
        Severity.ERROR,
        ("image: postgres:17", 0),
    ),
]


@pytest.mark.parametrize("old,new,code,severity,needle", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule(old, new, code, severity, needle):
    assert old in BASE
    text = BASE.replace(old, new, 1)
    fs = [f for f in findings(text) if f.code == code]
    assert fs, [f.format("app.yaml") for f in findings(text)]
    f = fs[0]
    assert f.severity == severity
    line, col = at(text, *needle)
    assert (f.span.start.line, f.span.start.col) == (line, col), f.format("app.yaml")


def test_nocalhost_service_type_must_match_workload():
    text = BASE.replace("type: webservice", "type: daemon", 1)
    f = [f for f in findings(text) if f.code == "nocalhost-service-type"]
    assert f and "daemonset" in f[0].message and f[0].fixes
    assert f[0].fixes[0].edits[0].new_text.startswith("serviceType: daemonset")


def test_dependency_cycle_reported_on_each_edge():
    text = BASE.replace(
        "    - name: db\n      type: worker", "    - name: db\n      dependsOn: [web]\n      type: worker", 1
    )
    text = text.replace(
        "    - name: web\n      type: webservice", "    - name: web\n      dependsOn: [db]\n      type: webservice", 1
    )
    cycles = [f for f in findings(text) if f.code == "dependency-cycle"]
    assert len(cycles) == 2 and all("web -> db -> web" in f.message or "db -> web -> db" in f.message for f in cycles)
    # Each edge at its own dependsOn entry: `[db]` under web, `[web]` under db.
    assert sorted(f.span.start for f in cycles) == [at_pos(text, "db]", 0), at_pos(text, "web]", 0)]


WAIT_STEP = """      - name: wait
        type: suspend
        properties:
          duration: 30s
"""


def with_last_step(steps: str) -> str:
    return BASE.replace(WAIT_STEP, steps)


def test_nested_substeps():
    text = with_last_step("""      - name: group
        type: step-group
        subSteps:
          - name: inner
            type: step-group
            subSteps:
              - name: deepest
                type: suspend
""")
    f = only(text, "nested-substeps")
    assert (f.span.start.line, f.span.start.col) == at(text, "subSteps", 1)


def test_step_names_unique_across_substeps():
    text = with_last_step("""      - name: group
        type: step-group
        subSteps:
          - name: deploy-test
            type: suspend
""")
    f = only(text, "duplicate-name")
    assert f.span.start == at_pos(text, "deploy-test", 1)


def at_pos(text, needle, occ):
    from veladev.appmodel.findings import Position

    return Position(*at(text, needle, occ))


def test_inputs_supply_required_parameters():
    text = with_last_step("""      - name: say
        type: print-message-in-status
        inputs:
          - from: msg
            parameterKey: message
""")
    assert [f.code for f in findings(text)] == []


def test_syntax_error_is_a_finding_at_the_parser_position():
    text = BASE.replace("  name: demo\n", "  name: [demo\n", 1)
    fs = findings(text)
    assert [f.code for f in fs] == ["yaml-syntax"]
    # The position and problem PyYAML's libyaml parser itself reports, not somewhere near.
    with pytest.raises(yaml.MarkedYAMLError) as parser:
        list(yaml.load_all(text, Loader=yaml.CSafeLoader))
    mark = parser.value.problem_mark
    assert mark is not None
    assert (fs[0].span.start.line, fs[0].span.start.col) == (mark.line, mark.column)
    assert parser.value.problem in fs[0].message


def test_non_applications_are_ignored_in_multidoc():
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\nbogus: 1\n---\n" + BASE.replace(
        "type: send\n", "type: bad\n"
    )
    fs = findings(text)
    assert [f.code for f in fs] == ["nocalhost-sync-type"]
    assert fs[0].span.start.line == text.count("\n", 0, text.index("type: bad"))


def test_workflow_ref_and_steps():
    text = BASE.replace("  workflow:\n", "  workflow:\n    ref: wf\n", 1)
    f = only(text, "workflow-ref-and-steps")
    assert f.span.start == at_pos(text, "ref", 0)


def test_utf8_columns_are_code_points():
    # Non-ASCII (2, 3 and 4 UTF-8 bytes) before the finding on the same line: the column counts
    # code points, so an emoji is one column here (the LSP layer makes it two UTF-16 units).
    text = BASE.replace(
        "            sync:\n              type: send\n", '            sync: {filePattern: ["é名😀"], type: sendx}\n', 1
    )
    f = only(text, "nocalhost-sync-type")
    line = text.splitlines()[f.span.start.line]
    assert f.span.start == at_pos(text, "sendx", 0) and line[f.span.start.col :].startswith("sendx")
    assert f.span.start.col == len(line.split("sendx")[0]) < len(line.split("sendx")[0].encode())


def test_identical_services_are_not_a_conflict():
    text = BASE.replace(
        "          - port: 80\n", '          - port: 80\n            name: ""\n            expose: true\n', 1
    )
    assert [f.code for f in findings(text)] == []


@pytest.mark.parametrize(
    "port_entry",
    [
        "- port: 80\n            expose: true",  # the seed's VelaUX setup: the names alone differ
        "- port: 80\n            expose: true\n            protocol: TCP\n            name: http",
        "- port: 80\n            expose: true\n            containerPort: 80",
    ],
)
def test_nocalhost_and_webservice_services_serving_the_same_port_agree(port_entry):
    text = BASE.replace("- port: 80", port_entry, 1)
    assert findings(text) == [], [f.format("app.yaml") for f in findings(text)]


@pytest.mark.parametrize(
    "change",
    [
        ("- port: 80", "- port: 80\n            expose: true\n            containerPort: 8080"),
        ("- port: 80", "- port: 80\n            expose: true\n            protocol: UDP"),
        ("        ports:", "        exposeType: NodePort\n        ports:"),
    ],
)
def test_nocalhost_and_webservice_services_serving_differently_conflict(change):
    old, new = change
    text = BASE.replace(old, new, 1)
    if "exposeType" in text:
        text = text.replace("- port: 80", "- port: 80\n            expose: true", 1)
    assert "nocalhost-service-conflict" in [f.code for f in findings(text)], [
        f.format("app.yaml") for f in findings(text)
    ]
