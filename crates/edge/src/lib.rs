//! ShopAI at the edge: a Spin HTTP component (`wasi:http` P3 via spin-sdk 7).
//!
//! Everything the component needs at runtime comes from environment variables and mounted files,
//! so the same `.wasm` runs under `spin up` and `wasmtime serve`:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `SHOPAI_BUNDLE_PATH` | `/data/bundle.bin` | bundle file inside the component's filesystem |
//!
//! With the `spin` feature (what `spin.toml` builds), Spin variables of the same names in
//! lowercase (`bundle_path`) take precedence. Request handling lives in [`api`].
#![deny(missing_docs)]

pub mod api;

/// Default bundle location inside the component.
pub const DEFAULT_BUNDLE_PATH: &str = "/data/bundle.bin";

#[cfg(target_arch = "wasm32")]
mod host {
    use super::api::{self, Reply, State, MAX_BODY_BYTES};
    use bytes::Bytes;
    use shopai_core::service::Scratch;
    use spin_sdk::http::body::IncomingBodyExt;
    use spin_sdk::http::{FullBody, IntoResponse, Request};
    use spin_sdk::http_service;
    use std::cell::RefCell;
    use std::sync::OnceLock;
    use std::time::Instant;

    static STATE: OnceLock<State> = OnceLock::new();
    thread_local! {
        static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
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

    async fn state() -> &'static State {
        if let Some(s) = STATE.get() {
            return s;
        }
        let path = config("bundle_path", super::DEFAULT_BUNDLE_PATH).await;
        let bytes = std::fs::read(&path).map_err(|e| format!("reading bundle {path}: {e}"));
        STATE.get_or_init(|| State::from_bundle_bytes(bytes))
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
        let state = state().await;
        let mut reply = if too_large {
            Reply::error(413, "body_too_large", format!("request body exceeds {MAX_BODY_BYTES} bytes"))
        } else {
            match req.into_body().bytes().await {
                Ok(body) => SCRATCH.with(|s| api::handle(&method, &path, &body, state, &mut s.borrow_mut())),
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
            serde_json::json!({"method": method, "path": path, "status": reply.status, "took_ms": took_ms})
        );
        let body = serde_json::to_vec(&reply.body)?;
        Ok(http::Response::builder()
            .status(reply.status)
            .header("content-type", "application/json")
            .header("access-control-allow-origin", "*")
            .body(FullBody::new(Bytes::from(body)))?)
    }
}
