//! The optional generated answer on `/search` (`"answer": true`): a chat-completions request
//! grounded in the top results (titles and categories, ids to cite), and the checks on its reply.
//! Pure; the host sends the request under a timeout and a token cap and keeps the cost counter.

use serde_json::{json, Value};

/// How many top results the prompt shows the model.
pub const GROUNDING_RESULTS: usize = 5;

/// Chat settings (environment variables in brackets).
#[derive(Debug, Clone, PartialEq)]
pub struct ChatConfig {
    /// OpenAI-compatible base URL (`SHOPAI_CHAT_URL`; defaults to the embeddings URL).
    pub url: String,
    /// Its key (`SHOPAI_CHAT_API_KEY`; defaults to the embeddings key).
    pub api_key: String,
    /// Model (`SHOPAI_CHAT_MODEL`; empty: answers are unavailable).
    pub model: String,
    /// Completion token cap (`SHOPAI_ANSWER_MAX_TOKENS`, 120).
    pub max_tokens: u32,
    /// Time budget (`SHOPAI_ANSWER_TIMEOUT_MS`, 2,000).
    pub timeout_ms: u64,
    /// Price per million tokens, prompt and completion alike, for the cost counter
    /// (`SHOPAI_CHAT_USD_PER_MILLION_TOKENS`, 0).
    pub usd_per_million_tokens: f64,
}

/// Token use of one generated answer and what it cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Usage {
    /// Prompt tokens the endpoint reported.
    pub prompt_tokens: u64,
    /// Completion tokens the endpoint reported.
    pub completion_tokens: u64,
    /// Their cost at the configured price.
    pub cost_usd: f64,
}

/// The chat-completions request body for `query` over the results in a search response body.
pub fn request(cfg: &ChatConfig, query: &str, response: &Value) -> Value {
    let mut products = String::new();
    for r in response["results"].as_array().into_iter().flatten().take(GROUNDING_RESULTS) {
        let cats: Vec<&str> = r["categories"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        products.push_str(&format!(
            "[{}] {} ({})\n",
            r["product_id"].as_str().unwrap_or(""),
            r["title"].as_str().unwrap_or(""),
            cats.join(", ")
        ));
    }
    json!({
        "model": cfg.model,
        "max_tokens": cfg.max_tokens,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": "You help shoppers. Answer in at most two sentences using only the products listed, and cite the ids you mention in square brackets, e.g. [P00042]. If none fit, say so."},
            {"role": "user", "content": format!("Question: {query}\nProducts:\n{products}")}
        ]
    })
}

/// The answer text and usage from a chat-completions reply, or why it cannot be used.
pub fn parse_reply(raw: &[u8], cfg: &ChatConfig) -> Result<(String, Usage), String> {
    let v: Value = serde_json::from_slice(raw).map_err(|e| format!("malformed chat reply: {e}"))?;
    let text = v["choices"][0]["message"]["content"]
        .as_str()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or("malformed chat reply: no choices[0].message.content")?;
    let prompt_tokens = v["usage"]["prompt_tokens"].as_u64().unwrap_or(0);
    let completion_tokens = v["usage"]["completion_tokens"].as_u64().unwrap_or(0);
    let cost_usd = (prompt_tokens + completion_tokens) as f64 * cfg.usd_per_million_tokens / 1e6;
    Ok((text.to_string(), Usage { prompt_tokens, completion_tokens, cost_usd }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ChatConfig {
        ChatConfig {
            url: "http://x".into(),
            api_key: String::new(),
            model: "m".into(),
            max_tokens: 50,
            timeout_ms: 100,
            usd_per_million_tokens: 2.0,
        }
    }

    #[test]
    fn the_prompt_is_grounded_in_the_top_results() {
        let res = json!({"results": (0..8).map(|i| json!({"product_id": format!("P{i}"), "title": format!("t{i}"), "categories": ["A", "B"]})).collect::<Vec<_>>()});
        let r = request(&cfg(), "red shoe", &res);
        let user = r["messages"][1]["content"].as_str().expect("user message");
        assert!(user.starts_with("Question: red shoe\n"));
        assert!(user.contains("[P0] t0 (A, B)\n") && user.contains("[P4] t4"));
        assert!(!user.contains("[P5]"), "only the top {GROUNDING_RESULTS}");
        assert_eq!(r["max_tokens"], 50);
    }

    #[test]
    fn replies_are_checked_and_costed() {
        let ok = br#"{"choices":[{"message":{"content":" Try [P1]. "}}],"usage":{"prompt_tokens":400,"completion_tokens":100}}"#;
        let (text, u) = parse_reply(ok, &cfg()).expect("ok");
        assert_eq!(text, "Try [P1].");
        assert_eq!(u, Usage { prompt_tokens: 400, completion_tokens: 100, cost_usd: 0.001 });
        assert!(parse_reply(b"{", &cfg()).is_err());
        assert!(parse_reply(br#"{"choices":[]}"#, &cfg()).is_err());
        assert!(parse_reply(br#"{"choices":[{"message":{"content":"  "}}]}"#, &cfg()).is_err());
    }
}
