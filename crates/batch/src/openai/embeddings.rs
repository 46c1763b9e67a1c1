//! OpenAI-compatible embeddings: batching by input count and estimated tokens, the `dimensions`
//! parameter, cost accounting with a hard cap, and an on-disk cache keyed by (model, dimensions,
//! text hash) so a stopped or failed run resumes where it left off. Requests, retries (429, 5xx,
//! timeouts, malformed bodies) and rate limits go through [`super::client`].

use super::client::{cache_path, estimate_tokens, Attempt, Client, ClientConfig, Failure};
use crate::config::Config;
use crate::io::fs::write_atomic;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Client settings.
#[derive(Debug, Clone)]
pub struct EmbedConfig {
    /// Endpoint, key, retries, timeout and rate limits.
    pub client: ClientConfig,
    /// Model name.
    pub model: String,
    /// Output dimensions (`dimensions` parameter), if the model supports shortening.
    pub dimensions: Option<u32>,
    /// Most inputs per request.
    pub batch_size: usize,
    /// Most estimated tokens per request.
    pub batch_tokens: usize,
    /// USD per million tokens (for cost accounting).
    pub usd_per_million_tokens: f64,
    /// Stop before spending more than this many USD in one run.
    pub cost_cap_usd: f64,
    /// Cache folder.
    pub cache_dir: PathBuf,
}

impl EmbedConfig {
    /// Defaults for `text-embedding-3-large` with `client`'s endpoint.
    pub fn new(client: ClientConfig, model: &str, cache_dir: PathBuf) -> Self {
        Self {
            client,
            model: model.to_string(),
            dimensions: None,
            batch_size: 256,
            batch_tokens: 200_000,
            usd_per_million_tokens: if model == "text-embedding-3-large" { 0.13 } else { 0.0 },
            cost_cap_usd: 5.0,
            cache_dir,
        }
    }

    /// The settings `[openai]` and `[embeddings]` give (the cache under `<data_dir>` by default).
    pub fn from_config(cfg: &Config) -> Self {
        let e = &cfg.embeddings;
        let mut client = ClientConfig::new(&cfg.openai.base_url, cfg.openai.api_key.clone());
        client.max_retries = e.max_retries;
        client.backoff = std::time::Duration::from_millis(e.backoff_ms);
        client.timeout = std::time::Duration::from_secs_f64(e.timeout_s.max(0.1));
        client.requests_per_minute = e.requests_per_minute;
        client.tokens_per_minute = e.tokens_per_minute;
        let cache = e.cache_dir.clone().unwrap_or_else(|| cfg.paths.data_dir.join("embeddings-cache"));
        let mut ec = Self::new(client, &e.model, cache);
        ec.dimensions = (e.dimensions > 0).then_some(e.dimensions);
        ec.batch_size = e.batch_size;
        ec.usd_per_million_tokens = e.usd_per_million_tokens;
        ec.cost_cap_usd = e.cost_cap_usd;
        ec
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

/// The embeddings client.
pub struct Embedder {
    cfg: EmbedConfig,
    client: Client,
}

impl Embedder {
    /// A client; fails only if the HTTP client cannot be built.
    pub fn new(cfg: EmbedConfig) -> Result<Self> {
        Ok(Self { client: Client::new(cfg.client.clone())?, cfg })
    }

    fn cache_path(&self, text: &str) -> PathBuf {
        let dims = self.cfg.dimensions.map_or("native".to_string(), |d| d.to_string());
        let model: String = self
            .cfg
            .model
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' })
            .collect();
        cache_path(&self.cfg.cache_dir.join(format!("{model}-{dims}")), &[text.as_bytes()])
    }

    fn cached(&self, text: &str) -> Option<Vec<f32>> {
        let bytes = std::fs::read(self.cache_path(text)).ok()?;
        (bytes.len() % 4 == 0 && !bytes.is_empty())
            .then(|| bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }

    fn store(&self, text: &str, v: &[f32]) -> Result<()> {
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        write_atomic(&self.cache_path(text), &bytes)
    }

    /// One request for `batch`: the vectors in input order and the tokens billed.
    fn attempt(client: &Client, cfg: &EmbedConfig, batch: &[&str]) -> Result<Attempt<(Vec<Vec<f32>>, u64)>> {
        let body = Request { model: &cfg.model, input: batch, dimensions: cfg.dimensions, encoding_format: "float" };
        let text = match client.post("embeddings", &body)? {
            Ok(t) => t,
            Err(f) => return Ok(Err(f)),
        };
        let malformed = || Ok(Err(Failure::new("malformed_body")));
        let Ok(parsed) = serde_json::from_str::<Response>(&text) else { return malformed() };
        if parsed.data.len() != batch.len() || parsed.data.iter().any(|d| d.index >= batch.len()) {
            return malformed();
        }
        let mut out = vec![Vec::new(); batch.len()];
        for d in parsed.data {
            out[d.index] = d.embedding;
        }
        let dim = out[0].len();
        if dim == 0 || out.iter().any(|v| v.len() != dim || v.iter().any(|x| !x.is_finite())) {
            return malformed();
        }
        let tokens = parsed
            .usage
            .map(|u| u.prompt_tokens)
            .filter(|&t| t > 0)
            .unwrap_or_else(|| batch.iter().map(|t| estimate_tokens(t) as u64).sum());
        Ok(Ok((out, tokens)))
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
            let cfg = &self.cfg;
            let (requests, failures, retries) = (&mut stats.requests, &mut stats.failures, &mut stats.retries);
            let result = self.client.retrying(
                est as u64,
                |client| {
                    *requests += 1;
                    Self::attempt(client, cfg, &batch)
                },
                |f, again| {
                    *failures.entry(f.kind.clone()).or_insert(0) += 1;
                    *retries += u64::from(again);
                },
            )?;
            let (vectors, tokens) = match result {
                Ok(v) => v,
                Err(f) => bail!(
                    "the embeddings endpoint kept failing ({}) after {} retries; {} of {} texts are cached — run again to resume",
                    f.kind,
                    cfg.client.max_retries,
                    stats.cache_hits + k,
                    texts.len()
                ),
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
