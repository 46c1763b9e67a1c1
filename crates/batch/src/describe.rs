//! Text for products that have neither a title nor a description.
//!
//! Such a product still has to be embedded and found. Its text comes from one of two places:
//! - **generated**: an OpenAI-compatible `POST /chat/completions` call (any model, set with
//!   `[embeddings] describe_model`) turns the fields present into a one-sentence summary; answers are
//!   cached on disk by (model, prompt) so a re-run costs nothing, and failures retry with backoff;
//! - **template**: with no endpoint configured, or when the call keeps failing, a sentence built
//!   from the fields present (id, categories, brand, price).
//!
//! The run writes `product_texts.csv` (id, source, text) for every product that got one, and logs
//! the counts.

use crate::config::Secret;
use crate::ingest::Product;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::Duration;

/// Where a product's text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextSource {
    /// The catalog's own title and/or description.
    #[default]
    Catalog,
    /// Built from the fields present.
    Template,
    /// Written by the chat-completions model.
    Generated,
}

/// The templated text: what the fields say, nothing invented.
pub fn template_text(p: &Product) -> String {
    let mut t = format!("Product {}", p.id);
    if !p.categories.is_empty() {
        t.push_str(" in ");
        t.push_str(&p.categories.join(", "));
    }
    if !p.brand.is_empty() {
        t.push_str(" by ");
        t.push_str(&p.brand);
    }
    if let Some(price) = p.price {
        t.push_str(&format!(", priced {price:.2}"));
    }
    t
}

/// Chat-completions client settings.
#[derive(Debug, Clone)]
pub struct DescribeConfig {
    /// Base URL (the client appends `/chat/completions`).
    pub base_url: String,
    /// API key (may be empty for local servers).
    pub api_key: Secret,
    /// Model name.
    pub model: String,
    /// Cache folder.
    pub cache_dir: PathBuf,
    /// Retries per product after the first attempt.
    pub max_retries: u32,
    /// First backoff; doubles per retry.
    pub backoff: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
}

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: [Message<'a>; 2],
    temperature: f32,
    max_tokens: u32,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'a str,
    content: &'a str,
}

#[derive(Deserialize)]
struct ChatResponse {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChoiceMessage,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    content: Option<String>,
}

const SYSTEM: &str = "You write one neutral sentence (at most 30 words) describing a product for a \
store's search index, using only the facts given. Do not invent features, prices or brands.";

/// What [`Describer::describe`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DescribeStats {
    /// Products answered from the cache.
    pub cache_hits: usize,
    /// HTTP requests sent (including retries).
    pub requests: usize,
    /// Products that fell back to the template after the retries.
    pub failed: usize,
    /// Last failure, if any (never contains the key).
    pub last_error: Option<String>,
}

/// The chat-completions client.
pub struct Describer {
    cfg: DescribeConfig,
    http: reqwest::blocking::Client,
    /// Counters.
    pub stats: DescribeStats,
}

impl Describer {
    /// A client; fails only if the HTTP client cannot be built.
    pub fn new(cfg: DescribeConfig) -> Result<Self> {
        let http =
            reqwest::blocking::Client::builder().timeout(cfg.timeout).build().context("building the HTTP client")?;
        Ok(Self { cfg, http, stats: DescribeStats::default() })
    }

    fn cache_path(&self, prompt: &str) -> PathBuf {
        let mut h = Sha256::new();
        h.update(self.cfg.model.as_bytes());
        h.update([0]);
        h.update(prompt.as_bytes());
        let key = hex::encode(h.finalize());
        self.cfg.cache_dir.join("describe").join(&key[..2]).join(&key)
    }

    /// A one-sentence summary of the facts in `fields`, or `None` after the retries fail.
    pub fn describe(&mut self, fields: &str) -> Option<String> {
        let path = self.cache_path(fields);
        if let Ok(text) = std::fs::read_to_string(&path) {
            self.stats.cache_hits += 1;
            return Some(text);
        }
        for attempt in 0..=self.cfg.max_retries {
            if attempt > 0 {
                std::thread::sleep(self.cfg.backoff * 2u32.saturating_pow(attempt - 1));
            }
            self.stats.requests += 1;
            match self.call(fields) {
                Ok(text) => {
                    if let Err(e) = crate::build::write_atomic(&path, text.as_bytes()) {
                        self.stats.last_error = Some(format!("caching: {e}"));
                    }
                    return Some(text);
                }
                Err(e) => {
                    let retry = e.1;
                    self.stats.last_error = Some(e.0);
                    if !retry {
                        break;
                    }
                }
            }
        }
        self.stats.failed += 1;
        None
    }

    /// One request; the error says whether retrying can help.
    fn call(&self, fields: &str) -> std::result::Result<String, (String, bool)> {
        let body = ChatRequest {
            model: &self.cfg.model,
            messages: [Message { role: "system", content: SYSTEM }, Message { role: "user", content: fields }],
            temperature: 0.0,
            max_tokens: 80,
        };
        let mut req =
            self.http.post(format!("{}/chat/completions", self.cfg.base_url.trim_end_matches('/'))).json(&body);
        if self.cfg.api_key.is_set() {
            req = req.bearer_auth(self.cfg.api_key.expose());
        }
        let resp = req.send().map_err(|e| (format!("request failed: {}", without_url(&e)), true))?;
        let status = resp.status();
        let text = resp.text().map_err(|_| ("reading the body failed".to_string(), true))?;
        if status.as_u16() == 429 || status.is_server_error() {
            return Err((format!("http {}", status.as_u16()), true));
        }
        if !status.is_success() {
            return Err((format!("http {}: {}", status.as_u16(), text.chars().take(200).collect::<String>()), false));
        }
        let parsed: ChatResponse = serde_json::from_str(&text).map_err(|_| ("malformed body".to_string(), true))?;
        let content = parsed.choices.into_iter().next().and_then(|c| c.message.content).unwrap_or_default();
        let content = content.split_whitespace().collect::<Vec<_>>().join(" ");
        if content.is_empty() {
            return Err(("empty answer".into(), true));
        }
        Ok(content.chars().take(400).collect())
    }
}

fn without_url(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connection refused or unreachable".into()
    } else {
        "transport error".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_uses_only_the_fields_present() {
        let p = Product { id: "B01".into(), ..Product::default() };
        assert_eq!(template_text(&p), "Product B01");
        let p = Product {
            id: "B02".into(),
            categories: vec!["Kitchen".into(), "Pans".into()],
            brand: "Acme".into(),
            price: Some(19.5),
            ..Product::default()
        };
        assert_eq!(template_text(&p), "Product B02 in Kitchen, Pans by Acme, priced 19.50");
    }

    #[test]
    fn unreachable_endpoint_falls_back_after_bounded_retries() {
        let dir = std::env::temp_dir().join(format!("shopai-describe-{}", std::process::id()));
        let mut d = Describer::new(DescribeConfig {
            base_url: "http://127.0.0.1:9".into(),
            api_key: Secret::default(),
            model: "m".into(),
            cache_dir: dir.clone(),
            max_retries: 2,
            backoff: Duration::from_millis(1),
            timeout: Duration::from_secs(2),
        })
        .expect("client");
        assert_eq!(d.describe("Product X"), None);
        assert_eq!(d.stats.requests, 3);
        assert_eq!(d.stats.failed, 1);
        let _ = std::fs::remove_dir_all(dir);
    }
}
