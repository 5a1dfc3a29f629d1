// End-to-end test of the console in headless Chromium against the real
// system: starts `slipway dev` (default ports), waits until every service is
// SERVING, then drives the browser: service map, a validation error,
// register, log in, place an order, see it and its notification, open its
// trace and find spans of order, inventory and notification. Screenshots go
// to .slipway/test/console-*.png. Bounded in time; always stops what it started.
//
//   node e2e/console.e2e.mjs          (make e2e-web)
//   CHROMIUM=/path/to/chromium        another browser binary
//   CONSOLE_URL=http://localhost:8080 with E2E_REUSE=1: use a running `slipway dev`
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { strict as assert } from "node:assert";
import { chromium } from "playwright-core";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const outDir = join(root, ".slipway/test");
const consoleURL = process.env.CONSOLE_URL || "http://localhost:8080";
const apiURL = consoleURL.replace("localhost", "127.0.0.1");
const reuse = process.env.E2E_REUSE === "1";
const TOTAL_MS = Number(process.env.E2E_TIMEOUT_MS || 10 * 60_000);
const START_MS = 6 * 60_000; // the first `go run` builds slipway and four services
const t0 = Date.now();

function log(msg) {
  console.log(`[e2e ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, timeoutMs, fn, everyMs = 500) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s: ${what}${last ? ` (last error: ${last.message})` : ""}`);
    await sleep(everyMs);
  }
}

async function services() {
  const r = await fetch(`${apiURL}/api/services`, { signal: AbortSignal.timeout(3000) });
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  return (await r.json()).services ?? [];
}

// --- the system -------------------------------------------------------------

let dev; // the `go run ./tools/slipway dev` process group
async function startSystem() {
  const already = await services().then(() => true, () => false);
  if (already && !reuse) throw new Error(`${apiURL} already answers: stop that slipway dev first, or set E2E_REUSE=1`);
  if (already) {
    log(`reusing the slipway dev at ${apiURL}`);
    return;
  }
  const logFile = join(outDir, "console-e2e-dev.log");
  const fd = openSync(logFile, "w");
  log(`starting: go run ./tools/slipway dev --no-watch (log: ${logFile})`);
  dev = spawn("go", ["run", "./tools/slipway", "dev", "--no-watch"], {
    cwd: root,
    detached: true, // its own process group, so the whole tree can be stopped
    stdio: ["ignore", fd, fd],
    env: { ...process.env },
  });
  dev.on("exit", (code, sig) => log(`slipway dev exited (${code ?? sig})`));
}

async function stopSystem() {
  if (!dev || dev.exitCode !== null || dev.signalCode !== null) return;
  log("stopping slipway dev (SIGINT to its process group)");
  const exited = new Promise((r) => dev.once("exit", r));
  try {
    process.kill(-dev.pid, "SIGINT");
  } catch {}
  const ok = await Promise.race([exited.then(() => true), sleep(30_000).then(() => false)]);
  if (!ok) {
    log("still running after 30s: SIGKILL");
    try {
      process.kill(-dev.pid, "SIGKILL");
    } catch {}
  }
}

// --- the browser ------------------------------------------------------------

let browser, profile;
async function openBrowser() {
  profile = mkdtempSync(join(tmpdir(), "slipway-e2e-chromium-"));
  const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
  log(`launching ${executablePath} (headless)`);
  browser = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-quic",
      "--no-first-run",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1360, height: 900 },
  });
  browser.setDefaultTimeout(20_000);
  const page = browser.pages()[0] ?? (await browser.newPage());
  page.on("pageerror", (e) => log(`page error: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && log(`console error: ${m.text()}`));
  return page;
}

async function shot(page, name) {
  const path = join(outDir, `console-${name}.png`);
  await page.screenshot({ path, fullPage: false });
  log(`screenshot ${path}`);
}

// --- the test ---------------------------------------------------------------

async function run() {
  mkdirSync(outDir, { recursive: true });
  await startSystem();
  const list = await until("every service SERVING at /api/services", START_MS, async () => {
    const s = await services();
    return s.length >= 4 && s.every((x) => x.state === "SERVING") && s;
  }, 1000);
  log(`services SERVING: ${list.map((s) => s.name).join(", ")}`);

  const page = await openBrowser();
  const tid = (id) => page.getByTestId(id);

  // 1. The service map, live over SSE.
  await page.goto(`${consoleURL}/#/services`);
  for (const name of ["user", "order", "inventory", "notification"]) {
    await until(`${name} shows SERVING`, 30_000, async () => (await tid(`service-state-${name}`).textContent()) === "SERVING");
  }
  await until("the stream is live", 15_000, async () => (await tid("stream-state").textContent()) === "live");
  log("service map: all four SERVING, stream live");
  await shot(page, "services");

  // 2. The storefront: a validation error comes back with its fields.
  await page.goto(`${consoleURL}/#/shop`);
  await tid("reg-email").fill("not-an-email");
  await tid("reg-password").fill("x");
  await tid("reg-name").fill("E2E");
  await tid("reg-submit").click();
  await tid("reg-error").waitFor();
  const fields = await tid("reg-error").locator("[data-testid=error-field]").evaluateAll((els) => els.map((e) => e.dataset.field));
  assert.ok(fields.includes("email") && fields.includes("password"), `field violations for email and password, got ${JSON.stringify(fields)}`);
  log(`validation error shown with fields: ${fields.join(", ")}`);

  // 3. Register and log in.
  const email = `e2e-${Date.now()}@example.com`;
  await tid("reg-email").fill(email);
  await tid("reg-password").fill("correct-horse");
  await tid("reg-name").fill("E2E Ada");
  await tid("reg-submit").click();
  await tid("reg-ok").waitFor();
  await tid("login-email").fill(email);
  await tid("login-password").fill("correct-horse");
  await tid("login-submit").click();
  await until("logged in", 15_000, async () => ((await tid("session").textContent()) ?? "").includes("E2E Ada"));
  log(`registered and logged in as ${email}`);
  const stored = await page.evaluate(() => ({ local: localStorage.length, session: sessionStorage.length, cookie: document.cookie }));
  assert.deepEqual(stored, { local: 0, session: 0, cookie: "" }, "the token is kept in memory only");
  assert.equal((await browser.cookies()).length, 0, "no cookies");
  log("the token is in memory only: no localStorage, sessionStorage or cookies");

  // 4. A product into the cart, and the order.
  await page.locator("[data-testid=product-row]").first().waitFor();
  const productId = (await page.locator("[data-testid=product-row]").evaluateAll((rows) => rows.map((r) => r.dataset.productId)))
    .sort((a, b) => (a === "espresso-blend-1kg" ? -1 : b === "espresso-blend-1kg" ? 1 : 0))[0];
  const stockBefore = Number(await tid(`stock-${productId}`).textContent());
  await tid(`add-${productId}`).click();
  await tid(`add-${productId}`).click();
  await tid("place-order").click();
  await tid("order-placed").waitFor();
  const orderId = await tid("order-placed").getAttribute("data-order-id");
  assert.ok(orderId, "the placed order has an id");
  log(`order ${orderId} placed (2 × ${productId})`);
  await until(`stock of ${productId} down by 2`, 15_000, async () => Number(await tid(`stock-${productId}`).textContent()) === stockBefore - 2);

  // 5. It is in my orders, and its notification arrives (events are async).
  const orderRow = page.locator(`[data-testid=order-row][data-order-id="${orderId}"]`);
  await orderRow.waitFor();
  assert.equal(await orderRow.getAttribute("data-status"), "PLACED");
  await until("the order's notification", 30_000, async () => {
    if (await page.locator(`[data-testid=notification-row][data-order-id="${orderId}"]`).count()) return true;
    await tid("refresh-mine").click();
    return false;
  }, 2000);
  log("order listed as PLACED; its notification arrived");
  await shot(page, "storefront");

  // 6. The order's trace: spans from order, inventory and notification.
  const traceHref = await tid(`order-trace-${orderId}`).getAttribute("href");
  assert.match(traceHref ?? "", /^#\/traces\/[0-9a-f]{32}$/, "the order links to its own trace");
  const traceId = traceHref.split("/").pop();
  await tid(`order-trace-${orderId}`).click();
  await tid("waterfall").waitFor();
  const seen = await until("spans of order, inventory and notification in the trace", 45_000, async () => {
    const svcs = new Set(await page.locator("[data-testid=span-row]").evaluateAll((rows) => rows.map((r) => r.dataset.service)));
    if (["order", "inventory", "notification"].every((s) => svcs.has(s))) return svcs;
    await tid("trace-reload").click();
    return false;
  }, 1500);
  const spans = await page.locator("[data-testid=span-row]").count();
  log(`trace ${traceId}: ${spans} spans from ${[...seen].join(", ")}`);
  await page.locator("[data-testid=span-row][data-service=inventory]").first().click();
  await tid("span-detail").waitFor();
  await shot(page, "trace");

  // The trace's log lines, and in the Logs view a line links back to it.
  assert.ok((await page.locator("[data-testid=log-line]").count()) > 0, "the trace has log lines");
  await page.goto(`${consoleURL}/#/logs`);
  await page.locator(`[data-testid=log-trace-link][href="#/traces/${traceId}"]`).first().waitFor();
  log("the trace's log lines are shown, and the Logs view links them to it");

  // 7. The trace list shows it under CreateOrder, and the API explorer renders.
  await page.goto(`${consoleURL}/#/traces?service=order&operation=CreateOrder`);
  await page.locator(`[data-testid=trace-row][data-trace-id="${traceId}"]`).waitFor();
  log("trace listed under service=order, operation=CreateOrder");
  await page.goto(`${consoleURL}/#/api/inventory`);
  await page.locator("[data-testid=swagger] .opblock").first().waitFor({ timeout: 30_000 });
  log("API explorer renders the inventory OpenAPI document");
  await shot(page, "api");

  // 8. "Try it out" goes straight to the service with the session's token:
  // GET /v1/me needs it, and answers with this user.
  await page.goto(`${consoleURL}/#/api/user`);
  const me = page.locator("[data-testid=swagger] .opblock").filter({ has: page.locator(".opblock-summary-path", { hasText: /^\/v1\/me$/ }) });
  await me.locator(".opblock-summary").click();
  const tryOut = me.locator(".try-out__btn");
  if ((await tryOut.textContent())?.includes("Try it out")) await tryOut.click();
  await me.locator("button.execute").click();
  const live = me.locator(".live-responses-table tbody .response-col_status").first();
  await until("GET /v1/me answered in the explorer", 20_000, async () => (await live.textContent())?.trim() === "200");
  const body = (await me.locator(".live-responses-table tbody .response-col_description pre").first().textContent()) ?? "";
  assert.ok(body.includes(email), `GET /v1/me answers for ${email}, got ${body.slice(0, 200)}`);
  log("API explorer: GET /v1/me with the session's token answered 200 for this user");

  // 9. Cancel from the storefront: CANCELLED, and a second notification.
  await page.goto(`${consoleURL}/#/shop`);
  await tid(`cancel-${orderId}`).click();
  await until("the order CANCELLED", 15_000, async () => (await orderRow.getAttribute("data-status")) === "CANCELLED");
  await until("the cancellation notification", 30_000, async () => {
    if (await page.locator(`[data-testid=notification-row][data-order-id="${orderId}"][data-kind=ORDER_CANCELLED]`).count()) return true;
    await tid("refresh-mine").click();
    return false;
  }, 2000);
  await until(`stock of ${productId} back`, 15_000, async () => Number(await tid(`stock-${productId}`).textContent()) === stockBefore);
  log("order cancelled: status CANCELLED, stock back, cancellation notification arrived");
}

const watchdog = setTimeout(async () => {
  log(`FAIL: the whole run took more than ${TOTAL_MS / 1000}s`);
  await cleanup();
  process.exit(1);
}, TOTAL_MS);

let cleaned = false;
async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  await browser?.close().catch(() => {});
  if (profile) rmSync(profile, { recursive: true, force: true });
  await stopSystem();
}
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, async () => {
    log(`${sig}: cleaning up`);
    await cleanup();
    process.exit(130);
  });
}

let code = 0;
try {
  await run();
  log("PASS");
} catch (e) {
  code = 1;
  log(`FAIL: ${e.stack || e}`);
  if (browser) {
    const page = browser.pages()[0];
    await page?.screenshot({ path: join(outDir, "console-failure.png") }).catch(() => {});
    log(`page at failure: ${page?.url()} (screenshot .slipway/test/console-failure.png)`);
  }
} finally {
  clearTimeout(watchdog);
  await cleanup();
}
process.exit(code);
