// Drives code-server (VS Code in a browser) through headless Chromium with playwright-core.
// Called by test_vscode.py, which starts code-server and asserts on the JSON this prints.
//
//   node vscode_driver.mjs <scenario> <json-options>
//   scenarios: quickfix (diagnostic in Problems, apply its quick fix, save), completion,
//   navigation (hover, breadcrumbs from document symbols, F12), commands (palette, server command)
//
// Every UI step polls with generous timeouts and retries its key presses: the test must not
// be flaky on a loaded 2-core CI machine. Nothing here measures or asserts time.
import { createRequire } from "node:module";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [scenario, optionsJson] = process.argv.slice(2);
const opts = JSON.parse(optionsJson);
const require = createRequire(join(opts.harness, "node_modules", "index.js"));
const { chromium } = require("playwright-core");

const result = { scenario, steps: [], screenshots: [], pageErrors: [] };
const log = (msg) => {
  result.steps.push(msg);
  process.stderr.write(`[driver] ${msg}\n`);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it returns a truthy value; returns it, or throws with the last value seen. */
async function waitFor(what, fn, { timeout = 60000, interval = 500 } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = `error: ${err.message.split("\n")[0]}`;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
    await sleep(interval);
  }
}

/** Runs action, then waits for check; repeats the pair a few times (a key press can be lost). */
async function retry(what, action, check, { tries = 4, timeout = 15000 } = {}) {
  let lastErr;
  for (let i = 1; i <= tries; i++) {
    try {
      await action(i);
      return await waitFor(what, check, { timeout });
    } catch (err) {
      lastErr = err;
      log(`retry ${i}/${tries} for ${what}: ${err.message.split("\n")[0]}`);
    }
  }
  throw lastErr;
}

mkdirSync(opts.shots, { recursive: true });
async function shot(page, name) {
  const path = join(opts.shots, `${scenario}-${name}.png`);
  await page.screenshot({ path });
  result.screenshots.push(path);
  return path;
}

const editorText = (page) =>
  page.evaluate(() => {
    const el = document.querySelector(".editor-group-container.active .monaco-editor .view-lines")
      ?? document.querySelector(".monaco-editor .view-lines");
    return el ? el.innerText.replace(/\u00a0/g, " ") : "";
  });

/** The text editor (not a panel) has the keyboard focus. */
const editorFocused = (page) => page.evaluate(() => !!document.activeElement?.closest(".editor-group-container .monaco-editor"));

async function problemRows(page) {
  return page.$$eval(".markers-panel .monaco-list-row", (rows) =>
    rows.map((r) => ({ text: r.innerText.replace(/\u00a0/g, " "), aria: r.getAttribute("aria-label") || "" })));
}

async function openWorkbench(page) {
  await page.goto(opts.url, { waitUntil: "domcontentloaded", timeout: 120000 });
  await page.waitForSelector(".monaco-workbench", { timeout: 120000 });
  // The explorer shows the workspace once the remote file system is up.
  await waitFor("the explorer", async () => (await page.$$(".explorer-folders-view .monaco-list-row")).length > 0, { timeout: 120000 });
  log("workbench ready");
}

async function openFile(page, name, expectText = "kind: Application") {
  await retry(`editor tab for ${name}`, async (i) => {
    if (i > 1) await page.keyboard.press("Escape");
    await page.keyboard.press("Control+P");
    await page.waitForSelector(".quick-input-widget input", { state: "visible", timeout: 10000 });
    await page.keyboard.type(name, { delay: 20 });
    // Wait for the file to be listed before accepting.
    await waitFor("quick open result", async () =>
      (await page.$$eval(".quick-input-list .monaco-list-row", (rows) => rows.map((r) => r.innerText).join("\n"))).includes(name), { timeout: 10000 });
    await page.keyboard.press("Enter");
  }, async () => {
    const tab = await page.$$eval(".tabs-container .tab", (tabs) => tabs.map((t) => t.getAttribute("aria-label") || t.innerText).join("\n"));
    return tab.includes(name) && (await editorText(page)).includes(expectText);
  });
  log(`opened ${name}`);
}

/** Go to a 1-based line of the active editor (Ctrl+G), column 1. */
async function gotoLine(page, line) {
  await retry(`cursor on line ${line}`, async () => {
    await page.keyboard.press("Escape");
    await page.keyboard.press("Control+G");
    await page.waitForSelector(".quick-input-widget input", { state: "visible", timeout: 10000 });
    await page.keyboard.type(String(line), { delay: 20 });
    await page.keyboard.press("Enter");
  }, async () => {
    const status = await page.$$eval(".statusbar-item", (items) => items.map((i) => i.innerText).join(" | "));
    return status.includes(`Ln ${line},`);
  });
}

async function openProblems(page) {
  await retry("the Problems panel", async () => {
    await page.keyboard.press("Control+Shift+M");
  }, async () => (await page.$(".markers-panel")) !== null);
}

async function scenarioQuickfix(page) {
  await openFile(page, opts.file);
  await openProblems(page);
  const wanted = opts.code;
  const rows = await waitFor(`a Problems row with ${wanted}`, async () => {
    const r = await problemRows(page);
    return r.some((row) => row.text.includes(wanted)) ? r : false;
  }, { timeout: 90000 });
  result.problemsBefore = rows;
  log(`diagnostic shown: ${JSON.stringify(rows.filter((r) => r.text.includes(wanted)))}`);
  await shot(page, "1-diagnostic");

  // Go to the diagnostic by clicking its row in the Problems panel, then open the quick fix menu.
  const fixTitle = opts.fixTitle;
  await retry(`quick fix "${fixTitle}" offered`, async () => {
    await page.keyboard.press("Escape");
    const row = page.locator(".markers-panel .monaco-list-row", { hasText: wanted }).first();
    await row.click();
    await page.keyboard.press("Enter"); // opens the location with the editor focused
    await waitFor("the editor focused", () => editorFocused(page), { timeout: 10000, interval: 100 });
    await page.keyboard.press("Control+.");
  }, async () => {
    const items = await page.$$eval(".action-widget .monaco-list-row, .context-view .monaco-list-row",
      (r) => r.map((x) => x.innerText));
    return items.some((t) => t.includes(fixTitle)) ? items : false;
  }, { tries: 5, timeout: 15000 }).then((items) => {
    result.quickFixes = items;
  });
  log(`quick fixes offered: ${JSON.stringify(result.quickFixes)}`);
  result.docScreenshot = await shot(page, "2-quickfix-menu");

  // Pick the fix with the keyboard (the menu's pointer block swallows clicks).
  await retry("the fix applied to the editor", async (i) => {
    const menuRows = ".action-widget .monaco-list-row, .context-view .monaco-list-row";
    if (i > 1 || (await page.$$(menuRows)).length === 0) {
      await page.keyboard.press("Escape");
      await page.keyboard.press("Control+.");
      await waitFor("the quick fix menu", async () => (await page.$$(menuRows)).length > 0, { timeout: 10000 });
    }
    for (let step = 0; step < 8; step++) {
      const focused = await page.$$eval(".action-widget .monaco-list-row.focused, .context-view .monaco-list-row.focused",
        (r) => r.map((x) => x.innerText).join("\n"));
      if (focused.includes(fixTitle)) break;
      await page.keyboard.press("ArrowDown");
      await waitFor("the menu focus to move", async () => (await page.$$eval(
        ".action-widget .monaco-list-row.focused, .context-view .monaco-list-row.focused",
        (r) => r.map((x) => x.innerText).join("\n"))) !== focused, { timeout: 5000, interval: 50 }).catch(() => {});
    }
    await page.keyboard.press("Enter");
  }, async () => (await editorText(page)).includes(opts.fixedText), { tries: 4, timeout: 15000 });
  log("fix applied in the editor");
  result.editorAfter = await editorText(page);

  await retry("the file saved", async () => {
    await page.keyboard.press("Escape");
    await page.keyboard.press("Control+S");
  }, async () => {
    const dirty = await page.$$(".tabs-container .tab.dirty");
    return dirty.length === 0;
  });
  log("saved");

  await openProblems(page);
  result.problemsAfter = await waitFor("the diagnostic gone", async () => {
    const r = await problemRows(page);
    return r.some((row) => row.text.includes(wanted)) ? false : { rows: r };
  }, { timeout: 60000 });
  const emptyMessage = await page.$eval(".markers-panel", (p) => p.innerText).catch(() => "");
  result.problemsPanelAfter = emptyMessage;
  log(`diagnostic gone; panel says ${JSON.stringify(emptyMessage.slice(0, 120))}`);
  await shot(page, "3-fixed");
}

async function scenarioCompletion(page) {
  await openFile(page, opts.file);
  await gotoLine(page, opts.line);
  await retry("the suggest widget", async (i) => {
    if (i === 1) {
      await page.keyboard.press("End");
      await page.keyboard.press("Enter");
    } else {
      await page.keyboard.press("Escape");
    }
    await page.keyboard.press("Control+Space");
  }, async () => {
    const labels = await page.$$eval(".suggest-widget.visible .monaco-list-row", (rows) =>
      rows.map((r) => r.getAttribute("aria-label") || r.innerText));
    return labels.length > 0 && labels.some((l) => l.includes(opts.expect)) ? labels : false;
  }, { tries: 5, timeout: 20000 }).then((labels) => {
    result.suggestions = labels;
  });
  log(`suggestions: ${JSON.stringify(result.suggestions)}`);
  await shot(page, "completion");
  await page.keyboard.press("Escape");
}

async function statusLine(page) {
  const status = await page.$$eval(".statusbar-item", (items) => items.map((i) => i.innerText).join(" | "));
  const m = /Ln (\d+),/.exec(status);
  return m ? Number(m[1]) : undefined;
}

async function scenarioNavigation(page) {
  await openFile(page, opts.file);
  // Hover on the trait type (cursor inside the word, then "Show Hover": Ctrl+K Ctrl+I).
  await gotoLine(page, opts.hoverLine);
  await page.keyboard.press("End");
  // The breadcrumbs show the document symbols (the outline) at the cursor.
  result.breadcrumbs = await waitFor("breadcrumbs", async () => {
    const t = await page.$eval(".breadcrumbs-control", (e) => e.innerText).catch(() => "");
    return t.includes(opts.hoverExpect) ? t : false;
  }, { timeout: 90000 });
  log(`breadcrumbs: ${JSON.stringify(result.breadcrumbs)}`);
  await retry("a hover", async () => {
    await page.keyboard.press("Escape");
    await page.keyboard.press("End");
    await page.keyboard.press("ArrowLeft");
    await page.keyboard.press("ArrowLeft");
    await page.keyboard.press("Control+K");
    await page.keyboard.press("Control+I");
  }, async () => {
    const texts = await page.$$eval(".monaco-hover:not(.hidden) .monaco-hover-content, .monaco-hover:not(.hidden) .hover-contents",
      (els) => els.map((e) => e.innerText).join("\n"));
    return texts.includes(opts.hoverExpect) ? texts : false;
  }).then((text) => {
    result.hover = text;
  });
  log(`hover: ${JSON.stringify(result.hover.slice(0, 200))}`);
  await shot(page, "hover");
  await page.keyboard.press("Escape");
  // Go to definition (F12) from a policy reference in the workflow to the policy.
  await gotoLine(page, opts.refLine);
  await retry(`the cursor on line ${opts.defLine}`, async (i) => {
    if (i > 1) await gotoLine(page, opts.refLine);
    await page.keyboard.press("End");
    for (let k = 0; k < 4; k++) await page.keyboard.press("ArrowLeft");
    await page.keyboard.press("F12");
  }, async () => (await statusLine(page)) === opts.defLine);
  result.definitionLine = await statusLine(page);
  log(`definition: line ${result.definitionLine}`);
  await shot(page, "definition");
}

async function scenarioCommands(page) {
  await openFile(page, opts.file);
  const quickRows = (page) => page.$$eval(".quick-input-list .monaco-list-row", (r) => r.map((x) => x.getAttribute("aria-label") || x.innerText));
  await retry("the veladev commands in the palette", async (i) => {
    if (i > 1) await page.keyboard.press("Escape");
    await page.keyboard.press("Control+Shift+P");
    await page.waitForSelector(".quick-input-widget input", { state: "visible", timeout: 10000 });
    await page.keyboard.type("veladev:", { delay: 20 });
  }, async () => {
    const rows = await quickRows(page);
    return rows.some((t) => t.includes("Run a Server Command")) ? rows : false;
  }).then((rows) => {
    result.palette = rows;
  });
  await shot(page, "palette");
  // Run the server-announced command through "Run a Server Command...".
  await retry("the server's commands listed", async (i) => {
    await page.keyboard.press("Escape");
    await page.keyboard.press("Control+Shift+P");
    await page.waitForSelector(".quick-input-widget input", { state: "visible", timeout: 10000 });
    await page.keyboard.type("veladev: Run a Server Command", { delay: 20 });
    await waitFor("the palette entry", async () => (await quickRows(page)).some((t) => t.includes("Run a Server Command")), { timeout: 10000 });
    await page.keyboard.press("Enter");
  }, async () => {
    const rows = await quickRows(page);
    return rows.some((t) => t.includes(opts.serverCommand)) ? rows : false;
  }).then((rows) => {
    result.serverCommands = rows;
  });
  log(`server commands: ${JSON.stringify(result.serverCommands)}`);
  await page.keyboard.type(opts.serverCommandTitle, { delay: 20 });
  await waitFor("the command first in the list", async () => (await quickRows(page))[0]?.includes(opts.serverCommandTitle),
    { timeout: 10000, interval: 100 });
  await page.keyboard.press("Enter");
  result.notification = await waitFor("the command's message", async () => {
    const t = await page.$$eval(".notifications-toasts .notification-list-item, .notifications-center .notification-list-item",
      (els) => els.map((e) => e.innerText).join("\n"));
    return t.includes(opts.expectMessage) ? t : false;
  }, { timeout: 60000 });
  log(`notification: ${JSON.stringify(result.notification)}`);
  await shot(page, "server-command");
}

async function scenarioSettings(page) {
  await openFile(page, opts.file);
  // Wait until the server is up (its diagnostic is shown), then change a veladev.* setting the
  // way a user does, in the Settings editor; the client tells the server, which reads it back
  // with workspace/configuration and acts on it. (This test runs last: it leaves the setting.)
  await openProblems(page);
  await waitFor("the server's diagnostics", async () => (await problemRows(page)).some((r) => r.text.includes("veladev")), { timeout: 90000 });
  // The row of veladev.kubeconfig (the search also finds veladev.context, which mentions it).
  const row = () => page.locator(".settings-editor .setting-item-contents").filter({ hasText: "Kubeconfig file for the live definition catalog" });
  const input = () => row().locator("input").first();
  await retry("the veladev.kubeconfig setting", async (i) => {
    if (i > 1) await page.keyboard.press("Escape");
    await page.keyboard.press("Control+Shift+P");
    await page.waitForSelector(".quick-input-widget input", { state: "visible", timeout: 10000 });
    await page.keyboard.type("Preferences: Open User Settings", { delay: 20 });
    await waitFor("the palette entry", async () =>
      (await page.$$eval(".quick-input-list .monaco-list-row", (r) => r.map((x) => x.innerText)))[0]?.includes("Open User Settings"), { timeout: 10000 });
    await page.keyboard.press("Enter");
    await page.waitForSelector(".settings-editor", { timeout: 20000 });
    await waitFor("the settings search focused", async () => page.evaluate(
      () => !!document.activeElement?.closest(".settings-editor .settings-header")), { timeout: 10000, interval: 100 });
    await page.keyboard.type("veladev.kubeconfig", { delay: 20 });
    // code-server keeps machine-overridable settings (paths) on the "Remote" tab.
    // The search has run once the editor reports its count ("N Settings Found", "No Settings Found").
    await waitFor("the search applied", async () => page.evaluate(
      () => /Found/.test(document.querySelector(".settings-editor .settings-count-widget")?.innerText ?? "")),
    { timeout: 10000, interval: 100 });
    const remote = page.locator(".settings-editor .settings-tabs-widget .action-label", { hasText: "Remote" }).first();
    if (await remote.count()) await remote.click();
  }, async () => (await row().count()) === 1);
  await shot(page, "settings-editor");
  await retry("the new value typed", async () => {
    await input().click();
    await page.keyboard.press("Control+A");
    await page.keyboard.type(opts.kubeconfig, { delay: 10 });
    await page.keyboard.press("Tab");
  }, async () => (await input().inputValue()) === opts.kubeconfig);
  log("setting typed in the Settings editor");
  result.notification = await waitFor("the server's message about the new kubeconfig", async () => {
    const t = await page.$$eval(".notifications-toasts .notification-list-item, .notifications-center .notification-list-item",
      (els) => els.map((e) => e.innerText).join("\n"));
    return t.includes(opts.kubeconfig) ? t : false;
  }, { timeout: 90000 });
  log(`notification: ${JSON.stringify(result.notification)}`);
  await shot(page, "settings");
}

async function scenarioMissingServer(page) {
  await openFile(page, opts.file);
  // The workspace's settings point veladev.server.command at a file that does not exist.
  result.notification = await waitFor("the missing-server error", async () => {
    const t = await page.$$eval(".notifications-toasts .notification-list-item, .notifications-center .notification-list-item",
      (els) => els.map((e) => e.innerText).join("\n"));
    return t.includes(opts.expectMessage) ? t : false;
  }, { timeout: 90000 });
  log(`notification: ${JSON.stringify(result.notification)}`);
  await shot(page, "missing-server");
}

async function scenarioPlainYaml(page) {
  // A plain Kubernetes YAML first, then an Application: once the Application's diagnostics
  // are shown, the server has had everything the client sent before it.
  await openFile(page, opts.plainFile, "kind: Pod");
  await openFile(page, opts.file);
  await openProblems(page);
  await waitFor("the Application's diagnostics", async () =>
    (await problemRows(page)).some((r) => r.text.includes(opts.file) || r.aria.includes(opts.file)), { timeout: 90000 });
  log("plain YAML and Application opened; the Application's diagnostics are shown");
}

const scenarios = {
  plain: scenarioPlainYaml,
  missing: scenarioMissingServer,
  settings: scenarioSettings,
  quickfix: scenarioQuickfix, completion: scenarioCompletion, navigation: scenarioNavigation, commands: scenarioCommands,
};

let browser;
let page;
let failed = false;
try {
  browser = await chromium.launch({
    executablePath: opts.chromium,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  page = await context.newPage();
  page.on("pageerror", (err) => result.pageErrors.push(String(err).slice(0, 300)));
  page.setDefaultTimeout(30000);
  await openWorkbench(page);
  await scenarios[scenario](page);
  result.ok = true;
} catch (err) {
  failed = true;
  result.ok = false;
  result.error = String(err && err.stack ? err.stack : err);
  if (page) {
    try {
      await shot(page, "failure");
      result.problemsAtFailure = await problemRows(page);
      result.editorAtFailure = await editorText(page);
    } catch {
      // keep the original error
    }
  }
} finally {
  if (browser) await browser.close().catch(() => {});
  writeFileSync(opts.out, JSON.stringify(result, null, 2));
}
process.exit(failed ? 1 : 0);
