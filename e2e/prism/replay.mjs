// Replays the e2e's recorded REST traffic through Prism's validating proxy
// and fails on any violation of the OpenAPI documents.
//
//   node replay.mjs <rest.jsonl> <doc.yaml>...
//
// rest.jsonl is what the e2e writes when SLIPWAY_E2E_REST_LOG names it: one
// request and the service's response a line. Each request goes to a Prism
// proxy (`prism proxy`) of the document whose paths hold it, in front of
// an upstream that answers the recorded response, so Prism validates the
// real request and the real response without a running system.
//
// Prism runs without --errors, so every exchange is forwarded and its
// response validated; the violations it reports (sl-violations header),
// warnings included, decide instead. A response violation always fails. A
// request violation fails unless the service refused that request for the
// same reason (violations.mjs): the e2e sends requests without a token or
// with bad fields on purpose, and a document that refuses them as a
// security violation must agree with a 401 or 403, one that refuses their
// query, path, headers or body with a 400. Every exchange must reach a
// documented operation, and the recording must not be empty.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import net from 'node:net';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { judgeRequest } from './violations.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const prismBin = join(here, 'node_modules', '.bin', 'prism');
const seqHeader = 'x-replay-seq';

const [logPath, ...docs] = process.argv.slice(2);
if (!logPath || docs.length === 0) {
  console.error('usage: node replay.mjs <rest.jsonl> <doc.yaml>...');
  process.exit(2);
}

const exchanges = readFileSync(logPath, 'utf8').split('\n').filter(Boolean).map(line => JSON.parse(line));
if (exchanges.length === 0) {
  console.error(`${logPath}: no REST exchanges recorded; was ${'SLIPWAY_E2E_REST_LOG'} set for the e2e?`);
  process.exit(1);
}

// routes reads each document's operations (method and path template) from
// its paths block: protoc-gen-openapi writes them at fixed indentation.
function routes(doc) {
  const out = [];
  let inPaths = false;
  let path;
  for (const line of readFileSync(doc, 'utf8').split('\n')) {
    if (/^\S/.test(line)) inPaths = line === 'paths:';
    if (!inPaths) continue;
    let m = /^ {4}(\/\S*):$/.exec(line);
    if (m) path = m[1];
    m = /^ {8}(get|put|post|delete|patch):$/.exec(line);
    if (m && path) {
      const pattern = path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+');
      out.push({ doc, method: m[1].toUpperCase(), template: path, re: new RegExp(`^${pattern}$`) });
    }
  }
  if (out.length === 0) throw new Error(`${doc}: no operations found under paths`);
  return out;
}

const operations = docs.flatMap(routes);
function operationOf(ex) {
  const path = ex.target.split('?')[0];
  return operations.find(op => op.method === ex.method && op.re.test(path));
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, proc, name) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`${name}: prism exited (${proc.exitCode}) before listening:\n${proc.output}`);
    const up = await new Promise(resolve => {
      const s = net.connect(port, '127.0.0.1', () => { s.end(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (up) return;
    await new Promise(r => setTimeout(r, 200));
  }
  throw new Error(`${name}: prism is not listening on ${port} after 60s:\n${proc.output}`);
}

// The upstream answers each forwarded request with the response recorded
// for it, found by the sequence header the replay sends.
const forwarded = new Set();
const upstream = createServer((req, res) => {
  const seq = Number(req.headers[seqHeader]);
  const ex = exchanges[seq];
  if (!ex || ex.method !== req.method || ex.target.split('?')[0] !== req.url.split('?')[0]) {
    res.writeHead(599, { 'content-type': 'text/plain' });
    res.end(`replay: no recorded exchange ${seq} for ${req.method} ${req.url}`);
    return;
  }
  forwarded.add(seq);
  req.resume();
  res.writeHead(ex.status, ex.responseHeaders ?? {});
  res.end(ex.responseBody ?? '');
});
await new Promise(resolve => upstream.listen(0, '127.0.0.1', resolve));
const upstreamURL = `http://127.0.0.1:${upstream.address().port}`;

const prisms = new Map(); // doc -> {port, proc}
async function prismFor(doc) {
  if (prisms.has(doc)) return prisms.get(doc);
  const port = await freePort();
  const proc = spawn(prismBin, ['proxy', doc, upstreamURL, '--host', '127.0.0.1', '--port', String(port)],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.output = '';
  for (const s of [proc.stdout, proc.stderr]) s.on('data', d => { proc.output += d; });
  const p = { port, proc };
  prisms.set(doc, p);
  await waitForPort(port, proc, basename(doc));
  return p;
}

const failures = [];
const counts = new Map(); // "doc METHOD template status" -> n
let refusedByBoth = 0;
try {
  for (const [seq, ex] of exchanges.entries()) {
    const op = operationOf(ex);
    const where = `#${seq} ${ex.method} ${ex.target} -> ${ex.status}`;
    if (!op) {
      failures.push(`${where}: no operation of ${docs.map(d => basename(d)).join(', ')} has this path`);
      continue;
    }
    const { port } = await prismFor(op.doc);
    const res = await fetch(`http://127.0.0.1:${port}${ex.target}`, {
      method: ex.method,
      headers: { ...(ex.headers ?? {}), [seqHeader]: String(seq) },
      body: ex.body ? ex.body : undefined,
      redirect: 'manual',
    });
    const body = await res.text();
    const header = res.headers.get('sl-violations');
    let violations = [];
    if (header) {
      try {
        violations = JSON.parse(header);
      } catch {
        violations = [{ location: ['?'], severity: 'Error', message: header.slice(0, 500) }];
      }
    }
    // Warnings count: Prism reports an undeclared error status (a 404 the
    // document does not list) as one, and --errors would let it pass.
    const errors = violations.filter(v => v.severity === 'Error' || v.severity === 'Warning');
    const requestErrors = errors.filter(v => v.location?.[0] === 'request');
    const responseErrors = errors.filter(v => v.location?.[0] !== 'request');
    const key = `${basename(op.doc)} ${op.method} ${op.template} ${ex.status}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    const describe = vs => vs.map(v => `${(v.location ?? []).join('.')}: ${v.message}`).join('; ');
    if (!forwarded.has(seq)) {
      failures.push(`${where}: Prism did not forward it (answered ${res.status}: ${body.slice(0, 300)})`);
    } else if (res.status !== ex.status) {
      failures.push(`${where}: Prism answered ${res.status}: ${body.slice(0, 300)}`);
    }
    if (responseErrors.length > 0) failures.push(`${where}: response violates the document: ${describe(responseErrors)}`);
    if (requestErrors.length > 0) {
      const refused = judgeRequest(requestErrors, ex.status);
      if (refused.length === 0) refusedByBoth++;
      for (const f of refused) failures.push(`${where}: ${f}`);
    }
  }
} finally {
  for (const { proc } of prisms.values()) proc.kill();
  upstream.close();
}

for (const [key, n] of [...counts.entries()].sort()) console.log(`${String(n).padStart(4)}  ${key}`);
const statuses = new Map();
for (const ex of exchanges) statuses.set(ex.status, (statuses.get(ex.status) ?? 0) + 1);
const byStatus = [...statuses.entries()].sort(([a], [b]) => a - b).map(([s, n]) => `${n}x${s}`).join(', ');
console.log(`${exchanges.length} exchanges replayed through Prism (${byStatus}); ${refusedByBoth} requests refused by both the document and the service`);
if (failures.length > 0) {
  console.error(`\n${failures.length} violations:`);
  for (const f of failures) console.error(`  ${f}`);
  process.exit(1);
}
console.log('no violations');
