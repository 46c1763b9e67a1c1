// The protocol on a log with repeated (user, item) rows (EVAL_PROTOCOL.md, "Logs with repeated
// (user, item) rows"): every input row is split, duplicates collapse afterwards. A generated log
// with re-purchases and timestamp ties is scored by ShopAI (`split` and `evaluate`, under two
// ingest duplicate policies) and by an independent Python re-implementation of the peers'
// protocol.py; popularity must agree to 4 decimals, with the same evaluated users — under the
// temporal split and under leave-last-out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PATHS, tempDir } from './harness.mjs';

// The peers' protocol (../shared/anchors/protocol.py) re-written without numpy: rows numbered in
// file order, stable sort on timestamp, cut ⌊0.70n⌋ / ⌊0.85n⌋, binary matrix (a pair counts once),
// popularity = distinct users per item in H, ranking by count then integer item id.
const REFERENCE = String.raw`
import json, math, sys
rows = []
with open(sys.argv[1]) as f:
    next(f)
    for line in f:
        u, i, r, t = line.rstrip("\n").split("\t")
        rows.append((int(u), int(i), float(r), float(t)))
items = sorted(int(l.split("\t")[0]) for l in open(sys.argv[2]).read().splitlines()[1:])
def temporal(rows):
    order = sorted(range(len(rows)), key=lambda k: (rows[k][3], k))
    s = [rows[k] for k in order]
    n = len(s); a = math.floor(0.70 * n); b = math.floor(0.85 * n)
    return s[:a], s[a:b], s[b:]
def leave_last_out(rows):  # per user in (time, file) order: last → test, the one before → val
    by = {}
    for k, r in enumerate(rows):
        by.setdefault(r[0], []).append(k)
    train, val, test = [], [], []
    for ks in by.values():
        ks.sort(key=lambda k: (rows[k][3], k))
        if len(ks) >= 3:
            train += ks[:-2]; val.append(ks[-2]); test.append(ks[-1])
        elif len(ks) == 2:
            train.append(ks[0]); test.append(ks[1])
        else:
            train += ks
    return [rows[k] for k in train], [rows[k] for k in val], [rows[k] for k in test]
def run(rows, split=temporal):
    train, val, test = split(rows)
    out = {}
    for name, H, E in (("val", train, val), ("test", train + val, test)):
        pairs = {(u, i) for u, i, _, _ in H}
        users_h = {u for u, _ in pairs}
        count = {i: 0 for i in items}
        for _, i in pairs:
            count[i] += 1
        ranked = sorted(items, key=lambda i: (-count[i], i))
        for variant in ("all", "pos"):
            rel = {}
            for u, i, r, _ in E:
                if variant == "pos" and r < 4:
                    continue
                if u in users_h and (u, i) not in pairs:
                    rel.setdefault(u, set()).add(i)
            P = R = N = 0.0; seen = set()
            for u in sorted(rel):
                top = [i for i in ranked if (u, i) not in pairs][:10]
                hits = [1.0 if i in rel[u] else 0.0 for i in top]
                P += sum(hits) / 10; R += sum(hits) / len(rel[u])
                dcg = sum(h / math.log2(k + 2) for k, h in enumerate(hits))
                N += dcg / sum(1 / math.log2(k + 2) for k in range(min(len(rel[u]), 10)))
                seen.update(top)
            m = max(len(rel), 1)
            out[f"{name}/{variant}"] = [P / m, R / m, N / m, len(seen) / len(items), len(rel)]
    return out
seen = set(); first = []
for r in rows:  # the drift the protocol forbids: collapse duplicates before the split
    if (r[0], r[1]) not in seen:
        seen.add((r[0], r[1])); first.append(r)
print(json.dumps({"protocol": run(rows), "dedup_first": run(first), "leave_last_out": run(rows, leave_last_out),
                  "rows": len(rows), "pairs": len(first)}))
`;

function fixture(dir) {
  let state = 12345; // mulberry32: deterministic
  const rand = () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const nItems = 40;
  const lines = ['user_id:token\titem_id:token\trating:float\ttimestamp:float'];
  for (let u = 1; u <= 70; u++) {
    const n = 1 + Math.floor(rand() * 14);
    const start = Math.floor(rand() * 60);
    for (let k = 0; k < n; k++) {
      // Skewed item choice; a third of the rows repeat one of the user's earlier items.
      const item = 1 + Math.floor(nItems * rand() ** 2);
      const day = start + Math.floor(rand() * 40); // whole days: many timestamp ties
      lines.push(`${u}\t${item}\t${1 + Math.floor(rand() * 5)}\t${1600000000 + day * 86400}`);
      if (rand() < 0.33) lines.push(`${u}\t${item}\t${1 + Math.floor(rand() * 5)}\t${1600000000 + (day + Math.floor(rand() * 30)) * 86400}`);
    }
  }
  const items = ['item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq'];
  for (let i = 1; i <= nItems; i++) items.push(`${i}\tItem ${i}\t2000\tGenre${i % 4}`);
  writeFileSync(join(dir, 'log.inter'), lines.join('\n') + '\n');
  writeFileSync(join(dir, 'log.item'), items.join('\n') + '\n');
}

test('popularity on a log with repeated pairs equals the independent reference, whatever the duplicate policy', () => {
  const work = tempDir('shopai-repeated-');
  fixture(work);
  const py = process.env.SHOPAI_PYTHON || 'python3';
  const ref = spawnSync(py, ['-c', REFERENCE, join(work, 'log.inter'), join(work, 'log.item')], { encoding: 'utf8' });
  assert.equal(ref.status, 0, ref.stderr);
  const reference = JSON.parse(ref.stdout);
  assert.ok(reference.rows - reference.pairs > 100, `the fixture repeats pairs (${reference.rows} rows, ${reference.pairs} pairs)`);
  const fmt = (v) => v.slice(0, 4).map((x) => x.toFixed(4)).concat([v[4]]);
  assert.notDeepEqual(fmt(reference.dedup_first['test/all']), fmt(reference.protocol['test/all']),
    'the fixture tells the protocol from deduplicating before the split');

  for (const policy of ['keep-latest', 'keep-all']) {
    const dir = join(work, policy);
    const config = join(work, `${policy}.toml`);
    writeFileSync(config, `[ingest]\nduplicates = "${policy}"\n`);
    const env = { ...process.env, SHOPAI_DATA_DIR: join(dir, 'data'), SHOPAI_OUT_DIR: join(dir, 'out') };
    const run = (...args) => {
      const r = spawnSync(PATHS.shopai, ['--config', config, ...args], { encoding: 'utf8', env, cwd: work });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout);
    };
    const ing = run('ingest', '--quiet', '--ratings', join(work, 'log.inter'), '--catalog', join(work, 'log.item'));
    assert.equal(ing.input_rows, reference.rows);
    assert.equal(ing.kept, policy === 'keep-all' ? reference.rows : reference.pairs, policy);
    const s = run('split');
    assert.deepEqual(s.rows, { train: Math.floor(0.7 * reference.rows), val: Math.floor(0.85 * reference.rows) - Math.floor(0.7 * reference.rows), test: reference.rows - Math.floor(0.85 * reference.rows) });
    for (const key of ['val/all', 'val/pos', 'test/all', 'test/pos']) {
      const got = s.popularity_baseline[`${key}/global`];
      const m = got.at['10'];
      assert.deepEqual(fmt([m.precision, m.recall, m.ndcg, m.coverage, got.users]), fmt(reference.protocol[key]), `${policy} split ${key}`);
    }
    run('evaluate', '--quiet');
    const report = JSON.parse(readFileSync(join(dir, 'out/eval.json'), 'utf8'));
    for (const [split, rel] of [['val', 'all'], ['test', 'all'], ['test', 'pos']]) {
      const row = report.rows.find((r) => r.model === 'popularity' && r.split === split && r.relevance === rel).report;
      const m = row.at['10'];
      assert.deepEqual(fmt([m.precision, m.recall, m.ndcg, m.coverage, row.users]), fmt(reference.protocol[`${split}/${rel}`]), `${policy} evaluate ${split}/${rel}`);
    }
    // The leave-last-out protocol (sequential recommenders' published one) on the same rows.
    run('evaluate', '--quiet', '--protocol', 'leave-last-out');
    const loo = JSON.parse(readFileSync(join(dir, 'out/eval.json'), 'utf8'));
    assert.equal(loo.tuned.protocol, 'leave-last-out');
    assert.ok(!loo.rows.some((r) => r.split.startsWith('test-segment')), 'no test periods under leave-last-out');
    for (const [split, rel] of [['val', 'all'], ['test', 'all'], ['test', 'pos']]) {
      const row = loo.rows.find((r) => r.model === 'popularity' && r.split === split && r.relevance === rel).report;
      const m = row.at['10'];
      assert.deepEqual(fmt([m.precision, m.recall, m.ndcg, m.coverage, row.users]), fmt(reference.leave_last_out[`${split}/${rel}`]), `${policy} leave-last-out ${split}/${rel}`);
    }
  }
  assert.notDeepEqual(reference.leave_last_out['test/all'], reference.protocol['test/all'], 'the two protocols differ on the fixture');
});
