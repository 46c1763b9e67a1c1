// Golden parity: one bundle, the same 5 search and 5 recommendation requests, answered natively,
// by the npm package under Node, by the edge component over HTTP (wasmtime serve), and in
// headless Chromium through the storefront page. All four must return identical top-10 ids.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { ROOT, PATHS, shopai, fixtureBundle, startEdge, webRoot, BROWSER_ARGS } from './harness.mjs';
import { serveStatic } from '../../scripts/serve-static.mjs';

const REQUESTS = JSON.parse(readFileSync(join(ROOT, 'tests/parity/requests.json'), 'utf8'));
const answers = {};
let fx, edge, web, browser;

/** Every category name in the synthetic catalog (third column, `|`-separated), sorted. */
const catalogCategories = () => [...new Set(readFileSync(join(fx.dir, 'catalog.csv'), 'utf8').trim().split('\n').slice(1)
  .flatMap((line) => line.split(',')[2].split('|')))].sort();

const ids = (set) => ({
  search: set.search.map((r) => r.results.map((x) => x.product_id)),
  recommend: set.recommend.map((r) => r.results.map((x) => x.product_id)),
});

before(async () => {
  fx = fixtureBundle();
});

after(async () => {
  await edge?.proc.stop();
  await browser?.close();
  await new Promise((ok) => (web ? web.close(ok) : ok()));
});

test('native CLI answers every request', () => {
  answers.native = JSON.parse(shopai('query', '--bundle', fx.bundle, 'batch', '--requests', join(ROOT, 'tests/parity/requests.json')));
  const got = ids(answers.native);
  assert.equal(got.search.length, 5);
  assert.equal(got.recommend.length, 5);
  for (const list of [...got.search, ...got.recommend]) assert.equal(list.length, 10);
  // Real behaviour, not just shape: filters hold, seen items are excluded, fallback is labelled.
  assert.ok(answers.native.search[1].results.every((r) => r.categories.includes('Kitchen')));
  assert.ok(answers.native.recommend[1].results.every((r) => !['P00003', 'P00010', 'P00020'].includes(r.product_id)));
  assert.equal(answers.native.recommend[4].source, 'popularity');
  assert.deepEqual(answers.native.recommend[4].unknown_ids, ['NOT-A-PRODUCT']);
});

test('npm package under Node matches native', async () => {
  const mod = await import(join(PATHS.pkg, 'shopai_wasm.js'));
  await mod.default({ module_or_path: readFileSync(join(PATHS.pkg, 'shopai_wasm_bg.wasm')) });
  const engine = mod.Engine.fromBytes(readFileSync(fx.bundle));
  answers.node = {
    search: REQUESTS.search.map((r) => engine.search(r)),
    recommend: REQUESTS.recommend.map((r) => engine.recommend(r)),
  };
  assert.deepEqual(ids(answers.node), ids(answers.native));
  // Core's decisions through the package: a hashing bundle embeds text itself; the category
  // list is the bundle's own.
  assert.equal(engine.needsQueryVector({ text: 'blue mug' }), false);
  assert.deepEqual([...engine.categories()].sort(), catalogCategories());
  assert.throws(() => mod.Engine.fromBytes(new Uint8Array(16)), /not a ShopAI bundle/);
  assert.throws(() => engine.search({ text: 'x', topK: 0 }), /top_k/);
});

test('edge component over HTTP matches native', async () => {
  edge = await startEdge(fx.dir);
  const post = async (path, body) => {
    const r = await fetch(edge.url + path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 200, await r.clone().text());
    return r.json();
  };
  answers.edge = { search: [], recommend: [] };
  for (const r of REQUESTS.search) answers.edge.search.push(await post('/search', r));
  for (const r of REQUESTS.recommend) answers.edge.recommend.push(await post('/recommendations', r));
  assert.deepEqual(ids(answers.edge), ids(answers.native));
  const bad = await fetch(edge.url + '/search', { method: 'POST', body: '{oops' });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.code, 'bad_json');
});

test('Chromium through the storefront page matches native', async () => {
  web = await serveStatic(webRoot(fx.bundle));
  browser = await chromium.launch({ executablePath: PATHS.chromium, args: BROWSER_ARGS });
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${web.address().port}/`);
  await page.evaluate(() => window.shopai.ready);
  answers.browser = await page.evaluate((reqs) => ({
    search: reqs.search.map((r) => window.shopai.engine.search(r)),
    recommend: reqs.recommend.map((r) => window.shopai.engine.recommend(r)),
  }), REQUESTS);
  assert.deepEqual(ids(answers.browser), ids(answers.native));
  // The category filter offers every category of the bundle, not those of popular items.
  const options = await page.$$eval('#category option', (els) => els.map((e) => e.value).filter(Boolean));
  assert.deepEqual(options, catalogCategories());

  // And as a shopper: type a query, see results, click one, see recommendations explain themselves.
  await page.fill('#q', REQUESTS.search[0].query);
  await page.click('button[type=submit]');
  await page.waitForSelector('#results li');
  const first = await page.getAttribute('#results li', 'data-product-id');
  assert.equal(first, answers.native.search[0].results[0].product_id);
  await page.click('#results li');
  await page.waitForSelector('#recs li .why');
  const recs = await page.$$eval('#recs li', (els) => els.map((e) => e.dataset.productId));
  assert.ok(recs.length > 0 && !recs.includes(first));
  assert.deepEqual(errors, []);
});

test('scores agree across runtimes', () => {
  for (const rt of ['node', 'edge', 'browser']) {
    for (const kind of ['search', 'recommend']) {
      answers[rt][kind].forEach((res, i) => res.results.forEach((r, j) => {
        const want = answers.native[kind][i].results[j].score;
        assert.ok(Math.abs(r.score - want) <= 1e-5 * Math.max(1, Math.abs(want)), `${rt} ${kind}[${i}][${j}]: ${r.score} vs ${want}`);
      }));
    }
  }
});
