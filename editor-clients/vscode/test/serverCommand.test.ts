import { strict as assert } from "node:assert";
import { test } from "node:test";
import {
  compareVersions,
  judgeVersion,
  MIN_SERVER_VERSION,
  parseVersion,
  resolveServerCommand,
  versionCommand,
} from "../src/serverCommand";

test("veladev.server.command wins, and lsp is appended", () => {
  const cmd = resolveServerCommand({ command: ["/opt/v/bin/veladev", "--log-level", "debug"], pythonPath: "/usr/bin/python3" });
  assert.deepEqual([cmd.command, ...cmd.args], ["/opt/v/bin/veladev", "--log-level", "debug", "lsp"]);
});

test("a command given as one string is split on spaces", () => {
  const cmd = resolveServerCommand({ command: "  /x/veladev  " });
  assert.deepEqual([cmd.command, ...cmd.args], ["/x/veladev", "lsp"]);
});

test("pythonPath runs the module", () => {
  const cmd = resolveServerCommand({ command: [], pythonPath: "/venv/bin/python" });
  assert.deepEqual([cmd.command, ...cmd.args], ["/venv/bin/python", "-m", "veladev", "lsp"]);
});

test("a workspace .venv is used before the PATH", () => {
  const cmd = resolveServerCommand({}, ["/ws/a", "/ws/b/"], (p) => p === "/ws/b/.venv/bin/veladev");
  assert.equal(cmd.command, "/ws/b/.venv/bin/veladev");
  assert.equal(resolveServerCommand({}, ["/ws/a"]).command, "veladev");
});

test("the version probe replaces lsp with --version", () => {
  const probe = versionCommand(resolveServerCommand({ pythonPath: "py" }));
  assert.deepEqual(probe.args, ["-m", "veladev", "--version"]);
});

test("versions are parsed and compared numerically", () => {
  assert.equal(parseVersion("veladev 0.1.0\n"), "0.1.0");
  assert.equal(parseVersion("veladev, version 1.2"), "1.2.0");
  assert.equal(parseVersion("no version here"), undefined);
  assert.ok(compareVersions("0.10.0", "0.9.9") > 0);
  assert.equal(compareVersions("1.0", "1.0.0"), 0);
});

test("a missing server, an old one and a good one are told apart", () => {
  const server = resolveServerCommand({});
  const missing = judgeVersion(server, "", { code: "ENOENT", message: "spawn veladev ENOENT" });
  assert.equal(missing.ok, false);
  assert.ok(!missing.ok && missing.reason === "missing" && missing.message.includes("not found"));
  const old = judgeVersion(server, "veladev 0.0.1");
  assert.ok(!old.ok && old.reason === "too-old" && old.message.includes(MIN_SERVER_VERSION));
  const good = judgeVersion(server, "veladev 0.1.0");
  assert.deepEqual(good, { ok: true, version: "0.1.0" });
  const broken = judgeVersion(server, "Traceback ...", { code: 1, message: "Command failed" });
  assert.ok(!broken.ok && broken.reason === "missing");
});
