// The edge protecting the paid embeddings endpoint (fake_openai.py injecting faults), under
// `wasmtime serve`, with a bundle embedded through that endpoint: the query-embedding cache, one
// retry within the budget, the time budget against a hanging endpoint, the circuit breaker that
// then skips the endpoint (lexical answers without calling it), the per-instance rate limit, and
// /v1/embeddings never answering 200 with a body it could not check. Each decision shows in the
// response's `degraded` and in the log line.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, PATHS, shopai, tempDir, freePort, startProcess, waitFor, startEdge, jsonLines, logged } from './harness.mjs';

const PYTHON = process.env.SHOPAI_PYTHON || 'python3';
let work;
const running = [];

async function fakeOpenAI(faults = '') {
  const port = await freePort();
  const proc = startProcess(PYTHON, [join(ROOT, 'tests/e2e/fake_openai.py'), String(port), faults]);
  running.push(proc);
  const base = `http://127.0.0.1:${port}`;
  await waitFor(`${base}/stats`, proc);
  return { url: `${base}/v1`, proc, stats: async () => (await fetch(`${base}/stats`)).json() };
}

async function edgeWith(fake, env = [], serveFlags = []) {
  // A generous budget unless a test sets one: the machine running the suite may be busy.
  const budget = env.some((v) => v.startsWith('SHOPAI_EMBED_TIMEOUT_MS=')) ? [] : ['SHOPAI_EMBED_TIMEOUT_MS=3000'];
  const e = await startEdge(work, 'bundle.bin', [`SHOPAI_EMBEDDINGS_URL=${fake.url}`, ...budget, ...env], serveFlags);
  running.push(e.proc);
  return e;
}

before(async () => {
  work = tempDir('shopai-upstream-');
  const fake = await fakeOpenAI();
  shopai('synth', '--out', join(work, 'raw'), '--seed', '5');
  writeFileSync(join(work, 'shopai.toml'), `[openai]\nbase_url = "${fake.url}"\n[embeddings]\nprovider = "openai"\nmodel = "fake-embed"\ndimensions = 16\nusd_per_million_tokens = 0.0\n[paths]\ndata_dir = "${join(work, 'data')}"\n`);
  const r = spawnSync(PATHS.shopai, ['--config', join(work, 'shopai.toml'), 'build', '--quiet', '--ratings', join(work, 'raw/ratings.csv'), '--catalog', join(work, 'raw/catalog.csv'), '--out', join(work, 'bundle.bin')], { encoding: 'utf8', cwd: work });
  assert.equal(r.status, 0, r.stderr);
  await fake.proc.stop();
});

after(async () => {
  for (const p of running) await p.stop();
});

const search = async (e, query) => {
  const r = await fetch(`${e.url}/search`, { method: 'POST', body: JSON.stringify({ query, top_k: 5 }) });
  assert.equal(r.status, 200, await r.clone().text());
  return r.json();
};

function lines(e) {
  return jsonLines(e.proc).filter((l) => l.route === '/search');
}

async function lastLines(e, n) {
  const deadline = Date.now() + 10000;
  while (lines(e).length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return lines(e);
}

test('query embeddings are cached per instance; the answer is semantic and says so in the log', async () => {
  const fake = await fakeOpenAI();
  const e = await edgeWith(fake, ['SHOPAI_ANSWER_CACHE_ENTRIES=0']);
  const a = await logged(e.proc, () => search(e, 'red kettle'));
  const b = await search(e, ' red   kettle');
  assert.equal(a.degraded, undefined);
  assert.ok(a.results.some((r) => r.parts.vector !== 0));
  assert.deepEqual(b.results, a.results);
  assert.equal((await fake.stats()).requests, 1, 'the second query came from the embedding cache');
  const l = await lastLines(e, 2);
  assert.deepEqual(l.map((x) => [x.embed_cache, x.answer_cache]), [['miss', null], ['hit', null]]);
  assert.equal(typeof l[0].embed_ms, 'number');
  assert.equal(l[1].embed_ms, null);
});

test('a failed call is retried once within the budget', async () => {
  const fake = await fakeOpenAI('500');
  const e = await edgeWith(fake);
  const a = await search(e, 'desk lamp');
  assert.equal(a.degraded, undefined, 'the retry succeeded');
  assert.equal((await fake.stats()).requests, 2);
  const fake2 = await fakeOpenAI('500,500*');
  const e2 = await edgeWith(fake2);
  const b = await search(e2, 'desk lamp');
  assert.match(b.degraded, /HTTP 500 \(after one retry\)/);
  assert.equal((await fake2.stats()).requests, 2, 'one retry only');
});

test('a hanging endpoint costs the budget, then the breaker answers lexically without calling it', async () => {
  const fake = await fakeOpenAI('timeout*');
  const e = await edgeWith(fake, ['SHOPAI_EMBED_TIMEOUT_MS=200', 'SHOPAI_BREAKER_FAILURES=3', 'SHOPAI_BREAKER_COOLDOWN_MS=600000']);
  const answers = [];
  for (const q of ['leather boot', 'stock pot', 'watering can', 'denim jacket', 'face cream']) answers.push(await search(e, q));
  for (const a of answers) assert.ok(a.results.length > 0 && a.results.every((r) => r.parts.lexical > 0), `lexical results: ${JSON.stringify(a).slice(0, 600)}`);
  for (const a of answers.slice(0, 3)) assert.match(a.degraded, /^lexical only: query embedding failed: timed out after 200 ms/);
  for (const a of answers.slice(3)) assert.match(a.degraded, /circuit breaker open after 3 failed calls/);
  assert.equal((await fake.stats()).requests, 3, 'no call while the breaker is open, no retry after a timeout');
  const l = await lastLines(e, 5);
  assert.deepEqual(l.map((x) => x.degraded), answers.map((a) => a.degraded), 'the log line says the same');
  assert.equal(l.at(-1).answer_cache, 'miss', 'degraded answers are not cached');
});

test('an open breaker is shared: fresh instances skip the hanging endpoint too', async () => {
  // One request per instance, so every search after the first meets a fresh instance whatever
  // the host's timing (with more requests per instance, `wasmtime serve` still starts a new one
  // whenever the busy one is not ready at that instant, which spread the failures over instances
  // on a loaded machine). The first search's timeout opens its instance's breaker (one failure
  // is enough here); every later instance must find it open in the shared cache.
  const shared = join(work, 'shared');
  mkdirSync(shared, { recursive: true });
  const fake = await fakeOpenAI('timeout*');
  const e = await edgeWith(fake, ['SHOPAI_EMBED_TIMEOUT_MS=200', 'SHOPAI_BREAKER_FAILURES=1', 'SHOPAI_BREAKER_COOLDOWN_MS=600000',
    'SHOPAI_BUNDLE_CACHE_DIR=/data/shared'], ['--max-instance-reuse-count', '1']);
  const answers = [];
  for (const q of ['leather boot', 'stock pot', 'watering can', 'denim jacket', 'face cream']) answers.push(await search(e, q));
  assert.match(answers[0].degraded, /timed out after 200 ms/);
  for (const a of answers.slice(1)) assert.match(a.degraded, /circuit breaker open/, 'later instances adopted the open breaker');
  assert.equal((await fake.stats()).requests, 1, 'only the first instance paid the budget');
  assert.ok(Number(readFileSync(join(shared, 'breaker-open-until'), 'utf8')) > Date.now(), 'the shared cool-down lies ahead');
});

test('the per-instance rate limit answers lexically instead of calling', async () => {
  const fake = await fakeOpenAI();
  const e = await edgeWith(fake, ['SHOPAI_EMBED_RPS=0.01']);
  assert.equal((await search(e, 'cotton towel')).degraded, undefined);
  assert.match((await search(e, 'linen towel')).degraded, /rate limit reached/);
  assert.equal((await fake.stats()).requests, 1);
  const r = await fetch(`${e.url}/v1/embeddings`, { method: 'POST', body: JSON.stringify({ input: 'bath towel' }) });
  assert.equal(r.status, 429);
  assert.equal((await r.json()).error.code, 'rate_limited');
});

test('/v1/embeddings passes a checked answer through and turns a malformed one into a 502', async () => {
  const fake = await fakeOpenAI('malformed,malformed,short');
  const e = await edgeWith(fake);
  const post = (input) => fetch(`${e.url}/v1/embeddings`, { method: 'POST', body: JSON.stringify({ input, model: 'something-else' }) });
  let r = await post('x');
  assert.equal(r.status, 502);
  assert.match((await r.json()).error.message, /malformed embeddings response/);
  r = await post(['a', 'b']);
  assert.equal(r.status, 200, 'short answer retried once, then ok');
  const body = await r.json();
  assert.equal(body.model, 'fake-embed', "the bundle's model, whatever the caller asked for");
  assert.deepEqual(body.data.map((d) => [d.index, d.embedding.length]), [[0, 16], [1, 16]]);
});
