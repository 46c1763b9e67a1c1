// The release loop end to end, against moto_server and the edge under `wasmtime serve`:
// build v1 → publish → the edge (bundle_url = the LATEST pointer) serves v1 → shoppers' feedback
// posted to the edge lands in S3 → `shopai ingest-feedback` → rebuild with it → the gate passes →
// publish v2 → the edge answers from v2 while a client loops requests (none may fail) → the
// not_relevant feedback is applied by v2 → rollback returns v1. Plus /feedback with S3 down:
// 503 with a JSON error, and every event that was accepted is in S3 (counted with boto3).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, PATHS, shopai, tempDir, freePort, startProcess, waitFor } from './harness.mjs';
import { startS3Proxy } from './s3proxy.mjs';

const PY = process.env.SHOPAI_PYTHON || 'python3';
const MOTO = process.env.MOTO_SERVER || 'moto_server';
const REVALIDATE_SECS = 1;
let moto, endpoint, work, proxy, edge, edgeUrl;

const s3tool = (...args) => {
  const r = spawnSync(PY, [join(ROOT, 'tests/e2e/s3tool.py'), endpoint, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`s3tool ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};
const env = () => ({
  ...process.env, SHOPAI_S3_ENDPOINT: endpoint, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing',
  SHOPAI_DATA_DIR: join(work, 'data'), SHOPAI_OUT_DIR: join(work, 'out'),
});
function ok(...args) {
  const r = spawnSync(PATHS.shopai, args, { encoding: 'utf8', env: env(), cwd: work, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`shopai ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}
const post = (path, body) => fetch(`${edgeUrl}${path}`, { method: 'POST', body: JSON.stringify(body) });
const version = async () => (await (await fetch(`${edgeUrl}/version`)).json()).version;
const feedbackLines = () => {
  const keys = JSON.parse(s3tool('list', 'shopai', 'prod/feedback/'));
  return keys.flatMap((k) => s3tool('get', 'shopai', k).split('\n').filter(Boolean).map((l) => JSON.parse(l)));
};

before(async () => {
  work = tempDir('shopai-loop-');
  const port = await freePort();
  endpoint = `http://127.0.0.1:${port}`;
  moto = startProcess(MOTO, ['-H', '127.0.0.1', '-p', String(port)]);
  await waitFor(endpoint, moto);
  s3tool('create-bucket', 'shopai');
  proxy = await startS3Proxy(endpoint);
  shopai('synth', '--out', join(work, 'raw'), '--seed', '5');
  ok('run', '--ratings', join(work, 'raw/ratings.csv'), '--catalog', join(work, 'raw/catalog.csv'), '--quick-tune', '--out', join(work, 'v1.bin'), '--quiet');
  ok('publish', join(work, 'v1.bin'), '--to', 's3://shopai/prod');
  const cache = join(work, 'edge-cache');
  mkdirSync(cache);
  const ep = await freePort();
  edgeUrl = `http://127.0.0.1:${ep}`;
  const vars = [`SHOPAI_BUNDLE_URL=s3://shopai/prod/bundles/LATEST`, `SHOPAI_S3_ENDPOINT=${proxy.endpoint}`,
    'AWS_ACCESS_KEY_ID=testing', 'AWS_SECRET_ACCESS_KEY=testing', `SHOPAI_BUNDLE_REVALIDATE_SECS=${REVALIDATE_SECS}`,
    'SHOPAI_BUNDLE_CACHE_DIR=/cache', 'SHOPAI_FEEDBACK_URL=s3://shopai/prod/feedback'];
  edge = startProcess(PATHS.wasmtime, ['serve', '-Scli', '-Sp3', '-Wcomponent-model-async', '--addr', `127.0.0.1:${ep}`,
    '--dir', `${cache}::/cache`, ...vars.flatMap((v) => ['--env', v]), PATHS.edgeWasm]);
  await waitFor(`${edgeUrl}/health`, edge);
});

after(async () => {
  await edge?.stop();
  await proxy?.close();
  await moto?.stop();
});

test('build → publish → serve → feedback → rebuild → gate → publish v2 → swap without a failed request → rollback', async () => {
  const v1 = JSON.parse(s3tool('get', 'shopai', 'prod/bundles/LATEST'));
  assert.equal(await version(), v1.version, 'the edge serves the published version');
  const first = await post('/search', { query: 'running shoe', top_k: 5 });
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('x-shopai-version'), v1.version, 'every answer names its version');
  const hits = (await first.json()).results;
  assert.equal(hits.length, 5);

  // Shoppers' feedback: clicks and purchases on what was shown, one "not relevant".
  const events = [];
  for (let s = 0; s < 6; s += 1) {
    for (const [i, h] of hits.slice(1, 4).entries()) {
      events.push({ session_id: `s${s}`, product_id: h.product_id, event: 'click', query: 'running shoe', position: i + 1, version: v1.version });
    }
    events.push({ session_id: `s${s}`, product_id: hits[1].product_id, event: 'purchase', version: v1.version });
  }
  const demoted = hits[0].product_id;
  events.push({ user_id: 'U0001', product_id: demoted, event: 'not_relevant', query: 'Running  Shoe', version: v1.version });
  let accepted = 0;
  for (let i = 0; i < events.length; i += 5) {
    const r = await post('/feedback', events.slice(i, i + 5));
    assert.equal(r.status, 202, await r.clone().text());
    accepted += (await r.json()).accepted;
  }
  const bad = await post('/feedback', { session_id: 's', product_id: 'NOPE', event: 'click', version: v1.version });
  assert.equal(bad.status, 422);
  assert.equal((await bad.json()).error.field, 'product_id');
  assert.equal((await post('/feedback', { session_id: 's', product_id: demoted, event: 'like', version: v1.version })).status, 422);
  assert.equal(feedbackLines().length, accepted, 'every accepted event is in S3');

  // Rebuild with the feedback; the gate compares the two evaluations.
  const fb = ok('ingest-feedback', '--from', 's3://shopai/prod/feedback/', '--ratings', join(work, 'raw/ratings.csv'),
    '--bundle', join(work, 'v1.bin'), '--out', join(work, 'fb'));
  assert.equal(fb.ledger.input_lines, accepted);
  assert.equal(fb.ledger.kept, accepted);
  assert.equal(fb.balances, true);
  assert.equal(fb.demotions, 1);
  const report = ok('feedback-report', '--from', 's3://shopai/prod/feedback/');
  assert.equal(report.versions[v1.version].search.events.click, 18);
  assert.equal(report.versions[v1.version].recommendations.events.purchase, 6);
  const v2 = ok('run', '--ratings', join(work, 'fb/ratings.csv'), '--catalog', join(work, 'raw/catalog.csv'), '--quick-tune',
    '--demotions', join(work, 'fb/demotions.json'), '--out', join(work, 'v2.bin'), '--quiet').bundle;
  assert.notEqual(v2.version, v1.version);

  // A client loops requests through the swap; not one may fail.
  let stop = false;
  const seen = new Map();
  let failures = 0;
  let requests = 0;
  const loop = (async () => {
    while (!stop && requests < 20000) {
      const r = await post('/search', { query: 'running shoe', top_k: 5 });
      requests += 1;
      if (r.status !== 200) { failures += 1; await r.text(); continue; }
      const b = await r.json();
      seen.set(b.version, (seen.get(b.version) || 0) + 1);
    }
  })();
  await new Promise((r) => setTimeout(r, 300));
  const published = ok('publish', join(work, 'v2.bin'), '--to', 's3://shopai/prod', '--tolerance', '0.05');
  assert.equal(published.latest.version, v2.version, `the gate passed: ${JSON.stringify(published.latest.gate)}`);
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline && !seen.has(v2.version)) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 300));
  stop = true;
  await loop;
  assert.ok(seen.has(v2.version), `the edge moved to v2 (saw ${[...seen.keys()]})`);
  assert.equal(failures, 0, `no failed request during the swap (of ${requests})`);
  assert.ok(edge.log().includes('"event":"bundle_swapped"'), 'the swap is logged');

  // v2 applies the not_relevant feedback to that query.
  const after = await (await post('/search', { query: 'running shoe', top_k: 5 })).json();
  assert.equal(after.version, v2.version);
  assert.ok(!after.results.some((r) => r.product_id === demoted), 'the demoted product is left out');

  // Rollback returns v1 at the edge too.
  ok('rollback', v1.version, '--to', 's3://shopai/prod');
  const until = Date.now() + 30000;
  let now;
  while (Date.now() < until && (now = await version()) !== v1.version) await new Promise((r) => setTimeout(r, 100));
  assert.equal(now, v1.version);
});

test('a LATEST that names a damaged bundle is not swapped in; the old version keeps answering', async () => {
  const live = JSON.parse(s3tool('get', 'shopai', 'prod/bundles/LATEST'));
  const bogus = { ...live, version: 'broken-1', path: 'broken-1/bundle.bin', sha256: '0'.repeat(64) };
  const f = join(work, 'broken.json');
  const bin = join(work, 'broken.bin');
  (await import('node:fs')).writeFileSync(f, JSON.stringify(bogus));
  (await import('node:fs')).writeFileSync(bin, Buffer.from('SHOPAIBN not a bundle'));
  s3tool('put', 'shopai', 'prod/bundles/broken-1/bundle.bin', bin);
  s3tool('put', 'shopai', 'prod/bundles/LATEST', f);
  await new Promise((r) => setTimeout(r, (REVALIDATE_SECS + 1) * 1000));
  for (let i = 0; i < 20; i += 1) {
    const r = await post('/search', { query: 'running shoe', top_k: 3 });
    assert.equal(r.status, 200);
    assert.equal((await r.json()).version, live.version);
  }
  assert.ok(edge.log().includes('"event":"bundle_update_failed"'), 'the failure is logged');
  const good = join(work, 'good.json');
  (await import('node:fs')).writeFileSync(good, JSON.stringify(live));
  s3tool('put', 'shopai', 'prod/bundles/LATEST', good);
});

test('/feedback with S3 down answers 503 and loses nothing it accepted', async () => {
  const before = feedbackLines().length;
  const v = await version();
  const product = (await (await post('/search', { query: 'shoe', top_k: 1 })).json()).results[0].product_id;
  let accepted = 0;
  let refused = 0;
  for (let round = 0; round < 6; round += 1) {
    proxy.rule = round % 2 === 1 ? { match: (r) => r.method === 'PUT' && r.url.includes('/feedback/'), action: 'fail' } : null;
    const replies = await Promise.all(Array.from({ length: 8 }, (_, i) =>
      post('/feedback', { session_id: `r${round}-${i}`, product_id: product, event: 'click', version: v })));
    for (const r of replies) {
      const body = await r.json();
      if (r.status === 202) accepted += body.accepted;
      else {
        assert.equal(r.status, 503);
        assert.equal(body.error.code, 'feedback_unavailable');
        refused += 1;
      }
    }
  }
  proxy.rule = null;
  assert.ok(accepted >= 24 && refused >= 24, `accepted ${accepted}, refused ${refused}`);
  assert.equal(feedbackLines().length - before, accepted, 'every accepted event is in S3, no refused one is');
});
