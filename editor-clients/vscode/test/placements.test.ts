import { strict as assert } from "node:assert";
import { test } from "node:test";
import { ApplicationJson, applicationNodes, placementText } from "../src/applications";
import { logChannelName, PLACED_COMMANDS, placementItems, placementQuery, readPlacements, withPlacement } from "../src/placements";

test("dev mode and logs ask for a placement unless the cluster is named", () => {
  assert.ok(PLACED_COMMANDS.includes("veladev.dev.up") && PLACED_COMMANDS.includes("veladev.logs"));
  assert.deepEqual(placementQuery([{ uri: "file:///a.yaml", component: "web" }]), { uri: "file:///a.yaml", component: "web" });
  assert.deepEqual(placementQuery([{ uri: "file:///a.yaml" }]), { uri: "file:///a.yaml" });
  assert.equal(placementQuery([{ uri: "file:///a.yaml", component: "web", cluster: "edge-1" }]), undefined);
  assert.equal(placementQuery([]), undefined);
  assert.equal(placementQuery(["file:///a.yaml"]), undefined);
});

test("the quick pick lists the clusters and the choice goes into the argument object", () => {
  const placements = readPlacements([{ cluster: "edge-2", namespace: "prod" }, { cluster: "edge-3", namespace: "prod" }, { cluster: 3 }]);
  assert.deepEqual(placements.map((p) => p.cluster), ["edge-2", "edge-3"]);
  assert.deepEqual(readPlacements({ ok: false }), []);
  const items = placementItems(placements);
  assert.deepEqual(items.map((i) => [i.label, i.description]), [["edge-2", "prod"], ["edge-3", "prod"]]);
  assert.deepEqual(withPlacement([{ uri: "file:///a.yaml", component: "web" }], items[1].placement),
    [{ uri: "file:///a.yaml", component: "web", cluster: "edge-3", namespace: "prod" }]);
  assert.equal(logChannelName({ component: "web", cluster: "edge-1", namespace: "shop" }), "veladev logs: web @ edge-1/shop");
});

const app: ApplicationJson = {
  namespace: "team", name: "shop", phase: "running", workflow: "succeeded", components: ["web"],
  steps: [{ name: "deploy-test", type: "deploy", phase: "succeeded" }, { name: "deploy-prod", type: "deploy", phase: "succeeded" }],
  services: [
    { component: "web", cluster: "edge-1", namespace: "team", health: "healthy", message: "Ready:1/1" },
    { component: "web", cluster: "edge-2", namespace: "live", health: "unreachable", message: "dial tcp: connection refused" },
  ],
  placements: [
    { step: "deploy-test", placements: [{ cluster: "edge-1", namespace: "team" }] },
    { step: "deploy-prod", placements: [{ cluster: "edge-2", namespace: "live", reach: "unreachable" }, { cluster: "edge-3", namespace: "live" }] },
  ],
};

test("the view shows each component per cluster and each deploy step's clusters", () => {
  const [root] = applicationNodes([app], new Map());
  const [web, test1, prod] = root.children;
  assert.deepEqual(web.children.map((c) => [c.kind, c.label, c.description, c.icon]), [
    ["cluster", "edge-1", "team · healthy", "pass"],
    ["cluster", "edge-2", "live · unreachable · dial tcp: connection refused", "warning"],
  ]);
  assert.equal(test1.description, "succeeded · → edge-1/team");
  assert.equal(prod.description, "succeeded · → edge-2/live (unreachable), edge-3/live");
});

test("an app on the hub alone keeps its one-cluster view", () => {
  const local: ApplicationJson = { ...app, services: [{ component: "web", cluster: "local", namespace: "team", health: "healthy" }],
    placements: [{ step: "deploy-test", placements: [{ cluster: "local", namespace: "team" }] }] };
  const [root] = applicationNodes([local], new Map());
  assert.deepEqual(root.children[0].children, []);
  assert.equal(root.children[1].description, "succeeded");
  assert.equal(placementText({ step: "s", error: "failed to find any cluster matches given labels", placements: [] }),
    "→ failed to find any cluster matches given labels");
});
