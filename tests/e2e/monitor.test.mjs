// `shopai monitor` on the edge's own log lines: the edge under wasmtime serve answers a bounded
// mix of good, bad and degraded requests (queries embedded through fake_openai.py, which is then
// stopped), its stderr lines are captured, and the dashboard's counts and percentiles are checked
// against values computed here from the same lines. The lines are also checked against the
// schema of docs/LOG_SCHEMA.md. The dashboard is rendered in headless Chromium and screenshotted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync, readFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { ROOT, PATHS, shopai, tempDir, freePort, startProcess, waitFor, startEdge, jsonLines, logged, BROWSER_ARGS } from './harness.mjs';

const PY = process.env.SHOPAI_PYTHON || 'python3';
const SCREENSHOTS = process.env.SHOPAI_SCREENSHOTS || tempDir('shopai-shots-');
let work, fake, edge, lines, dash;

before(async () => {
  work = tempDir('shopai-monitor-');
  const port = await freePort();
  fake = startProcess(PY, [join(ROOT, 'tests/e2e/fake_openai.py'), String(port)]);
  await waitFor(`http://127.0.0.1:${port}/stats`, fake);
  shopai('synth', '--out', join(work, 'raw'), '--seed', '5', '--items', '200', '--users', '120');
  writeFileSync(join(work, 'shopai.toml'), `[openai]\nbase_url = "http://127.0.0.1:${port}/v1"\n[embeddings]\nprovider = "openai"\nmodel = "text-embedding-3-small"\ndimensions = 32\nusd_per_million_tokens = 0.0\n[paths]\ndata_dir = "${join(work, 'data')}"\nout_dir = "${join(work, 'out')}"\n`);
  const r = spawnSync(PATHS.shopai, ['--config', join(work, 'shopai.toml'), 'build', '--quiet', '--ratings', join(work, 'raw/ratings.csv'),
    '--catalog', join(work, 'raw/catalog.csv'), '--out', join(work, 'bundle.bin')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  edge = await startEdge(work, 'bundle.bin', [`SHOPAI_EMBEDDINGS_URL=http://127.0.0.1:${port}/v1`]);
});

after(async () => {
  await edge?.proc.stop();
  await fake?.stop();
});

const QUERIES = ['hiking boots', 'chef knife', 'warm winter coat', 'hiking boots', 'board game', 'chef knife', 'hiking boots'];

// Each request waits for its line: a repeated query then reaches the instance that cached it
// (harness.mjs, `logged`).
const send = (path, body, init = {}) => logged(edge.proc, async () => {
  const r = await fetch(edge.url + path, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), ...init });
  await r.arrayBuffer();
  return r.status;
});

test('the edge answers a bounded mix of good, bad and degraded requests', async () => {
  const statuses = [];
  for (const q of QUERIES) statuses.push(await send('/search', { query: q, top_k: 5 }));
  for (const h of [['P00001', 'P00002'], ['P00010'], ['NOT-A-PRODUCT']]) statuses.push(await send('/recommendations', { history: h, top_k: 5 }));
  statuses.push(await send('/recommendations', { user_id: 'U0003' }));
  statuses.push(await send('/search', '{oops'));                                        // 400 bad JSON
  statuses.push(await send('/search', { query: 'x', top_k: 0 }));                       // 422
  statuses.push(await send('/search', { query: 'x', bogus: 1 }));                       // 400 unknown field
  statuses.push(await send('/nope', {}));                                               // 404
  statuses.push((await fetch(edge.url + '/search', { method: 'DELETE' })).status);   // 405
  statuses.push(await send('/search', JSON.stringify({ query: 'y'.repeat(70000) })));  // 413
  statuses.push((await fetch(edge.url + '/health')).status);
  await fake.stop();                                                                    // embeddings endpoint gone
  for (const q of ['rain jacket', 'espresso maker', 'zzqxv unheard-of', 'zzqxv unheard-of']) statuses.push(await send('/search', { query: q }));
  assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 400, 422, 400, 404, 405, 413, 200, 200, 200, 200, 200]);
  await new Promise((r) => setTimeout(r, 300)); // let stderr drain
  lines = jsonLines(edge.proc).filter((l) => 'status' in l);
  // One line per request, plus the health check startEdge made before the test's requests.
  assert.equal(lines[0]?.route, '/health', edge.proc.log());
  assert.equal(lines.length, statuses.length + 1, edge.proc.log());
});

test('every edge log line follows docs/LOG_SCHEMA.md', () => {
  const nullable = (v, type) => v === null || typeof v === type;
  for (const l of lines) {
    const where = JSON.stringify(l);
    assert.match(l.ts ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, where);
    assert.equal(l.source, 'edge', where);
    for (const k of ['route', 'method']) assert.equal(typeof l[k], 'string', where);
    assert.equal(typeof l.status, 'number', where);
    assert.equal(typeof l.took_ms, 'number', where);
    assert.ok(nullable(l.version, 'string') && nullable(l.embed_ms, 'number') && nullable(l.results, 'number')
      && nullable(l.top_score, 'number') && nullable(l.degraded, 'string') && nullable(l.error, 'string'), where);
    for (const k of ['embed_cache', 'answer_cache']) assert.ok(l[k] === null || l[k] === 'hit' || l[k] === 'miss', where);
    assert.ok(!('query' in l) || typeof l.query === 'string', where);
  }
  const search = lines.filter((l) => l.route === '/search' && l.status === 200);
  // A repeated query is answered from the answer cache (so the embedding cache is not asked).
  const repeated = search.filter((l) => l.query === 'hiking boots');
  assert.deepEqual(repeated.map((l) => [l.answer_cache, l.embed_cache]), [['miss', 'miss'], ['hit', null], ['hit', null]]);
  assert.ok(search.filter((l) => l.degraded).length >= 4, 'searches after the endpoint stopped are degraded');
  assert.ok(lines.some((l) => l.status === 400 && l.error === 'bad_json'));
});

// Independent reference: nearest-rank percentile, as documented.
const pct = (xs, q) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.max(1, Math.ceil(q * s.length)) - 1] : 0; };
const near = (a, b) => Math.abs(a - b) < 1e-9;

test('the dashboard\'s counts and percentiles match the lines', () => {
  const logFile = join(work, 'edge.log');
  writeFileSync(logFile, edge.proc.log());
  const out = join(work, 'monitor');
  const r = spawnSync(PATHS.shopai, ['monitor', logFile, '--out', out, '--bucket', '1s'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  dash = JSON.parse(readFileSync(join(out, 'monitor.json'), 'utf8'));
  assert.equal(dash.lines.requests, lines.length);
  assert.equal(dash.lines.invalid, 0, JSON.stringify(dash.lines.invalid_examples));
  assert.equal(dash.overall.requests, lines.length);
  const routeOf = (l) => l.route ?? l.path;
  for (const route of new Set(lines.map(routeOf))) {
    const mine = lines.filter((l) => routeOf(l) === route);
    const got = dash.routes[route];
    assert.ok(got, route);
    assert.equal(got.requests, mine.length, route);
    assert.equal(got.server_errors, mine.filter((l) => l.status >= 500).length, route);
    assert.equal(got.client_errors, mine.filter((l) => l.status >= 400 && l.status < 500).length, route);
    const took = mine.map((l) => l.took_ms);
    for (const [k, q] of [['p50_ms', 0.5], ['p95_ms', 0.95], ['p99_ms', 0.99]]) assert.ok(near(got[k], pct(took, q)), `${route} ${k}: ${got[k]} vs ${pct(took, q)}`);
    assert.ok(near(got.max_ms, Math.max(...took)));
  }
  const degraded = lines.filter((l) => typeof l.degraded === 'string' ? l.degraded : l.degraded === true).length;
  assert.equal(dash.overall.degraded, degraded);
  const answered = lines.filter((l) => typeof l.results === 'number');
  assert.equal(dash.overall.answered, answered.length);
  assert.equal(dash.overall.zero_results, answered.filter((l) => l.results === 0).length);
  // Buckets partition the dated lines.
  const dated = lines.filter((l) => l.ts).length;
  assert.equal(dash.buckets.reduce((n, b) => n + b.overall.requests, 0), dated);
  if (dated) {
    const perVersion = {};
    for (const l of lines) perVersion[l.version ?? '(none)'] = (perVersion[l.version ?? '(none)'] ?? 0) + 1;
    assert.deepEqual(Object.fromEntries(Object.entries(dash.versions).map(([k, v]) => [k, v.requests])), perVersion);
    const counts = {};
    for (const l of lines.filter((x) => typeof x.query === 'string' && x.query)) counts[l.query] = (counts[l.query] ?? 0) + 1;
    assert.equal(dash.top_queries[0].count, Math.max(...Object.values(counts)));
    assert.ok(dash.top_zero_result_queries.some((q) => q.query.includes('zzqxv')), JSON.stringify(dash.top_zero_result_queries));
  }
});

test('--fail-on exits non-zero with one line naming the crossed threshold', () => {
  const logFile = join(work, 'edge.log');
  const bad = spawnSync(PATHS.shopai, ['monitor', logFile, '--out', join(work, 'alert'), '--fail-on', 'p99_ms>0,error_rate>0.99'], { encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  const errLines = bad.stderr.trim().split('\n');
  assert.equal(errLines.length, 1, bad.stderr);
  assert.match(errLines[0], /p99_ms>0/);
  assert.doesNotMatch(errLines[0], /error_rate/);
  const fine = spawnSync(PATHS.shopai, ['monitor', logFile, '--out', join(work, 'alert'), '--fail-on', 'p99_ms>100000,client_error_rate>0.9'], { encoding: 'utf8' });
  assert.equal(fine.status, 0, fine.stderr);
  const typo = spawnSync(PATHS.shopai, ['monitor', logFile, '--out', join(work, 'alert'), '--fail-on', 'p98_ms>1'], { encoding: 'utf8' });
  assert.notEqual(typo.status, 0);
  assert.match(typo.stderr, /unknown metric/);
  // The same lines from stdin give the same figures.
  const piped = spawnSync(PATHS.shopai, ['monitor', '--out', join(work, 'stdin')], { input: readFileSync(logFile), encoding: 'utf8' });
  assert.equal(piped.status, 0, piped.stderr);
  assert.deepEqual(JSON.parse(readFileSync(join(work, 'stdin/monitor.json'), 'utf8')).overall, dash.overall);
});

test('the dashboard renders in headless Chromium', async () => {
  const browser = await chromium.launch({ executablePath: PATHS.chromium, args: BROWSER_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto('file://' + join(work, 'monitor/monitor.html'));
    const charts = await page.$$eval('figure svg', (svgs) => svgs.map((s) => { const b = s.getBoundingClientRect(); return [b.width, b.height, s.querySelectorAll('rect,polyline').length]; }));
    assert.ok(charts.length >= 3, JSON.stringify(charts));
    for (const [w, h, marks] of charts) assert.ok(w > 300 && h > 100 && marks > 0, JSON.stringify(charts));
    const cell = await page.$eval('table tr:nth-child(2) td', (td) => td.textContent);
    assert.equal(Number(cell), lines.length);
    mkdirSync(SCREENSHOTS, { recursive: true });
    const png = await page.screenshot({ path: join(SCREENSHOTS, 'monitor.png'), fullPage: true });
    copyFileSync(join(work, 'monitor/monitor.html'), join(SCREENSHOTS, 'monitor.html'));
    assert.ok(png.length > 20000);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
