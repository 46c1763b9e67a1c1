//! The per-request log line (one JSON object per line on stderr), in the schema of
//! `docs/LOG_SCHEMA.md` that every ShopAI server shares.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// What the log says about query text (`SHOPAI_LOG_QUERY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueryLog {
    /// The normalized query (lowercase, whitespace collapsed).
    #[default]
    Plain,
    /// `sha256:` and the first 16 hex digits of the normalized query's SHA-256.
    Hash,
    /// No `query` field.
    Drop,
}

impl QueryLog {
    /// Parse `plain`, `hash` or `drop` (anything else: `None`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "plain" => Some(Self::Plain),
            "hash" => Some(Self::Hash),
            "drop" => Some(Self::Drop),
            _ => None,
        }
    }

    /// The `query` field for `text`.
    pub fn render(self, text: &str) -> Option<String> {
        let normalized = crate::api::normalize_text(text).to_lowercase();
        match self {
            Self::Plain => Some(normalized),
            Self::Hash => {
                let digest = Sha256::digest(normalized.as_bytes());
                Some(format!("sha256:{}", &hex::encode(digest)[..16]))
            }
            Self::Drop => None,
        }
    }
}

/// `hit` / `miss`, or absent (null) when the cache was not consulted.
pub type CacheOutcome = Option<&'static str>;

/// One request's log line.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LogLine {
    /// RFC 3339 UTC with milliseconds.
    pub ts: String,
    /// Always `edge` here.
    pub source: &'static str,
    /// One of the served routes, or `other` (404s: the path is the caller's, not logged).
    pub route: &'static str,
    /// HTTP method.
    pub method: String,
    /// HTTP status sent.
    pub status: u16,
    /// Time in the handler, ms.
    pub took_ms: f64,
    /// Bundle version, when one is loaded.
    pub version: Option<String>,
    /// Time spent getting the query embedding from the endpoint (including waits), ms.
    pub embed_ms: Option<f64>,
    /// Query-embedding cache.
    pub embed_cache: CacheOutcome,
    /// Answer cache.
    pub answer_cache: CacheOutcome,
    /// Why the answer is degraded (e.g. lexical only because the breaker is open).
    pub degraded: Option<String>,
    /// Number of results.
    pub results: Option<usize>,
    /// Score of the first result.
    pub top_score: Option<f64>,
    /// The query (see [`QueryLog`]); absent when dropped or for requests without text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Error code of an error response.
    pub error: Option<String>,
}

/// The routes the edge serves, as logged.
pub fn route_name(path: &str) -> &'static str {
    match path.split('?').next().unwrap_or(path) {
        "/search" => "/search",
        "/recommendations" => "/recommendations",
        "/v1/embeddings" => "/v1/embeddings",
        "/health" => "/health",
        "/version" => "/version",
        "/openapi.json" => "/openapi.json",
        "/feedback" => "/feedback",
        _ => "other",
    }
}

impl LogLine {
    /// A line for a request to `path`, to be filled in as it is answered.
    pub fn new(ts: String, method: &str, path: &str) -> Self {
        Self {
            ts,
            source: "edge",
            route: route_name(path),
            method: method.to_string(),
            status: 0,
            took_ms: 0.0,
            version: None,
            embed_ms: None,
            embed_cache: None,
            answer_cache: None,
            degraded: None,
            results: None,
            top_score: None,
            query: None,
            error: None,
        }
    }

    /// The JSON line (no newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"source":"edge","error":"log_unserializable"}"#.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_text_is_plain_hashed_or_dropped() {
        assert_eq!(QueryLog::Plain.render("  Star   Wars "), Some("star wars".into()));
        let h = QueryLog::Hash.render("Star Wars").expect("hash");
        // sha256("star wars"), first 16 hex digits (python3 -c 'import hashlib; print(hashlib.sha256(b"star wars").hexdigest()[:16])').
        assert_eq!(h, "sha256:6efced6a7e04d113");
        assert_eq!(QueryLog::Drop.render("x"), None);
        assert_eq!(QueryLog::parse("HASH"), Some(QueryLog::Hash));
        assert_eq!(QueryLog::parse("nope"), None);
    }

    #[test]
    fn lines_carry_every_schema_field_and_omit_a_dropped_query() {
        let mut l = LogLine::new("2026-01-01T00:00:00.000Z".into(), "POST", "/search?x=1");
        l.status = 200;
        let v: serde_json::Value = serde_json::from_str(&l.to_json()).expect("json");
        for k in [
            "ts",
            "source",
            "route",
            "method",
            "status",
            "took_ms",
            "version",
            "embed_ms",
            "embed_cache",
            "answer_cache",
            "degraded",
            "results",
            "top_score",
            "error",
        ] {
            assert!(v.get(k).is_some(), "{k} missing");
        }
        assert!(v.get("query").is_none());
        assert_eq!(v["route"], "/search");
        assert_eq!(LogLine::new(String::new(), "GET", "/etc/passwd").route, "other");
    }
}
