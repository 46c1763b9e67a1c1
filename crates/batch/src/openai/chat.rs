//! OpenAI-compatible chat completions that turn a product's fields into one neutral sentence
//! (for products with neither title nor description; see `stages::product_text`). Answers are
//! cached on disk by (model, prompt) so a re-run costs nothing; requests and retries go through
//! the same [`super::client::Client`] loop as embeddings.

use super::client::{cache_path, estimate_tokens, Attempt, Client, ClientConfig, Failure};
use crate::io::fs::write_atomic;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Chat-completions client settings.
#[derive(Debug, Clone)]
pub struct DescribeConfig {
    /// Endpoint, key, retries, timeout and rate limits (the embeddings client's).
    pub client: ClientConfig,
    /// Model name.
    pub model: String,
    /// Cache folder (answers go under `<cache_dir>/describe`).
    pub cache_dir: PathBuf,
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
    client: Client,
    /// Counters.
    pub stats: DescribeStats,
}

impl Describer {
    /// A client; fails only if the HTTP client cannot be built.
    pub fn new(cfg: DescribeConfig) -> Result<Self> {
        Ok(Self { client: Client::new(cfg.client.clone())?, cfg, stats: DescribeStats::default() })
    }

    fn cache_path(&self, prompt: &str) -> PathBuf {
        cache_path(&self.cfg.cache_dir.join("describe"), &[self.cfg.model.as_bytes(), &[0], prompt.as_bytes()])
    }

    /// A one-sentence summary of the facts in `fields`, or `None` after the retries fail (or
    /// the endpoint refuses the request).
    pub fn describe(&mut self, fields: &str) -> Option<String> {
        let path = self.cache_path(fields);
        if let Ok(text) = std::fs::read_to_string(&path) {
            self.stats.cache_hits += 1;
            return Some(text);
        }
        let (model, stats) = (&self.cfg.model, &mut self.stats);
        let requests = &mut stats.requests;
        let mut last_failure = None;
        let result = self.client.retrying(
            estimate_tokens(fields) as u64,
            |client| {
                *requests += 1;
                Self::call(client, model, fields)
            },
            |f, _| last_failure = Some(f.kind.clone()),
        );
        match result {
            Ok(Ok(text)) => {
                if let Err(e) = write_atomic(&path, text.as_bytes()) {
                    self.stats.last_error = Some(format!("caching: {e}"));
                }
                Some(text)
            }
            Ok(Err(_)) => {
                self.stats.last_error = last_failure;
                self.stats.failed += 1;
                None
            }
            Err(e) => {
                self.stats.last_error = Some(format!("{e:#}"));
                self.stats.failed += 1;
                None
            }
        }
    }

    /// One request.
    fn call(client: &Client, model: &str, fields: &str) -> Result<Attempt<String>> {
        let body = ChatRequest {
            model,
            messages: [Message { role: "system", content: SYSTEM }, Message { role: "user", content: fields }],
            temperature: 0.0,
            max_tokens: 80,
        };
        let text = match client.post("chat/completions", &body)? {
            Ok(t) => t,
            Err(f) => return Ok(Err(f)),
        };
        let Ok(parsed) = serde_json::from_str::<ChatResponse>(&text) else {
            return Ok(Err(Failure::new("malformed_body")));
        };
        let content = parsed.choices.into_iter().next().and_then(|c| c.message.content).unwrap_or_default();
        let content = content.split_whitespace().collect::<Vec<_>>().join(" ");
        if content.is_empty() {
            return Ok(Err(Failure::new("empty_answer")));
        }
        Ok(Ok(content.chars().take(400).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_endpoint_falls_back_after_bounded_retries() {
        let dir = std::env::temp_dir().join(format!("shopai-describe-{}", std::process::id()));
        let mut client = ClientConfig::new("http://127.0.0.1:9", crate::config::Secret::default());
        client.max_retries = 2;
        client.backoff = std::time::Duration::from_millis(1);
        client.timeout = std::time::Duration::from_secs(2);
        let mut d =
            Describer::new(DescribeConfig { client, model: "m".into(), cache_dir: dir.clone() }).expect("client");
        assert_eq!(d.describe("Product X"), None);
        assert_eq!(d.stats.requests, 3);
        assert_eq!(d.stats.failed, 1);
        let _ = std::fs::remove_dir_all(dir);
    }
}
