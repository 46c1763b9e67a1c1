//! `shopai tune` and `shopai evaluate` as stages: load a processed folder with its item vectors,
//! run the grid search or the offline evaluation, and write `tuned.json` / `eval.{json,html}`.

use crate::assemble::BuildConfig;
use crate::config::Config;
use crate::data::factors;
use crate::data::split::Protocol;
use crate::evaluation::compare::{self, CompareRow};
use crate::evaluation::offline::{self, EvalReport, Experiment, Tuned};
use crate::evaluation::tune::{self, Grid};
use crate::io::fs::write_atomic;
use crate::io::log;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The protocol line recorded with the headline metrics in a manifest.
fn protocol_line(p: Protocol) -> String {
    match p {
        Protocol::Temporal => "temporal 70/15/15, test, relevance all, K=10".into(),
        Protocol::LeaveLastOut => "leave-last-out, test, relevance all, K=10".into(),
    }
}

/// A processed folder split by the protocol, with the configured provider's item vectors.
pub fn experiment(cfg: &Config, dir: &Path, protocol: Protocol, progress: bool) -> Result<Experiment> {
    let mut exp = Experiment::load(dir, protocol)?;
    super::embed::attach_vectors(cfg, &mut exp.data, progress)?;
    Ok(exp)
}

/// Grid-search on `exp` and write the choice to `out` (pretty JSON).
pub fn tune(exp: &Experiment, grid: &Grid, base: &BuildConfig, out: &Path) -> Result<Tuned> {
    let tuned = tune::tune(exp, grid, base, base.progress)?;
    write_atomic(out, serde_json::to_string_pretty(&tuned)?.as_bytes())?;
    Ok(tuned)
}

/// Read a `tuned.json` written by `shopai tune`.
pub fn read_tuned(path: &Path) -> Result<Tuned> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {} (write it with `shopai tune`)", path.display()))
}

/// Evaluate the parameters in `tuned` (default `<out_dir>/tuned.json`; built-in defaults when
/// absent) on the processed folder `dir`; writes `<out_dir>/eval.json` and `eval.html`.
/// The split is `protocol`, else the one `tuned` was chosen on.
pub fn evaluate(
    cfg: &Config,
    dir: &Path,
    tuned: Option<PathBuf>,
    protocol: Option<Protocol>,
    dims: usize,
    progress: bool,
) -> Result<EvalReport> {
    let path = tuned.unwrap_or_else(|| cfg.paths.out_dir.join("tuned.json"));
    let mut tuned = if path.exists() {
        read_tuned(&path)?
    } else {
        log::info("no tuned.json; evaluating built-in defaults", serde_json::json!({"looked_for": path}));
        Tuned::defaults()
    };
    tuned.protocol = protocol.unwrap_or(tuned.protocol);
    let exp = experiment(cfg, dir, tuned.protocol, progress)?;
    let report = offline::run(&exp, &tuned, &BuildConfig::new(dims, tuned.als(), progress), progress)?;
    write_atomic(&cfg.paths.out_dir.join("eval.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    write_atomic(&cfg.paths.out_dir.join("eval.html"), offline::html(&report).as_bytes())?;
    Ok(report)
}

/// ALS alone on test with ShopAI's own factors and with the factors at `factors_path` (trained
/// elsewhere on train + val), the same hyper-parameters (`tuned`, default `<out_dir>/tuned.json`,
/// built-in defaults when absent) and fold-in; writes `<out_dir>/als_compare.json`.
pub fn compare_factors(
    cfg: &Config,
    dir: &Path,
    tuned: Option<PathBuf>,
    dims: usize,
    factors_path: &Path,
    progress: bool,
) -> Result<(Tuned, Vec<CompareRow>, PathBuf)> {
    let imported = factors::read(factors_path)?;
    let exp = experiment(cfg, dir, Protocol::Temporal, progress)?;
    let path = tuned.unwrap_or_else(|| cfg.paths.out_dir.join("tuned.json"));
    let tuned = if path.exists() { read_tuned(&path)? } else { Tuned::defaults() };
    let base = tuned.apply(&BuildConfig::new(dims, tuned.als(), progress));
    let rows = compare::compare(&exp, &base, imported.into())?;
    let out = cfg.paths.out_dir.join("als_compare.json");
    write_atomic(&out, serde_json::to_string_pretty(&rows)?.as_bytes())?;
    Ok((tuned, rows, out))
}

/// The part of an evaluation report that goes into a bundle's manifest.
pub fn manifest_eval(r: &EvalReport) -> serde_json::Value {
    serde_json::json!({"protocol": protocol_line(r.tuned.protocol), "metrics": r.headline, "val_ndcg_at_10": r.tuned.val_ndcg_fusion})
}

/// [`manifest_eval`] of an `eval.json` written earlier.
pub fn manifest_eval_from_file(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let protocol = serde_json::from_value(v["tuned"]["protocol"].clone()).unwrap_or_default();
    Ok(
        serde_json::json!({"protocol": protocol_line(protocol), "metrics": v["headline"], "val_ndcg_at_10": v["tuned"]["val_ndcg_fusion"]}),
    )
}
