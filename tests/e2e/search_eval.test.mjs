// `shopai evaluate-search` on the synthetic storefront's graded labels: the reported nDCG@10 and
// recall@10 of every mode equal a reference computation from the rankings it returns, the chosen
// setting is the best hybrid, and `shopai build --search-tuned` puts it in the manifest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { shopai, tempDir } from './harness.mjs';

const csv = (path) => readFileSync(path, 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));

function ndcg(ranked, grades) {
  const gain = (g) => 2 ** g - 1;
  const dcg = ranked.slice(0, 10).reduce((s, id, r) => s + gain(grades.get(id) || 0) / Math.log2(r + 2), 0);
  const ideal = [...grades.values()].sort((a, b) => b - a).slice(0, 10);
  const idcg = ideal.reduce((s, g, r) => s + gain(g) / Math.log2(r + 2), 0);
  return idcg > 0 ? dcg / idcg : 0;
}

test('evaluate-search reports nDCG@10 and recall@10 per mode, and the chosen setting reaches the bundle', () => {
  const work = tempDir('shopai-searcheval-');
  shopai('synth', '--out', join(work, 'raw'), '--seed', '11');
  shopai('build', '--quiet', '--ratings', join(work, 'raw/ratings.csv'), '--catalog', join(work, 'raw/catalog.csv'), '--out', join(work, 'b.bin'));
  const reportPath = join(work, 'search_eval.json');
  const summary = JSON.parse(shopai('evaluate-search', '--bundle', join(work, 'b.bin'),
    '--queries', join(work, 'raw/search_queries.csv'), '--labels', join(work, 'raw/search_labels.csv'), '--out', reportPath));
  const report = JSON.parse(readFileSync(reportPath, 'utf8'));
  const labels = new Map();
  for (const [q, p, g] of csv(join(work, 'raw/search_labels.csv'))) {
    if (!labels.has(q)) labels.set(q, new Map());
    if (+g > 0) labels.get(q).set(p, +g);
  }
  assert.equal(summary.queries, csv(join(work, 'raw/search_queries.csv')).length);
  assert.equal(report.rankings.length, summary.queries);
  const check = (name, result) => {
    let n = 0, r = 0;
    for (const q of report.rankings) {
      const ranked = q.ranked[name];
      assert.ok(ranked.length <= 10);
      const grades = labels.get(q.query_id);
      n += ndcg(ranked, grades);
      r += ranked.filter((id) => grades.has(id)).length / grades.size;
    }
    assert.ok(Math.abs(n / report.rankings.length - result.ndcg_at_10) < 1e-9, `${name} nDCG`);
    assert.ok(Math.abs(r / report.rankings.length - result.recall_at_10) < 1e-9, `${name} recall`);
  };
  check('lexical', summary.lexical);
  check('vector', summary.vector);
  check('rrf', summary.rrf);
  for (const h of report.hybrid_grid) check(`hybrid@${h.lexical_weight}`, h);
  const best = Math.max(...report.hybrid_grid.map((h) => h.ndcg_at_10));
  assert.equal(summary.hybrid.ndcg_at_10, best);
  // The best of the fusions and each source alone; a single source must be strictly better.
  let expected = 'weighted', top = best;
  for (const [mode, r] of [['rrf', summary.rrf], ['weighted', summary.vector], ['lexical', summary.lexical]]) {
    if (r.ndcg_at_10 > top) { expected = mode; top = r.ndcg_at_10; }
  }
  assert.equal(summary.chosen.mode, expected);

  shopai('build', '--quiet', '--ratings', join(work, 'raw/ratings.csv'), '--catalog', join(work, 'raw/catalog.csv'),
    '--out', join(work, 'tuned.bin'), '--search-tuned', reportPath);
  const m = JSON.parse(shopai('inspect', join(work, 'tuned.bin')));
  assert.deepEqual(m.search, summary.chosen);
});
