// Shared helpers for the cross-runtime tests: locate build outputs, pick free ports, start servers
// on 127.0.0.1 and stop them by PID whatever happens.
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, cpSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TARGET = process.env.CARGO_TARGET_DIR || join(ROOT, 'target');
export const PATHS = {
  shopai: process.env.SHOPAI_BIN || join(TARGET, 'release/shopai'),
  pkg: process.env.SHOPAI_PKG || join(ROOT, 'crates/wasm/pkg'),
  edgeWasm: process.env.SHOPAI_EDGE_WASM || join(TARGET, 'wasm32-wasip2/release/shopai_edge.wasm'),
  wasmtime: process.env.WASMTIME || 'wasmtime',
  chromium: process.env.CHROMIUM || '/usr/bin/chromium',
};

const children = new Set();
process.on('exit', () => children.forEach((c) => { try { process.kill(c.pid, 'SIGKILL'); } catch {} }));

export function tempDir(prefix) {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Run the native CLI; returns stdout, throws with stderr on failure. */
export function shopai(...args) {
  const r = spawnSync(PATHS.shopai, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`shopai ${args.join(' ')} failed (${r.status}): ${r.stderr || r.error}`);
  return r.stdout;
}

/** A synthetic storefront and its bundle, made with the CLI. */
export function fixtureBundle() {
  const dir = tempDir('shopai-fixture-');
  shopai('synth', '--out', dir, '--seed', '7');
  shopai('build', '--ratings', join(dir, 'ratings.csv'), '--catalog', join(dir, 'catalog.csv'), '--out', join(dir, 'bundle.bin'), '--quiet');
  return { dir, bundle: join(dir, 'bundle.bin') };
}

export function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => ok(port)); });
  });
}

/** Start a long-running process; `stop()` kills it by PID. */
export function startProcess(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  children.add(child);
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  return {
    child,
    log: () => log,
    // Idempotent: a child that exited (by code or by signal) is left alone.
    stop: () => new Promise((ok) => {
      children.delete(child);
      if (child.exitCode !== null || child.signalCode !== null) return ok();
      child.once('exit', () => ok());
      try { process.kill(child.pid, 'SIGTERM'); } catch { return ok(); }
      setTimeout(() => { try { process.kill(child.pid, 'SIGKILL'); } catch {} }, 3000).unref();
    }),
  };
}

/** The JSON lines a server wrote. `wasmtime serve` (48) prefixes a guest's lines with
 * `stderr [N] :: `; Spin and the native servers do not. */
export function jsonLines(proc) {
  return proc.log().split('\n').map((l) => l.replace(/^(stdout|stderr) \[\d+\] :: /, ''))
    .filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}

/**
 * `send()` (one request to the edge served by `proc`), then wait until the edge has logged its
 * line. A request's task ends only after its line is written, and while an instance is still
 * running a task `wasmtime serve` hands the next request to a fresh instance, whose per-instance
 * caches are empty: a test that expects a per-instance cache hit sends the earlier request so.
 */
export async function logged(proc, send, timeoutMs = 10000) {
  const count = () => jsonLines(proc).filter((l) => l.route).length;
  const seen = count();
  const result = await send();
  const deadline = Date.now() + timeoutMs;
  while (count() <= seen && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return result;
}

export async function waitFor(url, proc, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc && (proc.child.exitCode !== null || proc.child.signalCode !== null)) throw new Error(`server exited: ${proc.log()}`);
    try { const r = await fetch(url); if (r.status < 500) return; } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${url}: ${proc?.log()}`);
}

/** Serve the edge component with wasmtime on a free loopback port, the bundle mounted at /data
 * (writable); `serveFlags` go to `wasmtime serve` (e.g. `--max-instance-reuse-count`). */
export async function startEdge(bundleDir, bundleName = 'bundle.bin', extraEnv = [], serveFlags = [], wasm = PATHS.edgeWasm) {
  const port = await freePort();
  const mount = bundleDir ? ['--dir', `${bundleDir}::/data`, '--env', `SHOPAI_BUNDLE_PATH=/data/${bundleName}`] : [];
  const args = ['serve', '-Scli', '-Sp3', '-Wcomponent-model-async', ...serveFlags, '--addr', `127.0.0.1:${port}`,
    ...mount, ...extraEnv.flatMap((e) => ['--env', e]), wasm];
  const proc = startProcess(PATHS.wasmtime, args);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(`${url}/health`, proc);
  } catch (e) {
    // Not handed to the caller, so stopped here: a live child would keep the test run waiting.
    await proc.stop();
    throw e;
  }
  return { url, proc };
}

/** A web root with the www page, the npm package and the bundle. */
export function webRoot(bundlePath) {
  const dir = tempDir('shopai-www-');
  cpSync(join(ROOT, 'www'), dir, { recursive: true });
  mkdirSync(join(dir, 'pkg'), { recursive: true });
  cpSync(PATHS.pkg, join(dir, 'pkg'), { recursive: true });
  cpSync(bundlePath, join(dir, 'bundle.bin'));
  return dir;
}

export const BROWSER_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'];
