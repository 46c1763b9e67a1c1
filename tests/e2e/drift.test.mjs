// `shopai drift`: a bundle built (with `shopai run`) from the first 80% of a synthetic storefront's
// interactions carries reference sketches and its test NDCG@10. The remaining 20% — the same
// shoppers carrying on — must not be flagged; the same rows pushed into one category's tail with
// low ratings and a wave of new shoppers must be, with a non-zero exit. The report renders in
// headless Chromium.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync, readFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { PATHS, shopai, tempDir, BROWSER_ARGS } from './harness.mjs';

const SCREENSHOTS = process.env.SHOPAI_SCREENSHOTS || tempDir('shopai-shots-');
let work, bundle;

function drift(name, file) {
  const out = join(work, name);
  const r = spawnSync(PATHS.shopai, ['--config', join(work, 'shopai.toml'), 'drift', '--bundle', bundle, '--interactions', file, '--out', out], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr, report: JSON.parse(readFileSync(join(out, 'drift.json'), 'utf8')), html: join(out, 'drift.html') };
}

before(() => {
  work = tempDir('shopai-drift-');
  shopai('synth', '--out', join(work, 'raw'), '--seed', '3', '--items', '300', '--users', '400', '--per-user', '16');
  const [header, ...rows] = readFileSync(join(work, 'raw/ratings.csv'), 'utf8').trim().split('\n');
  const cut = Math.floor(rows.length * 0.8); // rows are in time order
  writeFileSync(join(work, 'base.csv'), [header, ...rows.slice(0, cut)].join('\n') + '\n');
  const fresh = rows.slice(cut);
  writeFileSync(join(work, 'fresh.csv'), [header, ...fresh].join('\n') + '\n');
  // The shift: every fresh interaction moves to the least popular half of one category, rated 1,
  // and two in five come from shoppers the bundle has never seen.
  const catalog = readFileSync(join(work, 'raw/catalog.csv'), 'utf8').trim().split('\n').slice(1);
  const garden = catalog.filter((l) => l.split(',')[2].startsWith('Garden')).map((l) => l.split(',')[0]);
  const tail = garden.slice(Math.floor(garden.length / 2));
  let seed = 12345;
  const rand = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  const shifted = fresh.map((l, k) => {
    const [user, , , ts] = l.split(',');
    const who = k % 5 < 2 ? `NEW${String(rand(150)).padStart(4, '0')}` : user;
    return [who, tail[rand(tail.length)], 1, ts].join(',');
  });
  writeFileSync(join(work, 'shifted.csv'), [header, ...shifted].join('\n') + '\n');
  writeFileSync(join(work, 'shopai.toml'), `[paths]\ndata_dir = "${join(work, 'data')}"\nout_dir = "${join(work, 'out')}"\n`);
  bundle = join(work, 'bundle.bin');
  const r = spawnSync(PATHS.shopai, ['--config', join(work, 'shopai.toml'), 'run', '--quiet', '--quick-tune', '--ratings', join(work, 'base.csv'),
    '--catalog', join(work, 'raw/catalog.csv'), '--out', bundle], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

test('the bundle carries reference sketches and its recorded NDCG@10', () => {
  const m = JSON.parse(shopai('inspect', bundle));
  for (const k of ['item_popularity', 'categories', 'ratings', 'per_user', 'answer_scores']) assert.ok(m.reference[k], k);
  assert.equal(m.reference.interactions, m.counts.interactions);
  assert.ok(m.eval.metrics.fusion.ndcg > 0);
});

test('the same shoppers carrying on are not flagged', () => {
  const d = drift('unshifted', join(work, 'fresh.csv'));
  assert.equal(d.status, 0, d.stderr + JSON.stringify(d.report.signals.map((s) => [s.name, s.psi])));
  assert.deepEqual(d.report.drifted, []);
  assert.ok(d.report.signals.length >= 5);
  assert.ok(d.report.signals.every((s) => s.verdict === 'stable'), JSON.stringify(d.report.signals.map((s) => [s.name, s.psi, s.verdict])));
  assert.equal(d.report.ndcg.verdict, 'stable', JSON.stringify(d.report.ndcg));
});

test('a shifted stream is flagged, with a non-zero exit naming the signals', async () => {
  const d = drift('shifted', join(work, 'shifted.csv'));
  assert.notEqual(d.status, 0);
  assert.match(d.stderr, /drift: /);
  for (const name of ['item popularity', 'category mix', 'ratings']) assert.ok(d.report.drifted.includes(name), JSON.stringify(d.report.drifted));
  assert.ok(d.report.drifted.includes('NDCG@10'), JSON.stringify(d.report.ndcg));
  assert.ok(d.report.ndcg.live < d.report.ndcg.recorded);
  // The report renders: one chart per signal, the alert banner names them.
  const browser = await chromium.launch({ executablePath: PATHS.chromium, args: BROWSER_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.goto('file://' + d.html);
    const charts = await page.$$eval('figure svg', (svgs) => svgs.map((s) => s.getBoundingClientRect().width));
    assert.equal(charts.length, d.report.signals.length);
    assert.ok(charts.every((w) => w > 300));
    assert.match(await page.$eval('.alert', (e) => e.textContent), /category mix/);
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, 'drift.png'), fullPage: true });
    copyFileSync(d.html, join(SCREENSHOTS, 'drift.html'));
  } finally {
    await browser.close();
  }
});
