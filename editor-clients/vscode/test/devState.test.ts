import { strict as assert } from "node:assert";
import { test } from "node:test";
import { applicationNodes } from "../src/applications";
import { DevStateParams, statusBarText, terminalArgv, terminalText } from "../src/devState";

const on: DevStateParams = {
  uri: "file:///a.yaml", component: "frontend", state: "on", sync: { state: "idle", pending: 0 },
  forwards: ["127.0.0.1:8080->80"], run: "running",
};

test("status bar shows dev and sync state and the forwards", () => {
  assert.equal(statusBarText(on), "$(check) frontend: dev on · sync idle · running · 127.0.0.1:8080->80");
  assert.equal(statusBarText({ ...on, sync: { state: "syncing", pending: 3 }, run: "stopped", forwards: [] }),
    "$(cloud-upload) frontend: dev on · sync syncing (3 pending)");
  assert.equal(statusBarText({ ...on, state: "starting" }), "$(sync~spin) frontend: dev starting");
  assert.equal(statusBarText({ ...on, state: "off" }), undefined);
});

test("a terminal runs the server's own veladev", () => {
  const server = { command: "/p/.venv/bin/python", args: ["-m", "veladev", "lsp"], origin: "x" };
  assert.deepEqual(terminalArgv(server, ["veladev", "dev", "terminal", "/a.yaml"]),
    ["/p/.venv/bin/python", "-m", "veladev", "dev", "terminal", "/a.yaml"]);
  assert.deepEqual(terminalArgv({ command: "/v/veladev", args: ["lsp"], origin: "x" }, ["veladev", "dev"]), ["/v/veladev", "dev"]);
  assert.deepEqual(terminalArgv(undefined, ["veladev", "dev"]), ["veladev", "dev"]);
  assert.equal(terminalText("a\nb\r\n"), "a\r\nb\r\n");
});

test("the view lists apps with phase, components with dev state, steps with an inline Promote context", () => {
  const nodes = applicationNodes([{
    namespace: "default", name: "frontend", phase: "workflowSuspending", workflow: "suspending", components: ["frontend"],
    steps: [{ name: "deploy-test", type: "deploy", phase: "succeeded" }, { name: "approve-prod", type: "suspend", phase: "suspending" }],
  }], new Map([["frontend", on]]));
  assert.equal(nodes[0].description, "default · workflowSuspending");
  const [comp, s1, s2] = nodes[0].children;
  assert.equal(comp.description, "dev on · sync idle");
  assert.equal(s1.context, "step-succeeded");
  assert.equal(s2.context, "step-suspending");
  assert.deepEqual(s2.application, { namespace: "default", name: "frontend" });
});
