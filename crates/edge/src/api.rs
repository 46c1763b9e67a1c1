//! The edge's HTTP API as a pure function: request in, response out. No IO here, so it is
//! unit-tested natively; `lib.rs` only moves bytes between the host and this module.

use serde::Serialize;
use serde_json::{json, Value};
use shopai_core::service::{
    answer_recommend, answer_search_with, plan_query, QueryPlan, RecommendRequest, Scratch, SearchRequest,
};
use shopai_core::HASH_MODEL;
use shopai_core::{AlignedBytes, Bundle, Error};

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the handler needs from the host.
#[derive(Debug)]
pub struct State {
    /// The loaded bundle, or why it could not be loaded.
    pub bundle: Result<Bundle<AlignedBytes>, String>,
}

impl State {
    /// Load a bundle from bytes (or record why not).
    pub fn from_bundle_bytes(bytes: Result<Vec<u8>, String>) -> Self {
        let bundle = bytes.and_then(|b| Bundle::load(&b).map_err(|e| format!("bundle rejected: {e}")));
        Self { bundle }
    }
}

/// A response: status, JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Value,
}

/// A `200` with the answer as JSON; an answer that cannot be serialized is a `500` with a reason,
/// never a `200` with a `null` body.
fn to_reply(answer: &impl Serialize) -> Result<Reply, Reply> {
    serde_json::to_value(answer)
        .map(Reply::ok)
        .map_err(|e| Reply::error(500, "serialization_failed", format!("could not serialize the answer: {e}")))
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

/// The query vector the host fetched for a [`Plan::EmbedQuery`], or why it could not.
pub type Embedded<'a> = Option<Result<&'a [f32], String>>;

/// Answer `POST /v1/embeddings` for a hashing-embedder bundle locally (OpenAI response shape);
/// `None` when the bundle's model must be fetched from the configured endpoint instead.
pub fn local_embeddings(body: &[u8], state: &State) -> Option<Reply> {
    let b = state.bundle.as_ref().ok()?;
    if b.manifest().embedding.model != HASH_MODEL {
        return None;
    }
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Input {
        One(String),
        Many(Vec<String>),
    }
    #[derive(serde::Deserialize)]
    struct Req {
        input: Input,
    }
    let req: Req = match parse(body) {
        Ok(r) => r,
        Err(e) => return Some(e),
    };
    let inputs = match req.input {
        Input::One(s) => vec![s],
        Input::Many(v) => v,
    };
    if inputs.is_empty() || inputs.len() > 256 {
        return Some(Reply::error(400, "bad_request", "input must hold 1 to 256 strings"));
    }
    let e = shopai_core::HashEmbedder::new(b.manifest().embedding.dimensions as usize);
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": e.embed(t)}))
        .collect();
    Some(Reply::ok(
        json!({"object": "list", "data": data, "model": HASH_MODEL, "usage": {"prompt_tokens": 0, "total_tokens": 0}}),
    ))
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
    let path = path.split('?').next().unwrap_or(path);
    let bundle = || state.bundle.as_ref().map_err(|e| Reply::error(503, "bundle_unavailable", e.clone()));
    let result = match (method, path) {
        ("GET", "/health") => Ok(match &state.bundle {
            Ok(b) => Reply::ok(json!({ "status": "ok", "version": b.manifest().version })),
            Err(e) => Reply { status: 503, body: json!({ "status": "unavailable", "error": e }) },
        }),
        ("GET", "/version") => {
            bundle().map(|b| Reply::ok(json!({ "version": b.manifest().version, "manifest": b.manifest() })))
        }
        ("POST", "/search") => bundle().and_then(|b| {
            let req: SearchRequest = parse(body)?;
            let (vector, failure) = match &embedded {
                Some(Ok(v)) => (Some(*v), None),
                Some(Err(e)) => (None, Some(format!("query embedding failed: {e}"))),
                None => (None, None),
            };
            let res = answer_search_with(&b.view(), &req, vector, failure.as_deref(), scratch).map_err(core_error)?;
            to_reply(&res)
        }),
        ("POST", "/recommendations") => bundle().and_then(|b| {
            let req: RecommendRequest = parse(body)?;
            let res = answer_recommend(&b.view(), &req, scratch).map_err(core_error)?;
            to_reply(&res)
        }),
        (_, "/health" | "/version" | "/search" | "/recommendations" | "/v1/embeddings") => {
            Err(Reply::error(405, "method_not_allowed", format!("{method} is not allowed on {path}")))
        }
        _ => Err(Reply::error(
            404,
            "not_found",
            format!("no route for {method} {path}; try POST /search, POST /recommendations, POST /v1/embeddings, GET /health, GET /version"),
        )),
    };
    result.unwrap_or_else(|e| e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopai_core::{BundleParts, HashEmbedder, QuantMatrix, HASH_MODEL};

    fn state() -> State {
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
        State::from_bundle_bytes(Ok(parts.to_bytes().expect("bundle")))
    }

    fn call(method: &str, path: &str, body: &str) -> Reply {
        handle(method, path, body.as_bytes(), &state(), &mut Scratch::default())
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
    fn bad_requests_are_json_4xx() {
        assert_eq!(call("POST", "/search", "{not json").status, 400);
        assert_eq!(call("POST", "/search", r#"{"qurey":"x"}"#).status, 400);
        assert_eq!(call("POST", "/search", r#"{"query":"x","top_k":0}"#).status, 422);
        assert_eq!(call("POST", "/search", r#"{"vector":[1,2]}"#).status, 422);
        assert_eq!(call("POST", "/search", r#"{"query":"x","filters":{"category":["Nope"]}}"#).status, 422);
        assert_eq!(call("GET", "/search", "").status, 405);
        let r = call("GET", "/nope", "");
        assert_eq!(r.status, 404);
        assert_eq!(r.body["error"]["code"], "not_found");
        let big = format!(r#"{{"query":"{}"}}"#, "a".repeat(MAX_BODY_BYTES));
        assert_eq!(call("POST", "/search", &big).status, 413);
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
