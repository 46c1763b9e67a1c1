// The optional generated answer on /search (`"answer": true`) under `wasmtime serve`, against
// fake_openai.py's chat completions injecting slow, failing and malformed replies: the answer is
// grounded in the top results and costed; the results always come back; `answer_error` says why
// there is no answer; with no chat model configured the answer is "unavailable", not an error.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ROOT, fixtureBundle, freePort, startProcess, waitFor, startEdge, logged } from './harness.mjs';

const PYTHON = process.env.SHOPAI_PYTHON || 'python3';
let fx;
const running = [];

before(() => {
  fx = fixtureBundle();
});

after(async () => {
  for (const p of running) await p.stop();
});

const ask = async (e, query) => {
  const r = await fetch(`${e.url}/search`, { method: 'POST', body: JSON.stringify({ query, top_k: 3, answer: true }) });
  assert.equal(r.status, 200, await r.clone().text());
  const body = await r.json();
  assert.equal(body.results.length, 3, 'results always come back');
  return body;
};

test('with no chat model configured the answer is unavailable and the results are there', async () => {
  const e = await startEdge(fx.dir);
  running.push(e.proc);
  const body = await ask(e, 'lamp');
  assert.match(body.answer_error, /answer unavailable: no chat model configured/);
  assert.equal(body.answer, undefined);
});

test('answers are grounded in the top results, costed, cached; failures say why', async () => {
  const port = await freePort();
  const fake = startProcess(PYTHON, [join(ROOT, 'tests/e2e/fake_openai.py'), String(port), '', 'ok,slow,500,malformed,empty']);
  running.push(fake);
  await waitFor(`http://127.0.0.1:${port}/stats`, fake);
  const e = await startEdge(fx.dir, 'bundle.bin', [`SHOPAI_CHAT_URL=http://127.0.0.1:${port}/v1`, 'SHOPAI_CHAT_MODEL=fake-chat',
    'SHOPAI_ANSWER_TIMEOUT_MS=300', 'SHOPAI_CHAT_USD_PER_MILLION_TOKENS=2']);
  running.push(e.proc);
  const ok = await logged(e.proc, () => ask(e, 'cotton shirt'));
  // The fake echoes the prompt: the question and the top results with their ids.
  assert.match(ok.answer, /^Summary: Question: cotton shirt\nProducts:\n/);
  for (const r of ok.results) assert.ok(ok.answer.includes(`[${r.product_id}] ${r.title}`), r.product_id);
  const u = ok.answer_usage;
  assert.equal(u.completion_tokens, 10);
  assert.equal(u.cost_usd, ((u.prompt_tokens + u.completion_tokens) * 2) / 1e6);
  assert.equal(u.instance_cost_usd, u.cost_usd);
  const again = await ask(e, 'cotton shirt');
  assert.equal(again.answer, ok.answer, 'a repeated question is answered from the answer cache');
  const stats = async () => (await fetch(`http://127.0.0.1:${port}/stats`)).json();
  assert.equal((await stats()).chat, 1);
  const reasons = [];
  for (const q of ['desk lamp', 'wool socks', 'steel pan', 'glass vase']) {
    const b = await ask(e, q);
    assert.equal(b.answer, undefined);
    reasons.push(b.answer_error);
  }
  assert.match(reasons[0], /answer generation failed: timed out after 300 ms/);
  assert.match(reasons[1], /HTTP 500/);
  assert.match(reasons[2], /malformed chat reply/);
  assert.match(reasons[3], /no choices/);
  assert.equal((await stats()).chat, 5, 'one call per failed question: no retries against a paid model');
  const failedAgain = await ask(e, 'desk lamp');
  assert.ok(failedAgain.answer, 'a failed answer was not cached: asked again, it is generated');
});
