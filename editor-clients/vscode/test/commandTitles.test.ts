import { strict as assert } from "node:assert";
import { test } from "node:test";
import { serverCommandItems, titleForCommand } from "../src/commandTitles";

test("command ids become readable titles", () => {
  assert.equal(titleForCommand("veladev.dev.start"), "Dev: Start");
  assert.equal(titleForCommand("veladev.applyQuickFix"), "Apply Quick Fix");
  assert.equal(titleForCommand("veladev.delivery.promote-to_prod"), "Delivery: Promote To Prod");
  assert.equal(titleForCommand("veladev"), "Veladev");
});

test("announced commands become sorted, unique quick-pick items", () => {
  const items = serverCommandItems(["veladev.dev.start", "veladev.delivery.promote", "veladev.dev.start"]);
  assert.deepEqual(items.map((i) => i.command), ["veladev.delivery.promote", "veladev.dev.start"]);
  assert.deepEqual(serverCommandItems(undefined), []);
});
