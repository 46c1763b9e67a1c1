//! Data commands: ingest, eda, split, synth, config.

use super::{print_json, Ctx};
use anyhow::Result;
use clap::Args;
use shopai_batch::data::processed::resolve_processed;
use shopai_batch::data::synth;
use shopai_batch::io::log;
use shopai_batch::io::storage::Location;
use shopai_batch::stages;
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct IngestArgs {
    /// Interaction log: a path or s3://bucket/key. CSV/TSV (header optional), or JSON lines
    /// (Amazon reviews); gzip is detected. Headerless column order: [ingest] columns in the config.
    #[arg(long)]
    pub ratings: String,
    /// Product catalog: a path or s3://bucket/key. CSV/TSV with a header, or JSON lines (Amazon metadata).
    #[arg(long)]
    pub catalog: Option<String>,
    /// Process again even if the input is unchanged.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug, Clone)]
pub struct StageArgs {
    /// Processed data folder (default: the one data/processed/LATEST names).
    #[arg(long)]
    pub data: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct SynthArgs {
    /// Output folder (storefront) or file (--scale).
    #[arg(long, default_value = "data/synth")]
    out: PathBuf,
    /// Number of products.
    #[arg(long, default_value_t = 400)]
    items: usize,
    /// Number of users.
    #[arg(long, default_value_t = 300)]
    users: usize,
    /// Average interactions per user.
    #[arg(long, default_value_t = 12)]
    per_user: usize,
    /// Instead: a large ratings CSV shaped like ../shared/anchors/gen_synth.py
    /// (power-law items, lognormal users) with this many distinct interactions.
    #[arg(long)]
    scale: Option<usize>,
    /// Seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

impl IngestArgs {
    /// The typed input of the ingest stage.
    pub fn input(&self, progress: bool) -> Result<stages::ingest::IngestInput> {
        Ok(stages::ingest::IngestInput {
            ratings: Location::parse(&self.ratings)?,
            catalog: self.catalog.as_deref().map(Location::parse).transpose()?,
            force: self.force,
            progress,
        })
    }
}

/// `shopai ingest`.
pub fn ingest(ctx: &Ctx, a: IngestArgs) -> Result<()> {
    let cfg = ctx.config()?;
    print_json(&stages::ingest::ingest(&cfg, &a.input(ctx.progress)?)?)
}

/// `shopai eda`.
pub fn eda(ctx: &Ctx, a: StageArgs) -> Result<()> {
    let cfg = ctx.config()?;
    let dir = resolve_processed(&cfg, a.data.as_deref())?;
    let out = cfg.paths.out_dir.clone();
    let e = stages::eda::run(&dir, &out)?;
    log::info("wrote EDA report", serde_json::json!({"html": out.join("eda.html"), "json": out.join("eda.json")}));
    print_json(
        &serde_json::json!({"interactions": e.interactions, "users": e.users, "items": e.items, "sparsity": e.sparsity, "report": out.join("eda.html")}),
    )
}

/// `shopai split`.
pub fn split(ctx: &Ctx, a: StageArgs) -> Result<()> {
    let cfg = ctx.config()?;
    let dir = resolve_processed(&cfg, a.data.as_deref())?;
    print_json(&stages::split::split(&dir)?)
}

/// `shopai synth`.
pub fn synth(s: SynthArgs) -> Result<()> {
    match s.scale {
        Some(n) => print_json(&synth::write_scale(&s.out, n, s.seed)?),
        None => {
            let (items, users, ratings) = synth::write(&s.out, s.items, s.users, s.per_user, s.seed)?;
            print_json(&serde_json::json!({"out": s.out, "items": items, "users": users, "ratings": ratings}))
        }
    }
}

/// `shopai config`.
pub fn config(ctx: &Ctx) -> Result<()> {
    print_json(&ctx.config()?)
}
