//! The one HTTP client both OpenAI-compatible calls go through (embeddings and chat completions):
//! a JSON `POST` with bearer auth, failures sorted into retryable kinds, one bounded retry loop
//! with exponential backoff (±50% jitter, capped at 30 s, honouring `Retry-After`), request and
//! token rate limits per minute, and the on-disk cache layout (`<dir>/<2 hex>/<sha256>`).

use crate::config::Secret;
use anyhow::{bail, Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Connection, retry and rate settings shared by every call.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL, e.g. `https://api.openai.com/v1` (the client appends the endpoint's path).
    pub base_url: String,
    /// API key (may be empty for local servers).
    pub api_key: Secret,
    /// Retries per request after the first attempt.
    pub max_retries: u32,
    /// First backoff; doubles per retry (with ±50% jitter), capped at 30 s.
    pub backoff: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Requests per minute (0 = unlimited).
    pub requests_per_minute: u32,
    /// Tokens per minute (0 = unlimited).
    pub tokens_per_minute: u64,
}

impl ClientConfig {
    /// Defaults (6 retries from 500 ms, 60 s timeout, 3,000 requests and 1M tokens a minute).
    pub fn new(base_url: &str, api_key: Secret) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key,
            max_retries: 6,
            backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(60),
            requests_per_minute: 3000,
            tokens_per_minute: 1_000_000,
        }
    }
}

/// A failed attempt that another attempt may fix.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// What went wrong: `timeout`, `connection`, `http_429`, `http_5xx`, `body_read`,
    /// `malformed_body`, or a kind the caller names.
    pub kind: String,
    /// The server's `Retry-After`, if it sent one.
    pub retry_after: Option<Duration>,
}

impl Failure {
    /// A failure of `kind` without a server-chosen wait.
    pub fn new(kind: &str) -> Self {
        Self { kind: kind.to_string(), retry_after: None }
    }
}

/// What one attempt gives: a value, or a retryable failure. Errors (`Err`) are final.
pub type Attempt<T> = std::result::Result<T, Failure>;

/// Rough token estimate (≈4 characters per token for English text).
pub fn estimate_tokens(text: &str) -> usize {
    text.len().div_ceil(4).max(1)
}

/// Cache file for `key` (any bytes) under `dir`: `<dir>/<first 2 hex>/<sha256 hex>`.
pub fn cache_path(dir: &Path, key: &[&[u8]]) -> PathBuf {
    let mut h = Sha256::new();
    for part in key {
        h.update(part);
    }
    let key = hex::encode(h.finalize());
    dir.join(&key[..2]).join(&key)
}

/// The client.
pub struct Client {
    cfg: ClientConfig,
    http: reqwest::blocking::Client,
    window: VecDeque<(Instant, u64)>,
    rng: u64,
}

impl Client {
    /// A client; fails only if the HTTP client cannot be built.
    pub fn new(cfg: ClientConfig) -> Result<Self> {
        let http =
            reqwest::blocking::Client::builder().timeout(cfg.timeout).build().context("building the HTTP client")?;
        Ok(Self { cfg, http, window: VecDeque::new(), rng: 0x5EED })
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// One `POST {base_url}/{path}` of `body`; the body text on success. 429, 5xx, timeouts,
    /// connection and body-read failures are retryable; other statuses are final errors that
    /// quote the server (never the key).
    pub fn post(&self, path: &str, body: &impl Serialize) -> Result<Attempt<String>> {
        let mut req = self.http.post(format!("{}/{path}", self.cfg.base_url)).json(body);
        if self.cfg.api_key.is_set() {
            req = req.bearer_auth(self.cfg.api_key.expose());
        }
        let resp = match req.send() {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return Ok(Err(Failure::new("timeout"))),
            Err(e) if e.is_connect() || e.is_request() || e.is_body() => return Ok(Err(Failure::new("connection"))),
            Err(e) => return Err(e).with_context(|| format!("calling the {path} endpoint")),
        };
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<f64>().ok())
            .map(|s| Duration::from_secs_f64(s.clamp(0.0, 60.0)));
        if status.as_u16() == 429 || status.is_server_error() {
            return Ok(Err(Failure { kind: format!("http_{}", status.as_u16()), retry_after }));
        }
        let Ok(text) = resp.text() else { return Ok(Err(Failure::new("body_read"))) };
        if !status.is_success() {
            // 400/401/403/404: retrying cannot help; say what the server said (never the key).
            let msg: String = text.chars().take(400).collect();
            bail!("the {path} endpoint answered {status}: {msg}");
        }
        Ok(Ok(text))
    }

    /// Run `attempt` until it succeeds or fails for good: at most `1 + max_retries` attempts,
    /// each after waiting for the rate limits (`tokens` per attempt). `on_failure(failure,
    /// will_retry)` sees every failed attempt. The last failure comes back when the retries run
    /// out; an `Err` from `attempt` stops at once.
    pub fn retrying<T>(
        &mut self,
        tokens: u64,
        mut attempt: impl FnMut(&Self) -> Result<Attempt<T>>,
        mut on_failure: impl FnMut(&Failure, bool),
    ) -> Result<Attempt<T>> {
        let mut n = 0u32;
        loop {
            self.throttle(tokens);
            match attempt(self)? {
                Ok(v) => return Ok(Ok(v)),
                Err(f) => {
                    let will_retry = n < self.cfg.max_retries;
                    on_failure(&f, will_retry);
                    if !will_retry {
                        return Ok(Err(f));
                    }
                    let backoff = self.cfg.backoff * 2u32.saturating_pow(n);
                    let wait = f.retry_after.unwrap_or_else(|| self.jitter(backoff));
                    std::thread::sleep(wait);
                    n += 1;
                }
            }
        }
    }

    fn jitter(&mut self, d: Duration) -> Duration {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let f = 0.5 + (self.rng % 1000) as f64 / 1000.0;
        Duration::from_secs_f64((d.as_secs_f64() * f).min(30.0))
    }

    /// Wait until one more request with `tokens` fits both per-minute limits.
    fn throttle(&mut self, tokens: u64) {
        loop {
            let now = Instant::now();
            while self.window.front().is_some_and(|(t, _)| now.duration_since(*t) >= Duration::from_secs(60)) {
                self.window.pop_front();
            }
            let reqs = self.window.len() as u32;
            let toks: u64 = self.window.iter().map(|w| w.1).sum();
            let rpm_ok = self.cfg.requests_per_minute == 0 || reqs < self.cfg.requests_per_minute;
            let tpm_ok = self.cfg.tokens_per_minute == 0
                || toks + tokens <= self.cfg.tokens_per_minute
                || self.window.is_empty();
            if rpm_ok && tpm_ok {
                self.window.push_back((now, tokens));
                return;
            }
            let oldest = self.window.front().map_or(now, |w| w.0);
            std::thread::sleep(
                Duration::from_secs(60).saturating_sub(now.duration_since(oldest)).max(Duration::from_millis(10)),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_bounded_and_every_failure_is_seen() {
        let mut cfg = ClientConfig::new("http://127.0.0.1:9", Secret::default());
        cfg.max_retries = 3;
        cfg.backoff = Duration::from_millis(1);
        let mut c = Client::new(cfg).expect("client");
        let mut attempts = 0;
        let mut seen = Vec::new();
        let r: Attempt<()> = c
            .retrying(
                1,
                |_| {
                    attempts += 1;
                    Ok(Err(Failure::new("http_500")))
                },
                |f, again| seen.push((f.kind.clone(), again)),
            )
            .expect("no final error");
        assert_eq!(r, Err(Failure::new("http_500")));
        assert_eq!(attempts, 4);
        assert_eq!(seen.iter().filter(|s| s.1).count(), 3, "{seen:?}");
        let mut n = 0;
        let ok = c.retrying(
            1,
            |_| {
                n += 1;
                Ok(if n < 2 { Err(Failure::new("timeout")) } else { Ok(n) })
            },
            |_, _| {},
        );
        assert_eq!(ok.expect("ok"), Ok(2));
    }
}
