// The edge's published contract under `wasmtime serve`: every response to a bounded mix of good and
// bad requests validates against crates/edge/openapi.json (so spec and code cannot drift), every
// stderr line validates against docs/log-schema.json, repeated requests are answered from the
// answer cache (same body, `answer_cache: "hit"`), and query text is logged plain, hashed or not
// at all as SHOPAI_LOG_QUERY says.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, fixtureBundle, startEdge, tempDir, jsonLines, logged } from './harness.mjs';

const PYTHON = process.env.SHOPAI_PYTHON || 'python3';
const SPEC = join(ROOT, 'crates/edge/openapi.json');
const LOG_SCHEMA = join(ROOT, 'docs/log-schema.json');
let fx, edge, work;
const exchanges = [];

before(async () => {
  fx = fixtureBundle();
  work = tempDir('shopai-contract-');
  edge = await startEdge(fx.dir);
});

after(async () => {
  await edge?.proc.stop();
});

async function call(e, method, path, body, { raw, record = true } = {}) {
  const init = { method };
  if (raw !== undefined) init.body = raw;
  else if (body !== undefined) init.body = JSON.stringify(body);
  const r = await fetch(e.url + path, init);
  const text = await r.text();
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    assert.fail(`${method} ${path} answered ${r.status} with a body that is not JSON: ${text.slice(0, 200)}`);
  }
  assert.equal(r.headers.get('content-type'), 'application/json');
  if (record) exchanges.push({ method, path, status: r.status, body: parsed });
  return { status: r.status, body: parsed };
}

/** Request lines the edge wrote (those with a route) after the start-up health check, waiting
 * until `count` have arrived. */
async function logLines(e, count) {
  const deadline = Date.now() + 10000;
  for (;;) {
    const all = jsonLines(e.proc).filter((l) => l.route);
    if (all.length >= count + 1 || Date.now() > deadline) {
      assert.equal(all[0]?.route, '/health', 'startEdge waited for one answered health check');
      return all.slice(1);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function runCheck(mode, a, b) {
  const r = spawnSync(PYTHON, [join(ROOT, 'tests/e2e/contract_check.py'), mode, a, b], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${mode} contract violated:\n${r.stdout}${r.stderr}`);
}

test('every route answers as crates/edge/openapi.json says (good and bad requests)', async () => {
  const catalog = readFileSync(join(fx.dir, 'catalog.csv'), 'utf8').trim().split('\n').slice(1);
  const ratings = readFileSync(join(fx.dir, 'ratings.csv'), 'utf8').trim().split('\n').slice(1);
  const product = catalog[0].split(',')[0];
  const category = catalog[0].split(',')[2].split('|')[0];
  const user = ratings[0].split(',')[0];
  const served = await call(edge, 'GET', '/openapi.json');
  assert.deepEqual(served.body, JSON.parse(readFileSync(SPEC, 'utf8')), 'GET /openapi.json serves the file in the repo');
  const cases = [
    ['GET', '/health'], ['GET', '/version'], ['POST', '/health', {}], ['GET', '/nope'], ['DELETE', '/search'],
    ['POST', '/search', { query: 'running shoe', top_k: 3 }],
    ['POST', '/search', { text: 'lamp', topK: 2, filters: { category: [category] } }],
    ['POST', '/search', { query: 'lamp', top_k: 1000 }],
    ['POST', '/search', { query: 'lamp', answer: true }],
    ['POST', '/search', { query: 'lamp', answer: 'yes' }],
    ['POST', '/search', { query: '' }], ['POST', '/search', { query: 'x', top_k: 0 }],
    ['POST', '/search', { query: 'x', filters: { category: ['No Such Category'] } }],
    ['GET', `/search?q=running+shoe&top_k=2&category=${encodeURIComponent(category)}`], ['GET', '/search?q=x&top_k=ten'],
    ['GET', '/search?q=lamp&utm_source=mail'], ['GET', '/search'],
    ['POST', '/search', { vector: [1, 2] }], ['POST', '/search', { vector: Array(64).fill(1e30) }],
    ['POST', '/search', { qurey: 'typo' }], ['POST', '/search', undefined, '{not json'],
    ['POST', '/search', undefined, JSON.stringify({ query: 'a'.repeat(70000) })],
    ['POST', '/recommendations', { user_id: user, top_k: 5 }],
    ['POST', '/recommendations', { history: [product, 'no-such-id'], excludeSeen: false }],
    ['POST', '/recommendations', {}], ['POST', '/recommendations', { userId: 'stranger' }],
    ['POST', '/recommendations', { history: 'P1' }], ['POST', '/recommendations', { top_k: -1 }],
    ['POST', '/v1/embeddings', { input: 'hiking boots' }], ['POST', '/v1/embeddings', { input: ['a', 'b'], model: 'x' }],
    ['POST', '/v1/embeddings', { input: [] }], ['POST', '/v1/embeddings', { nope: 1 }],
  ];
  for (const [method, path, body, raw] of cases) {
    const r = await call(edge, method, path, body, { raw });
    assert.ok(r.status < 500, `${method} ${path} ${raw ?? JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.body)}`);
  }
  const statuses = exchanges.map((x) => x.status);
  for (const s of [200, 400, 404, 405, 413, 422]) assert.ok(statuses.includes(s), `the mix exercises ${s}`);
  const file = join(work, 'exchanges.json');
  writeFileSync(file, JSON.stringify(exchanges));
  runCheck('openapi', SPEC, file);
});

test('the contract check fails on a response the spec does not allow', async () => {
  const file = join(work, 'bad-exchanges.json');
  writeFileSync(file, JSON.stringify([{ method: 'POST', path: '/search', status: 200, body: { results: [{ product_id: 1 }], version: 'v' } }]));
  const r = spawnSync(PYTHON, [join(ROOT, 'tests/e2e/contract_check.py'), 'openapi', SPEC, file], { encoding: 'utf8' });
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /took_ms|product_id/);
});

test('repeated requests are answered from the answer cache with the same body', async () => {
  const strip = ({ took_ms, ...rest }) => rest;
  // Each first request is logged before its repeat, so the repeat reaches the instance that cached it (harness.mjs).
  const first = await logged(edge.proc, () => call(edge, 'POST', '/search', { query: 'blue  cotton shirt', top_k: 4 }, { record: false }));
  const again = await call(edge, 'POST', '/search', { topK: 4, text: '  blue cotton   shirt ' }, { record: false });
  assert.deepEqual(strip(again.body), strip(first.body));
  const rec1 = await logged(edge.proc, () => call(edge, 'POST', '/recommendations', { history: ['P00003', 'P00007'], top_k: 5 }, { record: false }));
  const rec2 = await call(edge, 'POST', '/recommendations', { top_k: 5, history: ['P00003', 'P00007'] }, { record: false });
  assert.deepEqual(strip(rec2.body), strip(rec1.body));
  const lines = await logLines(edge, exchanges.length + 4);
  const tail = lines.slice(-4).map((l) => [l.route, l.answer_cache]);
  assert.deepEqual(tail, [['/search', 'miss'], ['/search', 'hit'], ['/recommendations', 'miss'], ['/recommendations', 'hit']]);
  assert.equal(lines.at(-3).query, 'blue cotton shirt');
  assert.equal(lines.at(-3).results, 4);
  assert.equal(lines.at(-3).top_score, again.body.results[0].score);
});

test('every request line on stderr is in the schema of docs/log-schema.json, one per request', async () => {
  const expected = exchanges.length + 4;
  const lines = await logLines(edge, expected);
  assert.equal(lines.length, expected);
  const file = join(work, 'lines.jsonl');
  writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  runCheck('log', LOG_SCHEMA, file);
  // The lines say what the responses said.
  exchanges.forEach((x, i) => {
    assert.equal(lines[i].status, x.status, `line ${i}`);
    assert.equal(lines[i].error, x.body.error?.code ?? null, `line ${i}`);
    if (Array.isArray(x.body.results)) assert.equal(lines[i].results, x.body.results.length);
  });
  // A line that breaks the schema is caught.
  writeFileSync(file, JSON.stringify({ ...lines[0], status: '200' }) + '\n');
  const r = spawnSync(PYTHON, [join(ROOT, 'tests/e2e/contract_check.py'), 'log', LOG_SCHEMA, file], { encoding: 'utf8' });
  assert.equal(r.status, 1);
});

test('SHOPAI_LOG_QUERY=hash logs a hash of the normalized query and =drop logs none', async () => {
  const sha = (t) => 'sha256:' + createHash('sha256').update(t).digest('hex').slice(0, 16);
  for (const [mode, expect] of [['hash', sha('star wars')], ['drop', undefined]]) {
    const e = await startEdge(fx.dir, 'bundle.bin', [`SHOPAI_LOG_QUERY=${mode}`]);
    try {
      await call(e, 'POST', '/search', { query: '  Star   Wars ' }, { record: false });
      const line = (await logLines(e, 1)).find((l) => l.route === '/search');
      assert.equal(line.query, expect, mode);
      assert.ok(!e.proc.log().toLowerCase().includes('star wars'), `${mode}: the text never reaches the log`);
    } finally {
      await e.proc.stop();
    }
  }
});

/** Send one raw HTTP/1.1 request over a socket (not half-closed: hyper drops a connection whose
 * client half-closes), return status + JSON once the server closes (`connection: close`). */
function rawRequest(e, head, body) {
  const { hostname, port } = new URL(e.url);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(port), hostname, () => {
      s.write(head + '\r\n\r\n' + body);
    });
    let got = '';
    s.on('data', (d) => (got += d));
    s.on('error', reject);
    s.on('close', () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
      const json = got.slice(got.indexOf('\r\n\r\n') + 4);
      resolve({ status: m ? Number(m[1]) : 0, body: json && !/chunked/i.test(got) ? JSON.parse(json) : json });
    });
    setTimeout(() => s.destroy(new Error(`no answer to ${head.split('\r\n')[0]}`)), 10000).unref();
  });
}

test('bodies without a declared length are read to their end and capped at 64 KiB', async () => {
  const chunked = (text) => text.length.toString(16) + '\r\n' + text + '\r\n0\r\n\r\n';
  const head = (extra) => `POST /search HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nconnection: close\r\n${extra}`;
  const small = JSON.stringify({ query: 'running shoe', top_k: 2 });
  const ok = await rawRequest(edge, head('transfer-encoding: chunked'), chunked(small));
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  const big = JSON.stringify({ query: 'b'.repeat(70000) });
  const capped = await rawRequest(edge, head('transfer-encoding: chunked'), chunked(big));
  assert.equal(capped.status, 413);
  // A client that declares more than it sends and goes away: nothing to answer, nothing broken.
  const { hostname, port } = new URL(edge.url);
  await new Promise((resolve) => {
    const s = net.connect(Number(port), hostname, () => s.write(head('content-length: 100') + '\r\n\r\n' + small));
    setTimeout(() => resolve(s.destroy()), 300);
  });
  // Whatever happened to those, the edge still answers.
  assert.equal((await call(edge, 'GET', '/health', undefined, { record: false })).status, 200);
});

test('a fresh instance starts with the answers the instance before it repeated (SHOPAI_ANSWER_CACHE_SHARED)', async () => {
  // Three requests per instance: the start-up health check and two searches fill the first, so
  // the third search is a fresh instance's first request.
  const run = async (shared) => {
    const cache = tempDir('shopai-answers-');
    const e = await startEdge(fx.dir, 'bundle.bin',
      ['SHOPAI_BUNDLE_CACHE_DIR=/cache', 'SHOPAI_ANSWER_CACHE_SHARE_AFTER=2', `SHOPAI_ANSWER_CACHE_SHARED=${shared}`],
      ['--max-instance-reuse-count', '3', '--dir', `${cache}::/cache`]);
    try {
      const q = { query: 'running shoe', top_k: 3 };
      const bodies = [];
      for (let i = 0; i < 3; i++) bodies.push((await call(e, 'POST', '/search', q, { record: false })).body);
      const strip = ({ took_ms, ...rest }) => rest;
      assert.deepEqual(strip(bodies[2]), strip(bodies[0]), 'the same answer, whoever computed it');
      const lines = await logLines(e, 3);
      const warmed = jsonLines(e.proc).filter((l) => l.event === 'answers_warmed');
      return { caches: lines.map((l) => l.answer_cache), warmed: warmed.map((l) => l.answers) };
    } finally {
      await e.proc.stop();
    }
  };
  assert.deepEqual(await run(64), { caches: ['miss', 'hit', 'hit'], warmed: [1] });
  assert.deepEqual(await run(0), { caches: ['miss', 'hit', 'miss'], warmed: [] }, 'sharing off: the fresh instance computes it again');
});
