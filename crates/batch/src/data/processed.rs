//! Processed data folders: `<data_dir>/processed/<version>/{ratings,catalog}.parquet` (and
//! `ratings-all-rows.parquet` when the duplicate policy removed rows), the
//! `LATEST` pointer, and loading a folder back.

use super::catalog::Product;
use super::parquet;
use super::ratings::Interactions;
use crate::config::Config;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// Revision of the processed files' layout (parquet schemas, summary fields).
pub const PROCESSED_LAYOUT: u32 = 3;

/// `<data_dir>/processed`.
pub fn processed_root(cfg: &Config) -> PathBuf {
    cfg.paths.data_dir.join("processed")
}

/// The processed folder a stage should read: `explicit`, or the one `LATEST` names.
pub fn resolve_processed(cfg: &Config, explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let latest = processed_root(cfg).join("LATEST");
    let v = std::fs::read_to_string(&latest)
        .with_context(|| format!("no processed data yet ({} missing): run `shopai ingest` first", latest.display()))?;
    Ok(processed_root(cfg).join(v.trim()))
}

/// Every valid input row, before the duplicate policy: written when the policy removed rows.
pub const ALL_ROWS_FILE: &str = "ratings-all-rows.parquet";

/// Processed data loaded back from parquet.
pub struct Processed {
    /// Ratings.
    pub table: Interactions,
    /// Every valid input row when the duplicate policy removed some (`None`: `table` has them all).
    pub all_rows: Option<Interactions>,
    /// Catalog (empty if none was ingested).
    pub catalog: Vec<Product>,
}

/// Load a processed folder.
pub fn load_processed(dir: &Path) -> Result<Processed> {
    let ratings = dir.join("ratings.parquet");
    let table =
        parquet::read_ratings(std::fs::read(&ratings).with_context(|| format!("reading {}", ratings.display()))?)
            .with_context(|| format!("reading {}", ratings.display()))?;
    let cat = dir.join("catalog.parquet");
    let catalog = if cat.exists() { parquet::read_catalog(std::fs::read(&cat)?)? } else { Vec::new() };
    let all = dir.join(ALL_ROWS_FILE);
    let all_rows = if all.exists() {
        Some(parquet::read_ratings(std::fs::read(&all)?).with_context(|| format!("reading {}", all.display()))?)
    } else {
        None
    };
    Ok(Processed { table, all_rows, catalog })
}

impl Processed {
    /// The rows the evaluation protocol splits: every valid input row, duplicates included.
    pub fn protocol_rows(&self) -> &Interactions {
        self.all_rows.as_ref().unwrap_or(&self.table)
    }
}
