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
//! precedence; the limits, caches, chat model and log privacy settings are listed in
//! `docs/EDGE.md`. Configuration is read once per instance ([`config`]).
//!
//! Request handling is pure and tested natively ([`api`], [`cache`], [`upstream`], [`answer`],
//! [`loader`], [`log`]); the wasm32-only `host` module moves bytes, makes the outbound calls and
//! writes one log line per request. The routes are described by `openapi.json`
//! ([`api::OPENAPI_JSON`], served at `GET /openapi.json`).
//!
//! Query embeddings: for bundles embedded with a hosted model, `/search` text queries are
//! embedded through the configured endpoint (answer cache, then query-embedding cache, then a
//! guarded call: time budget, one retry, token buckets, circuit breaker), and if that fails the
//! answer is lexical only with `degraded` saying why. `POST /v1/embeddings` gives browsers query
//! vectors for the bundle's model without ever seeing the key.
#![deny(missing_docs)]

pub mod answer;
pub mod api;
pub mod cache;
pub mod config;
pub mod loader;
pub mod log;
pub mod upstream;

/// Default bundle location inside the component.
pub const DEFAULT_BUNDLE_PATH: &str = "/data/bundle.bin";

#[cfg(target_arch = "wasm32")]
mod host;
