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
//! | `SHOPAI_BUNDLE_URL` | (none) | serve what `shopai publish` published: `s3://bucket/prefix/bundles/LATEST` or an `https://` URL (see [`release`]) |
//! | `SHOPAI_BUNDLE_REVALIDATE_SECS` | `30` | revalidate `LATEST` at most this often |
//! | `SHOPAI_BUNDLE_CACHE_DIR` | (none) | writable folder where a fetched bundle waits for the next instance |
//! | `SHOPAI_S3_ENDPOINT`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION` | AWS | S3 for `bundle_url` and feedback (SigV4) |
//! | `SHOPAI_FEEDBACK_URL` | (none) | `s3://bucket/prefix/feedback`: where `POST /feedback` events go (see [`feedback`]) |
//! | `SHOPAI_FEEDBACK_FLUSH_MS` | `50` | how long a feedback write waits to batch with others |
//!
//! With the `spin` feature (what `spin.toml` builds), Spin variables of the same names in
//! lowercase without the prefix (`bundle_path`, `embeddings_url`, `embeddings_api_key`) take
//! precedence. Request handling lives in [`api`]; this file only moves bytes.
//!
//! Query embeddings: for bundles embedded with a hosted model, `/search` text queries are
//! embedded through the configured endpoint (an in-instance LRU cache first, one retry), and if
//! that fails the answer is lexical only with `degraded` saying why. `POST /v1/embeddings`
//! gives browsers query vectors for the bundle's model without ever seeing the key.
#![deny(missing_docs)]

pub mod api;
pub mod feedback;
pub mod release;

/// Default bundle location inside the component.
pub const DEFAULT_BUNDLE_PATH: &str = "/data/bundle.bin";

#[cfg(target_arch = "wasm32")]
mod host {
    use super::api::{self, Plan, Reply, State, MAX_BODY_BYTES};
    use bytes::Bytes;
    use shopai_core::service::Scratch;
    use spin_sdk::http::body::IncomingBodyExt;
    use spin_sdk::http::{FullBody, IntoResponse, Request};
    use spin_sdk::http_service;
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::time::Instant;

    const CACHE_CAP: usize = 1024;
    /// Query text → (last use tick, vector), with a global tick for LRU eviction.
    type QueryCache = (u64, HashMap<String, (u64, Vec<f32>)>);
    thread_local! {
        static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
        static CACHE: RefCell<QueryCache> = RefCell::new((0, HashMap::new()));
    }

    fn cache_get(text: &str) -> Option<Vec<f32>> {
        CACHE.with(|c| {
            let (tick, map) = &mut *c.borrow_mut();
            *tick += 1;
            let now = *tick;
            map.get_mut(text).map(|e| {
                e.0 = now;
                e.1.clone()
            })
        })
    }

    fn cache_put(text: &str, v: Vec<f32>) {
        CACHE.with(|c| {
            let (tick, map) = &mut *c.borrow_mut();
            *tick += 1;
            if map.len() >= CACHE_CAP {
                if let Some(oldest) = map.iter().min_by_key(|e| e.1 .0).map(|e| e.0.clone()) {
                    map.remove(&oldest);
                }
            }
            map.insert(text.to_string(), (*tick, v));
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

    pub(crate) async fn config(key: &str, default: &str) -> String {
        #[cfg(feature = "spin")]
        if let Ok(v) = spin_sdk::variables::get(key.to_lowercase()).await {
            if !v.is_empty() {
                return v;
            }
        }
        std::env::var(format!("SHOPAI_{}", key.to_uppercase())).unwrap_or_else(|_| default.to_string())
    }

    /// The bundle this instance answers with (mounted file, or the published one: `release`).
    async fn state() -> std::rc::Rc<crate::release::host::Live> {
        crate::release::host::current().await
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
        let live = state().await;
        let state: &State = &live.state;
        let mut degraded_embedding = false;
        let mut reply = if too_large {
            Reply::error(413, "body_too_large", format!("request body exceeds {MAX_BODY_BYTES} bytes"))
        } else {
            match req.into_body().bytes().await {
                Ok(body) if method == "POST" && path == "/v1/embeddings" => match api::local_embeddings(&body, state) {
                    Some(r) => r,
                    None => match call_embeddings(body.to_vec()).await {
                        Ok(raw) => {
                            Reply { status: 200, body: serde_json::from_slice(&raw).unwrap_or(serde_json::Value::Null) }
                        }
                        Err(e) => Reply::error(502, "embeddings_unavailable", e),
                    },
                },
                Ok(body) if path == "/feedback" => crate::feedback::host::handle(&method, &body, state).await,
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
        if path == "/version" {
            if let (Some(obj), Some(r)) = (reply.body.as_object_mut(), &live.record) {
                obj.insert(
                    "published".into(),
                    serde_json::json!({"sha256": r.pointer.sha256, "checked_at_ms": r.checked_at_ms}),
                );
            }
        }
        let version = state.bundle.as_ref().map(|b| b.manifest().version.clone()).unwrap_or_default();
        let body = serde_json::to_vec(&reply.body)?;
        Ok(http::Response::builder()
            .status(reply.status)
            .header("x-shopai-version", version)
            .header("content-type", "application/json")
            .header("access-control-allow-origin", "*")
            .body(FullBody::new(Bytes::from(body)))?)
    }
}
