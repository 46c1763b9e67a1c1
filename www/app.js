// ShopAI storefront demo: the npm package answers search and recommendations in the browser.
// The bundle URL can be overridden with ?bundle=URL. Whether a text query needs a query vector
// is the engine's call (engine.needsQueryVector: the bundle's model is not one it runs itself);
// then ?embeddings=URL names an OpenAI-compatible /v1/embeddings endpoint that needs no key in
// the browser (the edge's); without it, or when it fails, search is lexical and the page says
// so. window.shopai exposes the engine for tests.
import init, { Engine } from './pkg/shopai_wasm.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const bundleUrl = params.get('bundle') || './bundle.bin';
const embeddingsUrl = params.get('embeddings');
const history = JSON.parse(sessionStorage.getItem('shopai.history') || '[]');
let engine;
let titles = new Map();

function card(item, { why } = {}) {
  const li = document.createElement('li');
  li.dataset.productId = item.product_id;
  if (history.includes(item.product_id)) li.classList.add('seen');
  const title = document.createElement('div');
  title.className = 'title';
  title.textContent = item.title;
  const meta = document.createElement('div');
  meta.className = 'meta';
  meta.textContent = `${item.categories.join(' · ')} — score ${item.score.toFixed(3)}`;
  li.append(title, meta);
  if (why && item.because?.length) {
    const w = document.createElement('div');
    w.className = 'why';
    w.textContent = 'Because you viewed ' + item.because.map((id) => titles.get(id) || id).join(' and ');
    li.append(w);
  }
  li.addEventListener('click', () => view(item));
  return li;
}

function view(item) {
  titles.set(item.product_id, item.title);
  if (!history.includes(item.product_id)) history.push(item.product_id);
  sessionStorage.setItem('shopai.history', JSON.stringify(history));
  renderRecs();
}

function renderRecs() {
  const t0 = performance.now();
  const res = engine.recommend({ history, topK: 8, excludeSeen: true });
  const ms = performance.now() - t0;
  $('recs').replaceChildren(...res.results.map((r) => card(r, { why: true })));
  $('history-hint').textContent = history.length
    ? `Session: ${history.length} product(s) viewed · ${res.source} · ${ms.toFixed(1)} ms in your browser`
    : 'Popular right now. Click products to personalize; everything runs in your browser.';
}

/** The query vector for `request` from the embeddings endpoint when the engine needs one, or why there is none. */
async function queryVector(request) {
  if (!engine.needsQueryVector(request)) return {}; // the engine embeds the text itself
  const text = request.text;
  const model = engine.manifest().embedding.model;
  if (!embeddingsUrl) return { why: 'no embeddings endpoint configured (?embeddings=URL)' };
  try {
    // text/plain keeps this a simple CORS request (no preflight); the body is JSON all the same.
    const r = await fetch(embeddingsUrl, { method: 'POST', body: JSON.stringify({ model, input: text }) });
    if (!r.ok) return { why: `embeddings endpoint answered ${r.status}` };
    return { vector: (await r.json()).data[0].embedding };
  } catch (e) {
    return { why: `embeddings endpoint unreachable (${e.message})` };
  }
}

async function runSearch(ev) {
  ev?.preventDefault();
  const text = $('q').value.trim();
  if (!text) return;
  const category = $('category').value;
  const t0 = performance.now();
  try {
    const request = { text, topK: 10, filters: category ? { category: [category] } : {} };
    const { vector, why } = await queryVector(request);
    const t1 = performance.now();
    const res = engine.search({ ...request, vector });
    res.results.forEach((r) => titles.set(r.product_id, r.title));
    $('results').replaceChildren(...res.results.map((r) => card(r)));
    const how = res.degraded ? `${res.degraded}${why ? ` (${why})` : ''}` : vector ? `semantic (query vector ${(t1 - t0).toFixed(0)} ms)` : 'local';
    $('status').textContent = `${res.results.length} results in ${(performance.now() - t1).toFixed(1)} ms · ${how} · bundle ${res.version}`;
    $('status').dataset.mode = res.degraded ? 'lexical' : vector ? 'semantic' : 'local';
  } catch (e) {
    $('status').textContent = `Search failed: ${e.message}`;
  }
}

async function main() {
  await init();
  const t0 = performance.now();
  engine = await Engine.fromUrl(bundleUrl);
  const m = engine.manifest();
  $('status').textContent = `Bundle ${m.version}: ${m.counts.items} products, loaded in ${(performance.now() - t0).toFixed(0)} ms (${(engine.sizeBytes() / 1024).toFixed(0)} KiB)`;
  $('footer').textContent = `Embedding model ${m.embedding.model} (${m.embedding.dimensions}-d, ${m.embedding.quantization}); built ${m.created_at}.`;
  // Every category the bundle knows: what the filter accepts.
  [...engine.categories()].sort().forEach((c) => $('category').append(new Option(c, c)));
  $('search-form').addEventListener('submit', runSearch);
  $('clear').addEventListener('click', () => { history.length = 0; sessionStorage.removeItem('shopai.history'); renderRecs(); });
  renderRecs();
  return engine;
}

const ready = main().catch((e) => {
  $('status').textContent = `Could not start: ${e.message}`;
  throw e;
});
window.shopai = { ready, get engine() { return engine; } };
