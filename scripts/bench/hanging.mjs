// Long-tail /search against one edge for a bounded time (scripts/bench-hanging.sh): CONNS
// keep-alive connections, each sending its next request when the last is answered, every request
// timed on its own (no coordinated-omission correction: wrk adds, for each slow answer, the
// requests its connection would have sent meanwhile, which turns a few 300 ms trial calls into a
// p99 of ~190 ms). Prints one JSON line: req/s, p50/p99/p99.9/max in ms, how many answers took
// longer than 100 ms, and the answers' `degraded` reasons.
// Usage: node scripts/bench/hanging.mjs URL SECONDS CONNS LABEL
import http from 'node:http';

const [url, secs, conns, label] = process.argv.slice(2);
const { hostname, port } = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(conns) });
const words = ['star', 'wars', 'love', 'night', 'king', 'space', 'alien', 'crime', 'music', 'bond', 'toy', 'story', 'war',
  'horror', 'comedy', 'western', 'christmas', 'batman', 'detective', 'romance'];
let seq = 0;
const lat = [];
const reasons = {};
let errors = 0;

function one() {
  // Two words and a counter: never repeated, so no cache answers.
  const q = `${words[seq % words.length]} ${words[(seq * 7 + 3) % words.length]} ${seq++}`;
  const body = JSON.stringify({ query: q, top_k: 10 });
  const t0 = process.hrtime.bigint();
  return new Promise((ok) => {
    const req = http.request({ hostname, port, method: 'POST', path: '/search', agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let b = '';
      res.on('data', (d) => { b += d; });
      res.on('end', () => {
        lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (res.statusCode !== 200) errors++;
        let why = 'none';
        try { why = (JSON.parse(b).degraded || 'none').replace(/\d+(\.\d+)?/g, 'N').slice(0, 70); } catch { why = 'unparsable'; }
        reasons[why] = (reasons[why] || 0) + 1;
        ok();
      });
    });
    req.on('error', () => { errors++; ok(); });
    req.end(body);
  });
}

const end = Date.now() + Number(secs) * 1000;
const t0 = Date.now();
await Promise.all(Array.from({ length: Number(conns) }, async () => { while (Date.now() < end) await one(); }));
agent.destroy();
lat.sort((a, b) => a - b);
const q = (x) => +lat[Math.min(lat.length - 1, Math.floor(x * lat.length))].toFixed(2);
console.log(JSON.stringify({ label, requests: lat.length, rps: Math.round(lat.length / ((Date.now() - t0) / 1000)), errors,
  p50_ms: q(0.5), p99_ms: q(0.99), p999_ms: q(0.999), max_ms: q(1), over_100ms: lat.filter((x) => x > 100).length, degraded: reasons }));
