// The OpenAI embeddings client against a local OpenAI-compatible server that injects 429s, 500s,
// timeouts and malformed bodies: the run completes through retries, the cost cap stops a run,
// and a restarted run re-uses the cache (the server's request counter proves it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
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

test('products without title and description get a generated text (cached), or the template without a model', async () => {
  const srv = await fakeServer('');
  const raw = join(work, 'raw-missing');
  shopai('synth', '--out', raw, '--seed', '5');
  const blank = new Set(['P00003', 'P00010', 'P00020']);
  const lines = readFileSync(join(raw, 'catalog.csv'), 'utf8').split('\n');
  const edited = lines.map((l) => (blank.has(l.split(',')[0]) ? `${l.split(',')[0]},,Kitchen,` : l));
  writeFileSync(join(raw, 'catalog.csv'), edited.join('\n'));
  const data = join(work, 'data-missing');
  const env = { SHOPAI_DATA_DIR: data };
  const ing = spawnSync(PATHS.shopai, ['ingest', '--quiet', '--ratings', join(raw, 'ratings.csv'), '--catalog', join(raw, 'catalog.csv')],
    { encoding: 'utf8', env: { ...process.env, ...env }, cwd: work });
  assert.equal(ing.status, 0, ing.stderr);
  const texts = (out) => readFileSync(join(out, 'product_texts.csv'), 'utf8').trim().split('\n').slice(1)
    .map((l) => l.split(',')).map(([id, source]) => `${id}:${source}`).sort();

  // With a chat model: the three products get generated text; a second run is served from the cache.
  const withModel = config(srv.url, join(work, 'cache-d'), 'describe_model = "fake-chat"');
  const outA = join(work, 'out-a');
  const r1 = run(['embed'], withModel, { ...env, SHOPAI_OUT_DIR: outA });
  assert.equal(r1.status, 0, r1.stderr);
  assert.deepEqual(texts(outA), ['P00003:generated', 'P00010:generated', 'P00020:generated']);
  assert.match(readFileSync(join(outA, 'product_texts.csv'), 'utf8'), /Summary: Product P00003 in Kitchen/);
  assert.equal((await srv.stats()).chat, 3);
  const r2 = run(['embed'], withModel, { ...env, SHOPAI_OUT_DIR: outA });
  assert.equal(r2.status, 0, r2.stderr);
  assert.equal((await srv.stats()).chat, 3, 'the second run sends no chat request');

  // Without one: the template, from the fields present.
  const outB = join(work, 'out-b');
  const r3 = run(['embed'], config(srv.url, join(work, 'cache-d')), { ...env, SHOPAI_OUT_DIR: outB });
  assert.equal(r3.status, 0, r3.stderr);
  assert.deepEqual(texts(outB), ['P00003:template', 'P00010:template', 'P00020:template']);
  assert.match(readFileSync(join(outB, 'product_texts.csv'), 'utf8'), /P00010,template,Product P00010 in Kitchen/);
});
