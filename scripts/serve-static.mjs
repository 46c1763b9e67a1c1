#!/usr/bin/env node
// Minimal static file server for the demo page and browser tests: 127.0.0.1 only, correct MIME
// types (application/wasm for streaming compilation), no directory escapes.
// Usage: node scripts/serve-static.mjs ROOT [PORT]   (PORT 0 picks a free port; the URL is printed)
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve } from 'node:path';

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.wasm': 'application/wasm', '.json': 'application/json', '.bin': 'application/octet-stream', '.ts': 'text/plain', '.png': 'image/png' };

export function serveStatic(root, port = 0) {
  const base = resolve(root);
  const server = createServer(async (req, res) => {
    try {
      let path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
      if (path.endsWith('/')) path += 'index.html';
      const file = normalize(join(base, path));
      if (!file.startsWith(base)) throw Object.assign(new Error('forbidden'), { code: 'EACCES' });
      if (!(await stat(file)).isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOENT' });
      res.writeHead(200, { 'content-type': TYPES[extname(file)] || 'application/octet-stream', 'cache-control': 'no-store' });
      res.end(await readFile(file));
    } catch (e) {
      res.writeHead(e.code === 'EACCES' ? 403 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'not_found', message: `${req.url} not found` } }));
    }
  });
  return new Promise((ok) => server.listen(port, '127.0.0.1', () => ok(server)));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const server = await serveStatic(process.argv[2] || 'www', Number(process.argv[3] || 0));
  console.log(`http://127.0.0.1:${server.address().port}/`);
}
