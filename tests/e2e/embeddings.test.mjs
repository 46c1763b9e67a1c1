// The OpenAI embeddings client against a local OpenAI-compatible server that injects 429s, 500s,
// timeouts and malformed bodies: the run completes through retries, the cost cap stops a run,
// and a restarted run re-uses the cache (the server's request counter proves it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, PATHS, shopai, tempDir, freePort, startProcess, waitFor } from './harness.mjs';

const PY = process.env.SHOPAI_PYTHON || 'python3';
let work, servers = [];

async function fakeServer(faults) {
  const port = await freePort();
  const proc = startProcess(PY, [join(ROOT, 'tests/e2e/fake_openai.py'), String(port), faults]);
  servers.push(proc);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/stats`, proc);
  return { url, stats: async () => (await fetch(`${url}/stats`)).json() };
}

function run(args, config, extraEnv = {}) {
  const cfg = join(work, `shopai-${Math.random().toString(36).slice(2)}.toml`);
  writeFileSync(cfg, config);
  const env = { ...process.env, SHOPAI_DATA_DIR: join(work, 'data'), OPENAI_API_KEY: 'sk-test-never-logged', ...extraEnv };
  return spawnSync(PATHS.shopai, ['--config', cfg, ...args], { encoding: 'utf8', env, cwd: work });
}

const config = (url, cache, extra = '') => `[openai]
base_url = "${url}/v1"
[embeddings]
provider = "openai"
model = "fake-embed"
dimensions = 16
batch_size = 40
backoff_ms = 10
timeout_s = 1.0
cache_dir = "${cache}"
${extra}
`;

before(() => {
  work = tempDir('shopai-embed-');
  shopai('synth', '--out', join(work, 'raw'), '--seed', '5');
  const r = spawnSync(PATHS.shopai, ['ingest', '--quiet', '--ratings', join(work, 'raw/ratings.csv'), '--catalog', join(work, 'raw/catalog.csv')],
    { encoding: 'utf8', env: { ...process.env, SHOPAI_DATA_DIR: join(work, 'data') }, cwd: work });
  assert.equal(r.status, 0, r.stderr);
});

after(async () => {
  for (const s of servers) await s.stop();
});

test('retries through 429, 500, timeout and malformed bodies, then completes', async () => {
  const srv = await fakeServer('429,500,timeout,malformed,short,ok,500');
  const r = run(['embed', '--json'], config(srv.url, join(work, 'cache-a')));
  assert.equal(r.status, 0, r.stderr);
  assert.ok(!r.stderr.includes('sk-test-never-logged') && !r.stdout.includes('sk-test-never-logged'));
  const out = JSON.parse(r.stdout);
  assert.equal(out.dimensions, 16);
  assert.equal(out.stats.texts, 400);
  assert.equal(out.stats.cache_hits, 0);
  assert.deepEqual(out.stats.failures, { http_429: 1, http_500: 2, timeout: 1, malformed_body: 2 });
  assert.equal(out.stats.retries, 6);
  assert.equal(out.stats.requests, (await srv.stats()).requests, 'the client counts what the server saw');
  assert.equal((await srv.stats()).inputs, 400, 'every text was embedded exactly once');
});

test('the cost cap stops a run, and a restarted run resumes from the cache', async () => {
  const srv = await fakeServer('');
  const cache = join(work, 'cache-b');
  // 40 texts a batch at ≈20 tokens each ≈ 800 tokens ≈ $0.08 at $100/M: a $0.3 cap allows 3 batches.
  const capped = config(srv.url, cache, 'usd_per_million_tokens = 100.0\ncost_cap_usd = 0.3');
  const first = run(['embed'], capped);
  assert.notEqual(first.status, 0);
  assert.match(first.stderr, /cost cap reached/);
  const sent = (await srv.stats()).inputs;
  assert.ok(sent > 0 && sent < 400, `partial progress: ${sent}`);

  const second = run(['embed'], config(srv.url, cache, 'usd_per_million_tokens = 100.0\ncost_cap_usd = 100.0'));
  assert.equal(second.status, 0, second.stderr);
  const out = JSON.parse(second.stdout);
  assert.equal(out.stats.cache_hits, sent, 'what the first run paid for is not paid again');
  assert.equal((await srv.stats()).inputs, 400, 'the server embedded each text once across both runs');

  const third = run(['embed'], config(srv.url, cache));
  assert.equal(JSON.parse(third.stdout).stats.requests, 0, 'a complete cache sends nothing');
});

test('a bundle built with the endpoint records its model; without it, text search degrades to lexical and says so', async () => {
  const srv = await fakeServer('');
  const r = run(['build', '--quiet', '--out', join(work, 'b.bin')], config(srv.url, join(work, 'cache-c')));
  assert.equal(r.status, 0, r.stderr);
  const m = JSON.parse(shopai('inspect', join(work, 'b.bin')));
  assert.equal(m.embedding.model, 'fake-embed');
  assert.equal(m.embedding.dimensions, 16);
  const q = JSON.parse(shopai('query', '--bundle', join(work, 'b.bin'), 'search', '--text', 'espresso maker'));
  assert.match(q.degraded, /lexical only: embedding model mismatch: bundle was built with fake-embed/);
  assert.ok(q.results.length > 0 && q.results.every((r) => r.parts.lexical > 0 && r.parts.vector === 0));
  assert.ok(q.results[0].title.toLowerCase().includes('espresso'));
});
