//! `shopai refresh`: the scheduled retrain. Ingest the current export (versioned by content, so
//! unchanged input is recognised) → embed product texts through the cache, so only products
//! whose text is new or changed reach the embeddings endpoint → retrain with the tuned
//! parameters → evaluate on the protocol → write the bundle with its drift reference.
//!
//! State lives next to the bundle (`<out>.refresh.json`: processed data version, bundle version,
//! a hash of every product's text, interactions, headline NDCG@10), written only after the
//! bundle. So a second run on unchanged data does nothing and says so, and a run that stopped
//! half-way redoes only what it had not finished (ingest and embeddings are cached).

use crate::assemble::{build_bundle, BuildConfig};
use crate::config::Config;
use crate::data::split::Protocol;
use crate::evaluation::offline::{self, Experiment, Tuned};
use crate::evaluation::tune;
use crate::io::fs::write_atomic;
use crate::io::log;
use crate::io::storage::Location;
use crate::stages::embed::attach_vectors;
use crate::stages::ingest::{ingest, IngestInput};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `shopai refresh` arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Interaction log, the full current export: a path or s3://bucket/key.
    #[arg(long)]
    pub ratings: String,
    /// Product catalog: a path or s3://bucket/key.
    #[arg(long)]
    pub catalog: Option<String>,
    /// Bundle to write (its state file is `<out>` with extension `refresh.json`).
    #[arg(long, default_value = "out/bundle.bin")]
    pub out: PathBuf,
    /// Request logs (as `shopai monitor` reads them): recorded as the bundle's query-side drift reference.
    #[arg(long)]
    pub logs: Vec<String>,
    /// Re-run the tuning grid (default: reuse `<out_dir>/tuned.json`, or the built-in defaults).
    #[arg(long)]
    pub tune: bool,
    /// Rebuild even if nothing changed.
    #[arg(long)]
    pub force: bool,
    /// Hashing-embedder dimensions (provider `hash`).
    #[arg(long, default_value_t = 256)]
    pub dims: usize,
}

/// What the last completed refresh produced.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct State {
    /// Processed data version it was built from.
    pub data_version: String,
    /// Bundle version written.
    pub bundle_version: String,
    /// When it finished (RFC 3339).
    pub finished_at: String,
    /// Interactions trained on.
    pub interactions: u64,
    /// Known users.
    pub users: u64,
    /// Product id → first 16 hex of the SHA-256 of the text that was embedded.
    pub products: BTreeMap<String, String>,
    /// Test NDCG@10 of the fusion.
    pub ndcg_at_10: Option<f64>,
}

/// How the catalog changed since the last refresh.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ProductChanges {
    /// Products not in the last refresh.
    pub new: usize,
    /// Products whose text changed.
    pub changed_text: usize,
    /// Products no longer present.
    pub removed: usize,
    /// Products with the same text.
    pub unchanged: usize,
}

fn text_hash(t: &str) -> String {
    hex::encode(&Sha256::digest(t.as_bytes())[..8])
}

/// Compare product texts with the last refresh's.
pub fn product_changes(before: &BTreeMap<String, String>, now: &BTreeMap<String, String>) -> ProductChanges {
    let mut c = ProductChanges::default();
    for (id, h) in now {
        match before.get(id) {
            None => c.new += 1,
            Some(old) if old != h => c.changed_text += 1,
            Some(_) => c.unchanged += 1,
        }
    }
    c.removed = before.keys().filter(|id| !now.contains_key(*id)).count();
    c
}

/// The state file of a bundle path.
pub fn state_path(out: &Path) -> PathBuf {
    out.with_extension("refresh.json")
}

fn read_state(path: &Path) -> Result<Option<State>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(serde_json::from_str(&t).with_context(|| format!("parsing {}", path.display()))?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Run one refresh; prints what changed (or that nothing did).
pub fn run(args: Args, cfg: &Config, progress: bool) -> Result<()> {
    let state_file = state_path(&args.out);
    let before = read_state(&state_file)?;
    let s = ingest(
        cfg,
        &IngestInput {
            ratings: Location::parse(&args.ratings)?,
            catalog: args.catalog.as_deref().map(Location::parse).transpose()?,
            force: false,
            progress,
        },
    )?;
    if let Some(b) = before.as_ref().filter(|b| b.data_version == s.version && args.out.exists() && !args.force) {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "status": "unchanged",
                "message": format!("nothing new since {} (bundle {} written {}); nothing done", b.data_version, b.bundle_version, b.finished_at),
                "data_version": s.version, "bundle": args.out, "bundle_version": b.bundle_version,
            }))?
        );
        return Ok(());
    }
    let dir = PathBuf::from(&s.dir);
    let mut exp = Experiment::load(&dir, Protocol::Temporal)?;
    let embed = attach_vectors(cfg, &mut exp.data, progress)?;
    let now: BTreeMap<String, String> =
        exp.data.item_ids.iter().cloned().zip(exp.data.texts.iter().map(|t| text_hash(t))).collect();
    let empty = BTreeMap::new();
    let changes = product_changes(before.as_ref().map_or(&empty, |b| &b.products), &now);

    let base = BuildConfig { out: args.out.clone(), ..BuildConfig::new(args.dims, Tuned::defaults().als(), progress) };
    let tuned_path = cfg.paths.out_dir.join("tuned.json");
    let tuned = if args.tune {
        let t = tune::tune(&exp, &tune::Grid::default(), &base, progress)?;
        write_atomic(&tuned_path, serde_json::to_string_pretty(&t)?.as_bytes())?;
        t
    } else if tuned_path.exists() {
        let text = std::fs::read_to_string(&tuned_path).with_context(|| format!("reading {}", tuned_path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", tuned_path.display()))?
    } else {
        Tuned::defaults()
    };
    let report = offline::run(&exp, &tuned, &tuned.apply(&base), progress)?;
    write_atomic(&cfg.paths.out_dir.join("eval.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    write_atomic(&cfg.paths.out_dir.join("eval.html"), offline::html(&report).as_bytes())?;
    let ndcg = report.headline.get("fusion").map(|m| m.ndcg);
    log::info("evaluated", serde_json::json!({"ndcg_at_10": ndcg, "report": cfg.paths.out_dir.join("eval.html")}));

    let bc = BuildConfig {
        eval: Some(
            serde_json::json!({"protocol": "temporal 70/15/15, test, relevance all, K=10", "metrics": report.headline, "val_ndcg_at_10": tuned.val_ndcg_fusion}),
        ),
        ..tuned.apply(&base)
    };
    let logs = if args.logs.is_empty() {
        None
    } else {
        let mut counts = crate::ops::monitor::LineCounts::default();
        let mut entries = Vec::new();
        for (name, text) in crate::ops::monitor::read_sources(&args.logs, cfg)? {
            crate::ops::monitor::parse_into(&text, &name, &mut counts, &mut entries);
        }
        Some(entries)
    };
    let bytes = build_bundle(&exp.data, &exp.data.interactions, &bc, &s.version)?;
    let bytes = crate::ops::drift::attach_reference(bytes, &exp.data, logs.as_deref())?;
    write_atomic(&args.out, &bytes)?;
    let manifest = shopai_core::Bundle::load(&bytes)?.manifest().clone();
    let state = State {
        data_version: s.version.clone(),
        bundle_version: manifest.version.clone(),
        finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        interactions: exp.data.interactions.len() as u64,
        users: exp.data.user_ids.len() as u64,
        products: now,
        ndcg_at_10: ndcg,
    };
    write_atomic(&state_file, serde_json::to_string_pretty(&state)?.as_bytes())?;
    let embedded = embed.as_ref().map_or(changes.new + changes.changed_text, |e| e.texts - e.cache_hits);
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "status": "built",
            "data_version": {"before": before.as_ref().map(|b| &b.data_version), "now": s.version},
            "interactions": {"before": before.as_ref().map(|b| b.interactions), "now": state.interactions},
            "users": {"before": before.as_ref().map(|b| b.users), "now": state.users},
            "products": changes,
            "embeddings": {"provider": cfg.embeddings.provider, "texts": exp.data.texts.len(), "embedded": embedded, "stats": embed},
            "ndcg_at_10": {"before": before.as_ref().and_then(|b| b.ndcg_at_10), "now": ndcg},
            "bundle": {"path": args.out, "version": manifest.version, "bytes": bytes.len()},
            "state": state_file,
        }))?
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_changes_are_counted() {
        let m = |v: &[(&str, &str)]| v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        let before = m(&[("a", "1"), ("b", "2"), ("c", "3")]);
        let now = m(&[("a", "1"), ("b", "9"), ("d", "4"), ("e", "5")]);
        assert_eq!(
            product_changes(&before, &now),
            ProductChanges { new: 2, changed_text: 1, removed: 1, unchanged: 1 }
        );
        assert_eq!(text_hash("x").len(), 16);
        assert_eq!(state_path(Path::new("out/bundle.bin")), PathBuf::from("out/bundle.refresh.json"));
    }
}
