// End-to-end test of the console in headless Chromium against the real
// system: starts `slipway dev` on ports of its own (console 18080, HTTP
// 18181.., gRPC 51151.., one of each per service of the registry, NATS on a
// free port) with SQLite databases of its own under .slipway/test, so a
// developer's `make run` is untouched; waits until every service is SERVING
// (failing at once, with the end of its log, if dev exits first), then
// drives the browser: service map, a validation error, register, log in,
// place an order paid with the sandbox's Visa test card (PLACED, payment
// CAPTURED), see it and its notification, open its trace and find spans of
// order, inventory and notification, the live map with the order's calls as
// edges, its database's among them (one of which lists the order's trace),
// the API explorer with the session's token, an order paid with the
// declining test card (FAILED with its reason, payment DECLINED, stock
// back). Screenshots go to
// .slipway/test/console-*.png. Bounded in time; always stops what it started
// (the dev process group, then waits until its ports are free).
//
//
// With E2E_TLS=1 (make e2e-web TLS=1) it runs `slipway dev --tls`: the
// console and the services serve https and the gRPC ports require client
// certificates. Chromium then trusts the dev CA, and nothing else, through
// --ignore-certificate-errors-spki-list with the CA's SPKI hash (the
// services send the CA in their chain): certificates of the CA pass, any
// other certificate error still fails the page, unlike ignoreHTTPSErrors,
// which would accept any certificate at all. The script's own calls trust
// the CA through node:https.
//
//   node e2e/console.e2e.mjs          (make e2e-web)
//   E2E_TLS=1 node e2e/console.e2e.mjs (make e2e-web TLS=1)
//   CHROMIUM=/path/to/chromium        another browser binary
//   CONSOLE_URL=http://localhost:8080 with E2E_REUSE=1: use a running `slipway dev`
import { spawn } from "node:child_process";
import { X509Certificate, createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { get as httpsGet } from "node:https";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { strict as assert } from "node:assert";
import { chromium } from "playwright-core";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const outDir = join(root, ".slipway/test");
// Not the defaults of `slipway dev` (8080, 8081.., 50051..): never a
// developer's `make run`.
const PORTS = { console: 18080, httpBase: 18181, grpcBase: 51151 };
// Every service of the registry (the one list dev starts), at its default
// ports moved by the same offsets dev's port-base flags apply.
const REGISTRY = JSON.parse(readFileSync(join(root, "tools/slipway/internal/workspace/services.json"), "utf8"));
const SERVICES = REGISTRY.map((s) => s.name);
const ALL_PORTS = [
  PORTS.console,
  ...REGISTRY.flatMap((s) => [PORTS.httpBase + s.httpPort - REGISTRY[0].httpPort, PORTS.grpcBase + s.grpcPort - REGISTRY[0].grpcPort]),
];
const reuse = process.env.E2E_REUSE === "1";
const tls = process.env.E2E_TLS === "1";
const caFile = join(root, ".slipway/tls/ca.pem"); // slipway dev --tls keeps its CA there
const consoleURL = process.env.CONSOLE_URL || `${tls ? "https" : "http"}://localhost:${PORTS.console}`;
const apiURL = consoleURL.replace("localhost", "127.0.0.1");
const TOTAL_MS = Number(process.env.E2E_TIMEOUT_MS || 10 * 60_000);
const START_MS = 6 * 60_000; // the first `go run` builds slipway and every service
const t0 = Date.now();

function log(msg) {
  console.log(`[e2e ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, timeoutMs, fn, everyMs = 500) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    if (stopping) throw new Error(`stopped while waiting: ${what}`); // cleanup has begun
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
  if (tls) return (await getJSONTrustingCA(`${apiURL}/api/services`)).services ?? [];
  const r = await fetch(`${apiURL}/api/services`, { signal: AbortSignal.timeout(3000) });
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  return (await r.json()).services ?? [];
}

// getJSONTrustingCA GETs url over https, trusting only the dev CA (which
// exists once slipway dev --tls has started).
function getJSONTrustingCA(url) {
  return new Promise((resolve, reject) => {
    const req = httpsGet(url, { ca: readFileSync(caFile), timeout: 3000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => {
        if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}`));
        try {
          resolve(JSON.parse(body));
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

// caSPKIHash is base64(SHA-256(SubjectPublicKeyInfo)) of the dev CA, the
// form --ignore-certificate-errors-spki-list takes.
function caSPKIHash() {
  const ca = new X509Certificate(readFileSync(caFile));
  return createHash("sha256").update(ca.publicKey.export({ type: "spki", format: "der" })).digest("base64");
}

// --- the system -------------------------------------------------------------

const devLog = join(outDir, "console-e2e-dev.log");
let dev; // the `go run ./tools/slipway dev` process, leader of its own group
let busyBefore = []; // the e2e's ports something else held before dev started
let stopping = false; // set before we stop dev: its exit is then expected
// devFailure rejects when dev exits (or cannot start) before we stop it:
// the run races against it instead of waiting out its timeouts.
let devFailed;
const devFailure = new Promise((_, reject) => (devFailed = reject));
devFailure.catch(() => {}); // handled where it is raced

function tail(file, lines = 40) {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch (e) {
    return `(cannot read ${file}: ${e.message})`;
  }
}

// The e2e's own databases, fresh each run (SLIPWAY_<SVC>_DATABASE_URL wins
// over DATABASE_URL and dev's .slipway/data defaults).
function databases() {
  const env = {};
  for (const svc of SERVICES) {
    const db = join(outDir, `e2e-${svc}.db`);
    for (const f of [db, `${db}-wal`, `${db}-shm`, `${db}-journal`]) rmSync(f, { force: true });
    env[`SLIPWAY_${svc.toUpperCase()}_DATABASE_URL`] = `sqlite://${db}`;
  }
  return env;
}

async function startSystem() {
  const already = await services().then(() => true, () => false);
  if (already && !reuse) throw new Error(`${apiURL} already answers: stop that slipway dev first, or set E2E_REUSE=1`);
  if (already) {
    log(`reusing the slipway dev at ${apiURL}`);
    return;
  }
  busyBefore = await openPorts(ALL_PORTS);
  if (busyBefore.length) log(`already in use: ${busyBefore.join(", ")} (slipway dev will refuse to start)`);
  const args = [
    "run", "./tools/slipway", "dev", "--no-watch", "--color", "never", ...(tls ? ["--tls"] : []),
    "--console-port", String(PORTS.console),
    "--http-port-base", String(PORTS.httpBase),
    "--grpc-port-base", String(PORTS.grpcBase),
    "--nats-port", "0",
  ];
  const fd = openSync(devLog, "w");
  log(`starting: go ${args.join(" ")} (log: ${devLog})`);
  dev = spawn("go", args, {
    cwd: root,
    detached: true, // its own process group, so the whole tree can be stopped
    stdio: ["ignore", fd, fd],
    env: { ...process.env, ...databases() },
  });
  dev.on("error", (e) => devFailed(new Error(`cannot start slipway dev: ${e.message}`)));
  dev.on("exit", (code, sig) => {
    log(`slipway dev exited (${code ?? sig})`);
    if (stopping) return;
    const e = new Error(`slipway dev exited (${code ?? sig}) before the run ended; the end of ${devLog}:\n${tail(devLog)}`);
    e.stack = e.message; // where in this file it was noticed says nothing
    devFailed(e);
  });
}

// groupAlive says whether any process of dev's group is left.
function groupAlive() {
  try {
    process.kill(-dev.pid, 0);
    return true;
  } catch (e) {
    return e.code === "EPERM";
  }
}

// poll says whether fn came true within ms (for stopping, which until refuses).
async function poll(ms, everyMs, fn) {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(everyMs)) if (await fn()) return true;
  return fn();
}

async function openPorts(ports) {
  return (await Promise.all(ports.map(portOpen))).flatMap((open, i) => (open ? [ports[i]] : []));
}

function portOpen(port) {
  return new Promise((r) => {
    const c = connect({ host: "127.0.0.1", port });
    c.setTimeout(1000);
    c.once("connect", () => (c.destroy(), r(true)));
    c.once("error", () => r(false));
    c.once("timeout", () => (c.destroy(), r(false)));
  });
}

// stopSystem returns once dev's process group is gone (SIGINT, then SIGKILL
// after 30 s) and its ports are closed: the services are in groups of their
// own, stopped by dev, or by their parent-death signal when dev was killed.
async function stopSystem() {
  stopping = true;
  if (!dev?.pid) return;
  const gone = (ms) => poll(ms, 200, async () => !groupAlive());
  if (groupAlive()) {
    log("stopping slipway dev (SIGINT to its process group)");
    try {
      process.kill(-dev.pid, "SIGINT");
    } catch {}
    if (!(await gone(30_000))) {
      log("still running after 30s: SIGKILL to its process group");
      try {
        process.kill(-dev.pid, "SIGKILL");
      } catch {}
      if (!(await gone(5_000))) log(`WARNING: process group ${dev.pid} still has processes`);
    }
  }
  // Ports something else held before dev started are not dev's to close.
  const ours = ALL_PORTS.filter((p) => !busyBefore.includes(p));
  if (await poll(20_000, 250, async () => (await openPorts(ours)).length === 0)) log("slipway dev stopped; its ports are closed");
  else log(`WARNING: still listening after stopping slipway dev: ${(await openPorts(ours)).join(", ")}`);
}

// --- the browser ------------------------------------------------------------

let browser, profile;
async function openBrowser() {
  profile = mkdtempSync(join(tmpdir(), "slipway-e2e-chromium-"));
  const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
  const trust = [];
  if (tls) {
    if (!existsSync(caFile)) throw new Error(`no dev CA at ${caFile}: slipway dev --tls makes it`);
    const spki = caSPKIHash();
    trust.push(`--ignore-certificate-errors-spki-list=${spki}`);
    log(`trusting the dev CA ${caFile} (SPKI sha256 ${spki}) and no other certificate`);
  }
  log(`launching ${executablePath} (headless)`);
  browser = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    // Playwright would otherwise exit the process on these signals as soon
    // as the browser is closed, before slipway dev is stopped: ours wait.
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-quic",
      "--no-first-run",
      "--disable-component-update",
      "--disable-sync",
      ...trust,
    ],
    viewport: { width: 1360, height: 900 },
  });
  browser.setDefaultTimeout(20_000);
  const page = browser.pages()[0] ?? (await browser.newPage());
  page.on("request", (req) => void track(req));
  page.on("pageerror", (e) => log(`page error: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && log(`console error: ${m.text()}`));
  return page;
}

// Every request the page makes: which carried a bearer token, and whether
// any left this machine (validator.swagger.io, a CDN, ...).
const sent = { bearer: [], offHost: [] };
async function track(req) {
  const url = new URL(req.url());
  if (/^https?:$/.test(url.protocol) && !["localhost", "127.0.0.1", "[::1]"].includes(url.hostname)) sent.offHost.push(req.url());
  const auth = await req.allHeaders().then((h) => h.authorization, () => undefined);
  if (auth?.startsWith("Bearer ")) sent.bearer.push({ origin: url.origin, token: auth.slice(7), url: req.url() });
}

// tokenNotStored checks that the session's token is nowhere in the page's
// localStorage, sessionStorage or cookies (nor the browser's cookie jar).
async function tokenNotStored(page, token, when) {
  const found = await page.evaluate((t) => {
    const all = (st) => Array.from({ length: st.length }, (_, i) => st.key(i)).map((k) => `${k}=${st.getItem(k)}`);
    return {
      localStorage: all(localStorage).filter((kv) => kv.includes(t)),
      sessionStorage: all(sessionStorage).filter((kv) => kv.includes(t)),
      cookie: document.cookie.includes(t) ? [document.cookie] : [],
    };
  }, token);
  assert.deepEqual(found, { localStorage: [], sessionStorage: [], cookie: [] }, `the token is in memory only (${when})`);
  const jar = (await browser.cookies()).filter((c) => c.value.includes(token) || c.name.includes(token));
  assert.equal(jar.length, 0, `no cookie holds the token (${when})`);
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
  // Raced against dev's exit (see the end of this file): a port clash or a
  // build error fails the run at once, with the end of dev's log.
  const list = await until("every service SERVING at /api/services", START_MS, async () => {
    const s = await services();
    return s.length >= SERVICES.length && s.every((x) => x.state === "SERVING") && s;
  }, 1000);
  log(`services SERVING: ${list.map((s) => s.name).join(", ")}`);
  if (tls) {
    const plain = list.filter((s) => !s.http_url.startsWith("https://")).map((s) => s.http_url);
    assert.deepEqual(plain, [], "under --tls every service is reached over https");
  }

  const page = await openBrowser();
  const tid = (id) => page.getByTestId(id);

  // 1. The service map, live over SSE.
  await page.goto(`${consoleURL}/#/services`);
  for (const name of SERVICES) {
    await until(`${name} shows SERVING`, 30_000, async () => (await tid(`service-state-${name}`).textContent()) === "SERVING");
  }
  await until("the stream is live", 15_000, async () => (await tid("stream-state").textContent()) === "live");
  log(`service map: ${SERVICES.join(", ")} SERVING, stream live`);
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
  const token = await until("a storefront call carrying the session's token", 15_000, async () => sent.bearer[0]?.token);
  await tokenNotStored(page, token, "after logging in");
  log("the token is in memory only: no localStorage, sessionStorage or cookies");

  // 4. A product into the cart, and the order, paid with the sandbox's
  // Visa test card (the card chosen until the user picks another).
  await page.locator("[data-testid=product-row]").first().waitFor();
  const productId = (await page.locator("[data-testid=product-row]").evaluateAll((rows) => rows.map((r) => r.dataset.productId)))
    .sort((a, b) => (a === "espresso-blend-1kg" ? -1 : b === "espresso-blend-1kg" ? 1 : 0))[0];
  const stockBefore = Number(await tid(`stock-${productId}`).textContent());
  const cards = await tid("payment-card").locator("option").evaluateAll((os) => os.map((o) => o.value));
  assert.deepEqual(
    cards,
    ["pm_card_visa", "pm_card_chargeDeclined", "pm_card_chargeDeclinedInsufficientFunds", "pm_card_transient"],
    "the sandbox test cards are offered",
  );
  assert.equal(await tid("payment-card").inputValue(), "pm_card_visa", "Visa is the card chosen at first");
  assert.match((await page.locator("label", { has: tid("payment-card") }).textContent()) ?? "", /sandbox test card/, "the cards are labelled as sandbox test cards");
  await tid(`add-${productId}`).click();
  await tid(`add-${productId}`).click();
  await tid("place-order").click();
  await tid("order-placed").waitFor();
  const orderId = await tid("order-placed").getAttribute("data-order-id");
  assert.ok(orderId, "the placed order has an id");
  log(`order ${orderId} placed (2 × ${productId}, pm_card_visa)`);
  await until(`stock of ${productId} down by 2`, 15_000, async () => Number(await tid(`stock-${productId}`).textContent()) === stockBefore - 2);

  // 5. It is in my orders, PLACED with its payment CAPTURED, and its
  // notification arrives (events are async).
  const orderRow = page.locator(`[data-testid=order-row][data-order-id="${orderId}"]`);
  await orderRow.waitFor();
  assert.equal(await orderRow.getAttribute("data-status"), "PLACED");
  await until("the order's payment CAPTURED", 30_000, async () => {
    if ((await tid(`payment-${orderId}`).textContent()) === "CAPTURED") return true;
    await tid("refresh-mine").click();
    return false;
  }, 1000);
  assert.equal(await tid(`status-${orderId}`).textContent(), "PLACED", "the paid order shows PLACED");
  assert.equal(await tid(`failure-${orderId}`).count(), 0, "a placed order shows no failure reason");
  await until("the order's notification", 30_000, async () => {
    if (await page.locator(`[data-testid=notification-row][data-order-id="${orderId}"]`).count()) return true;
    await tid("refresh-mine").click();
    return false;
  }, 2000);
  log("order listed as PLACED, payment CAPTURED; its notification arrived");
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

  // The live map: the order's calls are edges with a rate; an edge lists
  // the traces through it, and each opens in the waterfall.
  await page.goto(`${consoleURL}/#/services`);
  await tid("call-map").waitFor();
  const mapEdges = ["clients-order", "order-inventory", "order-payment"];
  await until(`map edges ${mapEdges.join(", ")} with a rate`, 30_000, async () => {
    for (const e of mapEdges) {
      const edge = tid(`edge-${e}`);
      if (!(await edge.count()) || !(Number(await edge.getAttribute("data-rate")) > 0)) return false;
    }
    return true;
  }, 1000);
  // The order's statements are client spans of its database (SQLite under
  // slipway dev, PostgreSQL with its DATABASE_URL): an edge to it with a rate.
  const dbEdge = await until("a map edge from order to its database with a rate", 30_000, async () => {
    const edges = await page.locator('[data-testid^="edge-order-database:"]').evaluateAll((els) =>
      els.map((e) => ({ to: e.dataset.testid.slice("edge-order-".length), rate: Number(e.dataset.rate) })),
    );
    return edges.find((e) => e.rate > 0);
  }, 1000);
  assert.equal(await tid(`map-node-${dbEdge.to}`).count(), 1, `the map draws the database node ${dbEdge.to}`);
  log(`map edge order→${dbEdge.to} at ${(dbEdge.rate * 60).toFixed(0)}/min`);
  const drawn = await page.locator("[data-testid^=edge-][data-rate]").evaluateAll((els) =>
    els.map((e) => `${e.dataset.testid.slice(5)} ${(Number(e.dataset.rate) * 60).toFixed(0)}/min`),
  );
  log(`map edges: ${drawn.join(", ")}`);
  await shot(page, "map");
  await tid("edge-order-inventory").click();
  await tid("edge-detail").waitFor();
  const edgeTraces = await page.locator("[data-testid=edge-trace]").evaluateAll((rows) => rows.map((r) => r.dataset.traceId));
  assert.ok(edgeTraces.length > 0, "the order→inventory edge lists its traces");
  assert.ok(edgeTraces.includes(traceId), `the order's trace ${traceId} is among those through order→inventory: ${edgeTraces}`);
  await shot(page, "map-edge");
  await page.locator(`[data-testid=edge-trace][data-trace-id="${traceId}"] [data-testid=edge-trace-link]`).click();
  await tid("waterfall").waitFor();
  assert.equal(page.url(), `${consoleURL}/#/traces/${traceId}`, "the edge's trace opens in the waterfall");
  log(`edge order→inventory lists ${edgeTraces.length} traces; the order's opens in the waterfall`);

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

  // 10. An order paid with the declining test card: FAILED, with the
  // decline as its reason, payment DECLINED, no stock kept, and the
  // failed-order notification.
  await tid(`add-${productId}`).click();
  await tid("payment-card").selectOption("pm_card_chargeDeclined");
  await tid("place-order").click();
  await until("a second order answered", 15_000, async () => {
    const id = await tid("order-placed").getAttribute("data-order-id");
    return id && id !== orderId;
  });
  const declinedId = await tid("order-placed").getAttribute("data-order-id");
  await until("the declined order answered FAILED", 15_000, async () => (await tid("order-placed").getAttribute("data-status")) === "FAILED");
  const declinedRow = page.locator(`[data-testid=order-row][data-order-id="${declinedId}"]`);
  await declinedRow.waitFor();
  assert.equal(await declinedRow.getAttribute("data-status"), "FAILED");
  assert.equal(await tid(`status-${declinedId}`).textContent(), "FAILED", "the declined order shows FAILED");
  assert.equal(await tid(`payment-${declinedId}`).textContent(), "DECLINED", "its payment shows DECLINED");
  const reason = (await tid(`failure-${declinedId}`).textContent()) ?? "";
  assert.match(reason, /card_declined/, `the reason names the decline, got ${JSON.stringify(reason)}`);
  await until(`stock of ${productId} back after the decline`, 30_000, async () => {
    if (Number(await tid(`stock-${productId}`).textContent()) === stockBefore) return true;
    await tid("refresh-mine").click(); // inventory releases it when it hears the order failed
    return false;
  }, 1000);
  await until("the failed-order notification", 30_000, async () => {
    if (await page.locator(`[data-testid=notification-row][data-order-id="${declinedId}"][data-kind=ORDER_FAILED]`).count()) return true;
    await tid("refresh-mine").click();
    return false;
  }, 2000);
  log(`order ${declinedId} with pm_card_chargeDeclined: FAILED (${reason}), payment DECLINED, stock back, notification arrived`);
  await shot(page, "declined");

  // 11. At the end, after the API explorer used it too: the token is still
  // in memory only, went only to the services' origins, and no request left
  // this machine (swagger-ui's validator is off).
  await tokenNotStored(page, token, "at the end, after the API explorer");
  const origins = new Set(list.map((s) => new URL(s.http_url).origin));
  const stray = sent.bearer.filter((b) => !origins.has(b.origin));
  assert.deepEqual(stray.map((b) => b.url), [], `the token goes only to ${[...origins].join(", ")}`);
  assert.ok(sent.bearer.some((b) => b.origin === new URL(list.find((s) => s.name === "user").http_url).origin && b.url.includes("/v1/me")), "the explorer's GET /v1/me carried the token");
  assert.deepEqual(sent.offHost, [], "no request left this machine");
  log(`token: in no storage or cookie at the end; ${sent.bearer.length} requests carried it, all to the services; no request left the machine`);
}

// One cleanup, however it is reached (the end of the run, the watchdog,
// SIGINT/SIGTERM): every caller awaits the same promise, and the process
// exits only after it, i.e. once dev's process group is gone.
let cleaning;
function cleanup() {
  cleaning ??= (async () => {
    stopping = true;
    if (browser) await Promise.race([browser.close().catch(() => {}), sleep(10_000)]);
    if (profile) rmSync(profile, { recursive: true, force: true });
    await stopSystem();
  })();
  return cleaning;
}
async function exitAfterCleanup(code) {
  await cleanup().catch((e) => log(`cleanup: ${e.stack || e}`));
  process.exit(code);
}

const watchdog = setTimeout(() => {
  log(`FAIL: the whole run took more than ${TOTAL_MS / 1000}s`);
  void exitAfterCleanup(1);
}, TOTAL_MS);
for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]]) {
  process.on(sig, () => {
    log(`${sig}: cleaning up`);
    void exitAfterCleanup(code);
  });
}

let code = 0;
try {
  // From the readiness wait to the last step, the run fails as soon as dev
  // exits: its error carries the end of dev's log.
  const running = run();
  running.catch(() => {}); // it may still settle after losing the race
  await Promise.race([running, devFailure]);
  log("PASS");
} catch (e) {
  code = 1;
  // Once cleanup has begun (watchdog, signal), the run fails only because
  // the browser went away: the first line says where it was.
  log(stopping ? `stopped during the run: ${String(e.message ?? e).split("\n")[0]}` : `FAIL: ${e.stack || e}`);
  if (browser && !stopping) {
    const page = browser.pages()[0];
    await page?.screenshot({ path: join(outDir, "console-failure.png") }).catch(() => {});
    log(`page at failure: ${page?.url()} (screenshot .slipway/test/console-failure.png)`);
  }
} finally {
  clearTimeout(watchdog);
}
await exitAfterCleanup(code);
