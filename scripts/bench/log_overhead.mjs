// What the one-line-per-request log costs (issue 11): the same edge component served twice by
// `wasmtime serve` on loopback, with the request log on (its stderr appended to a file, as a host
// collects it) and off (SHOPAI_LOG_REQUESTS=off). One keep-alive client sends requests back to
// back (reused instances); rounds alternate which server goes first, so drift hits both alike.
// Usage: node scripts/bench/log_overhead.mjs EDGE_WASM BUNDLE_DIR OUT_DIR [ROUNDS] [N]
import { spawn } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';

const [wasm, bundleDir, outDir, roundsArg, nArg] = process.argv.slice(2);
const ROUNDS = Number(roundsArg || 7);
const N = Number(nArg || 2000);
const WASMTIME = process.env.SHOPAI_WASMTIME || 'wasmtime';
const freePort = () => new Promise((ok) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => ok(p)); }); });
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function call(port, method, path, body) {
  return new Promise((ok, fail) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {} }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? ok() : fail(new Error(`${method} ${path}: HTTP ${res.statusCode}`))));
    });
    req.on('error', fail);
    req.end(body);
  });
}

async function start(name, log) {
  const port = await freePort();
  const stderr = openSync(join(outDir, `${name}.log`), 'a');
  // EDGE_ENV: more settings for both servers, e.g. SHOPAI_ANSWER_CACHE_ENTRIES=0 (every answer ranked).
  const extra = (process.env.EDGE_ENV || '').split(/\s+/).filter(Boolean).flatMap((kv) => ['--env', kv]);
  const env = ['--env', 'SHOPAI_BUNDLE_PATH=/data/bundle.bin', '--env', `SHOPAI_LOG_REQUESTS=${log ? 'on' : 'off'}`, ...extra];
  const child = spawn(WASMTIME, ['serve', '-Scli', '-Sp3', '-Wcomponent-model-async', '--addr', `127.0.0.1:${port}`,
    '--dir', `${bundleDir}::/data`, ...env, wasm], { stdio: ['ignore', 'ignore', stderr] });
  for (let i = 0; i < 200; i++) {
    try { await call(port, 'GET', '/health'); return { name, port, child }; } catch { await new Promise((r) => setTimeout(r, 100)); }
  }
  throw new Error(`${name} did not start`);
}

// CPU seconds (user + system) the server process has used: less sensitive to a busy machine than
// latency, since time spent waiting for a core is not counted.
const TICK = 100; // USER_HZ on Linux
const cpu = (pid) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) / TICK; };

async function timeRun(s, method, path, body) {
  for (let i = 0; i < 100; i++) await call(s.port, method, path, body);
  const c0 = cpu(s.child.pid);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) await call(s.port, method, path, body);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6 / N;
  return { ms, cpu_us: ((cpu(s.child.pid) - c0) * 1e6) / N };
}

const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const servers = [await start('log-on', true), await start('log-off', false)];
try {
  const cases = [['GET /health', 'GET', '/health', undefined], ['POST /search', 'POST', '/search', '{"query":"star wars","top_k":10}'],
    ['POST /recommendations', 'POST', '/recommendations', '{"history":["50","172"],"top_k":10}']];
  for (const [label, method, path, body] of cases) {
    const got = { 'log-on': [], 'log-off': [] };
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 ? [...servers].reverse() : servers;
      for (const s of order) got[s.name].push(await timeRun(s, method, path, body));
    }
    const on = median(got['log-on'].map((x) => x.ms));
    const off = median(got['log-off'].map((x) => x.ms));
    const cpuOn = median(got['log-on'].map((x) => x.cpu_us));
    const cpuOff = median(got['log-off'].map((x) => x.cpu_us));
    console.log(JSON.stringify({ case: label, edge_env: process.env.EDGE_ENV || '', rounds: ROUNDS, requests_per_round: N,
      ms_per_request_log_on: +on.toFixed(4), ms_per_request_log_off: +off.toFixed(4), latency_overhead_pct: +((on / off - 1) * 100).toFixed(2),
      server_cpu_us_per_request_log_on: +cpuOn.toFixed(1), server_cpu_us_per_request_log_off: +cpuOff.toFixed(1), cpu_overhead_pct: +((cpuOn / cpuOff - 1) * 100).toFixed(2),
      rounds_ms_on: got['log-on'].map((x) => +x.ms.toFixed(4)), rounds_ms_off: got['log-off'].map((x) => +x.ms.toFixed(4)) }));
  }
} finally {
  for (const s of servers) s.child.kill();
  agent.destroy();
}
