//! The component's configuration, read once per instance (a Spin variable lookup is a host call;
//! doing it per request showed up in the profile).

use crate::answer::ChatConfig;
use crate::log::QueryLog;
use crate::release::S3Credentials;
use crate::upstream::Limits;

/// Everything the host reads from the environment (and, with the `spin` feature, Spin variables).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `SHOPAI_BUNDLE_PATH`.
    pub bundle_path: String,
    /// `SHOPAI_EMBEDDINGS_URL`: OpenAI-compatible base URL (empty: none).
    pub embeddings_url: String,
    /// `SHOPAI_EMBEDDINGS_API_KEY` (never logged).
    pub embeddings_api_key: String,
    /// `SHOPAI_LOG_QUERY`: plain, hash or drop.
    pub log_query: QueryLog,
    /// `SHOPAI_LOG_REQUESTS` (on): `off` drops the one-line-per-request log (`shopai monitor`
    /// then has nothing to read); for measuring what the line costs, or hosts that log elsewhere.
    pub log_requests: bool,
    /// Limits toward the embeddings endpoint.
    pub limits: Limits,
    /// `SHOPAI_EMBED_CACHE_ENTRIES` (1,024).
    pub embed_cache_entries: usize,
    /// `SHOPAI_ANSWER_CACHE_ENTRIES` (1,024; 0 turns the answer cache off).
    pub answer_cache_entries: usize,
    /// `SHOPAI_ANSWER_CACHE_BYTES` (8 MiB; 0 turns the answer cache off).
    pub answer_cache_bytes: usize,
    /// `SHOPAI_ANSWER_CACHE_SHARED` (64): how many of its most repeated answers an instance hands
    /// to the next through the store instances share (`SHOPAI_BUNDLE_CACHE_DIR` or Spin's
    /// key-value store), so a fresh instance starts warm; 0 shares none.
    pub answer_cache_shared: usize,
    /// `SHOPAI_ANSWER_CACHE_SHARE_AFTER` (64): after how many ranking requests an instance shares
    /// them — late enough to know which repeat, early enough in its life (128 requests under
    /// Spin's and `wasmtime serve`'s defaults) to still be there to write them.
    pub answer_cache_share_after: u32,
    /// The chat model for generated answers.
    pub chat: ChatConfig,
    /// `SHOPAI_BUNDLE_URL`: serve what `shopai publish` published (empty: the mounted file).
    pub bundle_url: String,
    /// `SHOPAI_BUNDLE_REVALIDATE_SECS` (30): revalidate `LATEST` at most this often, in ms here.
    pub bundle_revalidate_ms: u64,
    /// `SHOPAI_BUNDLE_CACHE_DIR`: writable folder instances share — a fetched bundle waits there
    /// for the next instance, and an open circuit breaker is seen by every instance (empty:
    /// Spin's key-value store under Spin, nothing shared under `wasmtime serve`).
    pub bundle_cache_dir: String,
    /// `SHOPAI_S3_ENDPOINT`: an S3-compatible endpoint (empty: AWS).
    pub s3_endpoint: String,
    /// `SHOPAI_S3_ACCESS_KEY_ID` / `SHOPAI_S3_SECRET_ACCESS_KEY` / `SHOPAI_S3_REGION`, else
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN` / `AWS_REGION`.
    pub s3: S3Credentials,
    /// `SHOPAI_FEEDBACK_URL`: `s3://bucket/prefix/feedback` (empty: `/feedback` answers 503).
    pub feedback_url: String,
    /// `SHOPAI_FEEDBACK_FLUSH_MS` (50): how long a feedback write waits to batch with others.
    pub feedback_flush_ms: u64,
    /// Problems found while reading (logged once; defaults used instead).
    pub warnings: Vec<String>,
}

impl Config {
    /// Build from a lookup of upper-case names without the `SHOPAI_` prefix (`BUNDLE_PATH`, …);
    /// names that start with `AWS_` are the standard AWS variables, looked up as they are.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let mut warnings = Vec::new();
        let mut num = |key: &str, default: f64| -> f64 {
            match get(key) {
                None => default,
                Some(v) if v.trim().is_empty() => default,
                Some(v) => match v.trim().parse::<f64>() {
                    Ok(x) if x.is_finite() && x >= 0.0 => x,
                    _ => {
                        warnings.push(format!("SHOPAI_{key}={v:?} is not a non-negative number; using {default}"));
                        default
                    }
                },
            }
        };
        let d = Limits::default();
        let limits = Limits {
            timeout_ms: num("EMBED_TIMEOUT_MS", d.timeout_ms as f64) as u64,
            requests_per_s: num("EMBED_RPS", d.requests_per_s),
            tokens_per_min: num("EMBED_TPM", d.tokens_per_min),
            breaker_failures: num("BREAKER_FAILURES", d.breaker_failures as f64) as u32,
            breaker_cooldown_ms: num("BREAKER_COOLDOWN_MS", d.breaker_cooldown_ms as f64) as u64,
        };
        let embed_cache_entries = num("EMBED_CACHE_ENTRIES", 1024.0) as usize;
        let answer_cache_entries = num("ANSWER_CACHE_ENTRIES", 1024.0) as usize;
        let answer_cache_bytes = num("ANSWER_CACHE_BYTES", (8 << 20) as f64) as usize;
        let answer_cache_shared = num("ANSWER_CACHE_SHARED", 64.0) as usize;
        let answer_cache_share_after = num("ANSWER_CACHE_SHARE_AFTER", 64.0) as u32;
        let chat_max_tokens = num("ANSWER_MAX_TOKENS", 120.0) as u32;
        let chat_timeout_ms = num("ANSWER_TIMEOUT_MS", 2000.0) as u64;
        let chat_price = num("CHAT_USD_PER_MILLION_TOKENS", 0.0);
        let bundle_revalidate_ms = (num("BUNDLE_REVALIDATE_SECS", 30.0) * 1000.0) as u64;
        let feedback_flush_ms = num("FEEDBACK_FLUSH_MS", 50.0) as u64;
        let log_query = match get("LOG_QUERY") {
            None => QueryLog::Plain,
            Some(v) => QueryLog::parse(&v).unwrap_or_else(|| {
                warnings.push(format!("SHOPAI_LOG_QUERY={v:?} is not plain, hash or drop; hashing"));
                QueryLog::Hash
            }),
        };
        let log_requests = match get("LOG_REQUESTS").as_deref().map(str::trim) {
            None | Some("" | "on" | "true" | "1") => true,
            Some("off" | "false" | "0") => false,
            Some(v) => {
                warnings.push(format!("SHOPAI_LOG_REQUESTS={v:?} is not on or off; logging"));
                true
            }
        };
        let embeddings_url = get("EMBEDDINGS_URL").unwrap_or_default();
        let embeddings_api_key = get("EMBEDDINGS_API_KEY").unwrap_or_default();
        let chat = ChatConfig {
            url: get("CHAT_URL").filter(|v| !v.is_empty()).unwrap_or_else(|| embeddings_url.clone()),
            api_key: get("CHAT_API_KEY").filter(|v| !v.is_empty()).unwrap_or_else(|| embeddings_api_key.clone()),
            model: get("CHAT_MODEL").unwrap_or_default(),
            max_tokens: chat_max_tokens,
            timeout_ms: chat_timeout_ms,
            usd_per_million_tokens: chat_price,
        };
        let either =
            |ours: &str, aws: &str| get(ours).filter(|v| !v.is_empty()).or_else(|| get(aws)).unwrap_or_default();
        let s3 = S3Credentials {
            access_key_id: either("S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
            secret_access_key: either("S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
            session_token: get("AWS_SESSION_TOKEN").filter(|t| !t.is_empty()),
            region: either("S3_REGION", "AWS_REGION"),
        };
        Self {
            bundle_url: get("BUNDLE_URL").unwrap_or_default(),
            bundle_revalidate_ms,
            bundle_cache_dir: get("BUNDLE_CACHE_DIR").unwrap_or_default(),
            s3_endpoint: get("S3_ENDPOINT").unwrap_or_default(),
            s3,
            feedback_url: get("FEEDBACK_URL").unwrap_or_default(),
            feedback_flush_ms,
            bundle_path: get("BUNDLE_PATH")
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| crate::DEFAULT_BUNDLE_PATH.into()),
            embeddings_url,
            embeddings_api_key,
            log_query,
            log_requests,
            limits,
            embed_cache_entries,
            answer_cache_entries,
            answer_cache_bytes,
            answer_cache_shared,
            answer_cache_share_after,
            chat,
            warnings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_overrides_and_bad_values() {
        let c = Config::from_lookup(|_| None);
        assert_eq!(c.bundle_path, crate::DEFAULT_BUNDLE_PATH);
        assert_eq!(c.limits, Limits::default());
        assert_eq!(c.log_query, QueryLog::Plain);
        assert!(c.log_requests, "the request log is on by default");
        assert!(c.warnings.is_empty());
        assert!(!Config::from_lookup(|k| (k == "LOG_REQUESTS").then(|| "off".into())).log_requests);
        let c = Config::from_lookup(|k| match k {
            "EMBED_TIMEOUT_MS" => Some("150".into()),
            "ANSWER_CACHE_BYTES" => Some("0".into()),
            "EMBED_RPS" => Some("lots".into()),
            "LOG_QUERY" => Some("secret".into()),
            _ => None,
        });
        assert_eq!(c.limits.timeout_ms, 150);
        assert_eq!(c.answer_cache_bytes, 0);
        assert_eq!(c.limits.requests_per_s, Limits::default().requests_per_s);
        assert_eq!(c.log_query, QueryLog::Hash, "an unknown privacy setting fails closed");
        assert_eq!(c.warnings.len(), 2);
        let c = Config::from_lookup(|k| match k {
            "BUNDLE_REVALIDATE_SECS" => Some("2.5".into()),
            "S3_REGION" => Some("eu-west-1".into()),
            "AWS_REGION" => Some("us-east-2".into()),
            "AWS_ACCESS_KEY_ID" => Some("AKIA".into()),
            _ => None,
        });
        assert_eq!(c.bundle_revalidate_ms, 2500);
        assert_eq!(c.s3.region, "eu-west-1", "ours wins over AWS_*");
        assert_eq!(c.s3.access_key_id, "AKIA", "AWS_* when ours is unset");
    }
}
