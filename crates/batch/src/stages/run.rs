//! `shopai run`: ingest → eda → split → tune → evaluate → build, from raw files to a bundle.

use super::bundle::BuildSummary;
use super::ingest::{IngestInput, IngestSummary};
use crate::assemble::BuildConfig;
use crate::config::Config;
use crate::data::split::Protocol;
use crate::evaluation::protocol::AtK;
use crate::evaluation::tune::Grid;
use crate::index::vectors::IndexOptions;
use crate::io::log;
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Inputs of `run`.
#[derive(Debug, Clone)]
pub struct RunInput {
    /// Raw files to ingest.
    pub ingest: IngestInput,
    /// Where to write the bundle.
    pub out: PathBuf,
    /// Embedder size, ALS settings (the grid's only point with `quick_tune`), confidence, progress.
    pub base: BuildConfig,
    /// The bundle's vector index.
    pub index: IndexOptions,
    /// Skip the ALS grid: tune only the fusion weights around `base.als`.
    pub quick_tune: bool,
}

/// What `run` reports (printed through a JSON value, so keys come out in name order at every level).
#[derive(Debug, Serialize)]
pub struct RunSummary {
    /// The ingest stage's summary.
    pub ingest: IngestSummary,
    /// Rows per split part.
    pub split: BTreeMap<String, usize>,
    /// Test metrics at 10 (relevance "all") per model.
    pub headline_test_all_at_10: BTreeMap<String, AtK>,
    /// The bundle written.
    pub bundle: BuildSummary,
}

/// Every stage in order; the bundle is trained on all interactions with the tuned parameters and
/// carries the evaluation's headline in its manifest.
pub fn run(cfg: &Config, input: RunInput) -> Result<RunSummary> {
    let progress = input.base.progress;
    let s = super::ingest::ingest(cfg, &input.ingest)?;
    let dir = PathBuf::from(&s.dir);
    let e = super::eda::run(&dir, &cfg.paths.out_dir)?;
    log::info("EDA", serde_json::json!({"report": cfg.paths.out_dir.join("eda.html"), "sparsity": e.sparsity}));
    let sp = super::split::split(&dir)?;
    log::info("split", serde_json::json!({"rows": sp.rows}));
    let exp = super::evaluate::experiment(cfg, &dir, Protocol::Temporal, progress)?;
    let grid = if input.quick_tune {
        let als = &input.base.als;
        Grid {
            factors: vec![als.factors],
            regularization: vec![als.regularization],
            alpha: vec![als.alpha],
            ..Default::default()
        }
    } else {
        Grid::default()
    };
    let tuned_path = cfg.paths.out_dir.join("tuned.json");
    let tuned = super::evaluate::tune(&exp, &grid, &input.base, &tuned_path)?;
    log::info("tuned", serde_json::json!({"fusion": tuned.fusion, "val_ndcg": tuned.val_ndcg_fusion}));
    let report = super::evaluate::evaluate(cfg, &dir, Some(tuned_path), None, input.base.dims, progress)?;
    log::info("evaluated", serde_json::json!({"report": cfg.paths.out_dir.join("eval.html")}));
    let bc = BuildConfig {
        out: input.out,
        eval: Some(super::evaluate::manifest_eval(&report)),
        index: input.index,
        demotions: input.base.demotions.clone(),
        ..tuned.apply(&BuildConfig::new(input.base.dims, tuned.als(), progress))
    };
    let bundle = super::bundle::run(&exp.data, &s.version, &bc, None)?;
    Ok(RunSummary { ingest: s, split: sp.rows, headline_test_all_at_10: report.headline, bundle })
}
