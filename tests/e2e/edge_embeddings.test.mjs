// The edge with a bundle embedded by a real model (all-MiniLM-L6-v2 served by
// `shopai serve-embeddings`): text queries are embedded through the OpenAI-compatible endpoint
// (outbound HTTP from the wasm component under wasmtime serve), browsers get query vectors from
// the edge's /v1/embeddings without a key, and when the endpoint goes away search degrades to
// lexical and says so.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { PATHS, shopai, tempDir, freePort, startProcess, waitFor, startEdge, webRoot, BROWSER_ARGS } from './harness.mjs';
import { serveStatic } from '../../scripts/serve-static.mjs';

let work, embedder, edge, embedUrl;

before(async () => {
  work = tempDir('shopai-edge-embed-');
  const port = await freePort();
  embedUrl = `http://127.0.0.1:${port}/v1`;
  embedder = startProcess(PATHS.shopai, ['serve-embeddings', '--model-dir', process.env.SHOPAI_MODEL_DIR, '--addr', `127.0.0.1:${port}`]);
  await waitFor(`http://127.0.0.1:${port}/health`, embedder, 120000);
  shopai('synth', '--out', join(work, 'raw'), '--seed', '11');
  writeFileSync(join(work, 'shopai.toml'), `[openai]\nbase_url = "${embedUrl}"\n[embeddings]\nprovider = "openai"\nmodel = "all-MiniLM-L6-v2"\ndimensions = 0\nusd_per_million_tokens = 0.0\n[paths]\ndata_dir = "${join(work, 'data')}"\n`);
  const r = spawnSync(PATHS.shopai, ['--config', join(work, 'shopai.toml'), 'build', '--quiet', '--ratings', join(work, 'raw/ratings.csv'), '--catalog', join(work, 'raw/catalog.csv'), '--out', join(work, 'bundle.bin')], { encoding: 'utf8', cwd: work });
  assert.equal(r.status, 0, r.stderr);
  // A generous embedding budget (default 300 ms): the suite may share a busy machine.
  edge = await startEdge(work, 'bundle.bin', [`SHOPAI_EMBEDDINGS_URL=${embedUrl}`, 'SHOPAI_EMBED_TIMEOUT_MS=5000']);
});

after(async () => {
  await edge?.proc.stop();
  await embedder?.stop();
});

const search = async (query) => {
  const r = await fetch(`${edge.url}/search`, { method: 'POST', body: JSON.stringify({ query, top_k: 5 }) });
  assert.equal(r.status, 200, await r.clone().text());
  return r.json();
};

test('text queries are embedded through the endpoint and answered semantically', async () => {
  const res = await search('something to cook pasta in');
  assert.equal(res.degraded, undefined, JSON.stringify(res));
  assert.ok(res.results.every((r) => r.parts.vector !== 0));
  assert.ok(res.results.slice(0, 3).some((r) => r.categories.includes('Kitchen')), JSON.stringify(res.results.map((r) => r.title)));
});

test('browsers get query vectors from the edge without a key', async () => {
  const r = await fetch(`${edge.url}/v1/embeddings`, { method: 'POST', body: JSON.stringify({ model: 'all-MiniLM-L6-v2', input: ['hiking boots'] }) });
  assert.equal(r.status, 200);
  const body = await r.json();
  assert.equal(body.data[0].embedding.length, 384);
});

test('the storefront page gets query vectors from the edge and searches semantically in the browser', async () => {
  const web = await serveStatic(webRoot(join(work, 'bundle.bin')));
  const browser = await chromium.launch({ executablePath: PATHS.chromium, args: BROWSER_ARGS });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const open = async (q) => {
      await page.goto(`http://127.0.0.1:${web.address().port}/${q}`);
      await page.evaluate(() => window.shopai.ready);
      await page.fill('#q', 'something to cook pasta in');
      await page.click('button[type=submit]');
      await page.waitForSelector('#status[data-mode]');
      return { mode: await page.getAttribute('#status', 'data-mode'), status: await page.textContent('#status') };
    };
    const semantic = await open(`?embeddings=${encodeURIComponent(`${edge.url}/v1/embeddings`)}`);
    assert.equal(semantic.mode, 'semantic', semantic.status);
    // The page asks the engine (core's plan_query) rather than naming models itself.
    const needs = await page.evaluate(() => [
      window.shopai.engine.needsQueryVector({ text: 'pasta pot' }),
      window.shopai.engine.needsQueryVector({ text: 'pasta pot', vector: new Array(384).fill(0.05) }),
    ]);
    assert.deepEqual(needs, [true, false]);
    const ids = await page.$$eval('#results li', (els) => els.map((e) => e.dataset.productId));
    // The same answer the edge gives for the same text (same model, same bundle, same core).
    const res = await search('something to cook pasta in');
    assert.deepEqual(ids.slice(0, 5), res.results.map((r) => r.product_id));
    const lexical = await open('');
    assert.equal(lexical.mode, 'lexical', lexical.status);
    assert.match(lexical.status, /no embeddings endpoint configured/);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await new Promise((r) => web.close(r));
  }
});

test('when the embedding endpoint is down, search degrades to lexical and says so', async () => {
  await embedder.stop();
  const res = await search('waterproof hiking boot');
  assert.match(res.degraded, /lexical only: query embedding failed/);
  assert.ok(res.results.length > 0 && res.results.every((r) => r.parts.lexical > 0));
  const r = await fetch(`${edge.url}/v1/embeddings`, { method: 'POST', body: JSON.stringify({ input: 'x' }) });
  assert.equal(r.status, 502);
  assert.equal((await r.json()).error.code, 'embeddings_unavailable');
});
