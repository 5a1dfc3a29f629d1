// Tests of the replay's verdicts: node --test e2e/prism (make openapi-replay
// runs them before the replay). The last two run replay.mjs through Prism on
// a small recording against api/gen/openapi/user.yaml.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { judgeRequest, kindOf } from './violations.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const userDoc = join(here, '..', '..', 'api', 'gen', 'openapi', 'user.yaml');

// Violations as Prism 5 writes them in sl-violations.
const security = { location: ['request'], severity: 'Error', code: 401, message: 'Invalid security scheme used' };
const badQuery = { location: ['request', 'query', 'pageSize'], severity: 'Error', code: 'maximum', message: 'Request query parameter pageSize must be <= 100' };
const badBody = { location: ['request', 'body', 'email'], severity: 'Error', code: 'format', message: 'Request body property email must match format "email"' };
const noBody = { location: ['request'], severity: 'Error', code: 'required', message: 'Body parameter is required' };
const mediaType = { location: ['request'], severity: 'Error', code: 415, message: 'Supported content types: application/json' };
const noRoute = { location: ['request'], severity: 'Warning', message: 'Selected route not found' };

test('kindOf tells each violation by its code and location', () => {
  assert.equal(kindOf(security), 'security');
  assert.equal(kindOf(badQuery), 'validation');
  assert.equal(kindOf(badBody), 'validation');
  assert.equal(kindOf(noBody), 'validation');
  assert.equal(kindOf(mediaType), 'media type');
  assert.equal(kindOf(noRoute), undefined);
});

test('a violation passes only with the status of its kind', () => {
  assert.deepEqual(judgeRequest([security], 401), []);
  assert.deepEqual(judgeRequest([security], 403), []);
  assert.deepEqual(judgeRequest([badQuery, badBody], 400), []);
  assert.deepEqual(judgeRequest([mediaType], 415), []);

  assert.match(judgeRequest([security], 400)[0], /as security \(401 or 403\), the service with 400/);
  assert.match(judgeRequest([badBody], 401)[0], /as validation \(400\), the service with 401/);
  assert.match(judgeRequest([badQuery], 404)[0], /as validation \(400\), the service with 404/);
  assert.match(judgeRequest([badQuery], 200)[0], /the service accepted \(200\)/);
  assert.match(judgeRequest([noRoute], 400)[0], /no known kind/);
  assert.equal(judgeRequest([security, badQuery], 401).length, 1, 'each violation is judged, not the first');
});

function replay(exchanges) {
  const dir = mkdtempSync(join(tmpdir(), 'slipway-replay-test-'));
  try {
    const log = join(dir, 'rest.jsonl');
    writeFileSync(log, exchanges.map(ex => JSON.stringify(ex)).join('\n') + '\n');
    return spawnSync(process.execPath, [join(here, 'replay.mjs'), log, userDoc], { encoding: 'utf8', timeout: 90_000 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const problem = (status, code, errors) => ({
  status,
  responseHeaders: { 'Content-Type': 'application/problem+json' },
  responseBody: JSON.stringify({ type: 'about:blank', title: 'x', status, detail: 'x', code, errors }),
});
const badRegister = {
  method: 'POST', target: '/v1/users', headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ email: 'not-an-email', password: 'correct-horse-battery', displayName: 'E2E' }),
};
const anonymousMe = { method: 'GET', target: '/v1/me' };

test('the replay passes requests the service refused for the document\'s reason', () => {
  const r = replay([
    { ...badRegister, ...problem(400, 'INVALID_ARGUMENT', [{ field: 'email', description: 'must be an email address' }]) },
    { ...anonymousMe, ...problem(401, 'UNAUTHENTICATED') },
  ]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /2 requests refused by both/);
});

test('the replay fails a refusal whose status does not match the violation', () => {
  const r = replay([
    { ...badRegister, ...problem(401, 'UNAUTHENTICATED') },
    { ...anonymousMe, ...problem(400, 'INVALID_ARGUMENT') },
  ]);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /#0 POST \/v1\/users -> 401: the document refuses the request as validation/);
  assert.match(r.stderr, /#1 GET \/v1\/me -> 400: the document refuses the request as security/);
});
