// The batch pipeline against real servers: raw files uploaded to a real S3-API server
// (moto_server on 127.0.0.1), `shopai ingest` from s3://, and the published, versioned parquet
// read back with an independent client (boto3 + pyarrow). Plus the bad-row ledger end to end and
// `shopai run` from raw data to a bundle that answers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync, readFileSync, existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { ROOT, PATHS, shopai, tempDir, freePort, startProcess, waitFor } from './harness.mjs';

const PY = process.env.SHOPAI_PYTHON || 'python3';
const MOTO = process.env.MOTO_SERVER || 'moto_server';
let moto, endpoint, work;

const s3tool = (...args) => {
  const r = spawnSync(PY, [join(ROOT, 'tests/e2e/s3tool.py'), endpoint, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`s3tool ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

function shopaiEnv(args, env) {
  const r = spawnSync(PATHS.shopai, args, { encoding: 'utf8', env: { ...process.env, ...env }, cwd: work });
  if (r.status !== 0) throw new Error(`shopai ${args.join(' ')} failed: ${r.stderr}`);
  return { out: JSON.parse(r.stdout), err: r.stderr };
}

before(async () => {
  work = tempDir('shopai-pipeline-');
  const port = await freePort();
  endpoint = `http://127.0.0.1:${port}`;
  moto = startProcess(MOTO, ['-H', '127.0.0.1', '-p', String(port)]);
  await waitFor(endpoint, moto);
});

after(async () => {
  await moto?.stop();
});

test('ingest from s3:// publishes versioned parquet that an independent client reads', () => {
  shopai('synth', '--out', join(work, 'raw'), '--seed', '3');
  writeFileSync(join(work, 'ratings.csv.gz'), gzipSync(readFileSync(join(work, 'raw/ratings.csv'))));
  s3tool('create-bucket', 'shopai');
  s3tool('put', 'shopai', 'raw/ratings.csv.gz', join(work, 'ratings.csv.gz'));
  s3tool('put', 'shopai', 'raw/catalog.csv', join(work, 'raw/catalog.csv'));
  const env = {
    SHOPAI_S3_ENDPOINT: endpoint, SHOPAI_S3_BUCKET: 'shopai', SHOPAI_S3_PREFIX: 'prod',
    AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'super-secret-test-key', SHOPAI_DATA_DIR: join(work, 'data'),
  };
  const args = ['ingest', '--ratings', 's3://shopai/raw/ratings.csv.gz', '--catalog', 's3://shopai/raw/catalog.csv', '--json'];
  const { out: s, err } = shopaiEnv(args, env);
  assert.ok(!err.includes('super-secret-test-key'), 'secrets never reach the logs');
  assert.equal(s.input_rows, s.kept + s.duplicates + s.quarantined, 'the ledger balances');
  assert.equal(s.published, `s3://shopai/prod/processed/${s.version}/`);
  assert.match(s.version, /^v-[0-9a-f]{16}$/);

  const keys = JSON.parse(s3tool('list', 'shopai', 'prod/processed/'));
  for (const f of ['ratings.parquet', 'catalog.parquet', 'summary.json', 'quarantine.jsonl']) {
    assert.ok(keys.includes(`prod/processed/${s.version}/${f}`), `${f} published`);
  }
  assert.equal(s3tool('get', 'shopai', 'prod/processed/LATEST').trim(), s.version);
  const pq = JSON.parse(s3tool('read-parquet', 'shopai', `prod/processed/${s.version}/ratings.parquet`));
  assert.equal(pq.rows, s.kept);
  assert.deepEqual(pq.columns, ['user_id', 'product_id', 'rating', 'timestamp', 'source_line']);
  assert.equal(pq.types[3], 'timestamp[ms, tz=UTC]');
  const cat = JSON.parse(s3tool('read-parquet', 'shopai', `prod/processed/${s.version}/catalog.parquet`));
  assert.equal(cat.rows, 400);
  assert.equal(cat.head[0].product_id, 'P00000');

  // Unchanged input: nothing is redone and the immutable objects are not rewritten.
  const etag = s3tool('etag', 'shopai', `prod/processed/${s.version}/ratings.parquet`);
  const { out: again } = shopaiEnv(args, env);
  assert.equal(again.skipped, true);
  assert.equal(again.version, s.version);
  assert.equal(s3tool('etag', 'shopai', `prod/processed/${s.version}/ratings.parquet`), etag);
});

test('a file with every kind of bad row yields exact counts per reason', () => {
  const rows = [
    'user_id,product_id,rating,timestamp',
    'u1,p1,4,1600000000', 'u1,p1,5,1600000100', // duplicate: latest kept
    'u2,p2,nine,1600000000', // bad_rating
    'u3,p3,7,1600000000', 'u3,p4,-2,1600000000', // rating_out_of_range ×2
    'u4', // missing_columns
    ',p5,3,1600000000', // empty_id
    'u6,p6,3,tomorrow', // bad_timestamp
    'u7,p7,3,1600000000000', 'u8,p8,2,2021-03-04T05:06:07Z', // kept (ms, ISO)
    'u9,"p9,3,1600000000', // unreadable or misquoted: an open quote swallows the rest
  ];
  const bad = Buffer.concat([Buffer.from(rows.slice(0, 10).join('\n') + '\n'), Buffer.from('u10,p\xff\xfe,1,1600000000\n', 'latin1'), Buffer.from(rows[10] + '\n' + rows[11] + '\n')]);
  writeFileSync(join(work, 'bad.csv'), bad);
  const { out: s } = shopaiEnv(['ingest', '--ratings', join(work, 'bad.csv')], { SHOPAI_DATA_DIR: join(work, 'data-bad') });
  assert.deepEqual(s.quarantine_reasons, { bad_rating: 1, bad_timestamp: 1, empty_id: 1, invalid_utf8: 1, missing_columns: 2, rating_out_of_range: 2 });
  assert.equal(s.duplicates, 1);
  assert.equal(s.kept, 3);
  assert.equal(s.input_rows, s.kept + s.duplicates + s.quarantined);
  const q = readFileSync(join(s.dir, 'quarantine.jsonl'), 'utf8').trim().split('\n').map(JSON.parse);
  assert.equal(q.length, s.quarantined);
  assert.ok(q.every((r) => r.line > 1 && r.reason && r.detail));
});

test('shopai run goes from raw files to a bundle that answers', () => {
  const { out } = shopaiEnv(['run', '--ratings', join(work, 'raw/ratings.csv'), '--catalog', join(work, 'raw/catalog.csv'), '--out', join(work, 'bundle.bin')],
    { SHOPAI_DATA_DIR: join(work, 'data-run'), SHOPAI_OUT_DIR: join(work, 'reports') });
  // The protocol splits every valid input row, the duplicates the policy removed included.
  assert.deepEqual(Object.values(out.split).reduce((a, b) => a + b, 0), out.ingest.kept + out.ingest.duplicates);
  assert.ok(out.ingest.duplicates > 0, 'the fixture has repeated pairs');
  assert.ok(existsSync(join(work, 'reports/eda.html')));
  const eda = JSON.parse(readFileSync(join(work, 'reports/eda.json'), 'utf8'));
  assert.equal(eda.interactions, out.ingest.kept);
  const res = JSON.parse(shopai('query', '--bundle', join(work, 'bundle.bin'), 'search', '--text', 'espresso', '--top-k', '3'));
  assert.equal(res.results.length, 3);
});
