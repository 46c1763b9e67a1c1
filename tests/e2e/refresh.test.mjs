// `shopai refresh` against fake_openai.py, which counts the texts it embeds: the first run embeds
// the whole synthetic catalog; after new products and interactions are added, only the new
// products reach the endpoint; a run with nothing new does nothing and says so; a changed
// description is embedded again, and nothing else.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync, readFileSync, appendFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, PATHS, shopai, tempDir, freePort, startProcess, waitFor } from './harness.mjs';

const PY = process.env.SHOPAI_PYTHON || 'python3';
let work, fake, statsUrl;

before(async () => {
  work = tempDir('shopai-refresh-');
  const port = await freePort();
  statsUrl = `http://127.0.0.1:${port}/stats`;
  fake = startProcess(PY, [join(ROOT, 'tests/e2e/fake_openai.py'), String(port)]);
  await waitFor(statsUrl, fake);
  shopai('synth', '--out', join(work, 'raw'), '--seed', '9', '--items', '200', '--users', '150');
  writeFileSync(join(work, 'shopai.toml'), `[openai]\nbase_url = "http://127.0.0.1:${port}/v1"\n[embeddings]\nprovider = "openai"\nmodel = "text-embedding-3-small"\ndimensions = 32\nusd_per_million_tokens = 0.0\n[paths]\ndata_dir = "${join(work, 'data')}"\nout_dir = "${join(work, 'out')}"\n`);
});

after(async () => { await fake?.stop(); });

const embeddedSoFar = async () => (await (await fetch(statsUrl)).json()).inputs;

function refresh() {
  const r = spawnSync(PATHS.shopai, ['--config', join(work, 'shopai.toml'), 'refresh', '--quiet', '--ratings', join(work, 'raw/ratings.csv'),
    '--catalog', join(work, 'raw/catalog.csv'), '--out', join(work, 'out/bundle.bin')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test('the first refresh embeds the whole catalog and writes a bundle', async () => {
  const s = refresh();
  assert.equal(s.status, 'built');
  assert.equal(await embeddedSoFar(), 200);
  assert.deepEqual(s.products, { new: 200, changed_text: 0, removed: 0, unchanged: 0 });
  assert.equal(s.embeddings.embedded, 200);
  const m = JSON.parse(shopai('inspect', join(work, 'out/bundle.bin')));
  assert.equal(m.counts.items, 200);
  assert.ok(m.reference && m.eval.metrics.fusion);
});

test('new products and interactions: only the new products are embedded', async () => {
  const before = await embeddedSoFar();
  const newIds = Array.from({ length: 15 }, (_, k) => `P${String(900 + k).padStart(5, '0')}`);
  appendFileSync(join(work, 'raw/catalog.csv'), newIds.map((id, k) => `${id},Solar Lantern ${k},Garden,"A solar garden lantern, model ${k}."`).join('\n') + '\n');
  const last = Number(readFileSync(join(work, 'raw/ratings.csv'), 'utf8').trim().split('\n').at(-1).split(',')[3]);
  const rows = [];
  for (let k = 0; k < 60; k++) rows.push(`U${String(k % 40).padStart(4, '0')},${newIds[k % 15]},${1 + (k % 5)},${last + 60 * (k + 1)}`);
  appendFileSync(join(work, 'raw/ratings.csv'), rows.join('\n') + '\n');
  const s = refresh();
  assert.equal(s.status, 'built');
  assert.equal(await embeddedSoFar() - before, 15, 'exactly the new products reach the endpoint');
  assert.deepEqual(s.products, { new: 15, changed_text: 0, removed: 0, unchanged: 200 });
  assert.equal(s.embeddings.embedded, 15);
  assert.equal(s.embeddings.stats.cache_hits, 200);
  assert.equal(s.interactions.now - s.interactions.before, 60);
  assert.notEqual(s.data_version.now, s.data_version.before);
  assert.equal(JSON.parse(shopai('inspect', join(work, 'out/bundle.bin'))).counts.items, 215);
});

test('a second run with nothing new does nothing and says so', async () => {
  const before = await embeddedSoFar();
  const mtime = statSync(join(work, 'out/bundle.bin')).mtimeMs;
  const s = refresh();
  assert.equal(s.status, 'unchanged');
  assert.match(s.message, /nothing new/);
  assert.equal(await embeddedSoFar(), before);
  assert.equal(statSync(join(work, 'out/bundle.bin')).mtimeMs, mtime);
});

test('a changed description is embedded again, and nothing else', async () => {
  const before = await embeddedSoFar();
  const path = join(work, 'raw/catalog.csv');
  const text = readFileSync(path, 'utf8').replace(/^P00007,([^,]*),([^,]*),"[^"]*"/m, 'P00007,$1,$2,"Now with a lifetime warranty."');
  writeFileSync(path, text);
  const s = refresh();
  assert.equal(await embeddedSoFar() - before, 1);
  assert.deepEqual(s.products, { new: 0, changed_text: 1, removed: 0, unchanged: 214 });
});
