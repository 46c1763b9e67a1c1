// Release-loop figures, one run, same machine (see scripts/bench-release.sh):
//  1. fresh-instance first answer at the edge under wasmtime serve: mounted file vs the published
//     bundle read from the instance cache folder vs the published bundle with no cache (every
//     fresh instance downloads it from moto_server). A request after >1 s idle gets a fresh
//     instance (WASI P3 hosts drop idle instances after 1 s).
//  2. pickup time: from `shopai publish` returning to the first answer from the new version, with
//     bundle_revalidate_secs = 1 and 5.
//  3. bytes a returning browser downloads when the version did not change (Chromium, CDN stand-in).
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { ROOT, PATHS, shopai, tempDir, freePort, startProcess, waitFor, BROWSER_ARGS } from '../../tests/e2e/harness.mjs';

// playwright-core is a dependency of tests/ (installed by scripts/setup.sh), not of scripts/.
const { chromium } = createRequire(join(ROOT, 'tests/package.json'))('playwright-core');

const PY = process.env.SHOPAI_PYTHON || 'python3';
const work = tempDir('shopai-bench-release-');
const port = await freePort();
const endpoint = `http://127.0.0.1:${port}`;
const moto = startProcess(process.env.MOTO_SERVER || 'moto_server', ['-H', '127.0.0.1', '-p', String(port)]);
const procs = [moto];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
const env = { ...process.env, SHOPAI_S3_ENDPOINT: endpoint, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' };
const run = (...args) => {
  const r = spawnSync(PATHS.shopai, args, { encoding: 'utf8', env, cwd: work });
  if (r.status !== 0) throw new Error(`shopai ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout);
};
try {
  await waitFor(endpoint, moto);
  spawnSync(PY, [join(ROOT, 'tests/e2e/s3tool.py'), endpoint, 'create-bucket', 'shopai']);
  shopai('synth', '--out', join(work, 'raw'), '--items', String(process.env.ITEMS || 5000), '--users', '2000', '--seed', '4');
  const bundles = [];
  for (const v of ['a', 'b']) {
    const out = join(work, `${v}/bundle.bin`);
    mkdirSync(join(work, v));
    run('build', '--ratings', join(work, 'raw/ratings.csv'), '--catalog', join(work, 'raw/catalog.csv'), '--out', out, '--quiet');
    bundles.push(out);
    await sleep(1100);
  }
  const bytes = readFileSync(bundles[0]).length;
  run('publish', bundles[0], '--to', 's3://shopai/prod');
  const rows = [];

  const startEdge = async (vars, dirs) => {
    const ep = await freePort();
    const p = startProcess(PATHS.wasmtime, ['serve', '-Scli', '-Sp3', '-Wcomponent-model-async', '--addr', `127.0.0.1:${ep}`,
      ...dirs.flatMap((d) => ['--dir', d]), ...vars.flatMap((v) => ['--env', v]), PATHS.edgeWasm]);
    procs.push(p);
    const url = `http://127.0.0.1:${ep}`;
    await waitFor(`${url}/health`, p, 60000);
    return { url, p };
  };
  const s3vars = ['SHOPAI_BUNDLE_URL=s3://shopai/prod/bundles/LATEST', `SHOPAI_S3_ENDPOINT=${endpoint}`, 'AWS_ACCESS_KEY_ID=testing', 'AWS_SECRET_ACCESS_KEY=testing'];
  const fresh = async (label, vars, dirs, n = Number(process.env.N || 8)) => {
    const { url, p } = await startEdge(vars, dirs);
    const times = [];
    for (let i = 0; i < n; i += 1) {
      await sleep(1300);
      const t = performance.now();
      const r = await fetch(`${url}/search`, { method: 'POST', body: JSON.stringify({ query: 'shoe', top_k: 5 }) });
      await r.text();
      if (r.status !== 200) throw new Error(`${label}: HTTP ${r.status}`);
      times.push(performance.now() - t);
    }
    await p.stop();
    rows.push({ figure: 'fresh-instance first answer (ms, median)', case: label, value: +median(times).toFixed(1), n, bundle_bytes: bytes });
  };
  const cache = join(work, 'cache');
  mkdirSync(cache);
  await fresh('mounted file (--dir, SHOPAI_BUNDLE_PATH)', ['SHOPAI_BUNDLE_PATH=/data/bundle.bin'], [`${join(work, 'a')}::/data`]);
  await fresh('published, instance cache folder (revalidate 30 s)', [...s3vars, 'SHOPAI_BUNDLE_CACHE_DIR=/cache', 'SHOPAI_BUNDLE_REVALIDATE_SECS=30'], [`${cache}::/cache`]);
  await fresh('published, instance cache folder, revalidating every request (304)', [...s3vars, 'SHOPAI_BUNDLE_CACHE_DIR=/cache', 'SHOPAI_BUNDLE_REVALIDATE_SECS=0'], [`${cache}::/cache`]);
  await fresh('published, no cache (downloads per instance)', [...s3vars, 'SHOPAI_BUNDLE_REVALIDATE_SECS=30'], []);

  for (const secs of [1, 5]) {
    const { url, p } = await startEdge([...s3vars, 'SHOPAI_BUNDLE_CACHE_DIR=/cache', `SHOPAI_BUNDLE_REVALIDATE_SECS=${secs}`], [`${cache}::/cache`]);
    const picks = [];
    for (let i = 0; i < 3; i += 1) {
      const target = bundles[(i + 1) % 2];
      const want = JSON.parse(spawnSync(PATHS.shopai, ['inspect', target], { encoding: 'utf8' }).stdout).version;
      let stop = false;
      let firstNew = null;
      let published = null;
      let failed = 0;
      const loop = (async () => {
        while (!stop) {
          const r = await fetch(`${url}/search`, { method: 'POST', body: JSON.stringify({ query: 'shoe', top_k: 5 }) });
          const b = await r.json();
          if (r.status !== 200) failed += 1;
          if (published && firstNew === null && b.version === want) firstNew = performance.now();
        }
      })();
      run('publish', target, '--to', 's3://shopai/prod', '--force');
      published = performance.now();
      const until = Date.now() + 60000;
      while (firstNew === null && Date.now() < until) await sleep(10);
      stop = true;
      await loop;
      picks.push(firstNew - published);
      if (failed) throw new Error(`${failed} failed requests during the swap`);
    }
    await p.stop();
    rows.push({ figure: 'edge pickup of a new version (ms after publish returns, median of 3)', case: `bundle_revalidate_secs=${secs}, client looping`, value: +median(picks).toFixed(0), all: picks.map((x) => +x.toFixed(0)) });
  }

  // Browser: a returning shopper, same version.
  const site = join(work, 'site');
  mkdirSync(site);
  cpSync(PATHS.pkg, join(site, 'pkg'), { recursive: true });
  writeFileSync(join(site, 'index.html'), `<!doctype html><script type="module">
    import init, { Engine } from './pkg/js/web.js'; await init();
    const e = await Engine.fromUrl('/rel/bundles/LATEST'); window.src = e.source(); window.version = e.version();</script>`);
  run('publish', bundles[0], '--to', join(site, 'rel'));
  const sent = new Map();
  const server = createServer(async (req, res) => {
    try {
      const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
      const body = await readFile(join(site, path));
      const etag = `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
      const type = path.endsWith('.js') ? 'text/javascript' : path.endsWith('.wasm') ? 'application/wasm' : path.endsWith('.html') ? 'text/html' : 'application/octet-stream';
      if (req.headers['if-none-match'] === etag) { res.writeHead(304, { etag }); res.end(); return; }
      sent.set(path, (sent.get(path) || 0) + body.length);
      res.writeHead(200, { 'content-type': type, etag, 'cache-control': 'no-cache' });
      res.end(body);
    } catch { res.writeHead(404); res.end(); }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const browser = await chromium.launch({ executablePath: PATHS.chromium, args: BROWSER_ARGS });
  const page = await (await browser.newContext()).newPage();
  const visit = async () => {
    const before = new Map(sent);
    await page.goto(`http://127.0.0.1:${server.address().port}/index.html`);
    await page.waitForFunction(() => window.src);
    const delta = (f) => [...sent].filter(([p]) => f(p)).reduce((a, [p, n]) => a + n - (before.get(p) || 0), 0);
    return { bundle: delta((p) => p.endsWith('bundle.bin')), pointer: delta((p) => p.endsWith('LATEST')), all: delta(() => true), src: await page.evaluate(() => window.src) };
  };
  const v1 = await visit();
  const v2 = await visit();
  await browser.close();
  server.close();
  rows.push({ figure: 'browser bundle bytes downloaded', case: 'first visit', value: v1.bundle, pointer_bytes: v1.pointer, all_bytes: v1.all });
  rows.push({ figure: 'browser bundle bytes downloaded', case: 'returning visit, version unchanged', value: v2.bundle, pointer_bytes: v2.pointer, all_bytes: v2.all, from_cache: v2.src.fromCache });
  for (const r of rows) console.log(JSON.stringify(r));
} finally {
  for (const p of procs) await p.stop();
}
