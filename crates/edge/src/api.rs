//! The edge's HTTP API as a pure function: request in, response out. No IO here, so it is
//! unit-tested natively; `lib.rs` only moves bytes between the host and this module.

use serde_json::{json, Value};
use shopai_core::service::{
    answer_recommend, answer_search_with, plan_query, QueryPlan, RecommendRequest, Scratch, SearchRequest,
};
use shopai_core::HASH_MODEL;
use shopai_core::{Bundle, BundleView, Error};
use std::io::Read;

/// The OpenAPI 3.1 description of every route (served at `GET /openapi.json`).
pub const OPENAPI_JSON: &str = include_str!("../openapi.json");

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the handler needs from the host: the bundle, validated once per instance, and its typed
/// view, made once too (making a view checks every section's size and the graph's neighbour ids,
/// which is O(catalog): too much to repeat per request).
#[derive(Debug)]
pub struct State {
    /// The loaded bundle (kept for the instance's life), or why it could not be loaded.
    pub bundle: Result<&'static Bundle<&'static [u8]>, String>,
    view: Option<BundleView<'static>>,
}

impl State {
    /// Load a bundle from bytes (or record why not).
    pub fn from_bundle_bytes(bytes: Result<Vec<u8>, String>) -> Self {
        Self::from_loader(|| {
            let b = bytes?;
            let mut buf = AlignedBuf::new(b.len());
            buf.bytes_mut().copy_from_slice(&b);
            Ok(buf)
        })
    }

    /// Read and validate the bundle at `path`. No `metadata()` call for a size: under Spin each
    /// filesystem call costs milliseconds on a fresh instance (measured: open + fstat 9–21 ms,
    /// one read_to_end 1.5–3.5 ms), and a fresh instance comes every 128 requests. The header's
    /// declared length sizes the buffer instead ([`AlignedBuf::read`]).
    pub fn from_file(path: &str) -> Self {
        Self::from_loader(|| {
            let file = std::fs::File::open(path).map_err(|e| format!("reading bundle {path}: {e}"))?;
            AlignedBuf::read(file).map_err(|e| format!("reading bundle {path}: {e}"))
        })
    }

    /// The bundle built into the component (`SHOPAI_EDGE_BUNDLE`, build.rs), if there is one:
    /// served in place from the component's data, its checksums verified by the build.
    pub fn embedded() -> Option<Self> {
        Self::from_static(&EMBEDDED.0)
    }

    fn from_static(bytes: &'static [u8]) -> Option<Self> {
        if bytes.is_empty() {
            return None;
        }
        Some(match Bundle::from_verified_bytes(bytes) {
            Ok(b) => {
                let b: &'static Bundle<&'static [u8]> = Box::leak(Box::new(b));
                Self { bundle: Ok(b), view: Some(b.view()) }
            }
            Err(e) => Self { bundle: Err(format!("embedded bundle rejected: {e}")), view: None },
        })
    }

    fn from_loader(load: impl FnOnce() -> Result<AlignedBuf, String>) -> Self {
        match load().and_then(AlignedBuf::into_bundle) {
            Ok(b) => {
                let view = b.view();
                Self { bundle: Ok(b), view: Some(view) }
            }
            Err(e) => Self { bundle: Err(e), view: None },
        }
    }

    /// The bundle's typed view, when it loaded.
    pub fn view(&self) -> Option<&BundleView<'static>> {
        self.view.as_ref()
    }
}

/// Bytes on a bundle's alignment (64: what sections are aligned to).
#[repr(C, align(64))]
struct Aligned<T: ?Sized>(T);

/// The bundle build.rs embedded (empty when none was asked for).
static EMBEDDED: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/embedded-bundle.bin")));

/// 8-byte aligned storage for a bundle that is kept for the instance's life once it validates,
/// and freed when it does not (so retrying a bad bundle does not leak).
struct AlignedBuf {
    words: Box<[u64]>,
    len: usize,
}

impl AlignedBuf {
    fn new(len: usize) -> Self {
        Self { words: vec![0u64; len.div_ceil(8)].into_boxed_slice(), len }
    }

    /// Read a whole bundle file straight into aligned storage: the header's declared length
    /// ([`shopai_core::bundle::declared_len`]) sizes the buffer, so the bytes are written once,
    /// into their final place. Reading into a growing `Vec` and copying it over (as before) cost
    /// a fresh instance ~2 ms of its ~5 ms load under `wasmtime serve` (docs/BENCHMARKS.md).
    /// Storage grows as bytes arrive, so a header that claims more than the file holds costs
    /// only the file's size; whatever the bytes are, core judges them afterwards (truncated,
    /// longer than declared, not a bundle).
    fn read(mut file: impl Read) -> std::io::Result<Self> {
        let mut head = [0u8; 24];
        let got = read_up_to(&mut file, &mut head)?;
        let declared =
            shopai_core::bundle::declared_len(&head[..got]).and_then(|n| usize::try_from(n).ok()).filter(|&n| n >= got);
        let mut words: Vec<u64> = Vec::new();
        // Reserve, do not touch: pages are written only as bytes arrive.
        let Some(declared) = declared.filter(|n| words.try_reserve_exact(n.div_ceil(8)).is_ok()) else {
            // No usable length (not a bundle, or one no memory could hold): read the file whole
            // and let core say what it is.
            let mut raw = head[..got].to_vec();
            file.read_to_end(&mut raw)?;
            return Ok(Self::copied(&raw));
        };
        let mut len = 0;
        loop {
            let want = (len + READ_STEP_BYTES).min(declared);
            words.resize(want.div_ceil(8), 0);
            let bytes = bytemuck::cast_slice_mut::<u64, u8>(&mut words);
            let chunk = &mut bytes[len..want];
            let from_head = chunk.len().min(got.saturating_sub(len));
            if from_head > 0 {
                chunk[..from_head].copy_from_slice(&head[len..len + from_head]);
            }
            let n = from_head + read_up_to(&mut file, &mut chunk[from_head..])?;
            len += n;
            if len < want || len == declared {
                break;
            }
        }
        let mut more = [0u8; 1];
        if len == declared && file.read(&mut more)? > 0 {
            // Longer than its header says: keep every byte so core reports the real length.
            let mut raw = bytemuck::cast_slice::<u64, u8>(&words)[..len].to_vec();
            raw.push(more[0]);
            file.read_to_end(&mut raw)?;
            return Ok(Self::copied(&raw));
        }
        words.truncate(len.div_ceil(8));
        Ok(Self { words: words.into_boxed_slice(), len })
    }

    fn copied(raw: &[u8]) -> Self {
        let mut buf = Self::new(raw.len());
        buf.bytes_mut().copy_from_slice(raw);
        buf
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut::<u64, u8>(&mut self.words)[..self.len]
    }

    fn into_bundle(self) -> Result<&'static Bundle<&'static [u8]>, String> {
        let len = self.len;
        let raw: *mut [u64] = Box::into_raw(self.words);
        // SAFETY: `raw` comes from `Box::into_raw` and is not freed while `bytes` is used: on
        // success it is never freed (the bundle lives as long as the instance); on failure the
        // only borrow of it (`bytes`, inside `from_bytes`) has ended before `Box::from_raw`.
        let bytes: &'static [u8] = unsafe { &bytemuck::cast_slice::<u64, u8>(&*raw)[..len] };
        match Bundle::from_bytes(bytes) {
            Ok(b) => Ok(Box::leak(Box::new(b))),
            Err(e) => {
                let msg = format!("bundle rejected: {e}");
                // SAFETY: see above; no reference into `raw` outlives this point.
                drop(unsafe { Box::from_raw(raw) });
                Err(msg)
            }
        }
    }
}

/// How much storage [`AlignedBuf::read`] adds per step (small in tests, so they take many steps).
const READ_STEP_BYTES: usize = if cfg!(test) { 64 } else { 4 << 20 };

/// Read until `buf` is full or the input ends; how many bytes were read.
fn read_up_to(mut input: impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut at = 0;
    while at < buf.len() {
        match input.read(&mut buf[at..]) {
            Ok(0) => break,
            Ok(n) => at += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(at)
}

/// A response: status, JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Value,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Self { status: 200, body }
    }

    /// A JSON error body `{ "error": { "code", "message" } }`.
    pub fn error(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self { status, body: json!({ "error": { "code": code, "message": message.into() } }) }
    }
}

fn core_error(e: Error) -> Reply {
    match e {
        Error::InvalidArgument { .. } | Error::DimensionMismatch { .. } | Error::EmbedderMismatch { .. } => {
            Reply::error(422, "invalid_request", e.to_string())
        }
        other => Reply::error(500, "internal", other.to_string()),
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Reply> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Reply::error(413, "body_too_large", format!("request body exceeds {MAX_BODY_BYTES} bytes")));
    }
    // Every body is a JSON object: serde would also fill a struct from an array (`[]` gave a 200).
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Reply::error(400, "bad_json", "request body must be a JSON object"));
    }
    serde_json::from_slice(body)
        .map_err(|e| Reply::error(400, "bad_json", format!("request body is not valid JSON for this route: {e}")))
}

/// What the host must fetch before [`handle`] can answer: core's [`QueryPlan`].
pub type Plan = QueryPlan;

/// Decide whether a request needs a query embedding from the outside (core's `plan_query`
/// decides for `/search` bodies).
pub fn plan(method: &str, path: &str, body: &[u8], state: &State) -> Plan {
    if method != "POST" || path.split('?').next() != Some("/search") || body.len() > MAX_BODY_BYTES {
        return Plan::Answer;
    }
    let (Ok(b), Ok(req)) = (&state.bundle, serde_json::from_slice::<SearchRequest>(body)) else { return Plan::Answer };
    plan_query(b.manifest(), &req)
}

/// The body of an OpenAI-compatible embeddings request for this bundle: its model, and the
/// `dimensions` parameter when the product vectors were requested with one (so a shortened
/// `text-embedding-3-*` bundle gets query vectors of its own size).
pub fn embeddings_request(model: &str, inputs: &[impl AsRef<str>], request_dimensions: Option<u32>) -> Value {
    let inputs: Vec<&str> = inputs.iter().map(AsRef::as_ref).collect();
    match request_dimensions {
        Some(d) => json!({ "model": model, "input": inputs, "dimensions": d }),
        None => json!({ "model": model, "input": inputs }),
    }
}

/// The query vector the host fetched for a [`Plan::EmbedQuery`], or why it could not.
pub type Embedded<'a> = Option<Result<&'a [f32], String>>;

/// Largest number of inputs in one `POST /v1/embeddings` request.
pub const MAX_EMBEDDING_INPUTS: usize = 256;

/// The inputs of a `POST /v1/embeddings` request (a string or 1 to 256 strings).
pub fn embeddings_inputs(body: &[u8]) -> Result<Vec<String>, Reply> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Input {
        One(String),
        Many(Vec<String>),
    }
    #[derive(serde::Deserialize)]
    struct Req {
        input: Input,
        /// Ignored (the bundle's model is used), but it must be a string as in OpenAI's API.
        #[serde(default)]
        #[allow(dead_code)]
        model: Option<String>,
    }
    let inputs = match parse::<Req>(body)?.input {
        Input::One(s) => vec![s],
        Input::Many(v) => v,
    };
    if inputs.is_empty() || inputs.len() > MAX_EMBEDDING_INPUTS {
        return Err(Reply::error(400, "bad_request", format!("input must hold 1 to {MAX_EMBEDDING_INPUTS} strings")));
    }
    Ok(inputs)
}

/// Check an endpoint's embeddings response: valid JSON, one embedding of `dims` finite numbers
/// per input, in order. Returns the embeddings; anything else is an error (never a null body).
pub fn check_embeddings_response(raw: &[u8], inputs: usize, dims: usize) -> Result<Vec<Vec<f32>>, String> {
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        index: Option<usize>,
        embedding: Vec<f32>,
    }
    #[derive(serde::Deserialize)]
    struct Resp {
        data: Vec<Item>,
    }
    let resp: Resp = serde_json::from_slice(raw).map_err(|e| format!("malformed embeddings response: {e}"))?;
    if resp.data.len() != inputs {
        return Err(format!("malformed embeddings response: {} embeddings for {inputs} inputs", resp.data.len()));
    }
    let mut out = vec![Vec::new(); inputs];
    for (i, item) in resp.data.into_iter().enumerate() {
        let at = item.index.unwrap_or(i);
        if at >= inputs || !out[at].is_empty() {
            return Err("malformed embeddings response: indices are not 0..n".into());
        }
        if item.embedding.len() != dims {
            return Err(format!("the endpoint returned {} dimensions; the bundle has {dims}", item.embedding.len()));
        }
        if !item.embedding.iter().all(|x| x.is_finite()) {
            return Err("malformed embeddings response: non-finite numbers".into());
        }
        out[at] = item.embedding;
    }
    Ok(out)
}

/// The OpenAI-shaped `POST /v1/embeddings` answer for `vectors` of `model`.
pub fn embeddings_reply(model: &str, vectors: &[Vec<f32>], tokens: u64) -> Reply {
    let data: Vec<Value> =
        vectors.iter().enumerate().map(|(i, v)| json!({"object": "embedding", "index": i, "embedding": v})).collect();
    Reply::ok(
        json!({"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}),
    )
}

/// Answer `POST /v1/embeddings` for a hashing-embedder bundle locally (OpenAI response shape);
/// `None` when the bundle's model must be fetched from the configured endpoint instead.
pub fn local_embeddings(body: &[u8], state: &State) -> Option<Reply> {
    let b = state.bundle.as_ref().ok()?;
    if b.manifest().embedding.model != HASH_MODEL {
        return None;
    }
    let inputs = match embeddings_inputs(body) {
        Ok(i) => i,
        Err(e) => return Some(e),
    };
    let e = shopai_core::HashEmbedder::new(b.manifest().embedding.dimensions as usize);
    let vectors: Vec<Vec<f32>> = inputs.iter().map(|t| e.embed(t)).collect();
    Some(embeddings_reply(HASH_MODEL, &vectors, 0))
}

/// A parsed `/search` or `/recommendations` request, normalized: query whitespace collapsed, so
/// that equal requests have equal cache keys and get equal answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// `POST /search`, and whether a generated answer was asked for.
    Search(SearchRequest, bool),
    /// `POST /recommendations`.
    Recommend(RecommendRequest),
}

impl Query {
    /// The normalized query text of a search, if any.
    pub fn text(&self) -> Option<&str> {
        match self {
            Query::Search(r, _) => r.query.as_deref(),
            Query::Recommend(_) => None,
        }
    }
}

/// Collapse runs of whitespace and trim (tokenizers ignore both, so the answer does not change).
pub fn normalize_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for w in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// Parse a request to one of the ranking routes; `None` for any other route.
pub fn parse_query(method: &str, path: &str, body: &[u8]) -> Option<Result<Query, Reply>> {
    let (path, params) = path.split_once('?').unwrap_or((path, ""));
    match (method, path) {
        ("POST", "/search") => Some(parse_search(body)),
        ("GET", "/search") => Some(parse_search_params(params)),
        ("POST", "/recommendations") => Some(parse::<RecommendRequest>(body).map(Query::Recommend)),
        _ => None,
    }
}

fn parse_search(body: &[u8]) -> Result<Query, Reply> {
    // `answer` is the edge's own field; core's request rejects unknown fields, so take it out first.
    let (mut req, answer) = if body.windows(8).any(|w| w == b"\"answer\"") {
        let mut map: serde_json::Map<String, Value> = parse(body)?;
        let answer = match map.remove("answer") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => b,
            Some(_) => return Err(Reply::error(400, "bad_json", "`answer` must be a boolean")),
        };
        let req = serde_json::from_value(Value::Object(map)).map_err(|e| {
            Reply::error(400, "bad_json", format!("request body is not valid JSON for this route: {e}"))
        })?;
        (req, answer)
    } else {
        (parse::<SearchRequest>(body)?, false)
    };
    if let Some(q) = &req.query {
        req.query = Some(normalize_text(q));
    }
    if let Some(v) = &req.vector {
        if !v.iter().map(|x| x * x).sum::<f32>().is_finite() {
            return Err(Reply::error(422, "invalid_request", "vector must hold finite numbers of finite norm"));
        }
    }
    Ok(Query::Search(req, answer))
}

/// `GET /search?q=…&top_k=…&category=…&answer=…`: the JSON body's request as a query string,
/// for storefront pages, links and HTTP caches that speak URLs. `q` (or `query`, `text`),
/// `top_k` (or `topK`), `category` (repeat it for several), `answer` (`true`/`false`); any other
/// parameter is a 400 naming it, as an unknown JSON field is. Same answer (and answer-cache entry)
/// as the POST with the same request.
fn parse_search_params(params: &str) -> Result<Query, Reply> {
    let bad = |msg: String| Reply::error(400, "bad_query", msg);
    let mut req = SearchRequest::default();
    let mut answer = false;
    for (name, value) in form_urlencoded::parse(params.as_bytes()) {
        match name.as_ref() {
            "q" | "query" | "text" => req.query = Some(normalize_text(&value)),
            "top_k" | "topK" => {
                req.top_k =
                    Some(value.parse().map_err(|_| bad(format!("`{name}` must be a whole number, not {value:?}")))?)
            }
            "category" | "categories" => req.filters.category.push(value.into_owned()),
            "answer" => {
                answer = match value.as_ref() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(bad(format!("`answer` must be true or false, not {value:?}"))),
                }
            }
            other => return Err(bad(format!("unknown parameter `{other}`; use q, top_k, category or answer"))),
        }
    }
    Ok(Query::Search(req, answer))
}

/// The answer-cache key of a parsed request: bundle version, route and the normalized request
/// (serialized in field order, so spelling, aliases and key order do not matter).
pub fn cache_key(query: &Query, state: &State) -> Option<String> {
    let version = &state.view()?.manifest.version;
    let (route, json) = match query {
        Query::Search(r, answer) => ("search", serde_json::to_string(&(r, answer))),
        Query::Recommend(r) => ("recommendations", serde_json::to_string(r)),
    };
    Some(format!("{version}\n{route}\n{}", json.ok()?))
}

/// What the log line and the answer cache need to know about a response besides its bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Meta {
    /// Number of results, for result bodies.
    pub results: Option<usize>,
    /// Score of the first result.
    pub top_score: Option<f64>,
    /// Why the answer is degraded, if it is.
    pub degraded: Option<String>,
    /// Error code, for error bodies.
    pub error: Option<String>,
}

/// A response ready to send: status, the JSON body's bytes, and its [`Meta`].
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// A JSON object.
    pub body: Vec<u8>,
    /// What the body says.
    pub meta: Meta,
}

impl Answer {
    /// Serialize a [`Reply`].
    pub fn from_reply(r: Reply) -> Self {
        let error = r.body["error"]["code"].as_str().map(str::to_string);
        let body = serde_json::to_vec(&r.body)
            .unwrap_or_else(|_| br#"{"error":{"code":"internal","message":"unserializable reply"}}"#.to_vec());
        Self { status: r.status, body, meta: Meta { error, ..Meta::default() } }
    }

    fn ok<T: serde::Serialize>(value: &T, meta: Meta) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self { status: 200, body, meta },
            Err(e) => Self::from_reply(Reply::error(500, "internal", format!("could not serialize the answer: {e}"))),
        }
    }

    /// The body with extra top-level fields appended (e.g. `took_ms`); the body must be an object.
    pub fn body_with(&self, extra: &[(&str, Value)]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 32 * extra.len());
        let Some((b'}', head)) = self.body.split_last() else { return self.body.clone() };
        out.extend_from_slice(head);
        let mut empty = head.last() == Some(&b'{');
        for (k, v) in extra {
            if !empty {
                out.push(b',');
            }
            empty = false;
            // Keys are ours and plain; values serialize infallibly (no maps with non-string keys).
            out.push(b'"');
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b"\":");
            let _ = serde_json::to_writer(&mut out, v);
        }
        out.push(b'}');
        out
    }
}

fn top_meta(results: &[shopai_core::service::ItemResult]) -> Meta {
    // The f32's shortest decimal (what the body shows), not its f64 widening.
    let top_score = results.first().and_then(|r| r.score.to_string().parse::<f64>().ok());
    Meta { results: Some(results.len()), top_score, ..Meta::default() }
}

/// Answer a parsed ranking request, with the host's query embedding (see [`plan`]).
pub fn respond(query: &Query, state: &State, embedded: Embedded<'_>, scratch: &mut Scratch) -> Answer {
    let Some(view) = state.view() else {
        let e = state.bundle.as_ref().err().cloned().unwrap_or_default();
        return Answer::from_reply(Reply::error(503, "bundle_unavailable", e));
    };
    match query {
        Query::Search(req, _) => {
            let (vector, failure) = match &embedded {
                Some(Ok(v)) => (Some(*v), None),
                Some(Err(e)) => (None, Some(format!("query embedding failed: {e}"))),
                None => (None, None),
            };
            match answer_search_with(view, req, vector, failure.as_deref(), scratch) {
                Ok(res) => {
                    let meta = Meta { degraded: res.degraded.clone(), ..top_meta(&res.results) };
                    Answer::ok(&res, meta)
                }
                Err(e) => Answer::from_reply(core_error(e)),
            }
        }
        Query::Recommend(req) => match answer_recommend(view, req, scratch) {
            Ok(res) => Answer::ok(&res, top_meta(&res.results)),
            Err(e) => Answer::from_reply(core_error(e)),
        },
    }
}

/// Route and answer one request.
pub fn handle(method: &str, path: &str, body: &[u8], state: &State, scratch: &mut Scratch) -> Reply {
    handle_embedded(method, path, body, state, None, scratch)
}

/// Route and answer one request, with the host's query embedding (see [`plan`]).
pub fn handle_embedded(
    method: &str,
    path: &str,
    body: &[u8],
    state: &State,
    embedded: Embedded<'_>,
    scratch: &mut Scratch,
) -> Reply {
    if let Some(parsed) = parse_query(method, path, body) {
        let answer = match parsed {
            Ok(q) => respond(&q, state, embedded, scratch),
            Err(reply) => return reply,
        };
        return match serde_json::from_slice(&answer.body) {
            Ok(body) => Reply { status: answer.status, body },
            Err(e) => Reply::error(500, "internal", format!("answer is not JSON: {e}")),
        };
    }
    let path = path.split('?').next().unwrap_or(path);
    let bundle = || state.bundle.as_ref().map_err(|e| Reply::error(503, "bundle_unavailable", e.clone()));
    let result = match (method, path) {
        ("GET", "/health") => Ok(match &state.bundle {
            Ok(b) => Reply::ok(json!({ "status": "ok", "version": b.manifest().version })),
            Err(e) => Reply { status: 503, body: json!({ "status": "unavailable", "error": e }) },
        }),
        ("GET", "/openapi.json") => serde_json::from_str(OPENAPI_JSON)
            .map(Reply::ok)
            .map_err(|e| Reply::error(500, "internal", format!("openapi.json: {e}"))),
        ("GET", "/version") => {
            bundle().map(|b| Reply::ok(json!({ "version": b.manifest().version, "manifest": b.manifest() })))
        }
        (_, "/health" | "/version" | "/search" | "/recommendations" | "/v1/embeddings" | "/openapi.json") => {
            Err(Reply::error(405, "method_not_allowed", format!("{method} is not allowed on {path}")))
        }
        _ => Err(Reply::error(
            404,
            "not_found",
            format!("no route for {method} {path}; try POST /search, POST /recommendations, POST /v1/embeddings, POST /feedback, GET /health, GET /version, GET /openapi.json"),
        )),
    };
    result.unwrap_or_else(|e| e)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use shopai_core::{BundleParts, HashEmbedder, QuantMatrix, HASH_MODEL};

    fn state() -> State {
        State::from_bundle_bytes(Ok(bundle_bytes()))
    }

    /// A reader that hands out at most 7 bytes per call, as a slow filesystem may.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(7).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn read_state(bytes: &[u8]) -> State {
        State::from_loader(|| AlignedBuf::read(Trickle(bytes)).map_err(|e| e.to_string()))
    }

    #[test]
    fn an_embedded_bundle_is_served_in_place() {
        assert!(State::embedded().is_none(), "unit tests build without SHOPAI_EDGE_BUNDLE");
        let leak = |bytes: &[u8]| -> &'static [u8] {
            let words: &'static mut [u64] = Box::leak(vec![0u64; bytes.len().div_ceil(8)].into_boxed_slice());
            let all: &'static mut [u8] = bytemuck::cast_slice_mut(words);
            all[..bytes.len()].copy_from_slice(bytes);
            &all[..bytes.len()]
        };
        let s = State::from_static(leak(&bundle_bytes())).expect("non-empty");
        assert!(s.view().is_some());
        let e = State::from_static(leak(b"not a bundle at all")).expect("non-empty").bundle.unwrap_err();
        assert!(e.starts_with("embedded bundle rejected"), "{e}");
    }

    #[test]
    fn a_file_is_read_whole_into_aligned_storage_whatever_its_header_says() {
        let good = bundle_bytes();
        let s = read_state(&good);
        assert_eq!(s.bundle.as_ref().map(|b| b.len_bytes()), Ok(good.len()), "read byte for byte");
        assert!(s.view().is_some());

        let e = read_state(&good[..good.len() - 100]).bundle.unwrap_err();
        assert!(e.contains("truncated"), "{e}");
        let mut longer = good.clone();
        longer.extend_from_slice(b"tail");
        let e = read_state(&longer).bundle.unwrap_err();
        assert!(e.contains(&format!("header says {} bytes, file has {}", good.len(), good.len() + 4)), "{e}");
        let mut claims_too_much = good.clone();
        claims_too_much[16..24].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
        let e = read_state(&claims_too_much).bundle.unwrap_err();
        assert!(e.contains("truncated"), "a header claiming more than any memory is still judged by core: {e}");
        for not_a_bundle in [&b""[..], b"SHOPAI", b"{\"json\": true}"] {
            assert!(read_state(not_a_bundle).bundle.is_err());
        }
    }

    /// A four-item bundle with the hashing embedder.
    pub(crate) fn bundle_bytes() -> Vec<u8> {
        let e = HashEmbedder::new(16);
        let titles = ["red running shoe", "blue denim jacket", "trail running shoe", "cast iron pan"];
        let vectors: Vec<f32> = titles.iter().flat_map(|t| e.embed(t)).collect();
        let mut parts = BundleParts {
            item_ids: (0..4).map(|i| format!("p{i}")).collect(),
            titles: titles.iter().map(|t| t.to_string()).collect(),
            category_names: vec!["Shoes".into(), "Kitchen".into()],
            item_categories: vec![vec![0], vec![], vec![0], vec![1]],
            vectors: QuantMatrix::from_f32(&vectors, 16),
            factors: QuantMatrix::from_f32(&[0.1, 0.3, 0.2, 0.5, 0.3, 0.1, 0.0, 0.2], 2),
            gram: vec![1.0, 0.1, 0.1, 1.0],
            popularity: vec![5.0, 1.0, 3.0, 2.0],
            user_ids: vec!["u1".into()],
            user_history: vec![vec![0]],
            ..BundleParts::default()
        };
        parts.manifest.version = "test-1".into();
        parts.manifest.embedding.model = HASH_MODEL.into();
        parts.to_bytes().expect("bundle")
    }

    fn call(method: &str, path: &str, body: &str) -> Reply {
        handle(method, path, body.as_bytes(), &state(), &mut Scratch::default())
    }

    #[test]
    fn embeddings_requests_carry_dimensions_only_when_the_bundle_was_built_with_them() {
        assert_eq!(embeddings_request("m", &["a"], None), json!({"model": "m", "input": ["a"]}));
        assert_eq!(
            embeddings_request("text-embedding-3-small", &["a", "b"], Some(256)),
            json!({"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 256})
        );
    }

    #[test]
    fn bodies_that_are_not_objects_are_400() {
        for body in [&b"[]"[..], b"  [1]", b"\"x\"", b"3", b"null"] {
            for route in ["/search", "/recommendations"] {
                let r = parse_query("POST", route, body).expect("a ranking route").expect_err("not an object");
                assert_eq!((r.status, r.body["error"]["code"].as_str()), (400, Some("bad_json")), "{route} {body:?}");
            }
        }
    }

    #[test]
    fn search_and_recommend_answer_json() {
        let r = call("POST", "/search", r#"{"query":"running shoe","top_k":2}"#);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["results"].as_array().map(Vec::len), Some(2));
        assert_eq!(r.body["version"], "test-1");
        let r = call("POST", "/search", r#"{"text":"pan","topK":1,"filters":{"category":["Kitchen"]}}"#);
        assert_eq!(r.body["results"][0]["product_id"], "p3");
        let r = call("POST", "/recommendations", r#"{"user_id":"u1","top_k":3}"#);
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body["results"].as_array().is_some_and(|a| a.iter().all(|x| x["product_id"] != "p0")));
        let r = call("GET", "/health", "");
        assert_eq!(r.body["status"], "ok");
    }

    #[test]
    fn get_search_takes_the_request_from_the_query_string() {
        let post = call("POST", "/search", r#"{"query":"running  shoe","top_k":2}"#);
        let get = call("GET", "/search?q=running+%20shoe&top_k=2", "");
        assert_eq!((get.status, &get.body), (200, &post.body), "same answer as the JSON body");
        let filtered = call("GET", "/search?text=pan&topK=1&category=Kitchen&category=Nope&answer=false", "");
        let posted = call("POST", "/search", r#"{"text":"pan","topK":1,"filters":{"category":["Kitchen","Nope"]}}"#);
        assert_eq!(filtered.status, 422, "{}", filtered.body);
        assert_eq!(filtered.body, posted.body, "an unknown category is refused the same way");
        let kitchen = call("GET", "/search?q=pan&category=Kitchen", "");
        assert_eq!(kitchen.status, 200, "{}", kitchen.body);
        assert!(kitchen.body["results"].as_array().is_some_and(|r| !r.is_empty()));
        let (a, b) = (
            parse_query("GET", "/search?q=red%20%20shoe&top_k=3", b""),
            parse_query("POST", "/search", br#"{"topK":3,"text":"red  shoe"}"#),
        );
        let (Some(Ok(a)), Some(Ok(b))) = (a, b) else { panic!("both parse") };
        assert_eq!(cache_key(&a, &state()), cache_key(&b, &state()), "one answer-cache entry for both forms");
        for (url, code) in [
            ("/search?q=x&top_k=ten", "bad_query"),
            ("/search?q=x&answer=maybe", "bad_query"),
            ("/search?q=x&utm_source=mail", "bad_query"),
        ] {
            let r = call("GET", url, "");
            assert_eq!((r.status, r.body["error"]["code"].as_str()), (400, Some(code)), "{url}: {}", r.body);
        }
        assert_eq!(call("GET", "/search?q=x&top_k=0", "").status, 422);
        assert_eq!(call("GET", "/search?q=", "").status, 422);
    }

    #[test]
    fn bad_requests_are_json_4xx() {
        assert_eq!(call("POST", "/search", "{not json").status, 400);
        assert_eq!(call("POST", "/search", r#"{"qurey":"x"}"#).status, 400);
        assert_eq!(call("POST", "/search", r#"{"query":"x","top_k":0}"#).status, 422);
        assert_eq!(call("POST", "/search", r#"{"vector":[1,2]}"#).status, 422);
        assert_eq!(call("POST", "/search", r#"{"query":"x","filters":{"category":["Nope"]}}"#).status, 422);
        assert_eq!(call("GET", "/search", "").status, 422, "GET /search without q, as POST without a query");
        assert_eq!(call("PUT", "/search", "").status, 405);
        let r = call("GET", "/nope", "");
        assert_eq!(r.status, 404);
        assert_eq!(r.body["error"]["code"], "not_found");
        let big = format!(r#"{{"query":"{}"}}"#, "a".repeat(MAX_BODY_BYTES));
        assert_eq!(call("POST", "/search", &big).status, 413);
    }

    fn parsed(path: &str, body: &str) -> Query {
        parse_query("POST", path, body.as_bytes()).expect("a ranking route").expect("valid")
    }

    #[test]
    fn equal_requests_have_equal_cache_keys_whatever_their_spelling() {
        let st = state();
        let key = |path: &str, body: &str| cache_key(&parsed(path, body), &st).expect("key");
        let a = key("/search", r#"{"query":"running  shoe ","top_k":2}"#);
        assert_eq!(a, key("/search", r#"{"topK":2,"text":" running shoe"}"#));
        assert!(a.starts_with("test-1\nsearch\n"), "keyed by bundle version first: {a}");
        assert_ne!(a, key("/search", r#"{"query":"running shoe","top_k":3}"#));
        assert_ne!(a, key("/search", r#"{"query":"running shoe","top_k":2,"answer":true}"#));
        let r = key("/recommendations", r#"{"user_id":"u1","exclude_seen":true}"#);
        assert_eq!(r, key("/recommendations", r#"{"excludeSeen":true,"userId":"u1"}"#));
        assert_ne!(r, key("/recommendations", r#"{"user_id":"u1"}"#), "explicit and default differ in the key only");
        // Normalizing the text does not change the answer.
        let one = respond(&parsed("/search", r#"{"query":"running shoe"}"#), &st, None, &mut Scratch::default());
        let two = respond(&parsed("/search", r#"{"query":"  running \t shoe"}"#), &st, None, &mut Scratch::default());
        assert_eq!(one, two);
    }

    #[test]
    fn answers_carry_their_meta_and_take_extra_fields() {
        let st = state();
        let a =
            respond(&parsed("/search", r#"{"query":"running shoe","top_k":2}"#), &st, None, &mut Scratch::default());
        assert_eq!(a.meta.results, Some(2));
        let body: Value = serde_json::from_slice(&a.body_with(&[("took_ms", json!(1.5))])).expect("json");
        assert_eq!(body["took_ms"], 1.5);
        assert_eq!(a.meta.top_score, body["results"][0]["score"].as_f64());
        let e = Answer::from_reply(Reply::error(422, "invalid_request", "x"));
        assert_eq!(e.meta.error.as_deref(), Some("invalid_request"));
        assert_eq!(Answer { body: b"{}".to_vec(), ..e.clone() }.body_with(&[("a", json!(1))]), br#"{"a":1}"#);
    }

    #[test]
    fn answer_flag_and_non_finite_vectors() {
        assert_eq!(
            parsed("/search", r#"{"query":"x","answer":true}"#),
            Query::Search(SearchRequest { query: Some("x".into()), ..SearchRequest::default() }, true)
        );
        let bad =
            |body: &str| parse_query("POST", "/search", body.as_bytes()).expect("route").expect_err("invalid").status;
        assert_eq!(bad(r#"{"query":"x","answer":"yes"}"#), 400);
        assert_eq!(bad(r#"{"query":"x","answer":true,"nope":1}"#), 400);
        assert_eq!(bad(r#"{"vector":[1e30,1e30]}"#), 422, "finite numbers whose norm overflows f32");
        assert_eq!(bad(r#"{"vector":[1e39]}"#), 422);
        assert_eq!(call("GET", "/openapi.json", "").body["openapi"], "3.1.0");
    }

    #[test]
    fn upstream_embeddings_are_checked_before_use() {
        let ok = br#"{"data":[{"index":1,"embedding":[0.5,0.5]},{"index":0,"embedding":[1,0]}]}"#;
        assert_eq!(check_embeddings_response(ok, 2, 2), Ok(vec![vec![1.0, 0.0], vec![0.5, 0.5]]));
        assert!(check_embeddings_response(ok, 3, 2).is_err_and(|e| e.contains("2 embeddings for 3 inputs")));
        assert!(check_embeddings_response(ok, 2, 3).is_err_and(|e| e.contains("dimensions")));
        assert!(check_embeddings_response(b"null", 1, 2).is_err());
        assert!(check_embeddings_response(br#"{"data": [ {"embedding": [0.1, "#, 1, 2).is_err());
        assert!(check_embeddings_response(
            br#"{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[1]}]}"#,
            2,
            1
        )
        .is_err());
        assert_eq!(embeddings_inputs(br#"{"input":[]}"#).expect_err("empty").status, 400);
        assert_eq!(embeddings_inputs(br#"{"input":"a","model":"m"}"#).ok(), Some(vec!["a".to_string()]));
        assert_eq!(embeddings_inputs(br#"{"input":"a","model":{}}"#).expect_err("model type").status, 400);
    }

    #[test]
    fn plans_a_query_embedding_only_when_the_bundle_needs_one() {
        let st = state();
        assert_eq!(plan("POST", "/search", br#"{"query":"shoe"}"#, &st), Plan::Answer, "hash bundles embed locally");
        assert_eq!(plan("POST", "/search", br#"{"vector":[0.1]}"#, &st), Plan::Answer);
        assert_eq!(plan("GET", "/health", b"", &st), Plan::Answer);
    }

    #[test]
    fn failed_query_embedding_degrades_to_lexical_and_says_why() {
        use shopai_core::lexical::LexicalIndex;
        let titles = ["red running shoe", "blue denim jacket"];
        let mut parts = BundleParts {
            item_ids: vec!["a".into(), "b".into()],
            titles: titles.iter().map(|t| t.to_string()).collect(),
            item_categories: vec![vec![], vec![]],
            vectors: QuantMatrix::from_f32(&[0.6, 0.8, 0.8, 0.6], 2),
            factors: QuantMatrix::from_f32(&[0.1, 0.2], 1),
            gram: vec![1.0],
            popularity: vec![1.0, 2.0],
            lexical: Some(LexicalIndex::build(&titles)),
            ..BundleParts::default()
        };
        parts.manifest.embedding.model = "all-MiniLM-L6-v2".into();
        let st = State::from_bundle_bytes(Ok(parts.to_bytes().expect("bundle")));
        let body = br#"{"query":"running shoe"}"#;
        assert!(
            matches!(plan("POST", "/search", body, &st), Plan::EmbedQuery { ref model, dimensions: 2, .. } if model == "all-MiniLM-L6-v2")
        );
        let r = handle_embedded(
            "POST",
            "/search",
            body,
            &st,
            Some(Err("connection refused".into())),
            &mut Scratch::default(),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["results"][0]["product_id"], "a");
        assert!(r.body["degraded"].as_str().is_some_and(|d| d.contains("connection refused")));
        let v = [0.6f32, 0.8];
        let r = handle_embedded("POST", "/search", body, &st, Some(Ok(&v)), &mut Scratch::default());
        assert!(r.body.get("degraded").is_none());
        assert_eq!(r.body["results"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn missing_or_corrupt_bundle_is_503_not_a_crash() {
        let st = State::from_bundle_bytes(Ok(b"SHOPAIBN garbage".to_vec()));
        let r = handle("GET", "/health", b"", &st, &mut Scratch::default());
        assert_eq!(r.status, 503);
        assert!(r.body["error"].as_str().is_some_and(|e| e.contains("bundle rejected")));
        let st = State::from_bundle_bytes(Err("reading /data/bundle.bin: not found".into()));
        assert_eq!(handle("POST", "/search", br#"{"query":"x"}"#, &st, &mut Scratch::default()).status, 503);
    }
}
