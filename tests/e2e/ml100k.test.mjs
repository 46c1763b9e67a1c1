// The evaluation protocol on the real MovieLens-100k (fetched from the PyPI wheel `recbole` by
// scripts/fetch-demo-data.sh): the temporal split has exactly 70,000 / 15,000 / 15,000 rows with
// the protocol's boundary timestamps, and ShopAI's popularity row equals the peer's to 4 decimals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, PATHS, tempDir } from './harness.mjs';

test('ML-100k split and popularity baseline follow EVAL_PROTOCOL.md exactly', () => {
  const fetch = spawnSync('bash', [join(ROOT, 'scripts/fetch-demo-data.sh')], { encoding: 'utf8' });
  assert.equal(fetch.status, 0, fetch.stderr);
  const work = tempDir('shopai-ml100k-');
  const env = { ...process.env, SHOPAI_DATA_DIR: join(work, 'data') };
  const run = (...args) => {
    const r = spawnSync(PATHS.shopai, args, { encoding: 'utf8', env, cwd: work });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  const ing = run('ingest', '--quiet', '--ratings', join(ROOT, 'data/ml-100k/ml-100k.inter'), '--catalog', join(ROOT, 'data/ml-100k/ml-100k.item'));
  assert.equal(ing.kept, 100000);
  assert.equal(ing.users, 943);
  assert.equal(ing.items, 1682);
  const s = run('split');
  assert.deepEqual(s.rows, { train: 70000, val: 15000, test: 15000 });
  assert.deepEqual(s.time_bounds, { train: [874724710, 887039271], val: [887039271, 891036414], test: [891036423, 893286638] });
  const peer = { // ../shared/anchors RESULTS.md, popularity rows (P, R, NDCG, coverage @10) and user counts
    'test/all/global': [0.1319, 0.0577, 0.1443, 0.0488, 91], 'test/pos/global': [0.1156, 0.0734, 0.1322, 0.0476, 77],
    'val/all/global': [0.1159, 0.0633, 0.1313, 0.0416, 113], 'val/pos/global': [0.0838, 0.0710, 0.1102, 0.0416, 105],
  };
  for (const [key, [p, r, n, c, users]] of Object.entries(peer)) {
    const got = s.popularity_baseline[key];
    const m = got.at['10'];
    assert.equal(got.users, users, key);
    assert.deepEqual([m.precision, m.recall, m.ndcg, m.coverage].map((x) => x.toFixed(4)), [p, r, n, c].map((x) => x.toFixed(4)), key);
  }
  const split = JSON.parse(readFileSync(join(s.dir, 'split.json'), 'utf8'));
  assert.equal(split.rows.train, 70000);
});

test('tuned ALS on ML-100k stays at the peers\' level (test NDCG@10 ≥ 0.173; "pos" above every peer row)', () => {
  const work = tempDir('shopai-ml100k-eval-');
  const env = { ...process.env, SHOPAI_DATA_DIR: join(work, 'data'), SHOPAI_OUT_DIR: join(work, 'out') };
  const run = (...args) => {
    const r = spawnSync(PATHS.shopai, args, { encoding: 'utf8', env, cwd: work });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  };
  run('ingest', '--quiet', '--ratings', join(ROOT, 'data/ml-100k/ml-100k.inter'), '--catalog', join(ROOT, 'data/ml-100k/ml-100k.item'));
  const tuned = run('tune', '--quiet', '--factors', '16,32', '--regularization', '0.05,0.5', '--alpha', '1', '--ease-lambda', '300', '--half-life-days', '0,30');
  assert.equal(tuned.factors, 16, 'the optimum implicit\'s wider grid also finds');
  run('evaluate', '--quiet');
  const report = JSON.parse(readFileSync(join(work, 'out/eval.json'), 'utf8'));
  const at10 = (model, split, rel) => report.rows.find((r) => r.model === model && r.split === split && r.relevance === rel).report.at['10'];
  assert.ok(at10('als-only', 'test', 'all').ndcg >= 0.173, JSON.stringify(at10('als-only', 'test', 'all')));
  assert.ok(at10('als-only', 'test', 'pos').ndcg > 0.1619, 'above EASE, the best peer row on "pos"');
  assert.equal(at10('popularity', 'test', 'all').ndcg.toFixed(4), '0.1443');
  assert.ok(at10('fusion', 'test', 'all').ndcg >= at10('als-only', 'test', 'all').ndcg - 0.01, 'the guarded fusion does not lose ALS quality');
  for (const split of ['test-segment-1', 'test-segment-2', 'test-segment-3']) assert.ok(at10('fusion', split, 'all'));
  assert.ok(report.index_recall_at_10 > 0.9 && report.index_recall_at_10 <= 1, `index recall ${report.index_recall_at_10}`);
});
