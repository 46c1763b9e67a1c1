//! ShopAI at the edge: a Spin HTTP component (`wasi:http` P3 via spin-sdk 7).
//!
//! Everything the component needs at runtime comes from environment variables and mounted files,
//! so the same `.wasm` runs under `spin up` and `wasmtime serve`:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `SHOPAI_BUNDLE_PATH` | `/data/bundle.bin` | bundle file inside the component's filesystem |
//! | `SHOPAI_EMBEDDINGS_URL` | (none) | OpenAI-compatible base URL for query embeddings, e.g. `https://api.openai.com/v1` |
//! | `SHOPAI_EMBEDDINGS_API_KEY` | (none) | its key (never sent to browsers, never logged) |
//!
//! With the `spin` feature (what `spin.toml` builds), Spin variables of the same names in
//! lowercase without the prefix (`bundle_path`, `embeddings_url`, `embeddings_api_key`) take
//! precedence. Request handling lives in [`api`]; this file only moves bytes.
//!
//! Query embeddings: for bundles embedded with a hosted model, `/search` text queries are
//! embedded through the configured endpoint (an in-instance `lru` cache first, one retry), and if
//! that fails the answer is lexical only with `degraded` saying why. `POST /v1/embeddings`
//! gives browsers query vectors for the bundle's model without ever seeing the key.
#![deny(missing_docs)]

pub mod api;

/// Default bundle location inside the component.
pub const DEFAULT_BUNDLE_PATH: &str = "/data/bundle.bin";

#[cfg(target_arch = "wasm32")]
mod host {
    use super::api::{self, Plan, Reply, State, MAX_BODY_BYTES};
    use bytes::Bytes;
    use lru::LruCache;
    use shopai_core::service::Scratch;
    use spin_sdk::http::body::IncomingBodyExt;
    use spin_sdk::http::{FullBody, IntoResponse, Request};
    use spin_sdk::http_service;
    use std::cell::RefCell;
    use std::num::NonZeroUsize;
    use std::ops::Deref;
    use std::sync::OnceLock;
    use std::time::Instant;

    static STATE: OnceLock<State> = OnceLock::new();
    const CACHE_CAP: NonZeroUsize = NonZeroUsize::new(1024).expect("non-zero");
    thread_local! {
        static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
        /// Query text → its embedding, least recently used evicted first.
        static CACHE: RefCell<LruCache<String, Vec<f32>>> = RefCell::new(LruCache::new(CACHE_CAP));
    }

    fn cache_get(text: &str) -> Option<Vec<f32>> {
        CACHE.with(|c| c.borrow_mut().get(text).cloned())
    }

    fn cache_put(text: &str, v: Vec<f32>) {
        CACHE.with(|c| {
            c.borrow_mut().put(text.to_string(), v);
        })
    }

    /// POST the OpenAI-compatible embeddings request; returns the raw response body on 2xx.
    async fn call_embeddings(body: Vec<u8>) -> Result<Vec<u8>, String> {
        let base = config("embeddings_url", "").await;
        if base.is_empty() {
            return Err("no embeddings endpoint configured (SHOPAI_EMBEDDINGS_URL)".into());
        }
        let key = config("embeddings_api_key", "").await;
        let url = format!("{}/embeddings", base.trim_end_matches('/'));
        let mut last = String::new();
        for attempt in 0..2 {
            let mut b = http::Request::builder().method("POST").uri(&url).header("content-type", "application/json");
            if !key.is_empty() {
                b = b.header("authorization", format!("Bearer {key}"));
            }
            let req = b.body(FullBody::new(Bytes::from(body.clone()))).map_err(|e| e.to_string())?;
            match spin_sdk::http::send(req).await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let bytes = resp
                        .into_body()
                        .bytes()
                        .await
                        .map_err(|e| format!("reading the embeddings response: {e:?}"))?;
                    if (200..300).contains(&status) {
                        return Ok(bytes.to_vec());
                    }
                    last = format!("endpoint answered HTTP {status}");
                    if status != 429 && status < 500 {
                        break;
                    }
                }
                Err(e) => last = format!("calling the endpoint: {e:?}"),
            }
            let _ = attempt;
        }
        Err(last)
    }

    async fn embed_query(text: &str, model: &str, dims: usize) -> Result<Vec<f32>, String> {
        if let Some(v) = cache_get(text) {
            return Ok(v);
        }
        let body =
            serde_json::to_vec(&serde_json::json!({"model": model, "input": [text]})).map_err(|e| e.to_string())?;
        let raw = call_embeddings(body).await?;
        let v: serde_json::Value =
            serde_json::from_slice(&raw).map_err(|e| format!("malformed embeddings response: {e}"))?;
        let vec: Vec<f32> = v["data"][0]["embedding"]
            .as_array()
            .ok_or("malformed embeddings response: no data[0].embedding")?
            .iter()
            .map(|x| x.as_f64().map(|f| f as f32))
            .collect::<Option<_>>()
            .ok_or("malformed embeddings response: non-numeric embedding")?;
        if vec.len() != dims {
            return Err(format!("the endpoint returned {} dimensions; the bundle ({model}) has {dims}", vec.len()));
        }
        cache_put(text, vec.clone());
        Ok(vec)
    }

    async fn config(key: &str, default: &str) -> String {
        #[cfg(feature = "spin")]
        if let Ok(v) = spin_sdk::variables::get(key.to_lowercase()).await {
            if !v.is_empty() {
                return v;
            }
        }
        std::env::var(format!("SHOPAI_{}", key.to_uppercase())).unwrap_or_else(|_| default.to_string())
    }

    /// The instance's bundle: loaded once and kept, or a failed attempt that is not kept, so the
    /// next request tries again (a bundle file that appears or is fixed later is picked up).
    enum Loaded {
        Ready(&'static State),
        Failed(Box<State>),
    }

    impl Deref for Loaded {
        type Target = State;
        fn deref(&self) -> &State {
            match self {
                Loaded::Ready(s) => s,
                Loaded::Failed(s) => s,
            }
        }
    }

    async fn state() -> Loaded {
        if let Some(s) = STATE.get() {
            return Loaded::Ready(s);
        }
        let path = config("bundle_path", super::DEFAULT_BUNDLE_PATH).await;
        let bytes = std::fs::read(&path).map_err(|e| format!("reading bundle {path}: {e}"));
        let loaded = State::from_bundle_bytes(bytes);
        if loaded.bundle.is_ok() {
            Loaded::Ready(STATE.get_or_init(|| loaded))
        } else {
            Loaded::Failed(Box::new(loaded))
        }
    }

    #[http_service]
    async fn handle(req: Request) -> anyhow::Result<impl IntoResponse> {
        let started = Instant::now();
        let method = req.method().as_str().to_string();
        let path = req.uri().path().to_string();
        let too_large = req
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            .is_some_and(|n| n > MAX_BODY_BYTES);
        if method == "OPTIONS" {
            // CORS preflight: storefront pages on other origins may call every route.
            return Ok(http::Response::builder()
                .status(204)
                .header("access-control-allow-origin", "*")
                .header("access-control-allow-methods", "GET, POST, OPTIONS")
                .header("access-control-allow-headers", "content-type")
                .header("access-control-max-age", "86400")
                .body(FullBody::new(Bytes::new()))?);
        }
        let loaded = state().await;
        let state: &State = &loaded;
        let mut degraded_embedding = false;
        let mut reply = if too_large {
            Reply::error(413, "body_too_large", format!("request body exceeds {MAX_BODY_BYTES} bytes"))
        } else {
            match req.into_body().bytes().await {
                Ok(body) if method == "POST" && path == "/v1/embeddings" => match api::local_embeddings(&body, state) {
                    Some(r) => r,
                    None => match call_embeddings(body.to_vec()).await {
                        Ok(raw) => match serde_json::from_slice(&raw) {
                            Ok(body) => Reply { status: 200, body },
                            Err(e) => Reply::error(
                                502,
                                "embeddings_unavailable",
                                format!("the endpoint answered with malformed JSON: {e}"),
                            ),
                        },
                        Err(e) => Reply::error(502, "embeddings_unavailable", e),
                    },
                },
                Ok(body) => match api::plan(&method, &path, &body, state) {
                    Plan::Answer => SCRATCH.with(|s| api::handle(&method, &path, &body, state, &mut s.borrow_mut())),
                    Plan::EmbedQuery { text, model, dimensions } => {
                        let embedded = embed_query(&text, &model, dimensions).await;
                        degraded_embedding = embedded.is_err();
                        let e = embedded.as_ref().map(Vec::as_slice).map_err(Clone::clone);
                        SCRATCH
                            .with(|s| api::handle_embedded(&method, &path, &body, state, Some(e), &mut s.borrow_mut()))
                    }
                },
                Err(e) => Reply::error(400, "bad_body", format!("could not read request body: {e:?}")),
            }
        };
        let took_ms = started.elapsed().as_secs_f64() * 1000.0;
        if let Some(obj) = reply.body.as_object_mut() {
            if obj.contains_key("results") {
                obj.insert("took_ms".into(), serde_json::json!((took_ms * 1000.0).round() / 1000.0));
            }
        }
        eprintln!(
            "{}",
            serde_json::json!({"method": method, "path": path, "status": reply.status, "took_ms": took_ms, "degraded": degraded_embedding})
        );
        let body = serde_json::to_vec(&reply.body)?;
        Ok(http::Response::builder()
            .status(reply.status)
            .header("content-type", "application/json")
            .header("access-control-allow-origin", "*")
            .body(FullBody::new(Bytes::from(body)))?)
    }
}
