// Training past one machine: Spark MLlib ALS (PySpark, local[2]) on MovieLens-100k, its item
// factors turned into a bundle by `shopai build --als-factors`, and the two trainers compared on
// the evaluation protocol (EVAL_PROTOCOL.md) with the same hyper-parameters. The bundle built from
// Spark's factors must load and answer natively, in the npm package under Node and at the edge
// under wasmtime, with the same answers, and fold a shopper in from a history (no user factors).
// Skipped only when no Java runtime can be found (scripts/setup.sh installs Debian's OpenJDK 17).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, PATHS, tempDir, startEdge } from './harness.mjs';

const PY = process.env.SHOPAI_PYTHON || 'python3';
const java = spawnSync('java', ['-version'], { encoding: 'utf8' });
const NO_JAVA = java.status === 0 ? false : 'no Java runtime on this machine (apt-get install openjdk-17-jre-headless; scripts/setup.sh does)';
// ShopAI's own ALS defaults (AlsConfig::default, also `shopai evaluate` without tuned.json).
const ALS = { factors: 32, regularization: 0.05, alpha: 1, iterations: 15, seed: 42 };
const SPARK_TIMEOUT_MS = 8 * 60 * 1000;
const NO_WASMTIME = spawnSync(PATHS.wasmtime, ['--version']).status === 0 ? false : 'wasmtime is not installed (scripts/setup.sh installs it)';

let edge;
after(async () => { await edge?.proc.stop(); });

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}`);
  return r.stdout;
}

function sparkAls(inputs, output) {
  const args = [join(ROOT, 'scripts/spark/train_als.py'), '--master', 'local[2]', '--partitions', '4',
    '--input', ...inputs, '--output', output, '--factors', String(ALS.factors), '--regularization', String(ALS.regularization),
    '--alpha', String(ALS.alpha), '--iterations', String(ALS.iterations), '--seed', String(ALS.seed)];
  const out = run(PY, args, { timeout: SPARK_TIMEOUT_MS, env: { ...process.env, PYSPARK_PYTHON: PY } });
  return JSON.parse(out.trim().split('\n').pop());
}

test('Spark ALS on ML-100k: bundle from its factors answers everywhere, test NDCG@10 within 0.01 of ShopAI\'s ALS',
  { skip: NO_JAVA, timeout: 25 * 60 * 1000 }, async (t) => {
    run('bash', [join(ROOT, 'scripts/fetch-demo-data.sh')]);
    const work = tempDir('shopai-spark-');
    const env = { ...process.env, SHOPAI_DATA_DIR: join(work, 'data'), SHOPAI_OUT_DIR: join(work, 'out') };
    const shopai = (...args) => JSON.parse(run(PATHS.shopai, args, { env, cwd: work }));
    const ing = shopai('ingest', '--quiet', '--ratings', join(ROOT, 'data/ml-100k/ml-100k.inter'), '--catalog', join(ROOT, 'data/ml-100k/ml-100k.item'));
    const split = shopai('split');
    assert.deepEqual(split.rows, { train: 70000, val: 15000, test: 15000 });

    // 1. The protocol: Spark trains on train+val (as ShopAI re-fits for test), both are scored on test.
    const trainval = join(work, 'factors-trainval');
    const s1 = sparkAls([join(ing.dir, 'split/train.parquet'), join(ing.dir, 'split/val.parquet')], trainval);
    assert.equal(s1.interactions, 85000);
    assert.equal(s1.factors_written, s1.items);
    assert.ok(readdirSync(trainval).some((f) => f.endsWith('.parquet')), 'Spark wrote a parquet folder');
    const cmp = shopai('evaluate', '--quiet', '--als-factors', trainval, '--data', ing.dir);
    const { shopai: own, imported: spark } = cmp.test_all_ndcg_at_10;
    console.log(`# test NDCG@10 (all): ShopAI ALS ${own.toFixed(4)}, Spark MLlib ALS ${spark.toFixed(4)}, Δ ${(spark - own).toFixed(4)}; Spark ${s1.seconds}s, regParam ${s1.mllib_reg_param.toExponential(3)}`);
    writeFileSync(join(work, 'spark-compare.json'), JSON.stringify({ cmp, spark: s1 }, null, 2));
    // The same hyper-parameters on both sides (regularization is an f32: 0.05 prints as 0.0500000007).
    assert.deepEqual({ ...cmp.als, regularization: Math.fround(cmp.als.regularization) }, { factors: 32, regularization: Math.fround(0.05), alpha: 1, iterations: 15 });
    assert.ok(own > 0.15, `ShopAI's ALS is at its usual level (${own})`);
    assert.ok(Math.abs(spark - own) <= 0.01, `Spark ${spark} vs ShopAI ${own}: more than 0.01 apart`);
    const rows = JSON.parse(readFileSync(join(work, 'out/als_compare.json'), 'utf8'));
    assert.deepEqual(rows.map((r) => [r.trainer, r.relevance, r.report.users]),
      [['shopai', 'all', 91], ['imported', 'all', 91], ['shopai', 'pos', 77], ['imported', 'pos', 77]]);

    // Factors trained on fewer rows than the build uses are refused, naming what is missing.
    const refused = spawnSync(PATHS.shopai, ['build', '--quiet', '--data', ing.dir, '--als-factors', trainval, '--out', join(work, 'no.bin')], { encoding: 'utf8', env, cwd: work });
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /items with training interactions have no factors: "\d+"/);
    assert.ok(!existsSync(join(work, 'no.bin')));

    // 2. Production: Spark trains on every processed interaction, `shopai build --als-factors` bundles it.
    const full = join(work, 'factors-all');
    const s2 = sparkAls([join(ing.dir, 'ratings.parquet')], full);
    assert.equal(s2.interactions, 100000);
    const bundle = join(work, 'bundle.bin');
    const b = shopai('build', '--quiet', '--data', ing.dir, '--als-factors', full, '--out', bundle);
    assert.match(b.version, /^als32ext-/);
    const manifest = shopai('inspect', bundle);
    assert.equal(manifest.als.factors, 32);

    // Fold-in from a history (an anonymous shopper): native, Node and the edge agree.
    const history = ['50', '172', '181']; // Star Wars, The Empire Strikes Back, Return of the Jedi
    const req = { history, top_k: 10 };
    const native = JSON.parse(run(PATHS.shopai, ['query', '--bundle', bundle, 'recommend', '--history', history.join(',')]));
    assert.equal(native.source, 'hybrid');
    assert.equal(native.results.length, 10);
    assert.ok(native.results.every((r) => !history.includes(r.product_id)));
    assert.ok(native.results.some((r) => r.parts && r.parts.collab !== 0), 'the ALS fold-in contributes');

    await t.test('the npm package under Node gives the same answer', async () => {
      const mod = await import(join(PATHS.pkg, 'shopai_wasm.js'));
      await mod.default({ module_or_path: readFileSync(join(PATHS.pkg, 'shopai_wasm_bg.wasm')) });
      const node = mod.Engine.fromBytes(readFileSync(bundle)).recommend(req);
      assert.deepEqual(node.results.map((r) => r.product_id), native.results.map((r) => r.product_id));
    });

    await t.test('the edge under wasmtime gives the same answer', { skip: NO_WASMTIME }, async () => {
      edge = await startEdge(work, 'bundle.bin');
      const r = await fetch(`${edge.url}/recommendations`, { method: 'POST', body: JSON.stringify(req), headers: { 'content-type': 'application/json' } });
      assert.equal(r.status, 200);
      const atEdge = await r.json();
      assert.deepEqual(atEdge.results.map((x) => x.product_id), native.results.map((x) => x.product_id));
      // The same f32 scores: the CLI prints an f32's shortest form, the edge the f64 it widens to.
      assert.deepEqual(atEdge.results.map((x) => Math.fround(x.score)), native.results.map((x) => Math.fround(x.score)));
    });
  });
