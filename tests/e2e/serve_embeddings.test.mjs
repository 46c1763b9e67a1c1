// `shopai serve-embeddings` (all-MiniLM-L6-v2 via candle) answers the official `openai` Python
// client on 127.0.0.1, and its vectors match sentence-transformers' reference values from
// EVAL_PROTOCOL.md (cosine ≥ 0.999 on the reference text).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, PATHS, freePort, startProcess, waitFor } from './harness.mjs';

const PY = process.env.SHOPAI_PYTHON || 'python3';
const MODEL_DIR = process.env.SHOPAI_MODEL_DIR;
const REFERENCE_TEXT = "Toy Story (1995): Animation Children's Comedy";
const REFERENCE = [-0.075079, 0.020103, 0.028026, -0.035066, 0.009232, 0.000031, 0.079752, 0.020904];
let server, url;

before(async () => {
  assert.ok(MODEL_DIR, 'SHOPAI_MODEL_DIR must name the model folder (scripts/setup.sh fetches it)');
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  server = startProcess(PATHS.shopai, ['serve-embeddings', '--model-dir', MODEL_DIR, '--addr', `127.0.0.1:${port}`]);
  await waitFor(`${url}/health`, server, 120000);
});

after(async () => {
  await server?.stop();
});

test('the official openai client gets reference-quality vectors', () => {
  const r = spawnSync(PY, [join(ROOT, 'tests/e2e/openai_client.py'), `${url}/v1`, 'all-MiniLM-L6-v2', REFERENCE_TEXT, 'an animated film for children', 'wireless earbuds'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.model, 'all-MiniLM-L6-v2');
  assert.equal(out.vectors.length, 3);
  assert.ok(out.tokens > 10);
  for (const v of out.vectors) {
    assert.equal(v.length, 384);
    assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-4, 'normalized like sentence-transformers');
  }
  const head = out.vectors[0].slice(0, 8);
  const dot = head.reduce((s, x, i) => s + x * REFERENCE[i], 0);
  const cos = dot / (Math.hypot(...head) * Math.hypot(...REFERENCE));
  assert.ok(cos >= 0.999, `cosine to the reference ${cos}`);
  head.forEach((x, i) => assert.ok(Math.abs(x - REFERENCE[i]) < 2e-3, `value ${i}: ${x} vs ${REFERENCE[i]}`));
  // Real semantics: the animated-film paraphrase is nearer to Toy Story than earbuds are.
  const sim = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
  assert.ok(sim(out.vectors[0], out.vectors[1]) > sim(out.vectors[0], out.vectors[2]) + 0.1);
});

test('bad requests are OpenAI-style JSON errors', async () => {
  const post = (body) => fetch(`${url}/v1/embeddings`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  let r = await post({ model: 'all-MiniLM-L6-v2', input: 'x', dimensions: 256 });
  assert.equal(r.status, 400);
  assert.match((await r.json()).error.message, /384 dimensions/);
  r = await post({ model: 'text-embedding-3-large', input: 'x' });
  assert.equal(r.status, 404);
  r = await fetch(`${url}/v1/embeddings`, { method: 'POST', body: '{nope' });
  assert.equal(r.status, 400);
  r = await post({ input: [] });
  assert.equal(r.status, 400);
});
