// A fault-injecting HTTP proxy in front of moto_server, for tests that must stop a client at an
// exact point of its S3 conversation (kill it there) or make S3 fail.
//
//   const p = await startS3Proxy(motoEndpoint);
//   p.rule = { match: (req) => req.method === 'PUT' && req.url.includes('/LATEST'), action: 'hold' };
//   await p.hit;          // resolves when a request matched (it is held: never answered)
//   p.rule = { match: () => true, action: 'fail' };  // answer 503 to everything
//   await p.close();
//
// Actions: `hold` (never forward, never answer), `half` (forward the headers and the first half
// of the body, then stall), `fail` (answer 503 with an S3 error body), `corrupt` (forward; flip
// one byte in the middle of the response body).
import { createServer, request } from 'node:http';
import { freePort } from './harness.mjs';

export async function startS3Proxy(upstream) {
  const target = new URL(upstream);
  const port = await freePort();
  const held = new Set();
  const proxy = { rule: null, hits: 0, log: [], endpoint: `http://127.0.0.1:${port}` };
  let fire;
  proxy.hit = new Promise((ok) => { fire = ok; });
  proxy.rearm = () => { proxy.hit = new Promise((ok) => { fire = ok; }); };

  const server = createServer((req, res) => {
    const rule = proxy.rule && proxy.rule.match(req) ? proxy.rule : null;
    proxy.log.push(`${req.method} ${req.url}${rule ? ` [${rule.action}]` : ''}`);
    if (rule) proxy.hits += 1;
    if (rule?.action === 'fail') {
      req.resume();
      res.writeHead(503, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0"?><Error><Code>ServiceUnavailable</Code><Message>injected</Message></Error>');
      fire(req);
      return;
    }
    if (rule?.action === 'hold') {
      held.add(res);
      req.resume();
      fire(req);
      return;
    }
    const up = request({
      host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers,
    }, (upRes) => {
      if (rule?.action === 'corrupt') {
        const chunks = [];
        upRes.on('data', (c) => chunks.push(c));
        upRes.on('end', () => {
          const body = Buffer.concat(chunks);
          if (body.length > 0) body[body.length >> 1] ^= 0xff;
          res.writeHead(upRes.statusCode, upRes.headers);
          res.end(body);
          fire(req);
        });
        return;
      }
      res.writeHead(upRes.statusCode, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => { try { res.destroy(); } catch {} });
    if (rule?.action === 'half') {
      const total = Number(req.headers['content-length'] || 0);
      let sent = 0;
      let stalled = false;
      held.add(res);
      held.add(up);
      req.on('data', (c) => {
        if (stalled) return;
        const room = Math.max(0, (total >> 1) - sent);
        const part = c.subarray(0, room);
        if (part.length) { up.write(part); sent += part.length; }
        if (sent >= total >> 1) { stalled = true; fire(req); }
      });
      return;
    }
    req.pipe(up);
  });
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  proxy.close = () => new Promise((ok) => {
    for (const h of held) { try { h.destroy(); } catch {} }
    server.closeAllConnections?.();
    server.close(() => ok());
  });
  return proxy;
}
