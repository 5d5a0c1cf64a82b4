import { strict as assert } from "node:assert";
import { test } from "node:test";
import { isCandidate, isKubeVelaApplication } from "../src/detect";

const app = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: frontend
`;

test("an Application is detected", () => {
  assert.equal(isKubeVelaApplication(app), true);
});

test("quotes, comments and CRLF are accepted", () => {
  assert.equal(isKubeVelaApplication(`apiVersion: "core.oam.dev/v1beta1"  # oam\r\nkind: 'Application'\r\n`), true);
});

test("kind first, apiVersion later in the same document", () => {
  assert.equal(isKubeVelaApplication(`# an app\nkind: Application\nmetadata: {name: x}\napiVersion: core.oam.dev/v1alpha2\n`), true);
});

test("other KubeVela kinds are not Applications", () => {
  assert.equal(isKubeVelaApplication(`apiVersion: core.oam.dev/v1beta1\nkind: TraitDefinition\n`), false);
  assert.equal(isKubeVelaApplication(`apiVersion: core.oam.dev/v1beta1\nkind: ApplicationRevision\n`), false);
});

test("Applications of other API groups are not KubeVela's", () => {
  assert.equal(isKubeVelaApplication(`apiVersion: argoproj.io/v1alpha1\nkind: Application\n`), false);
  assert.equal(isKubeVelaApplication(`apiVersion: app.k8s.io/v1beta1\nkind: Application\n`), false);
});

test("plain Kubernetes YAML and empty text are not Applications", () => {
  assert.equal(isKubeVelaApplication(`apiVersion: v1\nkind: Pod\n`), false);
  assert.equal(isKubeVelaApplication(""), false);
});

test("nested keys do not count: only the top level", () => {
  const nested = `apiVersion: v1\nkind: ConfigMap\ndata:\n  apiVersion: core.oam.dev/v1beta1\n  kind: Application\n`;
  assert.equal(isKubeVelaApplication(nested), false);
});

test("apiVersion and kind must be in the same document of a multi-document file", () => {
  const split = `apiVersion: core.oam.dev/v1beta1\nkind: ComponentDefinition\n---\napiVersion: v1\nkind: Application\n`;
  assert.equal(isKubeVelaApplication(split), false);
  const second = `apiVersion: v1\nkind: Namespace\n--- # the app\n${app}`;
  assert.equal(isKubeVelaApplication(second), true);
});

test("only YAML files and untitled YAML buffers are candidates", () => {
  assert.equal(isCandidate("yaml", "file"), true);
  assert.equal(isCandidate("yaml", "untitled"), true);
  assert.equal(isCandidate("json", "file"), false);
  assert.equal(isCandidate("yaml", "git"), false);
});
