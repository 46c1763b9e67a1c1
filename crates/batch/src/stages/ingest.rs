//! `shopai ingest`: raw ratings (+ catalog) → validated, versioned parquet, mirrored to S3.

use crate::config::Config;
use crate::data::catalog::{self, CatalogRead};
use crate::data::parquet;
use crate::data::processed::{processed_root, ALL_ROWS_FILE, PROCESSED_LAYOUT};
use crate::data::ratings::{self, RatingsOptions};
use crate::io::fs::{maybe_gunzip, write_atomic};
use crate::io::log;
use crate::io::storage::{Location, Storage};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// What `ingest` reports (and stores as `summary.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IngestSummary {
    /// Version id of the processed data (`v-` + 16 hex of the content hash).
    pub version: String,
    /// Where the processed files are.
    pub dir: String,
    /// Ratings source.
    pub ratings_source: String,
    /// Catalog source.
    pub catalog_source: Option<String>,
    /// Detected ratings format.
    pub format: String,
    /// Data rows read.
    pub input_rows: u64,
    /// Rows kept.
    pub kept: u64,
    /// Rows merged as duplicates.
    pub duplicates: u64,
    /// Rows quarantined.
    pub quarantined: u64,
    /// Quarantine counts per reason.
    pub quarantine_reasons: BTreeMap<String, u64>,
    /// Distinct users and products.
    pub users: u64,
    /// Distinct products with interactions.
    pub items: u64,
    /// Catalog: lines read, products, merged duplicates, quarantined lines.
    pub catalog: Option<CatalogCounts>,
    /// Duplicate policy used.
    pub duplicate_policy: String,
    /// S3 prefix the data was mirrored to, if any.
    pub published: Option<String>,
    /// True when the input was unchanged and nothing was redone.
    #[serde(default)]
    pub skipped: bool,
    /// Seconds spent.
    #[serde(default)]
    pub seconds: f64,
}

/// Catalog ledger.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CatalogCounts {
    /// Data lines read.
    pub input_rows: u64,
    /// Distinct products kept.
    pub products: u64,
    /// Lines merged into an earlier product.
    pub merged: u64,
    /// Lines quarantined.
    pub quarantined: u64,
}

/// Inputs of `ingest`.
#[derive(Debug, Clone)]
pub struct IngestInput {
    /// Ratings location.
    pub ratings: Location,
    /// Catalog location.
    pub catalog: Option<Location>,
    /// Redo even if unchanged.
    pub force: bool,
    /// Progress bars.
    pub progress: bool,
}

fn s3_prefix(cfg: &Config) -> Option<(String, String)> {
    if cfg.s3.bucket.is_empty() {
        return None;
    }
    let p = cfg.s3.prefix.trim_matches('/');
    Some((cfg.s3.bucket.clone(), if p.is_empty() { "processed".into() } else { format!("{p}/processed") }))
}

/// Validate, clean and version the inputs. Unchanged inputs (same bytes, same ingest settings)
/// are not processed again.
pub fn ingest(cfg: &Config, input: &IngestInput) -> Result<IngestSummary> {
    let started = Instant::now();
    let storage = Storage::new(&cfg.s3)?;
    log::info("reading ratings", serde_json::json!({"source": input.ratings.to_string()}));
    let raw = storage.read(&input.ratings, input.progress)?;
    let raw_catalog = match &input.catalog {
        Some(loc) => {
            log::info("reading catalog", serde_json::json!({"source": loc.to_string()}));
            Some(storage.read(loc, input.progress)?)
        }
        None => None,
    };
    // The processed-data layout is part of the version: a new layout re-processes unchanged input.
    let settings = serde_json::to_vec(&(PROCESSED_LAYOUT, &cfg.ingest))?;
    let mut h = Sha256::new();
    for part in [&raw[..], raw_catalog.as_deref().unwrap_or(&[]), &settings[..]] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    let version = format!("v-{}", &hex::encode(h.finalize())[..16]);
    let dir = processed_root(cfg).join(&version);
    let summary_path = dir.join("summary.json");
    if !input.force {
        if let Ok(text) = std::fs::read_to_string(&summary_path) {
            if let Ok(mut s) = serde_json::from_str::<IngestSummary>(&text) {
                log::info("input unchanged; reusing processed data", serde_json::json!({"version": version}));
                s.published = publish(cfg, &storage, &dir, &version)?;
                write_atomic(&processed_root(cfg).join("LATEST"), version.as_bytes())?;
                s.skipped = true;
                s.seconds = started.elapsed().as_secs_f64();
                return Ok(s);
            }
        }
    }

    let opts = RatingsOptions::from_config(&cfg.ingest)?;
    let read =
        ratings::read_ratings(&maybe_gunzip(raw)?, &opts).with_context(|| format!("parsing {}", input.ratings))?;
    anyhow::ensure!(read.ledger_balances(), "internal error: the row ledger does not balance");
    let catalog: Option<CatalogRead> = match raw_catalog {
        Some(b) => Some(catalog::read_catalog(&maybe_gunzip(b)?).context("parsing the catalog")?),
        None => None,
    };
    log::info(
        "validated",
        serde_json::json!({"input_rows": read.input_rows, "kept": read.table.len(), "duplicates": read.duplicates, "quarantined": read.quarantined.len()}),
    );

    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    write_atomic(&dir.join("ratings.parquet"), &parquet::write_ratings(&read.table)?)?;
    if let Some(all) = &read.all_rows {
        // The evaluation splits every input row, whatever the duplicate policy kept.
        write_atomic(&dir.join(ALL_ROWS_FILE), &parquet::write_ratings(all)?)?;
    }
    let mut quarantine = String::new();
    for q in &read.quarantined {
        quarantine.push_str(&serde_json::to_string(&serde_json::json!({"file": "ratings", "line": q.line, "reason": q.reason, "detail": q.detail, "raw": q.raw}))?);
        quarantine.push('\n');
    }
    if let Some(c) = &catalog {
        write_atomic(&dir.join("catalog.parquet"), &parquet::write_catalog(&c.products)?)?;
        for q in &c.quarantined {
            quarantine.push_str(&serde_json::to_string(&serde_json::json!({"file": "catalog", "line": q.line, "reason": q.reason, "detail": q.detail, "raw": q.raw}))?);
            quarantine.push('\n');
        }
    }
    write_atomic(&dir.join("quarantine.jsonl"), quarantine.as_bytes())?;
    let mut summary = IngestSummary {
        version: version.clone(),
        dir: dir.display().to_string(),
        ratings_source: input.ratings.to_string(),
        catalog_source: input.catalog.as_ref().map(ToString::to_string),
        format: read.format.into(),
        input_rows: read.input_rows,
        kept: read.table.len() as u64,
        duplicates: read.duplicates,
        quarantined: read.quarantined.len() as u64,
        quarantine_reasons: read.reason_counts().into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        users: read.table.users.len() as u64,
        items: read.table.items.len() as u64,
        catalog: catalog.as_ref().map(|c| CatalogCounts {
            input_rows: c.input_rows,
            products: c.products.len() as u64,
            merged: c.merged,
            quarantined: c.quarantined.len() as u64,
        }),
        duplicate_policy: cfg.ingest.duplicates.as_str().to_string(),
        published: None,
        skipped: false,
        seconds: 0.0,
    };
    write_atomic(&summary_path, serde_json::to_string_pretty(&summary)?.as_bytes())?;
    summary.published = publish(cfg, &storage, &dir, &version)?;
    write_atomic(&processed_root(cfg).join("LATEST"), version.as_bytes())?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Mirror a processed version to S3 under an immutable prefix, then point `LATEST` at it.
fn publish(cfg: &Config, storage: &Storage, dir: &Path, version: &str) -> Result<Option<String>> {
    let Some((bucket, prefix)) = s3_prefix(cfg) else { return Ok(None) };
    for name in ["ratings.parquet", ALL_ROWS_FILE, "catalog.parquet", "quarantine.jsonl", "summary.json"] {
        let path = dir.join(name);
        if !path.exists() {
            continue;
        }
        let loc = Location::S3 { bucket: bucket.clone(), key: format!("{prefix}/{version}/{name}") };
        let bytes = std::fs::read(&path)?;
        if storage.write_once(&loc, &bytes)? {
            log::info("published", serde_json::json!({"to": loc.to_string(), "bytes": bytes.len()}));
        }
    }
    storage.write(&Location::S3 { bucket: bucket.clone(), key: format!("{prefix}/LATEST") }, version.as_bytes())?;
    Ok(Some(format!("s3://{bucket}/{prefix}/{version}/")))
}
