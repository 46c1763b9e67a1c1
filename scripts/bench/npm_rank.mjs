// Per-request time of the npm package under Node (the storefront path), for A/B of two builds:
// recommendations for 200 known shoppers and 200 two-item sessions, 200 searches; the fastest of
// ROUNDS passes, µs per request. ML-100k-shaped bundle (user ids 1–943, item ids 1–1682).
// usage: node scripts/bench/npm_rank.mjs PKG_DIR BUNDLE [ROUNDS, default 5]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
const [pkg, bundle, rounds] = [process.argv[2], process.argv[3], Number(process.argv[4] || 5)];
const mod = await import(join(pkg, 'shopai_wasm.js'));
await mod.default({ module_or_path: readFileSync(join(pkg, 'shopai_wasm_bg.wasm')) });
const engine = mod.Engine.fromBytes(readFileSync(bundle));
const users = Array.from({ length: 200 }, (_, i) => String(1 + (i * 7) % 943));
const time = (f) => { const t = []; for (let r = 0; r < rounds; r++) { const s = process.hrtime.bigint(); f(); t.push(Number(process.hrtime.bigint() - s) / 1e3); } t.sort((a, b) => a - b); return t[0]; };
for (let w = 0; w < 2; w++) users.forEach((u) => engine.recommend({ user_id: u, top_k: 10 }));
const rec = time(() => users.forEach((u) => engine.recommend({ user_id: u, top_k: 10 }))) / users.length;
const ses = time(() => users.forEach((u, i) => engine.recommend({ history: [String(1 + i % 1682), String(1 + (i * 13) % 1682)], top_k: 10 }))) / users.length;
const qs = ['star wars', 'love story', 'the godfather', 'toy adventure', 'murder mystery'];
const srch = time(() => { for (let k = 0; k < 40; k++) qs.forEach((q) => engine.search({ query: q, top_k: 10 })); }) / 200;
console.log(JSON.stringify({ pkg, recommend_user_us: rec.toFixed(1), recommend_session_us: ses.toFixed(1), search_us: srch.toFixed(1) }));
