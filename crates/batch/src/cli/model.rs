//! Model commands: build, embed, tune, evaluate, evaluate-search, run.

use super::{print_json, Ctx};
use anyhow::{Context, Result};
use clap::Args;
use shopai_batch::assemble::BuildConfig;
use shopai_batch::config::{Confidence, EmbeddingsProvider};
use shopai_batch::data::dataset::Dataset;
use shopai_batch::data::factors::read as read_factors;
use shopai_batch::data::processed::{load_processed, resolve_processed};
use shopai_batch::data::split::Protocol;
use shopai_batch::evaluation::search::{self as search_eval, SearchEvalReport};
use shopai_batch::evaluation::tune::Grid;
use shopai_batch::index::vectors::{GraphParams, IndexKind, IndexOptions};
use shopai_batch::io::fs::write_atomic;
use shopai_batch::io::log;
use shopai_batch::query::load_bundle;
use shopai_batch::stages::{self, evaluate::manifest_eval_from_file, run::RunInput};
use shopai_core::als::AlsConfig;
use shopai_core::metrics::Gain;
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Dimensions of the hashing embedder's item vectors.
    #[arg(long, default_value_t = 256)]
    dims: usize,
    /// ALS latent factors.
    #[arg(long, default_value_t = AlsConfig::default().factors)]
    factors: usize,
    /// ALS L2 regularization.
    #[arg(long, default_value_t = AlsConfig::default().regularization)]
    regularization: f32,
    /// ALS confidence scaling (confidence = alpha × value, as in `implicit`).
    #[arg(long, default_value_t = AlsConfig::default().alpha)]
    alpha: f32,
    /// ALS iterations.
    #[arg(long, default_value_t = AlsConfig::default().iterations)]
    iterations: usize,
    /// Seed for every random choice.
    #[arg(long, default_value_t = AlsConfig::default().seed)]
    seed: u64,
    /// How ratings become ALS confidence: binary (every interaction 1, the protocol's), rating, log.
    #[arg(long, value_enum, default_value_t = Confidence::Binary)]
    confidence: Confidence,
    /// Vector index: auto picks a graph from 50,000 items, sign bits from 1,024, else a plain scan;
    /// a graph or sign bits are kept only where recall@10 stays within 0.005 of the scan's.
    #[arg(long, value_enum, default_value_t = IndexKind::Auto)]
    index: IndexKind,
    /// Store the int4 residual for exact-er rescoring (+dims/2 bytes per item). Default: on
    /// without a graph, off with one.
    #[arg(long)]
    refine: Option<bool>,
    /// Graph beam width while building (higher: better graph, slower build).
    #[arg(long, default_value_t = GraphParams::default().ef_construction)]
    ef_construction: usize,
    /// Graph beam width stored as the search default.
    #[arg(long, default_value_t = GraphParams::default().ef_search)]
    ef_search: usize,
}

fn index_options(m: &ModelArgs) -> IndexOptions {
    IndexOptions {
        kind: m.index,
        refine: m.refine,
        graph: GraphParams { ef_construction: m.ef_construction, ef_search: m.ef_search, ..GraphParams::default() },
    }
}

#[derive(Args, Debug)]
pub struct TuneArgs {
    /// How ratings become ALS confidence: binary, rating or log.
    #[arg(long, value_enum, default_value_t = Confidence::Binary)]
    confidence: Confidence,
    /// Processed data folder (default: the one data/processed/LATEST names).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Where to write the chosen parameters (default: <out_dir>/tuned.json).
    #[arg(long)]
    out: Option<PathBuf>,
    /// ALS factor counts to try.
    #[arg(long, value_delimiter = ',', default_values_t = Grid::default().factors)]
    factors: Vec<usize>,
    /// Regularization values to try.
    #[arg(long, value_delimiter = ',', default_values_t = Grid::default().regularization)]
    regularization: Vec<f32>,
    /// Alpha values to try.
    #[arg(long, value_delimiter = ',', default_values_t = Grid::default().alpha)]
    alpha: Vec<f32>,
    /// Content-similarity weights to try (the ALS weight is 1).
    #[arg(long, value_delimiter = ',', default_values_t = Grid::default().vector)]
    w_vector: Vec<f32>,
    /// Popularity weights to try.
    #[arg(long, value_delimiter = ',', default_values_t = Grid::default().popularity)]
    w_popularity: Vec<f32>,
    /// Item-to-item (EASE) weights to try.
    #[arg(long, value_delimiter = ',', default_values_t = Grid::default().item)]
    w_item: Vec<f32>,
    /// ALS weights to try in the fusion.
    #[arg(long, value_delimiter = ',', default_values_t = Grid::default().collab)]
    w_collab: Vec<f32>,
    /// Next-item weights to try, after the grid, with the other weights held (0 alone: no
    /// next-item source).
    #[arg(long, value_delimiter = ',', default_values_t = Grid::default().next)]
    w_next: Vec<f32>,
    /// Cold-item content weights to try, after the grid, with the other weights held: the content
    /// score scaled by 1 / (1 + the item's interactions), so text counts more where few shoppers
    /// have been (0 alone: no cold source).
    #[arg(long, value_delimiter = ',', default_values_t = Grid::default().cold)]
    w_cold: Vec<f32>,
    /// EASE λ values to try (empty list: no item-to-item source).
    #[arg(long, value_delimiter = ',', default_values_t = Grid::default().ease_lambda)]
    ease_lambda: Vec<f32>,
    /// Only choose a fusion whose validation coverage@10 is at least this fraction of ALS-only's.
    #[arg(long, default_value_t = Grid::default().min_relative_coverage)]
    min_relative_coverage: f64,
    /// Popularity half-lives in days to try (0 = plain counts).
    #[arg(long, value_delimiter = ',', default_values_t = Grid::default().half_life_days)]
    half_life_days: Vec<f32>,
    /// Which split to tune on: temporal (70/15/15 of all rows in time order, EVAL_PROTOCOL.md) or
    /// leave-last-out (each shopper's last interaction is the test, the one before validation:
    /// the published protocol of sequential recommenders). `evaluate` follows the tuned one.
    #[arg(long, value_enum, default_value_t = Protocol::Temporal)]
    protocol: Protocol,
    /// Recency weighting of a shopper's history to try, after the weights: half-lives counted in
    /// distinct items back from the latest (0 = every item weighs the same; 0 alone: none).
    #[arg(long, value_delimiter = ',', default_values_t = Grid::default().history_half_life)]
    history_half_life: Vec<f32>,
    /// ALS iterations.
    #[arg(long, default_value_t = AlsConfig::default().iterations)]
    iterations: usize,
    /// Seed.
    #[arg(long, default_value_t = AlsConfig::default().seed)]
    seed: u64,
    /// Hashing-embedder dimensions.
    #[arg(long, default_value_t = 256)]
    dims: usize,
}

#[derive(Args, Debug)]
pub struct EvaluateArgs {
    /// Processed data folder (default: the one data/processed/LATEST names).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Parameters from `shopai tune` (default: <out_dir>/tuned.json; built-in defaults if absent).
    #[arg(long)]
    tuned: Option<PathBuf>,
    /// The split to report on (default: the one the parameters were tuned on; see `tune --help`).
    #[arg(long, value_enum)]
    protocol: Option<Protocol>,
    /// Hashing-embedder dimensions.
    #[arg(long, default_value_t = 256)]
    dims: usize,
    /// Instead: score these item factors (trained elsewhere on train + val, e.g. by
    /// scripts/spark/train_als.py) beside ShopAI's own ALS on the test split (out/als_compare.json).
    #[arg(long)]
    als_factors: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Use the ALS parameters and fusion weights chosen by `shopai tune` (a tuned.json).
    #[arg(long)]
    tuned: Option<PathBuf>,
    /// Record the headline metrics of this `shopai evaluate` output (an eval.json) in the manifest.
    #[arg(long)]
    eval: Option<PathBuf>,
    /// Raw interaction log (skips ingest; quarantined rows go to <out>.quarantine.jsonl).
    /// Without it, the processed data named by --data or data/processed/LATEST is used.
    #[arg(long)]
    ratings: Option<PathBuf>,
    /// Raw product catalog (with --ratings; alone, a search-only bundle with no interactions).
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Processed data folder.
    #[arg(long, conflicts_with_all = ["ratings", "catalog"])]
    data: Option<PathBuf>,
    /// Output bundle path (written atomically).
    #[arg(long, default_value = "out/bundle.bin")]
    out: PathBuf,
    /// Use the hybrid search setting `shopai evaluate-search` chose (its search_eval.json).
    #[arg(long)]
    search_tuned: Option<PathBuf>,
    /// Item factors trained elsewhere instead of training ALS here: a parquet file or a Spark
    /// output folder with columns id, features (scripts/spark/train_als.py writes one).
    #[arg(long)]
    als_factors: Option<PathBuf>,
    /// Apply the `not_relevant` feedback in this demotions.json (written by `shopai ingest-feedback`).
    #[arg(long)]
    demotions: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
}

#[derive(Args, Debug)]
pub struct EvaluateSearchArgs {
    /// Bundle to search.
    #[arg(long, default_value = "out/bundle.bin")]
    bundle: PathBuf,
    /// CSV with a header: query_id,query.
    #[arg(long)]
    queries: PathBuf,
    /// CSV with a header: query_id,product_id,grade (0 = not relevant; higher = more; fractional
    /// grades such as 2.33 are fine).
    #[arg(long)]
    labels: PathBuf,
    /// Gain of a grade in nDCG: exponential (2^grade − 1) or linear (the grade).
    #[arg(long, default_value = "exponential", value_parser = parse_gain)]
    gain: Gain,
    /// Smallest grade that counts as relevant for recall@10.
    #[arg(long, default_value_t = 1.0)]
    relevance_threshold: f64,
    /// Full report with per-query rankings (default: <out_dir>/search_eval.json).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    ingest: super::data::IngestArgs,
    /// Output bundle path.
    #[arg(long, default_value = "out/bundle.bin")]
    out: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
    /// Skip the ALS grid: use the given ALS parameters and tune only the fusion weights.
    #[arg(long)]
    quick_tune: bool,
    /// Apply the `not_relevant` feedback in this demotions.json (written by `shopai ingest-feedback`).
    #[arg(long)]
    demotions: Option<PathBuf>,
}

fn parse_gain(s: &str) -> Result<Gain, String> {
    Gain::parse(s).ok_or_else(|| format!("unknown gain {s:?} (use exponential or linear)"))
}

fn als_config(m: &ModelArgs) -> Result<AlsConfig> {
    anyhow::ensure!(m.dims >= 8, "--dims must be at least 8 (got {})", m.dims);
    anyhow::ensure!((1..=512).contains(&m.factors), "--factors must be in 1..=512 (got {})", m.factors);
    anyhow::ensure!(m.regularization >= 0.0, "--regularization must be ≥ 0 (got {})", m.regularization);
    anyhow::ensure!(m.alpha > 0.0, "--alpha must be > 0 (got {})", m.alpha);
    Ok(AlsConfig::default()
        .factors(m.factors)
        .regularization(m.regularization)
        .alpha(m.alpha)
        .iterations(m.iterations)
        .seed(m.seed))
}

/// `shopai build`.
pub fn build(ctx: &Ctx, a: BuildArgs) -> Result<()> {
    let mut bc = BuildConfig {
        out: a.out.clone(),
        confidence: a.model.confidence,
        index: index_options(&a.model),
        ..BuildConfig::new(a.model.dims, als_config(&a.model)?, ctx.progress)
    };
    if let Some(t) = &a.tuned {
        bc = stages::evaluate::read_tuned(t)?.apply(&bc);
    }
    if let Some(e) = &a.eval {
        bc.eval = Some(manifest_eval_from_file(e)?);
    }
    if let Some(p) = &a.search_tuned {
        let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        let r: SearchEvalReport = serde_json::from_str(&text)
            .with_context(|| format!("parsing {} (write it with `shopai evaluate-search`)", p.display()))?;
        bc.search = r.chosen;
    }
    if let Some(f) = &a.als_factors {
        bc.als_factors = Some(read_factors(f)?.into());
    }
    bc.demotions = read_demotions(a.demotions.as_deref())?;
    let cfg = ctx.config()?;
    let (mut data, hash, ledger) = match (&a.ratings, &a.catalog) {
        (Some(r), _) => {
            let quarantine = a.out.with_extension("quarantine.jsonl");
            let (d, h, l) = stages::bundle::dataset_from_raw(r, a.catalog.as_deref(), &quarantine)?;
            (d, h, Some(l))
        }
        (None, Some(c)) => {
            let (d, h, l) = stages::bundle::dataset_from_catalog(c)?;
            (d, h, Some(l))
        }
        (None, None) => {
            let dir = resolve_processed(&cfg, a.data.as_deref())?;
            let p = load_processed(&dir)?;
            let version = dir.file_name().map(|v| v.to_string_lossy().into_owned()).unwrap_or_default();
            (Dataset::new(&p.table, &p.catalog), version, None)
        }
    };
    stages::embed::attach_vectors(&cfg, &mut data, ctx.progress)?;
    print_json(&stages::bundle::run(&data, &hash, &bc, ledger)?)
}

/// `shopai embed`.
pub fn embed(ctx: &Ctx, a: super::data::StageArgs) -> Result<()> {
    let cfg = ctx.config()?;
    anyhow::ensure!(
        cfg.embeddings.provider != EmbeddingsProvider::Hash,
        "embeddings.provider is \"hash\": nothing to call (set it to \"openai\" and openai.base_url)"
    );
    let dir = resolve_processed(&cfg, a.data.as_deref())?;
    let p = load_processed(&dir)?;
    let mut data = Dataset::new(&p.table, &p.catalog);
    let stats = stages::embed::attach_vectors(&cfg, &mut data, ctx.progress)?;
    print_json(
        &serde_json::json!({"model": cfg.embeddings.model, "dimensions": data.vectors.as_ref().map(|v| v.dims), "stats": stats}),
    )
}

/// `shopai tune`.
pub fn tune(ctx: &Ctx, a: TuneArgs) -> Result<()> {
    let cfg = ctx.config()?;
    let dir = resolve_processed(&cfg, a.data.as_deref())?;
    let exp = stages::evaluate::experiment(&cfg, &dir, a.protocol, ctx.progress)?;
    let grid = Grid {
        factors: a.factors,
        regularization: a.regularization,
        alpha: a.alpha,
        vector: a.w_vector,
        popularity: a.w_popularity,
        item: a.w_item,
        collab: a.w_collab,
        next: a.w_next,
        cold: a.w_cold,
        ease_lambda: a.ease_lambda,
        half_life_days: a.half_life_days,
        history_half_life: a.history_half_life,
        min_relative_coverage: a.min_relative_coverage,
    };
    let als = AlsConfig::default().iterations(a.iterations).seed(a.seed);
    let base = BuildConfig { confidence: a.confidence, ..BuildConfig::new(a.dims, als, ctx.progress) };
    let out = a.out.unwrap_or_else(|| cfg.paths.out_dir.join("tuned.json"));
    let tuned = stages::evaluate::tune(&exp, &grid, &base, &out)?;
    log::info("wrote tuned parameters", serde_json::json!({"to": out}));
    print_json(&serde_json::json!({
        "factors": tuned.factors, "regularization": tuned.regularization, "alpha": tuned.alpha,
        "fusion": tuned.fusion, "history_half_life": tuned.history_half_life, "val_ndcg_als": tuned.val_ndcg_als, "val_ndcg_fusion": tuned.val_ndcg_fusion,
        "trials": tuned.als_trials.len() + tuned.fusion_trials.len(), "out": out,
        "edges": tuned.edges,
    }))
}

/// `shopai evaluate`.
pub fn evaluate(ctx: &Ctx, a: EvaluateArgs) -> Result<()> {
    let cfg = ctx.config()?;
    let dir = resolve_processed(&cfg, a.data.as_deref())?;
    if let Some(f) = &a.als_factors {
        let (tuned, rows, out) = stages::evaluate::compare_factors(&cfg, &dir, a.tuned, a.dims, f, ctx.progress)?;
        let at10 = |t: &str| rows.iter().find(|r| r.trainer == t).map_or(0.0, |r| r.report.ndcg(10));
        return print_json(&serde_json::json!({
            "test_all_ndcg_at_10": {"shopai": at10("shopai"), "imported": at10("imported")},
            "als": {"factors": tuned.factors, "regularization": tuned.regularization, "alpha": tuned.alpha, "iterations": tuned.iterations},
            "report": out,
        }));
    }
    let report = stages::evaluate::evaluate(&cfg, &dir, a.tuned, a.protocol, a.dims, ctx.progress)?;
    print_json(&serde_json::json!({
        "headline_test_all_at_10": report.headline,
        "latency_us": report.latency_us,
        "index_recall_at_10": report.index_recall_at_10,
        "report": cfg.paths.out_dir.join("eval.html"),
    }))
}

/// `shopai evaluate-search`.
pub fn evaluate_search(ctx: &Ctx, a: EvaluateSearchArgs) -> Result<()> {
    let cfg = ctx.config()?;
    let bundle = load_bundle(&a.bundle)?;
    let view = bundle.view();
    let set = search_eval::read_labels(&view, &a.queries, &a.labels)?;
    let vectors = search_eval::embed_queries(&view, &cfg, &set)?;
    anyhow::ensure!(
        a.relevance_threshold.is_finite() && a.relevance_threshold > 0.0,
        "--relevance-threshold must be > 0 (got {})",
        a.relevance_threshold
    );
    let scoring = search_eval::Scoring { gain: a.gain, relevance_threshold: a.relevance_threshold };
    let report = search_eval::evaluate_with(&view, &set, &vectors, scoring)?;
    let out = a.out.unwrap_or_else(|| cfg.paths.out_dir.join("search_eval.json"));
    write_atomic(&out, serde_json::to_string_pretty(&report)?.as_bytes())?;
    print_json(&report.summary(&out))
}

/// `shopai run`.
pub fn run(ctx: &Ctx, a: RunArgs) -> Result<()> {
    let cfg = ctx.config()?;
    let input = RunInput {
        ingest: a.ingest.input(ctx.progress)?,
        base: BuildConfig {
            confidence: a.model.confidence,
            demotions: read_demotions(a.demotions.as_deref())?,
            ..BuildConfig::new(a.model.dims, als_config(&a.model)?, ctx.progress)
        },
        index: index_options(&a.model),
        out: a.out,
        quick_tune: a.quick_tune,
    };
    let r = stages::run::run(&cfg, input)?;
    print_json(
        &serde_json::json!({"ingest": r.ingest, "split": r.split, "headline_test_all_at_10": r.headline_test_all_at_10, "bundle": r.bundle}),
    )
}

/// The demotions a `--demotions` file holds (none without one).
fn read_demotions(path: Option<&std::path::Path>) -> Result<Vec<shopai_core::demote::Demotion>> {
    Ok(path.map(shopai_batch::ops::feedback::read_demotions).transpose()?.unwrap_or_default())
}
