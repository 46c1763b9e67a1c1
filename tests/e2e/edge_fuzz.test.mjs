// Contract fuzzing: the OpenAPI document validates (openapi-spec-validator), and schemathesis,
// driven by it against the edge under `wasmtime serve`, finds no 5xx, no response the spec does
// not allow and no crash. Bounded by examples per operation, a fixed seed and a time cap.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { homedir } from 'node:os';
import { ROOT, fixtureBundle, startEdge } from './harness.mjs';

const VENV = process.env.SHOPAI_VENV || join(homedir(), '.shopai/venv');
const SPEC = join(ROOT, 'crates/edge/openapi.json');
let edge;

before(async () => {
  const fx = fixtureBundle();
  edge = await startEdge(fx.dir);
});

after(async () => {
  await edge?.proc.stop();
});

test('the OpenAPI document is valid OpenAPI 3.1', () => {
  const r = spawnSync(join(VENV, 'bin/openapi-spec-validator'), [SPEC], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

/** Run a command to its end without blocking the event loop (spawnSync would stop this process
 * from draining the edge's stderr pipe; the edge, logging a line per request, would then block). */
function run(cmd, args, timeoutMs) {
  return new Promise((ok) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (status, signal) => ok({ status, signal, stdout, stderr }));
  });
}

test('schemathesis finds no 5xx, no spec violation and no crash', async () => {
  const checks = 'not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection';
  const r = await run(join(VENV, 'bin/schemathesis'), [
    'run', `${edge.url}/openapi.json`, '--checks', checks, '--max-examples', '40', '--seed', '7',
    '--workers', '1', '--max-time', '120', '--phases', 'examples,coverage,fuzzing', '--generation-database', 'none',
    '--request-timeout', '10', '--suppress-health-check', 'all', '--no-color',
  ], 240000);
  assert.equal(r.status, 0, `schemathesis (${r.signal ?? r.status}):\n${r.stdout.slice(-6000)}\n${r.stderr.slice(-2000)}`);
  assert.match(r.stdout, /passed/i);
  assert.equal(edge.proc.child.exitCode, null, 'the component host is still running');
});

test('the edge still answers after the fuzzing', async () => {
  const r = await fetch(`${edge.url}/search`, { method: 'POST', body: JSON.stringify({ query: 'lamp', top_k: 2 }) });
  assert.equal(r.status, 200);
  assert.equal((await r.json()).results.length, 2);
});
