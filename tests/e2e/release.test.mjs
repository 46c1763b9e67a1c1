// `shopai publish / versions / rollback` against moto_server: the evaluation gate, a damaged
// upload that never goes live, and `shopai publish` killed at several points of its S3
// conversation (a fault-injecting proxy holds the request there) always leaving LATEST naming a
// complete, loadable version. The bucket is read back with boto3, not with ShopAI's client.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { ROOT, PATHS, shopai, tempDir, freePort, startProcess, waitFor } from './harness.mjs';
import { startS3Proxy } from './s3proxy.mjs';

const PY = process.env.SHOPAI_PYTHON || 'python3';
const MOTO = process.env.MOTO_SERVER || 'moto_server';
const ROOT_URL = 's3://shopai/prod';
let moto, endpoint, work;

const s3tool = (...args) => {
  const r = spawnSync(PY, [join(ROOT, 'tests/e2e/s3tool.py'), endpoint, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`s3tool ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};
const sha256 = (path) => createHash('sha256').update(readFileSync(path)).digest('hex');
const env = (ep = endpoint) => ({
  ...process.env, SHOPAI_S3_ENDPOINT: ep, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing',
  SHOPAI_DATA_DIR: join(work, 'data'), SHOPAI_OUT_DIR: join(work, 'out'),
});
function run(args, ep) {
  const r = spawnSync(PATHS.shopai, args, { encoding: 'utf8', env: env(ep), cwd: work });
  return { status: r.status, out: r.status === 0 ? JSON.parse(r.stdout) : null, err: r.stderr };
}
/** `run` without blocking the event loop: needed when the S3 proxy lives in this process. */
function runAsync(args, ep) {
  return new Promise((done) => {
    const child = spawn(PATHS.shopai, args, { env: env(ep), cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.once('exit', (status) => done({ status, out: status === 0 ? JSON.parse(out) : null, err }));
  });
}
function ok(args, ep) {
  const r = run(args, ep);
  if (r.status !== 0) throw new Error(`shopai ${args.join(' ')} failed (${r.status}): ${r.err}`);
  return r.out;
}
/** LATEST as boto3 sees it, and a check that the object it names is complete and loads. */
function latestIsComplete() {
  const p = JSON.parse(s3tool('get', 'shopai', 'prod/bundles/LATEST'));
  const file = join(work, `check-${Date.now()}.bin`);
  s3tool('download', 'shopai', `prod/bundles/${p.path}`, file);
  assert.equal(sha256(file), p.sha256, 'LATEST names exactly the bytes it says');
  assert.equal(shopai('inspect', file).includes(`"version": "${p.version}"`), true, 'and they load');
  return p;
}
/** Build a bundle from the processed data with the tuned parameters; versions are per second. */
async function build(out, tuned = 'out/tuned.json', evalJson = 'out/eval.json') {
  const b = ok(['build', '--tuned', tuned, '--eval', evalJson, '--out', out, '--quiet']);
  await new Promise((r) => setTimeout(r, 1100));
  return b;
}

before(async () => {
  work = tempDir('shopai-release-');
  const port = await freePort();
  endpoint = `http://127.0.0.1:${port}`;
  moto = startProcess(MOTO, ['-H', '127.0.0.1', '-p', String(port)]);
  await waitFor(endpoint, moto);
  s3tool('create-bucket', 'shopai');
  shopai('synth', '--out', join(work, 'raw'), '--seed', '3');
  ok(['run', '--ratings', join(work, 'raw/ratings.csv'), '--catalog', join(work, 'raw/catalog.csv'),
    '--quick-tune', '--out', join(work, 'v1.bin'), '--quiet']);
  await new Promise((r) => setTimeout(r, 1100));
});

after(async () => {
  await moto?.stop();
});

test('publish, the evaluation gate, a damaged upload, versions and rollback', async () => {
  const v1 = ok(['publish', join(work, 'v1.bin'), '--to', ROOT_URL]);
  assert.equal(v1.published, true);
  const p1 = latestIsComplete();
  assert.equal(p1.version, v1.latest.version);
  assert.equal(p1.sha256, sha256(join(work, 'v1.bin')));
  assert.equal(p1.forced, false);
  assert.ok(p1.eval.metrics.fusion.ndcg > 0, 'the pointer carries the eval headline');
  assert.deepEqual(JSON.parse(s3tool('list', 'shopai', 'prod/bundles/')).sort(),
    ['prod/bundles/LATEST', `prod/bundles/${p1.version}/bundle.bin`, `prod/bundles/${p1.version}/release.json`].sort());

  // A deliberately worse candidate: content vectors only, one ALS factor; really evaluated.
  const tuned = JSON.parse(readFileSync(join(work, 'out/tuned.json'), 'utf8'));
  const bad = { ...tuned, factors: 1, iterations: 1, ease_lambda: null, fusion: { vector: 1, collab: 0, popularity: 0, item: 0 } };
  writeFileSync(join(work, 'bad_tuned.json'), JSON.stringify(bad));
  ok(['evaluate', '--tuned', join(work, 'bad_tuned.json'), '--quiet']);
  const worse = await build(join(work, 'worse.bin'), join(work, 'bad_tuned.json'));
  const refused = run(['publish', join(work, 'worse.bin'), '--to', ROOT_URL]);
  assert.equal(refused.status, 3, `the gate has its own exit code: ${refused.err}`);
  assert.match(refused.err, /evaluation gate refused .* fusion ndcg@10 .* below the live version's/);
  assert.equal(latestIsComplete().version, p1.version, 'a refused candidate does not move LATEST');

  // Restore the good evaluation; a candidate whose read-back is damaged never becomes LATEST.
  ok(['evaluate', '--tuned', join(work, 'out/tuned.json'), '--quiet']);
  const v2 = await build(join(work, 'v2.bin'));
  const proxy = await startS3Proxy(endpoint);
  try {
    proxy.rule = { match: (r) => r.method === 'GET' && r.url.includes(`${v2.version}/bundle.bin`), action: 'corrupt' };
    const damaged = await runAsync(['publish', join(work, 'v2.bin'), '--to', ROOT_URL], proxy.endpoint);
    assert.equal(damaged.status, 4, `a damaged upload has its own exit code: ${damaged.err}`);
    assert.match(damaged.err, /read back with sha256 .* LATEST was not moved/);
    assert.ok(proxy.hits > 0, 'the read-back really was damaged');
  } finally {
    await proxy.close();
  }
  assert.equal(latestIsComplete().version, p1.version);
  const p2 = ok(['publish', join(work, 'v2.bin'), '--to', ROOT_URL]);
  assert.equal(p2.latest.version, v2.version);
  assert.equal(latestIsComplete().version, v2.version);

  // --force publishes the worse one and says so; rollback returns v1.
  const forced = ok(['publish', join(work, 'worse.bin'), '--to', ROOT_URL, '--force']);
  assert.equal(forced.latest.version, worse.version);
  assert.equal(latestIsComplete().forced, true);
  const vs = ok(['versions', '--to', ROOT_URL]);
  assert.deepEqual(vs.versions.map((v) => v.version).sort(), [p1.version, v2.version, worse.version].sort());
  assert.deepEqual(vs.versions.filter((v) => v.latest).map((v) => v.version), [worse.version]);
  const rb = ok(['rollback', p1.version, '--to', ROOT_URL]);
  assert.equal(rb.latest.rolled_back_from, worse.version);
  const back = latestIsComplete();
  assert.equal(back.version, p1.version);
  assert.equal(back.sha256, p1.sha256);
  assert.notEqual(run(['rollback', 'never-published', '--to', ROOT_URL]).status, 0);
  // Published versions are immutable: the same version with other bytes is refused.
  const again = run(['publish', join(work, 'v1.bin'), '--to', ROOT_URL]);
  assert.equal(again.status, 0, again.err);
  assert.equal(again.out.published, false, 'publishing what is live is a no-op');
});

test('killing shopai publish at any point leaves LATEST naming a complete, loadable version', async () => {
  const live = latestIsComplete();
  const cand = await build(join(work, 'cand.bin'));
  const key = `prod/bundles/${cand.version}/bundle.bin`;
  const points = [
    ['before the upload', (r) => r.method === 'HEAD' && r.url.includes(key), 'hold'],
    ['mid-upload', (r) => r.method === 'PUT' && r.url.includes(key), 'half'],
    ['after the upload, during read-back', (r) => r.method === 'GET' && r.url.includes(key), 'hold'],
    ['before the pointer write', (r) => r.method === 'PUT' && r.url.endsWith('/bundles/LATEST'), 'hold'],
  ];
  for (const [name, match, action] of points) {
    const proxy = await startS3Proxy(endpoint);
    proxy.rule = { match, action };
    const child = spawn(PATHS.shopai, ['publish', join(work, 'cand.bin'), '--to', ROOT_URL],
      { env: env(proxy.endpoint), cwd: work, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    const exited = new Promise((r) => child.once('exit', (code, sig) => r({ code, sig })));
    const outcome = await Promise.race([proxy.hit.then(() => 'hit'), exited.then(() => 'exited'),
      new Promise((r) => setTimeout(() => r('timeout'), 60000))]);
    try { process.kill(child.pid, 'SIGKILL'); } catch {}
    const { sig } = await exited;
    await proxy.close();
    assert.equal(outcome, 'hit', `${name}: publish reached the point (${proxy.log.join(', ')}) ${stderr}`);
    assert.equal(sig, 'SIGKILL', `${name}: killed there`);
    const p = latestIsComplete();
    assert.equal(p.version, live.version, `${name}: LATEST still names the live version`);
  }
  // Running it again completes, without sending the bytes a second time when they are there.
  const done = ok(['publish', join(work, 'cand.bin'), '--to', ROOT_URL]);
  assert.equal(done.latest.version, cand.version);
  assert.equal(done.uploaded, false, 'the object uploaded before the last kill is reused');
  assert.equal(latestIsComplete().sha256, sha256(join(work, 'cand.bin')));
});
