// The seed's flow from the VS Code UI alone (code-server, headless Chromium, playwright-core):
// Deploy from its code lens, the steps' states update, dev mode from the lens, the status bar's
// sync state, a dev terminal listing the container's workDir, Run, an edit of server.js saved
// in the editor and served through the forward, Debug with a breakpoint hit, End dev mode,
// Push & trigger, Promote from the lens. Called by test_vscode_seed_flow.py; with
// `"flow": "multicluster"` the multi-cluster flow instead (test_vscode_multicluster.py).
//
//   node vscode_seed_flow.mjs <json-options>
//
// Every step polls with generous timeouts; nothing measures time. One screenshot per step.
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const opts = JSON.parse(process.argv[2]);
const require = createRequire(join(opts.harness, "node_modules", "index.js"));
const { chromium } = require("playwright-core");

const result = { steps: [], screenshots: [], pageErrors: [], notifications: [] };
const log = (msg) => {
  result.steps.push(msg);
  process.stderr.write(`[seed] ${msg}\n`);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, fn, { timeout = 90000, interval = 500 } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = `error: ${err.message.split("\n")[0]}`;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)?.slice(0, 600)}`);
    await sleep(interval);
  }
}

async function retry(what, action, check, { tries = 4, timeout = 20000 } = {}) {
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
let shotNo = 0;
async function shot(page, name) {
  shotNo += 1;
  const path = join(opts.shots, `${String(shotNo).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path });
  result.screenshots.push(path);
  return path;
}

const editorText = (page) => page.evaluate(() => {
  const el = document.querySelector(".editor-group-container.active .monaco-editor .view-lines")
    ?? document.querySelector(".monaco-editor .view-lines");
  return el ? el.innerText.replace(/\u00a0/g, " ") : "";
});
const lensTitles = (page) => page.$$eval(".codelens-decoration", (els) => els.map((e) => e.innerText.replace(/\u00a0/g, " ")));
const statusBar = (page) => page.$$eval(".statusbar-item", (items) => items.map((i) => i.innerText).join(" | "));
const toasts = (page) => page.$$eval(".notifications-toasts .notification-toast, .notification-list-item",
  (els) => els.map((e) => e.innerText.replace(/\u00a0/g, " ")));
const terminalText = (page) => page.$$eval(".terminal-wrapper.active .xterm-rows, .xterm-rows",
  (els) => els.map((e) => e.innerText).join("\n---\n"));

async function http(url) {
  const res = await fetch(url);
  return res.text();
}

async function openWorkbench(page) {
  await page.goto(opts.url, { waitUntil: "domcontentloaded", timeout: 120000 });
  await page.waitForSelector(".monaco-workbench", { timeout: 120000 });
  await waitFor("the explorer", async () => (await page.$$(".explorer-folders-view .monaco-list-row")).length > 0, { timeout: 120000 });
  log("workbench ready");
}

async function openFile(page, name, expectText) {
  await retry(`editor tab for ${name}`, async (i) => {
    if (i > 1) await page.keyboard.press("Escape");
    await page.keyboard.press("Control+P");
    await page.waitForSelector(".quick-input-widget input", { state: "visible", timeout: 10000 });
    await page.keyboard.type(name, { delay: 20 });
    await waitFor("quick open result", async () =>
      (await page.$$eval(".quick-input-list .monaco-list-row", (rows) => rows.map((r) => r.innerText).join("\n"))).includes(name), { timeout: 10000 });
    await page.keyboard.press("Enter");
  }, async () => {
    const tab = await page.$$eval(".tabs-container .tab.active", (tabs) => tabs.map((t) => t.getAttribute("aria-label") || t.innerText).join("\n"));
    return tab.includes(name) && (await editorText(page)).includes(expectText);
  });
  log(`opened ${name}`);
}

async function gotoLine(page, line) {
  await retry(`cursor on line ${line}`, async () => {
    await page.keyboard.press("Escape");
    await page.keyboard.press("Control+G");
    await page.waitForSelector(".quick-input-widget input", { state: "visible", timeout: 10000 });
    await page.keyboard.type(String(line), { delay: 20 });
    await page.keyboard.press("Enter");
  }, async () => (await statusBar(page)).includes(`Ln ${line},`));
}

/** Click the code lens whose title is `title` (the one near `line`, scrolled into view first). */
async function clickLens(page, title, line, started) {
  const click = async (i) => {
    if (line) await gotoLine(page, line);
    const lens = page.locator(".codelens-decoration a", { hasText: title }).first();
    await waitFor(`the "${title}" lens`, async () => (await lens.count()) > 0 && (await lens.isVisible()));
    await lens.click();
    log(`clicked lens "${title}"${i > 1 ? ` (try ${i})` : ""}`);
  };
  // A lens re-rendered under the pointer can swallow a click: click again until the command
  // visibly started (its progress notification, or what `started` checks).
  const began = started ?? (async () => (await toasts(page)).some((t) => t.includes(title) || t.includes("veladev")) ||
    (await page.$$(".monaco-progress-container.active, .notification-toast .monaco-progress-container")).length > 0);
  await retry(`"${title}" started`, click, began, { tries: 3, timeout: 15000 });
}

async function waitToast(page, text, timeout = 120000) {
  const found = await waitFor(`a notification with "${text}"`, async () => {
    const t = await toasts(page);
    return t.find((x) => x.includes(text));
  }, { timeout });
  result.notifications.push(found);
  return found;
}

async function clearToasts(page) {
  await page.keyboard.press("Escape");
  for (const btn of await page.$$(".notifications-toasts .codicon-notifications-clear, .notifications-toasts .action-label.codicon-close")) {
    await btn.click().catch(() => {});
  }
}

async function palette(page, title) {
  await retry(`palette runs "${title}"`, async (i) => {
    if (i > 1) await page.keyboard.press("Escape");
    await page.keyboard.press("Control+Shift+P");
    await page.waitForSelector(".quick-input-widget input", { state: "visible", timeout: 10000 });
    await page.keyboard.type(title, { delay: 15 });
    await waitFor("the palette entry", async () =>
      (await page.$$eval(".quick-input-list .monaco-list-row", (r) => r.map((x) => x.innerText).join("\n"))).includes(title), { timeout: 10000 });
    await page.keyboard.press("Enter");
  }, async () => !(await page.$(".quick-input-widget:not([style*='display: none']) input:focus")), { tries: 3, timeout: 5000 });
}

async function seedFlow(page) {
  const L = opts.lines; // 1-based lines of the Application file: kind, component, steps
  await openFile(page, "vela-app.yaml", "kind: Application");

  // 1. the lenses before anything is deployed, and the KubeVela view
  await waitFor("lenses with the phase", async () => (await lensTitles(page)).some((t) => t.includes("phase: not deployed")));
  await retry("the KubeVela view", async () => {
    await page.locator(".activitybar .action-item a[aria-label^='KubeVela']").first().click();
  }, async () => (await page.$$(".pane-header[aria-label^='Applications'], .pane-header")).length > 0, { tries: 3 });
  result.lensesBefore = await lensTitles(page);
  await shot(page, "lenses-before-deploy");

  // 2. Deploy from its lens; the steps' states update in the lenses and the view
  await clickLens(page, "Deploy", L.kind, async () => (await toasts(page)).some((t) => t.includes("application")));
  result.deployMessage = await waitToast(page, "created application");
  await gotoLine(page, L.approve);
  result.lensesSuspended = await waitFor("the approve step suspended", async () => {
    const t = await lensTitles(page);
    return t.some((x) => x.includes("suspending")) && t.some((x) => x.includes("Promote")) ? t : false;
  }, { timeout: 180000 });
  result.viewSuspended = await waitFor("the view lists the app", async () => {
    const rows = await page.$$eval(".pane-body .monaco-list-row", (r) => r.map((x) => x.innerText.replace(/\n/g, " ")));
    return rows.some((r) => r.includes("workflowSuspending")) ? rows : false;
  }, { timeout: 60000 });
  await shot(page, "deployed-steps-and-view");

  // 3. dev mode from the lens; the status bar shows the sync state
  await clearToasts(page);
  await clickLens(page, "Start dev mode", L.component, async () => (await statusBar(page)).includes(": dev ") ||
    (await toasts(page)).some((t) => t.includes("dev up")));
  result.statusDevOn = await waitFor("the status bar dev state", async () => {
    const s = await statusBar(page);
    return s.includes("dev on") && s.includes("sync idle") ? s : false;
  }, { timeout: 240000 });
  await shot(page, "dev-mode-status-bar");
  if (opts.forwardUrl === "auto") {
    const m = /127\.0\.0\.1:(\d+)->80/.exec(result.statusDevOn);
    if (!m) throw new Error(`no forward in the status bar: ${result.statusDevOn}`);
    opts.forwardUrl = `http://127.0.0.1:${m[1]}/`;
  }
  result.forwardUrl = opts.forwardUrl;

  // 4. the dev terminal lists the container's workDir
  await clickLens(page, "Terminal", L.component, async () => (await page.$$(".terminal-wrapper")).length > 0);
  await sleep(1500);
  result.terminal = await retry("the workDir listing", async () => {
    await page.locator(".terminal-wrapper.active, .terminal-wrapper").last().click();
    await page.keyboard.type("pwd; ls\n", { delay: 30 });
  }, async () => {
    const t = await terminalText(page);
    return t.includes(opts.workDir) && t.includes("server.js") ? t : false;
  }, { tries: 4, timeout: 30000 });
  await shot(page, "terminal-workdir");

  // 5. Run; the page through the forward
  await openFile(page, "vela-app.yaml", "kind: Application");
  await clickLens(page, "Run", L.component, async () => (await statusBar(page)).includes("running"));
  result.pageV1 = await waitFor("the page through the forward", async () => {
    const body = await http(opts.forwardUrl);
    return body.includes("frontend") ? body : false;
  }, { timeout: 120000 });
  await shot(page, "run-output");

  // 6. edit server.js to v2.0.0 in the editor, save; hot reload; the page shows v2.0.0
  await openFile(page, "server.js", "createServer");
  await gotoLine(page, opts.versionLine);
  await page.keyboard.press("Home");
  await page.keyboard.press("Shift+End");
  await page.keyboard.type(opts.versionEdit, { delay: 5 });
  await retry("server.js saved", async () => page.keyboard.press("Control+S"),
    async () => (await page.$$(".tabs-container .tab.dirty")).length === 0);
  result.pageV2 = await waitFor("v2.0.0 through the forward", async () => {
    const body = await http(opts.forwardUrl);
    return body.includes("v2.0.0") ? body : false;
  }, { timeout: 120000 });
  await shot(page, "edited-v2-served");

  // 7. Debug: a breakpoint in server.js is hit
  await gotoLine(page, opts.breakpointLine);
  await page.keyboard.press("F9");
  await openFile(page, "vela-app.yaml", "kind: Application");
  await clickLens(page, "Debug", L.component, async () => (await statusBar(page)).includes("debugging"));
  result.debug = {};
  try {
    const sidebar = () => page.$eval(".part.sidebar", (e) => e.innerText).catch(() => "");
    const debugConsole = () => page.$$eval(".repl .monaco-list-row, .repl-tree .monaco-list-row", (r) => r.map((x) => x.innerText).join("\n"));
    try {
      await waitFor("the debugger attached", async () => (await page.$$(".debug-toolbar")).length > 0 ||
        /call stack/i.test(await sidebar()), { timeout: 90000 });
    } finally {
      result.debug.sidebar = (await sidebar()).slice(0, 2000);
      await page.keyboard.press("Control+Shift+Y").catch(() => {});
      await sleep(1000);
      result.debug.console = (await debugConsole()).slice(0, 4000);
    }
    // A request runs server.js's handler: the breakpoint there pauses it. The breakpoints are
    // bound a moment after the attach, so a request that got through unpaused is sent again.
    const callStack = () => page.$$eval(".debug-call-stack .monaco-list-row, .debug-pane .monaco-list-row",
      (r) => r.map((x) => x.innerText.replace(/\n/g, " ")).join(" | "));
    let pending;
    result.debug.paused = await retry("paused on the breakpoint", async () => {
      pending = http(opts.forwardUrl).catch((e) => `error: ${e}`);
    }, async () => {
      const text = await callStack();
      return /paused on breakpoint/i.test(text) ? text : false;
    }, { tries: 5, timeout: 20000 });
    result.debug.editorAtPause = (await editorText(page)).slice(0, 1500);
    await shot(page, "debug-breakpoint-hit");
    await page.keyboard.press("F5");
    result.debug.bodyAfterContinue = await pending;
    await page.keyboard.press("Shift+F5");
  } catch (err) {
    result.debug.error = String(err.message || err);
    await shot(page, "debug-failed");
  }

  // 8. End dev mode
  await openFile(page, "vela-app.yaml", "kind: Application");
  await clearToasts(page);
  await clickLens(page, "End dev mode", L.component, async () => !(await statusBar(page)).includes("dev on"));
  await waitFor("dev mode ended", async () => !(await statusBar(page)).includes("dev on") &&
    (await lensTitles(page)).some((t) => t.includes("Start dev mode")), { timeout: 180000 });
  await shot(page, "dev-mode-ended");

  // 9. commit (git, as the developer does in a terminal), then Push & trigger from the lens
  execFileSync("git", ["-C", opts.repo, "commit", "-qam", "frontend v2.0.0"], { env: { ...process.env, ...opts.gitEnv } });
  result.commit = execFileSync("git", ["-C", opts.repo, "rev-parse", "HEAD"]).toString().trim();
  await clearToasts(page);
  await clickLens(page, "Push & trigger", L.component, async () => (await toasts(page)).some((t) => t.includes("Push & trigger") || t.includes("pushed")));
  result.pushMessage = await waitToast(page, "patched the Application", 180000);
  await gotoLine(page, L.approve);
  await waitFor("the new run suspended", async () => (await lensTitles(page)).some((t) => t.includes("Promote")), { timeout: 240000 });
  await shot(page, "pushed-and-triggered");

  // 10. Promote from the lens
  await clearToasts(page);
  await clickLens(page, "Promote", L.approve, async () => (await toasts(page)).some((t) => t.includes("promoted")));
  result.promoteMessage = await waitToast(page, "promoted");
  await gotoLine(page, L.deployProd);
  result.lensesDone = await waitFor("every step succeeded", async () => {
    const t = await lensTitles(page);
    return t.filter((x) => x.includes("succeeded")).length >= 3 && !t.some((x) => x.includes("Promote")) ? t : false;
  }, { timeout: 300000 });
  await gotoLine(page, L.kind);
  result.phaseDone = await waitFor("the app running", async () => (await lensTitles(page)).find((x) => x.includes("phase: running")),
    { timeout: 120000 });
  await shot(page, "promoted");
}

/** Multi-cluster: health per cluster in the lenses, Logs from its lens asks where (a quick pick
 *  of the placements) and shows the chosen cluster's pod log in an output channel, and the
 *  KubeVela view lists the component per cluster. (opts.flow = "multicluster") */
async function multiclusterFlow(page) {
  const L = opts.lines;
  await openFile(page, "app.yaml", "kind: Application");
  await gotoLine(page, L.component);
  // One decoration per line holds its lenses, separated by " | ".
  const lenses = async () => (await lensTitles(page)).flatMap((x) => x.split("|").map((t) => t.trim()));
  const perCluster = ["edge-1 ✓", "edge-2 ✓", "edge-3 ✓"];
  result.lensesClusters = await waitFor("health per cluster in the lenses", async () => {
    const t = await lenses();
    return perCluster.every((x) => t.includes(x)) ? t : false;
  }, { timeout: 180000 });
  await gotoLine(page, L.deployProd);
  result.lensesProd = await waitFor("deploy-prod's clusters", async () => {
    const t = await lenses();
    return t.some((x) => x.startsWith("→ ") && x.includes("edge-2") && x.includes("edge-3")) ? t : false;
  });
  await shot(page, "lenses-per-cluster");

  const pickRows = () => page.$$eval(".quick-input-list .monaco-list-row", (rows) => rows.map((r) => r.innerText.replace(/\u00a0/g, " ")));
  await clickLens(page, "Logs", L.component, async () => (await pickRows()).filter((r) => r.includes("edge-")).length >= 3);
  result.placementChoice = await pickRows();
  await shot(page, "placement-choice");
  await page.keyboard.type("edge-2", { delay: 20 });
  await page.keyboard.press("Enter");
  result.logOutput = await waitFor("the log in its output channel", async () => {
    const text = await page.$$eval(".part.panel .monaco-editor .view-lines", (els) => els.map((e) => e.innerText).join("\n"));
    return text.includes("tick") ? text : false;
  }, { timeout: 120000 });
  result.outputChannels = await page.$$eval(".part.panel select option", (opts) => opts.map((o) => o.textContent));
  await shot(page, "log-output-channel");

  await retry("the KubeVela view", async () => {
    await page.locator(".activitybar .action-item a[aria-label^='KubeVela']").first().click();
  }, async () => (await page.$$(".pane-body .monaco-list-row")).length > 0, { tries: 3 });
  const rows = () => page.$$eval(".pane-body .monaco-list-row", (r) => r.map((x) => x.innerText.replace(/\u00a0/g, " ").replace(/\n/g, " ")));
  await retry("web expanded per cluster", async () => {
    await page.locator(".pane-body .monaco-list-row", { hasText: /^web/ }).first().click();
  }, async () => (await rows()).some((r) => r.startsWith("edge-3")), { tries: 4 });
  result.viewRows = await rows();
  await shot(page, "view-per-cluster");
}

let browser;
let page;
let failed = false;
try {
  browser = await chromium.launch({
    executablePath: opts.chromium, headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
  const context = await browser.newContext({ viewport: { width: 1600, height: 1000 } });
  page = await context.newPage();
  page.on("pageerror", (err) => result.pageErrors.push(String(err).slice(0, 300)));
  page.setDefaultTimeout(30000);
  await openWorkbench(page);
  await (opts.flow === "multicluster" ? multiclusterFlow : seedFlow)(page);
  result.ok = true;
} catch (err) {
  failed = true;
  result.ok = false;
  result.error = String(err && err.stack ? err.stack : err);
  if (page) {
    try {
      await shot(page, "failure");
      result.lensesAtFailure = await lensTitles(page);
      result.statusAtFailure = await statusBar(page);
      result.toastsAtFailure = await toasts(page);
    } catch {
      // keep the original error
    }
  }
} finally {
  if (browser) await browser.close().catch(() => {});
  writeFileSync(opts.out, JSON.stringify(result, null, 2));
}
process.exit(failed ? 1 : 0);
