//! An OpenAI-compatible embeddings client: batching by input count and estimated tokens, the
//! `dimensions` parameter, exponential backoff with jitter on 429/5xx/timeouts/malformed bodies
//! (honouring `Retry-After`), bounded retries, request and token rate limits, cost accounting
//! with a hard cap, and an on-disk cache keyed by (model, dimensions, text hash) so a stopped or
//! failed run resumes where it left off.

use crate::config::Secret;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Client settings.
#[derive(Debug, Clone)]
pub struct EmbedConfig {
    /// Base URL, e.g. `https://api.openai.com/v1` (the client appends `/embeddings`).
    pub base_url: String,
    /// API key (may be empty for local servers).
    pub api_key: Secret,
    /// Model name.
    pub model: String,
    /// Output dimensions (`dimensions` parameter), if the model supports shortening.
    pub dimensions: Option<u32>,
    /// Most inputs per request.
    pub batch_size: usize,
    /// Most estimated tokens per request.
    pub batch_tokens: usize,
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
    /// USD per million tokens (for cost accounting).
    pub usd_per_million_tokens: f64,
    /// Stop before spending more than this many USD in one run.
    pub cost_cap_usd: f64,
    /// Cache folder.
    pub cache_dir: PathBuf,
}

impl EmbedConfig {
    /// Defaults for `text-embedding-3-large` at `base_url`.
    pub fn new(base_url: &str, api_key: Secret, model: &str, cache_dir: PathBuf) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key,
            model: model.to_string(),
            dimensions: None,
            batch_size: 256,
            batch_tokens: 200_000,
            max_retries: 6,
            backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(60),
            requests_per_minute: 3000,
            tokens_per_minute: 1_000_000,
            usd_per_million_tokens: if model == "text-embedding-3-large" { 0.13 } else { 0.0 },
            cost_cap_usd: 5.0,
            cache_dir,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct EmbedStats {
    /// Texts asked for.
    pub texts: usize,
    /// Served from the cache.
    pub cache_hits: usize,
    /// HTTP requests sent (including retries).
    pub requests: u64,
    /// Retries after failures.
    pub retries: u64,
    /// Tokens billed (from `usage`, else estimated).
    pub tokens: u64,
    /// USD spent this run.
    pub cost_usd: f64,
    /// Failures seen, by kind.
    pub failures: std::collections::BTreeMap<String, u64>,
}

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    input: &'a [&'a str],
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<u32>,
    encoding_format: &'static str,
}

#[derive(Deserialize)]
struct Response {
    data: Vec<Item>,
    #[serde(default)]
    usage: Option<Usage>,
}
#[derive(Deserialize)]
struct Item {
    embedding: Vec<f32>,
    index: usize,
}
#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u64,
}

/// Rough token estimate (≈4 characters per token for English text).
pub fn estimate_tokens(text: &str) -> usize {
    text.len().div_ceil(4).max(1)
}

/// The embeddings client.
pub struct Embedder {
    cfg: EmbedConfig,
    http: reqwest::blocking::Client,
    window: VecDeque<(Instant, u64)>,
    rng: u64,
}

enum Attempt {
    Done(Vec<Vec<f32>>, u64),
    Retry(String, Option<Duration>),
}

impl Embedder {
    /// A client; fails only if the HTTP client cannot be built.
    pub fn new(cfg: EmbedConfig) -> Result<Self> {
        let http =
            reqwest::blocking::Client::builder().timeout(cfg.timeout).build().context("building the HTTP client")?;
        Ok(Self { cfg, http, window: VecDeque::new(), rng: 0x5EED })
    }

    fn cache_path(&self, text: &str) -> PathBuf {
        let mut h = Sha256::new();
        h.update(text.as_bytes());
        let key = hex::encode(h.finalize());
        let dims = self.cfg.dimensions.map_or("native".to_string(), |d| d.to_string());
        let model: String = self
            .cfg
            .model
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' })
            .collect();
        self.cfg.cache_dir.join(format!("{model}-{dims}")).join(&key[..2]).join(&key)
    }

    fn cached(&self, text: &str) -> Option<Vec<f32>> {
        let bytes = std::fs::read(self.cache_path(text)).ok()?;
        (bytes.len() % 4 == 0 && !bytes.is_empty())
            .then(|| bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }

    fn store(&self, text: &str, v: &[f32]) -> Result<()> {
        let path = self.cache_path(text);
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        crate::build::write_atomic(&path, &bytes)
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

    fn attempt(&self, batch: &[&str]) -> Result<Attempt> {
        let body =
            Request { model: &self.cfg.model, input: batch, dimensions: self.cfg.dimensions, encoding_format: "float" };
        let mut req = self.http.post(format!("{}/embeddings", self.cfg.base_url)).json(&body);
        if self.cfg.api_key.is_set() {
            req = req.bearer_auth(self.cfg.api_key.expose());
        }
        let resp = match req.send() {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return Ok(Attempt::Retry("timeout".into(), None)),
            Err(e) if e.is_connect() || e.is_request() || e.is_body() => {
                return Ok(Attempt::Retry("connection".into(), None))
            }
            Err(e) => return Err(e).context("calling the embeddings endpoint"),
        };
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<f64>().ok())
            .map(|s| Duration::from_secs_f64(s.clamp(0.0, 60.0)));
        if status.as_u16() == 429 || status.is_server_error() {
            return Ok(Attempt::Retry(format!("http_{}", status.as_u16()), retry_after));
        }
        let text = match resp.text() {
            Ok(t) => t,
            Err(_) => return Ok(Attempt::Retry("body_read".into(), None)),
        };
        if !status.is_success() {
            // 400/401/403/404: retrying cannot help; say what the server said (never the key).
            let msg: String = text.chars().take(400).collect();
            bail!("the embeddings endpoint answered {status}: {msg}");
        }
        let Ok(parsed) = serde_json::from_str::<Response>(&text) else {
            return Ok(Attempt::Retry("malformed_body".into(), None));
        };
        if parsed.data.len() != batch.len() || parsed.data.iter().any(|d| d.index >= batch.len()) {
            return Ok(Attempt::Retry("malformed_body".into(), None));
        }
        let mut out = vec![Vec::new(); batch.len()];
        for d in parsed.data {
            out[d.index] = d.embedding;
        }
        let dim = out[0].len();
        if dim == 0 || out.iter().any(|v| v.len() != dim || v.iter().any(|x| !x.is_finite())) {
            return Ok(Attempt::Retry("malformed_body".into(), None));
        }
        let tokens = parsed
            .usage
            .map(|u| u.prompt_tokens)
            .filter(|&t| t > 0)
            .unwrap_or_else(|| batch.iter().map(|t| estimate_tokens(t) as u64).sum());
        Ok(Attempt::Done(out, tokens))
    }

    /// Embed every text (cache first). `on_progress(done)` is called as texts complete.
    /// Stops with an error before exceeding the cost cap; what was embedded stays cached.
    pub fn embed_all(
        &mut self,
        texts: &[String],
        mut on_progress: impl FnMut(usize),
    ) -> Result<(Vec<Vec<f32>>, EmbedStats)> {
        let mut stats = EmbedStats { texts: texts.len(), ..Default::default() };
        let mut out: Vec<Option<Vec<f32>>> = texts.iter().map(|t| self.cached(t)).collect();
        stats.cache_hits = out.iter().filter(|v| v.is_some()).count();
        on_progress(stats.cache_hits);
        let todo: Vec<usize> = (0..texts.len()).filter(|&i| out[i].is_none()).collect();
        let mut k = 0;
        while k < todo.len() {
            // Next batch: up to batch_size texts and batch_tokens estimated tokens (at least one).
            let mut end = k;
            let mut est = 0usize;
            while end < todo.len() && end - k < self.cfg.batch_size {
                let t = estimate_tokens(&texts[todo[end]]);
                if end > k && est + t > self.cfg.batch_tokens {
                    break;
                }
                est += t;
                end += 1;
            }
            let est_cost = est as f64 / 1e6 * self.cfg.usd_per_million_tokens;
            if stats.cost_usd + est_cost > self.cfg.cost_cap_usd {
                bail!(
                    "cost cap reached: spent ${:.4} of ${:.4}, the next request would cost about ${:.4}; {} of {} texts are embedded and cached — raise the cap and run again to resume",
                    stats.cost_usd, self.cfg.cost_cap_usd, est_cost, stats.cache_hits + k, texts.len()
                );
            }
            let batch: Vec<&str> = todo[k..end].iter().map(|&i| texts[i].as_str()).collect();
            let mut attempt_no = 0;
            let (vectors, tokens) = loop {
                self.throttle(est as u64);
                stats.requests += 1;
                match self.attempt(&batch)? {
                    Attempt::Done(v, t) => break (v, t),
                    Attempt::Retry(kind, after) => {
                        *stats.failures.entry(kind.clone()).or_insert(0) += 1;
                        if attempt_no >= self.cfg.max_retries {
                            bail!("the embeddings endpoint kept failing ({kind}) after {} retries; {} of {} texts are cached — run again to resume", self.cfg.max_retries, stats.cache_hits + k, texts.len());
                        }
                        let backoff = self.cfg.backoff * 2u32.saturating_pow(attempt_no);
                        let wait = after.unwrap_or_else(|| self.jitter(backoff));
                        std::thread::sleep(wait);
                        attempt_no += 1;
                        stats.retries += 1;
                    }
                }
            };
            stats.tokens += tokens;
            stats.cost_usd += tokens as f64 / 1e6 * self.cfg.usd_per_million_tokens;
            for (&i, v) in todo[k..end].iter().zip(vectors) {
                self.store(&texts[i], &v)?;
                out[i] = Some(v);
            }
            k = end;
            on_progress(stats.cache_hits + k);
        }
        let vectors: Vec<Vec<f32>> = out.into_iter().map(|v| v.unwrap_or_default()).collect();
        Ok((vectors, stats))
    }
}
