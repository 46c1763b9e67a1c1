// The npm package follows what is published: `Engine.fromUrl(<…>/bundles/LATEST)` verifies the
// sha256 the pointer names, keeps the bundle in the Cache API so a returning shopper downloads 0
// bundle bytes, and `checkForUpdate()` swaps a new version in place. Served by a CDN stand-in
// (ETag / If-None-Match, bytes counted per path) over a release root written by `shopai publish`.
// Also: the package's conditional exports make `import init, { Engine } from 'shopai-wasm'; await
// init()` work in Node 20 and in a real Vite build loaded in Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { writeFileSync, mkdirSync, cpSync, symlinkSync, readFileSync, existsSync } from 'node:fs';
import { extname, join, normalize, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { ROOT, PATHS, shopai, tempDir, BROWSER_ARGS } from './harness.mjs';

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
let work, cdn, cdnUrl, browser;
const sent = new Map(); // path → body bytes sent (200s only)

/** A static server with ETags: 304 when If-None-Match matches; counts body bytes per path. */
function startCdn(root) {
  const base = resolve(root);
  const server = createServer(async (req, res) => {
    try {
      const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
      const file = normalize(join(base, path.endsWith('/') ? `${path}index.html` : path));
      if (!file.startsWith(base) || !(await stat(file)).isFile()) throw new Error('nf');
      const body = await readFile(file);
      const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
      const headers = { 'content-type': TYPES[extname(file)] || 'application/octet-stream', etag, 'cache-control': 'no-cache' };
      if (req.headers['if-none-match'] === etag) { res.writeHead(304, headers); res.end(); return; }
      sent.set(path, (sent.get(path) || 0) + body.length);
      res.writeHead(200, headers);
      res.end(body);
    } catch {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":{"code":"not_found"}}');
    }
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}
const bundleBytesSent = () => [...sent].filter(([p]) => p.endsWith('bundle.bin')).reduce((a, [, n]) => a + n, 0);

/** A folder with node_modules/shopai-wasm → the built package. */
function project(dir) {
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  symlinkSync(resolve(PATHS.pkg), join(dir, 'node_modules/shopai-wasm'), 'dir');
  return dir;
}

before(async () => {
  work = tempDir('shopai-browser-release-');
  shopai('synth', '--out', join(work, 'raw'), '--seed', '9');
  for (const v of ['v1', 'v2']) {
    shopai('build', '--ratings', join(work, 'raw/ratings.csv'), '--catalog', join(work, 'raw/catalog.csv'), '--out', join(work, `${v}.bin`), '--quiet', '--factors', v === 'v1' ? '16' : '8');
    await new Promise((r) => setTimeout(r, 1100)); // versions are per second
  }
  mkdirSync(join(work, 'site'));
  cpSync(PATHS.pkg, join(work, 'site/pkg'), { recursive: true });
  writeFileSync(join(work, 'site/index.html'), `<!doctype html><script type="module">
    import init, { Engine } from './pkg/js/web.js';
    await init();
    window.Engine = Engine;
    window.ready = true;
  </script>`);
  shopai('publish', join(work, 'v1.bin'), '--to', join(work, 'site/rel'));
  cdn = await startCdn(join(work, 'site'));
  cdnUrl = `http://127.0.0.1:${cdn.address().port}`;
  browser = await chromium.launch({ executablePath: PATHS.chromium, args: BROWSER_ARGS });
});

after(async () => {
  await browser?.close();
  await new Promise((r) => (cdn ? cdn.close(r) : r()));
});

test('a returning browser downloads 0 bundle bytes; checkForUpdate swaps versions in place; a bad hash is refused', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const latest = `${cdnUrl}/rel/bundles/LATEST`;
  const load = async () => {
    await page.goto(`${cdnUrl}/index.html`);
    await page.waitForFunction(() => window.ready === true);
    return page.evaluate(async (u) => {
      window.engine = await window.Engine.fromUrl(u);
      return { version: window.engine.version(), source: window.engine.source(), n: window.engine.search({ text: 'shoe', topK: 3 }).results.length };
    }, latest);
  };
  const v1 = JSON.parse(readFileSync(join(work, 'site/rel/bundles/LATEST'), 'utf8'));
  const first = await load();
  assert.equal(first.version, v1.version);
  assert.equal(first.n, 3);
  assert.equal(first.source.fromCache, false);
  assert.equal(first.source.downloaded, v1.bytes);
  assert.equal(bundleBytesSent(), v1.bytes);

  const again = await load();
  assert.equal(again.version, v1.version);
  assert.deepEqual([again.source.fromCache, again.source.downloaded], [true, 0]);
  assert.equal(bundleBytesSent(), v1.bytes, 'the returning visit sent no bundle bytes');
  console.log(`# returning browser: ${bundleBytesSent() - v1.bytes} bundle bytes (first visit ${v1.bytes})`);

  assert.deepEqual(await page.evaluate(() => window.engine.checkForUpdate()), { updated: false, version: v1.version, downloaded: 0 });
  shopai('publish', join(work, 'v2.bin'), '--to', join(work, 'site/rel'), '--force');
  const v2 = JSON.parse(readFileSync(join(work, 'site/rel/bundles/LATEST'), 'utf8'));
  const upd = await page.evaluate(() => window.engine.checkForUpdate());
  assert.deepEqual(upd, { updated: true, version: v2.version, downloaded: v2.bytes });
  assert.equal(await page.evaluate(() => window.engine.search({ text: 'shoe', topK: 2 }).version), v2.version);

  // A pointer whose hash does not match the bytes: refused, and the engine keeps answering.
  writeFileSync(join(work, 'site/rel/bundles/LATEST'), JSON.stringify({ ...v1, sha256: 'f'.repeat(64) }));
  const err = await page.evaluate(() => window.engine.checkForUpdate().then(() => 'swapped', (e) => e.message));
  assert.match(err, /has sha256 .* names f{64}: not loaded/);
  assert.equal(await page.evaluate(() => window.engine.version()), v2.version);
  const topK = await page.evaluate(() => { try { window.engine.search({ text: 'x', topK: 2.5 }); return 'ok'; } catch (e) { return e.message; } });
  assert.equal(topK, 'topK must be a whole number between 1 and 100 (got 2.5)');
  writeFileSync(join(work, 'site/rel/bundles/LATEST'), JSON.stringify(v2));
  await ctx.close();
});

test("`import init, { Engine } from 'shopai-wasm'; await init()` works in Node 20", () => {
  const dir = project(tempDir('shopai-node-consumer-'));
  writeFileSync(join(dir, 'main.mjs'), `import init, { Engine, postFeedback } from 'shopai-wasm';
    import { readFileSync } from 'node:fs';
    await init();
    const e = Engine.fromBytes(readFileSync(process.argv[2]));
    const r = e.search({ text: 'shoe', topK: 2 });
    const refused = (f) => { try { f(); return null; } catch (err) { return err.message; } };
    const unknown = refused(() => e.search({ text: 'shoe', fitlers: { category: ['x'] } }));
    const typed = e.search({ vector: new Float32Array(e.manifest().embedding.dimensions).fill(0.1), topK: 3 });
    console.log(JSON.stringify({ version: e.version(), n: r.results.length, feedback: typeof postFeedback, unknown, typed: typed.results.length }));`);
  const r = spawnSync(process.execPath, [join(dir, 'main.mjs'), join(work, 'v1.bin')], { encoding: 'utf8', cwd: dir });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.n, 2);
  assert.equal(out.feedback, 'function');
  assert.match(out.unknown ?? 'accepted', /unknown field `fitlers`/, 'unknown request fields are refused, as at the edge');
  assert.equal(out.typed, 3, 'a Float32Array vector still works');
});

test('a real Vite build of a page that imports shopai-wasm answers in Chromium', { skip: !existsSync(join(ROOT, 'tests/node_modules/vite')) && 'vite not installed (cd tests && npm ci)' }, async () => {
  const dir = project(tempDir('shopai-vite-consumer-'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><script type="module" src="./main.js"></script>');
  writeFileSync(join(dir, 'main.js'), `import init, { Engine } from 'shopai-wasm';
    await init();
    const bytes = new Uint8Array(await (await fetch('./bundle.bin')).arrayBuffer());
    const e = Engine.fromBytes(bytes);
    window.answer = { version: e.version(), n: e.search({ text: 'shoe', topK: 4 }).results.length };`);
  mkdirSync(join(dir, 'public'));
  cpSync(join(work, 'v1.bin'), join(dir, 'public/bundle.bin'));
  const vite = join(ROOT, 'tests/node_modules/vite/bin/vite.js');
  const r = spawnSync(process.execPath, [vite, 'build', '--logLevel', 'warn'], { encoding: 'utf8', cwd: dir });
  assert.equal(r.status, 0, r.stderr + r.stdout);
  const server = await startCdn(join(dir, 'dist'));
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${server.address().port}/index.html`);
    await page.waitForFunction(() => window.answer, null, { timeout: 30000 });
    const a = await page.evaluate(() => window.answer);
    assert.equal(a.n, 4);
    await page.close();
  } finally {
    await new Promise((ok) => server.close(ok));
  }
});
