// The package's public Engine: the wasm-bindgen class, plus loading what `shopai publish`
// published. `Engine.fromUrl(url)` takes the LATEST pointer (`…/bundles/LATEST`, JSON with
// version, path and sha256) or a bundle URL; the bytes are checked against the pointer's sha256,
// kept in the Cache API (browsers) keyed by that hash, and a returning shopper only revalidates the
// small pointer: an unchanged version downloads 0 bundle bytes. `engine.checkForUpdate()`
// revalidates and swaps the new version in place once it has loaded and verified.

const CACHE_NAME = 'shopai-bundles-v1';
const MAX_TOP_K = 100;

const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');

/** Hex SHA-256 of bytes (Web Crypto: browsers on https/localhost, Node 20). */
export async function sha256(bytes) {
  return hex(await globalThis.crypto.subtle.digest('SHA-256', bytes));
}

async function openCache() {
  try {
    return typeof caches !== 'undefined' ? await caches.open(CACHE_NAME) : null;
  } catch {
    return null; // opaque origins, file: pages, Node
  }
}

function checkTopK(req) {
  for (const k of ['topK', 'top_k']) {
    if (req && req[k] !== undefined && req[k] !== null) {
      const v = req[k];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_TOP_K) {
        throw new Error(`${k} must be a whole number between 1 and ${MAX_TOP_K} (got ${JSON.stringify(v)})`);
      }
    }
  }
}

/**
 * Fetch a pointer or bundle: returns { bytes, version, sha256, pointerUrl, fromCache, downloaded }.
 * `downloaded` counts the bundle bytes that came over the network.
 */
export async function fetchPublished(url, { fetch: f = globalThis.fetch, cache = true } = {}) {
  const store = cache ? await openCache() : null;
  // `no-cache`: always revalidate with the server (If-None-Match / 304), never trust a stale copy.
  const resp = await f(url, { cache: 'no-cache' });
  if (!resp.ok) throw new Error(`fetching ${url}: HTTP ${resp.status}`);
  const body = new Uint8Array(await resp.arrayBuffer());
  if (body[0] !== 0x7b /* '{' */) {
    // A bundle URL: the HTTP cache revalidated it for us.
    return { bytes: body, version: null, sha256: await sha256(body), pointerUrl: null, fromCache: false, downloaded: body.length };
  }
  let p;
  try {
    p = JSON.parse(new TextDecoder().decode(body));
  } catch (e) {
    throw new Error(`${url} is neither a bundle nor a LATEST pointer: ${e.message}`);
  }
  if (typeof p.path !== 'string' || typeof p.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(p.sha256)) {
    throw new Error(`${url} is not a LATEST pointer (needs path and sha256)`);
  }
  const key = new URL(`sha256/${p.sha256}`, new URL(url, globalThis.location?.href)).href;
  if (store) {
    const hit = await store.match(key);
    if (hit) {
      const bytes = new Uint8Array(await hit.arrayBuffer());
      if ((await sha256(bytes)) === p.sha256) return { bytes, version: p.version, sha256: p.sha256, pointerUrl: url, fromCache: true, downloaded: 0 };
      await store.delete(key);
    }
  }
  const bundleUrl = new URL(p.path, new URL(url, globalThis.location?.href)).href;
  const r = await f(bundleUrl);
  if (!r.ok) throw new Error(`fetching ${bundleUrl}: HTTP ${r.status}`);
  const bytes = new Uint8Array(await r.arrayBuffer());
  const got = await sha256(bytes);
  if (got !== p.sha256) throw new Error(`${bundleUrl} has sha256 ${got}, but ${url} names ${p.sha256}: not loaded`);
  if (store) {
    try {
      await store.put(key, new Response(bytes, { headers: { 'content-type': 'application/octet-stream' } }));
    } catch { /* quota: still usable */ }
  }
  return { bytes, version: p.version, sha256: p.sha256, pointerUrl: url, fromCache: false, downloaded: bytes.length };
}

/** Build the public Engine class around the wasm-bindgen one. */
export function makeEngine(Raw) {
  class Engine {
    #raw;
    #source;
    constructor(raw, source = null) {
      this.#raw = raw;
      this.#source = source;
    }

    /** Load a bundle from its bytes. */
    static fromBytes(bytes) {
      return new Engine(Raw.fromBytes(bytes));
    }

    /** Load the version a LATEST pointer names (sha256-verified, cached), or a bundle URL. */
    static async fromUrl(url, options = {}) {
      const got = await fetchPublished(url, options);
      return new Engine(Raw.fromBytes(got.bytes), { url, options, sha256: got.sha256, fromCache: got.fromCache, downloaded: got.downloaded });
    }

    /**
     * Revalidate the URL this engine came from; if it names another version, load it, verify it
     * and swap it in (the old one keeps answering until then). Resolves to
     * `{ updated, version, downloaded }`.
     */
    async checkForUpdate() {
      if (!this.#source) return { updated: false, version: this.version(), downloaded: 0 };
      const got = await fetchPublished(this.#source.url, this.#source.options);
      if (got.sha256 === this.#source.sha256) return { updated: false, version: this.version(), downloaded: got.downloaded };
      const fresh = Raw.fromBytes(got.bytes);
      const old = this.#raw;
      this.#raw = fresh;
      this.#source = { ...this.#source, sha256: got.sha256, fromCache: got.fromCache, downloaded: got.downloaded };
      old.free();
      return { updated: true, version: this.version(), downloaded: got.downloaded };
    }

    /** Where the bytes came from: `{ sha256, fromCache, downloaded }` (null for fromBytes). */
    source() {
      return this.#source && { sha256: this.#source.sha256, fromCache: this.#source.fromCache, downloaded: this.#source.downloaded };
    }

    search(request) {
      checkTopK(request);
      return this.#raw.search(request);
    }

    recommend(request) {
      checkTopK(request);
      return this.#raw.recommend(request);
    }

    free() {
      this.#raw.free();
    }

    get raw() {
      return this.#raw;
    }
  }
  // Every other method of the wasm class (version, manifest, sizeBytes, …) is forwarded as is.
  for (const name of Object.getOwnPropertyNames(Raw.prototype)) {
    if (name === 'constructor' || name in Engine.prototype || name.startsWith('__')) continue;
    const d = Object.getOwnPropertyDescriptor(Raw.prototype, name);
    if (typeof d.value === 'function') {
      Object.defineProperty(Engine.prototype, name, { value(...args) { return this.raw[name](...args); }, writable: true, configurable: true });
    }
  }
  return Engine;
}

/**
 * Post shoppers' feedback to the edge's `POST /feedback` (one event or an array). Resolves to the
 * edge's answer; rejects with the edge's error message on 4xx/5xx (503: not stored, retry later).
 */
export async function postFeedback(edgeUrl, events, { fetch: f = globalThis.fetch } = {}) {
  const r = await f(`${String(edgeUrl).replace(/\/$/, '')}/feedback`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(events),
  });
  const body = await r.json().catch(() => ({}));
  if (r.status !== 202) {
    const e = new Error(body?.error?.message || `feedback: HTTP ${r.status}`);
    e.status = r.status;
    e.code = body?.error?.code;
    throw e;
  }
  return body;
}
