// The npm package under Node: per-query latency (median/p95 over all queries, top-10) and
// recall@10 against exact brute force, on a bundle written by `shopai bench-search --out`.
// usage: node search-node.mjs PKG_DIR BUNDLE BASE.f32 QUERIES.f32 DIM N
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const [pkg, bundlePath, basePath, queryPath, dimS, nS] = process.argv.slice(2);
const D = Number(dimS), N = Number(nS), K = 10;
const mod = await import(join(pkg, 'shopai_wasm.js'));
await mod.default({ module_or_path: readFileSync(join(pkg, 'shopai_wasm_bg.wasm')) });
const f32 = (p) => { const b = readFileSync(p); return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4); };
const base = f32(basePath).subarray(0, N * D);
const qs = f32(queryPath);
const NQ = qs.length / D;
const t0 = performance.now();
const engine = mod.Engine.fromBytes(readFileSync(bundlePath));
const loadMs = performance.now() - t0;
const lat = [];
let hits = 0;
for (let q = 0; q < NQ; q++) {
  const qv = qs.subarray(q * D, (q + 1) * D);
  const vector = Array.from(qv);
  const s = performance.now();
  const res = engine.search({ vector, topK: K });
  lat.push(performance.now() - s);
  if (res.results.length !== K) throw new Error(`expected ${K} results, got ${res.results.length}`);
  // exact top-10 (not timed)
  const scores = new Float32Array(N);
  for (let i = 0; i < N; i++) { let d = 0; const o = i * D; for (let j = 0; j < D; j++) d += base[o + j] * qv[j]; scores[i] = d; }
  const gt = new Set([...scores.keys()].sort((a, b) => scores[b] - scores[a] || a - b).slice(0, K).map(String));
  hits += res.results.filter((r) => gt.has(r.product_id)).length;
}
lat.sort((a, b) => a - b);
console.log(JSON.stringify({ impl: 'shopai-wasm (Node ' + process.version + ')', n: N, d: D, load_ms: loadMs,
  median_ms: lat[Math.floor(lat.length / 2)], p95_ms: lat[Math.floor(lat.length * 0.95)], recall_at_10: hits / (NQ * K) }));
