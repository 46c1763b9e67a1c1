// What the one-line-per-request log costs (issue 11): the same edge component served twice by
// `wasmtime serve` (or real Spin, RUNTIME=spin) on loopback, with the request log on (its stderr
// appended to a file, as a host collects it) and off (SHOPAI_LOG_REQUESTS=off). One keep-alive
// connection per server; requests are interleaved one by one (on, off, off, on, …), so whatever
// the shared machine does at a given moment hits both servers alike, and each request is timed
// on its own.
// Usage: node scripts/bench/log_overhead.mjs EDGE_WASM BUNDLE_DIR OUT_DIR [BLOCKS] [N per block]
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';

const [wasm, bundleDir, outDir, blocksArg, nArg] = process.argv.slice(2);
const BLOCKS = Number(blocksArg || 7);
const N = Number(nArg || 2000);
const WASMTIME = process.env.SHOPAI_WASMTIME || 'wasmtime';
// RUNTIME=spin serves both under real Spin (`spin` on PATH) instead of `wasmtime serve`.
const RUNTIME = process.env.RUNTIME || 'wasmtime';
const SPIN = process.env.SHOPAI_SPIN || 'spin';
const freePort = () => new Promise((ok) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => ok(p)); }); });

function call(s, method, path, body) {
  return new Promise((ok, fail) => {
    const t0 = process.hrtime.bigint();
    const req = http.request({ host: '127.0.0.1', port: s.port, method, path, agent: s.agent, headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {} }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? ok(Number(process.hrtime.bigint() - t0) / 1e6) : fail(new Error(`${method} ${path}: HTTP ${res.statusCode}`))));
    });
    req.on('error', fail);
    req.end(body);
  });
}

async function start(name, log) {
  const port = await freePort();
  const stderr = openSync(join(outDir, `${name}.log`), 'a');
  // EDGE_ENV: more settings for both servers, e.g. SHOPAI_ANSWER_CACHE_ENTRIES=0 (every answer ranked).
  const settings = ['SHOPAI_BUNDLE_PATH=/data/bundle.bin', `SHOPAI_LOG_REQUESTS=${log ? 'on' : 'off'}`,
    ...(process.env.EDGE_ENV || '').split(/\s+/).filter(Boolean)];
  let child;
  if (RUNTIME === 'spin') {
    // Real Spin with one sink for component output, as a deployment has one: `--quiet` drops the
    // copy on Spin's terminal and the lines go to `.spin/logs/c_stderr.txt` (`spin up` refuses
    // the empty `--log-dir` that would keep the terminal copy instead).
    const app = join(outDir, name);
    mkdirSync(join(app, 'data'), { recursive: true });
    copyFileSync(join(bundleDir, 'bundle.bin'), join(app, 'data', 'bundle.bin'));
    writeFileSync(join(app, 'spin.toml'), `spin_manifest_version = 2\n[application]\nname = "${name}"\n[[trigger.http]]\nroute = "/..."\ncomponent = "c"\n[component.c]\nsource = "${wasm}"\nfiles = [{ source = "data", destination = "/data" }]\n`);
    child = spawn(SPIN, ['up', '-f', join(app, 'spin.toml'), '--listen', `127.0.0.1:${port}`, '--direct-mounts', '--quiet',
      ...settings.flatMap((kv) => ['-e', kv])], { cwd: app, stdio: ['ignore', stderr, stderr] });
  } else {
    // WASMTIME_FLAGS: more `wasmtime serve` flags for both servers, e.g. --no-logging-prefix.
    child = spawn(WASMTIME, ['serve', '-Scli', '-Sp3', '-Wcomponent-model-async', ...(process.env.WASMTIME_FLAGS || '').split(/\s+/).filter(Boolean), '--addr', `127.0.0.1:${port}`,
      '--dir', `${bundleDir}::/data`, ...settings.flatMap((kv) => ['--env', kv]), wasm], { stdio: ['ignore', 'ignore', stderr] });
  }
  const s = { name, port, child, agent: new http.Agent({ keepAlive: true, maxSockets: 1 }) };
  for (let i = 0; i < 200; i++) {
    try { await call(s, 'GET', '/health'); return s; } catch { await new Promise((r) => setTimeout(r, 100)); }
  }
  throw new Error(`${name} did not start`);
}

// CPU seconds (user + system) the server process has used: both servers run over the same wall
// time, so a busy machine disturbs the two alike.
const TICK = 100; // USER_HZ on Linux
const ownCpu = (pid) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) / TICK; };
// The server and every process under it (`spin up` runs its trigger as a child process).
const children = (pid) => { try { return readdirSync(`/proc/${pid}/task`).flatMap((t) => readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)); } catch { return []; } };
const cpu = (pid) => { try { return ownCpu(pid) + children(pid).reduce((a, c) => a + cpu(c), 0); } catch { return 0; } };
const quantile = (a, q) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(q * s.length))]; };
const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;
const pct = (on, off) => +((on / off - 1) * 100).toFixed(2);

const [on, off] = [await start('log-on', true), await start('log-off', false)];
try {
  const cases = [['GET /health', 'GET', '/health', undefined], ['POST /search', 'POST', '/search', '{"query":"star wars","top_k":10}'],
    ['POST /recommendations', 'POST', '/recommendations', '{"history":["50","172"],"top_k":10}']];
  for (const [label, method, path, body] of cases) {
    for (let i = 0; i < 200; i++) { await call(on, method, path, body); await call(off, method, path, body); }
    const lat = { on: [], off: [] };
    const blockMean = { on: [], off: [] };
    const c0 = { on: cpu(on.child.pid), off: cpu(off.child.pid) };
    for (let b = 0; b < BLOCKS; b++) {
      const block = { on: [], off: [] };
      for (let i = 0; i < N; i++) {
        // Alternate who goes first, so neither always follows the other's work.
        const pair = i % 2 ? [[off, 'off'], [on, 'on']] : [[on, 'on'], [off, 'off']];
        for (const [s, k] of pair) block[k].push(await call(s, method, path, body));
      }
      for (const k of ['on', 'off']) { lat[k].push(...block[k]); blockMean[k].push(mean(block[k])); }
    }
    const cpuUs = { on: ((cpu(on.child.pid) - c0.on) * 1e6) / (BLOCKS * N), off: ((cpu(off.child.pid) - c0.off) * 1e6) / (BLOCKS * N) };
    const blockPct = blockMean.on.map((m, b) => pct(m, blockMean.off[b]));
    const r = (x) => +x.toFixed(4);
    console.log(JSON.stringify({ runtime: RUNTIME, case: label, edge_env: process.env.EDGE_ENV || '', blocks: BLOCKS, requests_per_block_per_server: N,
      median_ms_on: r(quantile(lat.on, 0.5)), median_ms_off: r(quantile(lat.off, 0.5)), median_overhead_pct: pct(quantile(lat.on, 0.5), quantile(lat.off, 0.5)),
      mean_ms_on: r(mean(lat.on)), mean_ms_off: r(mean(lat.off)), mean_overhead_pct: pct(mean(lat.on), mean(lat.off)),
      block_mean_overhead_pct: blockPct,
      server_cpu_us_per_request_on: +cpuUs.on.toFixed(1), server_cpu_us_per_request_off: +cpuUs.off.toFixed(1), cpu_overhead_pct: pct(cpuUs.on, cpuUs.off) }));
  }
} finally {
  for (const s of [on, off]) { s.child.kill(); s.agent.destroy(); }
}
