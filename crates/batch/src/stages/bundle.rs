//! `shopai build`: a dataset (processed folder, raw files, or a raw catalog alone for a
//! search-only bundle) → one bundle file, written atomically.

use crate::assemble::{build_bundle, BuildConfig};
use crate::data::catalog::read_catalog;
use crate::data::dataset::Dataset;
use crate::data::ratings::{read_ratings, Interactions, RatingsOptions};
use crate::io::fs::{read_maybe_gz, source_hash, write_atomic};
use anyhow::{Context, Result};
use std::path::Path;

/// What a build did, printed as JSON.
#[derive(Debug, serde::Serialize)]
pub struct BuildSummary {
    /// Bundle path.
    pub out: String,
    /// Bundle version id.
    pub version: String,
    /// Bundle size in bytes.
    pub bytes: usize,
    /// Items.
    pub items: usize,
    /// Users.
    pub users: usize,
    /// Interactions trained on.
    pub interactions: usize,
    /// The source's row ledger, when built from raw files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger: Option<serde_json::Value>,
}

/// A dataset read straight from raw files (no versioned parquet), with its ledger.
/// Quarantined rows go to `quarantine` (JSON lines) when there are any.
pub fn dataset_from_raw(
    ratings: &Path,
    catalog: Option<&Path>,
    quarantine: &Path,
) -> Result<(Dataset, String, serde_json::Value)> {
    let ratings_bytes = read_maybe_gz(ratings)?;
    let read = read_ratings(&ratings_bytes, &RatingsOptions::default())
        .with_context(|| format!("parsing {}", ratings.display()))?;
    let (products, catalog_bytes) = match catalog {
        Some(p) => {
            let b = read_maybe_gz(p)?;
            (read_catalog(&b).with_context(|| format!("parsing {}", p.display()))?.products, b)
        }
        None => (Vec::new(), Vec::new()),
    };
    anyhow::ensure!(
        !read.table.is_empty(),
        "{} has no valid interactions ({} rows quarantined)",
        ratings.display(),
        read.quarantined.len()
    );
    if !read.quarantined.is_empty() {
        let mut text = String::new();
        for q in &read.quarantined {
            text.push_str(&serde_json::to_string(q)?);
            text.push('\n');
        }
        write_atomic(quarantine, text.as_bytes())?;
    }
    let ledger = serde_json::json!({
        "input_rows": read.input_rows,
        "kept": read.table.len(),
        "duplicates": read.duplicates,
        "quarantined": read.quarantined.len(),
        "quarantine_file": (!read.quarantined.is_empty()).then(|| quarantine.display().to_string()),
    });
    Ok((Dataset::new(&read.table, &products), source_hash(&[&ratings_bytes, &catalog_bytes]), ledger))
}

/// A search-only dataset from a raw catalog alone (no interactions: recommendations fall back to
/// popularity, which is flat), with its ledger.
pub fn dataset_from_catalog(catalog: &Path) -> Result<(Dataset, String, serde_json::Value)> {
    let bytes = read_maybe_gz(catalog)?;
    let read = read_catalog(&bytes).with_context(|| format!("parsing {}", catalog.display()))?;
    anyhow::ensure!(
        !read.products.is_empty(),
        "{} has no valid products ({} lines quarantined)",
        catalog.display(),
        read.quarantined.len()
    );
    let ledger = serde_json::json!({
        "catalog_input_rows": read.input_rows,
        "products": read.products.len(),
        "merged": read.merged,
        "quarantined": read.quarantined.len(),
        "interactions": 0,
    });
    Ok((Dataset::new(&Interactions::default(), &read.products), source_hash(&[&[], &bytes]), ledger))
}

/// Build a bundle from all interactions of `data` and write it.
pub fn run(
    data: &Dataset,
    source_hash: &str,
    cfg: &BuildConfig,
    ledger: Option<serde_json::Value>,
) -> Result<BuildSummary> {
    let bytes =
        crate::ops::drift::attach_reference(build_bundle(data, &data.interactions, cfg, source_hash)?, data, None)?;
    write_atomic(&cfg.out, &bytes)?;
    let manifest = shopai_core::Bundle::load(&bytes)?.manifest().clone();
    Ok(BuildSummary {
        out: cfg.out.display().to_string(),
        version: manifest.version,
        bytes: bytes.len(),
        items: data.item_ids.len(),
        users: data.user_ids.len(),
        interactions: data.interactions.len(),
        ledger,
    })
}
