//! Typed configuration: `shopai.toml` (optional) overridden by environment variables, validated
//! at start with errors that name the field. Secrets are wrapped so they never print.
//!
//! The closed choices (duplicate policy, column roles, embeddings provider, ALS confidence) are
//! enums here, parsed by serde (and clap) instead of compared as strings. This module imports no
//! other module of the crate: everything else may depend on it.

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

/// Which embedder makes the item vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddingsProvider {
    /// The bundle's own deterministic hashing embedder: offline, nothing is called.
    #[default]
    Hash,
    /// Any OpenAI-compatible endpoint at `openai.base_url` (including `shopai serve-embeddings`).
    Openai,
}

/// What to do with several rows for the same (user, item).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DupPolicy {
    /// Keep the row with the latest timestamp (later line on ties).
    #[default]
    KeepLatest,
    /// Keep the earliest row.
    KeepFirst,
    /// Keep the highest rating (latest on ties).
    KeepMaxRating,
    /// Keep every row (re-purchases stay; the training matrix still counts a pair once).
    KeepAll,
}

impl DupPolicy {
    /// The name used in the config and in summaries (`keep-latest`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeepLatest => "keep-latest",
            Self::KeepFirst => "keep-first",
            Self::KeepMaxRating => "keep-max-rating",
            Self::KeepAll => "keep-all",
        }
    }
}

/// How a rating becomes the ALS interaction value (confidence = alpha × value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// Every interaction counts 1 (the evaluation protocol's choice).
    #[default]
    Binary,
    /// The rating itself.
    Rating,
    /// `1 + ln(1 + rating)`: grows with the rating but saturates (Hu, Koren & Volinsky's log scaling).
    Log,
}

impl Confidence {
    /// The value of one interaction with this rating.
    pub fn value(self, rating: f32) -> f32 {
        match self {
            Self::Binary => 1.0,
            Self::Rating => rating.max(0.0),
            Self::Log => 1.0 + rating.max(0.0).ln_1p(),
        }
    }
}

/// Column roles for headerless files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    /// User id.
    User,
    /// Product id.
    Item,
    /// Rating.
    Rating,
    /// Timestamp.
    Timestamp,
    /// A column to skip.
    Ignore,
}

/// Parse a column order like `["item", "user", "rating", "timestamp"]`.
pub fn column_order(names: &[String]) -> Result<Vec<Col>> {
    let cols: Vec<Col> = names
        .iter()
        .map(|n| {
            Ok(match n.to_lowercase().as_str() {
                "user" | "userid" | "user_id" => Col::User,
                "item" | "itemid" | "item_id" | "product" | "productid" | "product_id" => Col::Item,
                "rating" => Col::Rating,
                "timestamp" | "time" => Col::Timestamp,
                "ignore" | "_" | "" => Col::Ignore,
                other => bail!("unknown column {other:?} (use user, item, rating, timestamp, ignore)"),
            })
        })
        .collect::<Result<_>>()?;
    for need in [Col::User, Col::Item, Col::Timestamp] {
        if !cols.contains(&need) {
            bail!("column order {names:?} lacks {need:?}");
        }
    }
    Ok(cols)
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
    pub provider: EmbeddingsProvider,
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
            provider: EmbeddingsProvider::Hash,
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
    pub duplicates: DupPolicy,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            columns: vec!["user".into(), "item".into(), "rating".into(), "timestamp".into()],
            rating_min: 0.0,
            rating_max: 5.0,
            duplicates: DupPolicy::KeepLatest,
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

/// Environment variables that override the file. Each field is renamed to its variable; empty
/// variables are ignored; secrets stay wrapped in [`Secret`].
#[derive(Debug, Default, Deserialize)]
struct EnvOverrides {
    #[serde(rename = "SHOPAI_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    #[serde(rename = "SHOPAI_S3_BUCKET")]
    s3_bucket: Option<String>,
    #[serde(rename = "SHOPAI_S3_PREFIX")]
    s3_prefix: Option<String>,
    #[serde(rename = "AWS_REGION")]
    s3_region: Option<String>,
    #[serde(rename = "AWS_ACCESS_KEY_ID")]
    s3_access_key_id: Option<Secret>,
    #[serde(rename = "AWS_SECRET_ACCESS_KEY")]
    s3_secret_access_key: Option<Secret>,
    #[serde(rename = "OPENAI_BASE_URL")]
    openai_base_url: Option<String>,
    #[serde(rename = "OPENAI_API_KEY")]
    openai_api_key: Option<Secret>,
    #[serde(rename = "SHOPAI_EMBEDDINGS_PROVIDER")]
    embeddings_provider: Option<EmbeddingsProvider>,
    #[serde(rename = "SHOPAI_EMBEDDINGS_MODEL")]
    embeddings_model: Option<String>,
    /// A string so that a bad value gets the variable's name in the error.
    #[serde(rename = "SHOPAI_EMBEDDINGS_COST_CAP_USD")]
    embeddings_cost_cap_usd: Option<String>,
    /// A string, as above.
    #[serde(rename = "SHOPAI_EMBEDDINGS_DIMENSIONS")]
    embeddings_dimensions: Option<String>,
    #[serde(rename = "SHOPAI_DESCRIBE_MODEL")]
    embeddings_describe_model: Option<String>,
    #[serde(rename = "SHOPAI_DATA_DIR")]
    paths_data_dir: Option<PathBuf>,
    #[serde(rename = "SHOPAI_OUT_DIR")]
    paths_out_dir: Option<PathBuf>,
}

impl EnvOverrides {
    /// The overrides among `vars` (name, value); other variables are ignored.
    fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self> {
        let map: serde_json::Map<String, serde_json::Value> =
            vars.into_iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k, serde_json::Value::String(v))).collect();
        serde_json::from_value(serde_json::Value::Object(map))
            .context("in the SHOPAI_/AWS_/OPENAI_ environment variables")
    }

    fn apply(self, cfg: &mut Config) -> Result<()> {
        fn set<T>(field: &mut T, value: Option<T>) {
            if let Some(v) = value {
                *field = v;
            }
        }
        set(&mut cfg.s3.endpoint, self.s3_endpoint);
        set(&mut cfg.s3.bucket, self.s3_bucket);
        set(&mut cfg.s3.prefix, self.s3_prefix);
        set(&mut cfg.s3.region, self.s3_region);
        set(&mut cfg.s3.access_key_id, self.s3_access_key_id);
        set(&mut cfg.s3.secret_access_key, self.s3_secret_access_key);
        set(&mut cfg.openai.base_url, self.openai_base_url);
        set(&mut cfg.openai.api_key, self.openai_api_key);
        set(&mut cfg.embeddings.provider, self.embeddings_provider);
        set(&mut cfg.embeddings.model, self.embeddings_model);
        set(&mut cfg.embeddings.describe_model, self.embeddings_describe_model);
        if let Some(v) = self.embeddings_cost_cap_usd {
            cfg.embeddings.cost_cap_usd =
                v.parse().with_context(|| format!("SHOPAI_EMBEDDINGS_COST_CAP_USD={v:?} is not a number"))?;
        }
        if let Some(v) = self.embeddings_dimensions {
            cfg.embeddings.dimensions =
                v.parse().with_context(|| format!("SHOPAI_EMBEDDINGS_DIMENSIONS={v:?} is not a whole number"))?;
        }
        set(&mut cfg.paths.data_dir, self.paths_data_dir);
        set(&mut cfg.paths.out_dir, self.paths_out_dir);
        Ok(())
    }
}

impl Config {
    /// Load `path` (if given, or `./shopai.toml` if present), apply env overrides, validate.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let vars = std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        Self::load_with_env(path, vars)
    }

    /// As [`Config::load`], with an explicit environment (for tests).
    pub fn load_with_env(path: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Self> {
        let default_path = Path::new("shopai.toml");
        let path = path.or(default_path.exists().then_some(default_path));
        let mut cfg = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| format!("reading config {}", p.display()))?;
                toml::from_str(&text).with_context(|| format!("in config {}", p.display()))?
            }
            None => Config::default(),
        };
        EnvOverrides::from_vars(env)?.apply(&mut cfg)?;
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
        if self.embeddings.provider == EmbeddingsProvider::Openai && self.openai.base_url.is_empty() {
            bail!("embeddings.provider = \"openai\" needs openai.base_url (or OPENAI_BASE_URL)");
        }
        if self.embeddings.batch_size == 0
            || self.embeddings.cost_cap_usd.is_nan()
            || self.embeddings.cost_cap_usd < 0.0
        {
            bail!("embeddings.batch_size must be ≥ 1 and embeddings.cost_cap_usd ≥ 0");
        }
        column_order(&self.ingest.columns).context("in ingest.columns")?;
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
        let env =
            [("SHOPAI_S3_BUCKET", "from-env"), ("AWS_SECRET_ACCESS_KEY", "sk-very-secret"), ("SHOPAI_S3_PREFIX", "")];
        let cfg = Config::load_with_env(Some(&p), env.map(|(k, v)| (k.to_string(), v.to_string()))).expect("load");
        assert_eq!(cfg.s3.bucket, "from-env");
        assert_eq!(cfg.s3.endpoint, "http://127.0.0.1:1");
        assert_eq!(cfg.s3.prefix, "", "an empty variable overrides nothing");
        assert_eq!(cfg.s3.secret_access_key.expose(), "sk-very-secret");
        let shown = format!("{cfg:?} {}", serde_json::to_string(&cfg).expect("json"));
        assert!(!shown.contains("sk-very-secret"), "{shown}");

        // The deploy manifests set the embedding size through the environment.
        let env = |v: &str| [("SHOPAI_EMBEDDINGS_DIMENSIONS".to_string(), v.to_string())];
        assert_eq!(Config::load_with_env(None, env("512")).expect("load").embeddings.dimensions, 512);
        let err = format!("{:#}", Config::load_with_env(None, env("5x")).unwrap_err());
        assert!(err.contains("SHOPAI_EMBEDDINGS_DIMENSIONS=\"5x\""), "{err}");
    }

    #[test]
    fn invalid_fields_are_named() {
        let dir = std::env::temp_dir().join(format!("shopai-cfg2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("bad.toml");
        std::fs::write(&p, "[s3]\nendpoint = \"127.0.0.1:9000\"\n").expect("write");
        let err = format!("{:#}", Config::load_with_env(Some(&p), []).unwrap_err());
        assert!(err.contains("s3.endpoint"), "{err}");
        std::fs::write(&p, "[ingest]\nduplicates = \"newest\"\n").expect("write");
        let err = format!("{:#}", Config::load_with_env(Some(&p), []).unwrap_err());
        assert!(err.contains("duplicates = \"newest\"") && err.contains("keep-latest"), "{err}");
        std::fs::write(&p, "[s3]\nbukcet = \"x\"\n").expect("write");
        let err = format!("{:#}", Config::load_with_env(Some(&p), []).unwrap_err());
        assert!(err.contains("bukcet"), "{err}");
    }
}
