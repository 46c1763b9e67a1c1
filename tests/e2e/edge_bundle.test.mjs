// The edge under wasmtime serve when its inputs are wrong: a bundle that is missing at start is
// picked up once it appears (a failed load is retried after a second, not kept for the instance's
// life), and an embeddings endpoint that answers 200 with a body that is not JSON gives the browser
// a JSON 502, never a 200 with a null body. A bundle built into the component is served without a
// file, and a corrupt one fails the build.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { ROOT, PATHS, fixtureBundle, tempDir, freePort, startProcess, waitFor, startEdge, jsonLines } from './harness.mjs';

const PY = process.env.SHOPAI_PYTHON || 'python3';
let fixture, procs = [], servers = [];

async function fakeOpenai(faults) {
  const port = await freePort();
  const proc = startProcess(PY, [join(ROOT, 'tests/e2e/fake_openai.py'), String(port), faults]);
  procs.push(proc);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/stats`, proc);
  return url;
}

before(() => {
  fixture = fixtureBundle();
});

after(async () => {
  for (const p of procs) await p.stop();
  for (const s of servers) s.close();
});

test('a bundle missing at start is served once it appears, without a restart', async () => {
  const dir = tempDir('shopai-edge-late-');
  const port = await freePort();
  const proc = startProcess(PATHS.wasmtime, ['serve', '-Scli', '-Sp3', '-Wcomponent-model-async', '--addr', `127.0.0.1:${port}`,
    '--dir', `${dir}::/data`, '--env', 'SHOPAI_BUNDLE_PATH=/data/bundle.bin', PATHS.edgeWasm]);
  procs.push(proc);
  const url = `http://127.0.0.1:${port}`;
  // Wait for the server itself (any answer), then see the missing bundle as a JSON 503.
  const deadline = Date.now() + 30000;
  let first;
  while (!first && Date.now() < deadline) {
    try { first = await fetch(`${url}/health`); } catch { await new Promise((r) => setTimeout(r, 100)); }
  }
  assert.ok(first, proc.log());
  assert.equal(first.status, 503);
  assert.equal((await first.json()).status, 'unavailable');
  const search = await fetch(`${url}/search`, { method: 'POST', body: JSON.stringify({ query: 'boots' }) });
  assert.equal(search.status, 503);
  assert.equal((await search.json()).error.code, 'bundle_unavailable');

  copyFileSync(fixture.bundle, join(dir, 'bundle.bin'));
  // The instance retries a failed load after a second (docs/EDGE.md): give it a few.
  let health;
  for (const until = Date.now() + 5000; Date.now() < until;) {
    health = await fetch(`${url}/health`);
    if (health.status === 200) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(health.status, 200, await health.clone().text());
  const r = await fetch(`${url}/search`, { method: 'POST', body: JSON.stringify({ query: 'boots', top_k: 3 }) });
  assert.equal(r.status, 200);
  assert.equal((await r.json()).results.length, 3);
});

test('an embeddings endpoint answering malformed JSON is a JSON 502 at /v1/embeddings', async () => {
  // Build a bundle whose vectors come from an OpenAI-compatible endpoint (so the edge forwards
  // /v1/embeddings), then serve it against an endpoint whose every answer is malformed.
  const work = tempDir('shopai-edge-malformed-');
  const good = await fakeOpenai('');
  writeFileSync(join(work, 'shopai.toml'), `[openai]\nbase_url = "${good}/v1"\n[embeddings]\nprovider = "openai"\nmodel = "fake-embed"\ndimensions = 16\nusd_per_million_tokens = 0.0\n[paths]\ndata_dir = "${join(work, 'data')}"\n`);
  const b = spawnSync(PATHS.shopai, ['--config', join(work, 'shopai.toml'), 'build', '--quiet', '--ratings', join(fixture.dir, 'ratings.csv'),
    '--catalog', join(fixture.dir, 'catalog.csv'), '--out', join(work, 'bundle.bin')],
  { encoding: 'utf8', cwd: work, env: { ...process.env, OPENAI_API_KEY: 'sk-test' } });
  assert.equal(b.status, 0, b.stderr);
  // An endpoint that answers every request 200 with a cut-off JSON body.
  const bad = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"data": [ {"embedding": [0.1, ');
    });
  });
  await new Promise((ok) => bad.listen(0, '127.0.0.1', ok));
  servers.push(bad);
  const edge = await startEdge(work, 'bundle.bin', [`SHOPAI_EMBEDDINGS_URL=http://127.0.0.1:${bad.address().port}/v1`]);
  procs.push(edge.proc);
  const r = await fetch(`${edge.url}/v1/embeddings`, { method: 'POST', body: JSON.stringify({ model: 'fake-embed', input: ['boots'] }) });
  assert.equal(r.status, 502, await r.clone().text());
  const body = await r.json();
  assert.equal(body.error.code, 'embeddings_unavailable');
  assert.match(body.error.message, /malformed/);
});

test('a bundle built into the component (SHOPAI_EDGE_BUNDLE) is served with no file mounted; a corrupt one fails the build', async () => {
  // Its own target folder: the component every other test runs stays the one without a bundle.
  const target = join(process.env.SHOPAI_HOME || join(ROOT, 'target'), 'target-embed');
  const build = (bundle) => spawnSync('cargo', ['build', '--release', '-p', 'shopai-edge', '--target', 'wasm32-wasip2', '--target-dir', target],
    { cwd: ROOT, env: { ...process.env, SHOPAI_EDGE_BUNDLE: bundle }, encoding: 'utf8' });
  const bad = join(tempDir('shopai-embed-bad-'), 'bundle.bin');
  const bytes = readFileSync(fixture.bundle);
  bytes[bytes.length - 1] ^= 0x01;
  writeFileSync(bad, bytes);
  const refused = build(bad);
  assert.notEqual(refused.status, 0, 'a corrupt bundle does not make a component');
  assert.match(refused.stderr, /is not a bundle this build can serve: .*checksum/);

  const built = build(fixture.bundle);
  assert.equal(built.status, 0, built.stderr.slice(-3000));
  assert.match(built.stderr, /embedding bundle .*bundle\.bin \(\d+ bytes, version /);
  const embedded = await startEdge(null, undefined, [], [], join(target, 'wasm32-wasip2/release/shopai_edge.wasm'));
  const mounted = await startEdge(fixture.dir);
  procs.push(embedded.proc, mounted.proc);
  const get = async (e, path, body) => {
    const r = await fetch(e.url + path, body ? { method: 'POST', body: JSON.stringify(body) } : {});
    return { status: r.status, body: await r.json() };
  };
  const version = await get(embedded, '/version');
  assert.equal(version.status, 200, JSON.stringify(version.body));
  assert.deepEqual(version.body, (await get(mounted, '/version')).body, 'the same bundle as the mounted file');
  const q = { query: 'running shoe', top_k: 5 };
  const [a, b] = [await get(embedded, '/search', q), await get(mounted, '/search', q)];
  assert.equal(a.status, 200);
  assert.ok(a.body.results.length > 0);
  assert.deepEqual(a.body.results, b.body.results, 'the same answer');
  const loaded = jsonLines(embedded.proc).find((l) => l.event === 'bundle_loaded');
  assert.equal(loaded?.from, 'embedded');
});
