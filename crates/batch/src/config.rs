//! Typed configuration: `shopai.toml` (optional) overridden by environment variables, validated
//! at start with errors that name the field. Secrets are wrapped so they never print.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A secret string: `Debug`/`Display`/`Serialize` show `***`, never the value.
#[derive(Clone, Default, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Whether a value is set.
    pub fn is_set(&self) -> bool {
        !self.0.is_empty()
    }
}
impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self(s)
    }
}
impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_set() { "***" } else { "(unset)" })
    }
}
impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}
impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{self:?}"))
    }
}

/// S3 (or any S3-API server) settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// Endpoint URL, e.g. `http://127.0.0.1:5000`; empty for AWS.
    pub endpoint: String,
    /// Default bucket for published artifacts.
    pub bucket: String,
    /// Region.
    pub region: String,
    /// Access key id.
    pub access_key_id: Secret,
    /// Secret access key.
    pub secret_access_key: Secret,
    /// Prefix under which processed data and bundles are published.
    pub prefix: String,
}

/// OpenAI (or compatible) settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OpenAiConfig {
    /// Base URL, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// API key.
    pub api_key: Secret,
}

/// Which embedder makes the item vectors, and the OpenAI client's limits.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddingsConfig {
    /// `hash` (deterministic, offline, lexical only) or `openai` (any OpenAI-compatible endpoint
    /// at `openai.base_url`, including `shopai serve-embeddings`).
    pub provider: String,
    /// Model name sent to the endpoint and recorded in the bundle.
    pub model: String,
    /// `dimensions` parameter (0 = the model's native size); for `hash`, the vector size.
    pub dimensions: u32,
    /// Inputs per request.
    pub batch_size: usize,
    /// Retries per request.
    pub max_retries: u32,
    /// First backoff in milliseconds (doubles per retry, with jitter).
    pub backoff_ms: u64,
    /// Per-request timeout in seconds.
    pub timeout_s: f64,
    /// Requests per minute (0 = unlimited).
    pub requests_per_minute: u32,
    /// Tokens per minute (0 = unlimited).
    pub tokens_per_minute: u64,
    /// USD per million tokens (text-embedding-3-large: 0.13).
    pub usd_per_million_tokens: f64,
    /// Hard cap on USD spent per run.
    pub cost_cap_usd: f64,
    /// Cache folder (default `<data_dir>/embeddings-cache`).
    pub cache_dir: Option<PathBuf>,
    /// Chat-completions model that writes text for products with neither title nor description
    /// (at `openai.base_url`); empty: a template from the fields present.
    pub describe_model: String,
}

impl Default for EmbeddingsConfig {
    fn default() -> Self {
        Self {
            provider: "hash".into(),
            model: "text-embedding-3-large".into(),
            dimensions: 256,
            batch_size: 256,
            max_retries: 6,
            backoff_ms: 500,
            timeout_s: 60.0,
            requests_per_minute: 3000,
            tokens_per_minute: 1_000_000,
            usd_per_million_tokens: 0.13,
            cost_cap_usd: 5.0,
            cache_dir: None,
            describe_model: String::new(),
        }
    }
}

/// How interaction logs are read.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Column order of headerless files: names from user, item, rating, timestamp, ignore.
    pub columns: Vec<String>,
    /// Inclusive rating range; rows outside are quarantined.
    pub rating_min: f32,
    /// Upper end of the rating range.
    pub rating_max: f32,
    /// Duplicate (user, item) policy: `keep-latest`, `keep-first`, `keep-max-rating` or `keep-all`.
    pub duplicates: String,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            columns: vec!["user".into(), "item".into(), "rating".into(), "timestamp".into()],
            rating_min: 0.0,
            rating_max: 5.0,
            duplicates: "keep-latest".into(),
        }
    }
}

/// Where artifacts go.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PathsConfig {
    /// Root of processed data (`<data_dir>/processed/<version>/…`).
    pub data_dir: PathBuf,
    /// Reports and bundles.
    pub out_dir: PathBuf,
}

impl Default for PathsConfig {
    fn default() -> Self {
        Self { data_dir: "data".into(), out_dir: "out".into() }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// S3.
    pub s3: S3Config,
    /// OpenAI.
    pub openai: OpenAiConfig,
    /// Ingest.
    pub ingest: IngestConfig,
    /// Paths.
    pub paths: PathsConfig,
    /// Embeddings.
    pub embeddings: EmbeddingsConfig,
}

/// Environment variables that override the file, and the field each sets.
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("SHOPAI_S3_ENDPOINT", "s3.endpoint"),
    ("SHOPAI_S3_BUCKET", "s3.bucket"),
    ("SHOPAI_S3_PREFIX", "s3.prefix"),
    ("AWS_REGION", "s3.region"),
    ("AWS_ACCESS_KEY_ID", "s3.access_key_id"),
    ("AWS_SECRET_ACCESS_KEY", "s3.secret_access_key"),
    ("OPENAI_BASE_URL", "openai.base_url"),
    ("OPENAI_API_KEY", "openai.api_key"),
    ("SHOPAI_EMBEDDINGS_PROVIDER", "embeddings.provider"),
    ("SHOPAI_EMBEDDINGS_MODEL", "embeddings.model"),
    ("SHOPAI_EMBEDDINGS_COST_CAP_USD", "embeddings.cost_cap_usd"),
    ("SHOPAI_DESCRIBE_MODEL", "embeddings.describe_model"),
    ("SHOPAI_DATA_DIR", "paths.data_dir"),
    ("SHOPAI_OUT_DIR", "paths.out_dir"),
];

impl Config {
    /// Load `path` (if given, or `./shopai.toml` if present), apply env overrides, validate.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        Self::load_with_env(path, |k| std::env::var(k).ok())
    }

    /// As [`Config::load`], with an explicit environment (for tests).
    pub fn load_with_env(path: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let default_path = Path::new("shopai.toml");
        let path = path.or(default_path.exists().then_some(default_path));
        let mut cfg = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| format!("reading config {}", p.display()))?;
                toml::from_str(&text).with_context(|| format!("in config {}", p.display()))?
            }
            None => Config::default(),
        };
        for (var, field) in ENV_OVERRIDES {
            if let Some(v) = env(var).filter(|v| !v.is_empty()) {
                match *field {
                    "s3.endpoint" => cfg.s3.endpoint = v,
                    "s3.bucket" => cfg.s3.bucket = v,
                    "s3.prefix" => cfg.s3.prefix = v,
                    "s3.region" => cfg.s3.region = v,
                    "s3.access_key_id" => cfg.s3.access_key_id = v.into(),
                    "s3.secret_access_key" => cfg.s3.secret_access_key = v.into(),
                    "openai.base_url" => cfg.openai.base_url = v,
                    "openai.api_key" => cfg.openai.api_key = v.into(),
                    "paths.data_dir" => cfg.paths.data_dir = v.into(),
                    "embeddings.provider" => cfg.embeddings.provider = v,
                    "embeddings.model" => cfg.embeddings.model = v,
                    "embeddings.describe_model" => cfg.embeddings.describe_model = v,
                    "embeddings.cost_cap_usd" => {
                        cfg.embeddings.cost_cap_usd = v
                            .parse()
                            .with_context(|| format!("SHOPAI_EMBEDDINGS_COST_CAP_USD={v:?} is not a number"))?
                    }
                    "paths.out_dir" => cfg.paths.out_dir = v.into(),
                    _ => unreachable!("every override names a field"),
                }
            }
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Check every field; errors name the field.
    pub fn validate(&self) -> Result<()> {
        if !self.s3.endpoint.is_empty()
            && !self.s3.endpoint.starts_with("http://")
            && !self.s3.endpoint.starts_with("https://")
        {
            bail!("s3.endpoint must start with http:// or https:// (got {:?})", self.s3.endpoint);
        }
        if !self.openai.base_url.is_empty() && !self.openai.base_url.starts_with("http") {
            bail!("openai.base_url must be an http(s) URL (got {:?})", self.openai.base_url);
        }
        if self.ingest.rating_min > self.ingest.rating_max {
            bail!(
                "ingest.rating_min ({}) is above ingest.rating_max ({})",
                self.ingest.rating_min,
                self.ingest.rating_max
            );
        }
        crate::ingest::DupPolicy::parse(&self.ingest.duplicates).context("in ingest.duplicates")?;
        if !["hash", "openai"].contains(&self.embeddings.provider.as_str()) {
            bail!("embeddings.provider must be \"hash\" or \"openai\" (got {:?})", self.embeddings.provider);
        }
        if self.embeddings.provider == "openai" && self.openai.base_url.is_empty() {
            bail!("embeddings.provider = \"openai\" needs openai.base_url (or OPENAI_BASE_URL)");
        }
        if self.embeddings.batch_size == 0
            || self.embeddings.cost_cap_usd.is_nan()
            || self.embeddings.cost_cap_usd < 0.0
        {
            bail!("embeddings.batch_size must be ≥ 1 and embeddings.cost_cap_usd ≥ 0");
        }
        crate::ingest::column_order(&self.ingest.columns).context("in ingest.columns")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file_and_secrets_never_print() {
        let dir = std::env::temp_dir().join(format!("shopai-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("shopai.toml");
        std::fs::write(&p, "[s3]\nbucket = \"from-file\"\nendpoint = \"http://127.0.0.1:1\"\n").expect("write");
        let cfg = Config::load_with_env(Some(&p), |k| match k {
            "SHOPAI_S3_BUCKET" => Some("from-env".into()),
            "AWS_SECRET_ACCESS_KEY" => Some("sk-very-secret".into()),
            _ => None,
        })
        .expect("load");
        assert_eq!(cfg.s3.bucket, "from-env");
        assert_eq!(cfg.s3.endpoint, "http://127.0.0.1:1");
        assert_eq!(cfg.s3.secret_access_key.expose(), "sk-very-secret");
        let shown = format!("{cfg:?} {}", serde_json::to_string(&cfg).expect("json"));
        assert!(!shown.contains("sk-very-secret"), "{shown}");
    }

    #[test]
    fn invalid_fields_are_named() {
        let dir = std::env::temp_dir().join(format!("shopai-cfg2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("bad.toml");
        std::fs::write(&p, "[s3]\nendpoint = \"127.0.0.1:9000\"\n").expect("write");
        let err = format!("{:#}", Config::load_with_env(Some(&p), |_| None).unwrap_err());
        assert!(err.contains("s3.endpoint"), "{err}");
        std::fs::write(&p, "[ingest]\nduplicates = \"newest\"\n").expect("write");
        let err = format!("{:#}", Config::load_with_env(Some(&p), |_| None).unwrap_err());
        assert!(err.contains("ingest.duplicates"), "{err}");
        std::fs::write(&p, "[s3]\nbukcet = \"x\"\n").expect("write");
        let err = format!("{:#}", Config::load_with_env(Some(&p), |_| None).unwrap_err());
        assert!(err.contains("bukcet"), "{err}");
    }
}
