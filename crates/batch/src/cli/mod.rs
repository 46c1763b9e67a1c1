//! The `shopai` command line: clap structs (raw arguments) and one function per command, which
//! loads the typed [`Config`] and calls the library's stages. Commands by concern:
//! `data` (ingest, eda, split, synth, config), `model` (build, embed, tune, evaluate,
//! evaluate-search, run), `serve` (query, inspect, serve-embeddings, bench-*); the operations
//! commands (monitor, drift, refresh) take their arguments from the library's modules.

mod data;
mod model;
mod serve;

use anyhow::Result;
use clap::{Parser, Subcommand};
use shopai_batch::config::Config;
use shopai_batch::ops::{feedback, release};
use std::io::IsTerminal;
use std::path::PathBuf;

/// ShopAI batch CLI: turn interaction logs and a catalog into a bundle, and query it.
///
/// The pipeline, stage by stage (or all at once with `shopai run`):
///   shopai ingest --ratings s3://bucket/raw/ratings.csv.gz --catalog meta.jsonl.gz
///   shopai eda                       # data/processed/<version>/ → out/eda.html, out/eda.json
///   shopai split                     # temporal 70/15/15, user/product tables, popularity baselines
///   shopai build --out out/bundle.bin
///   shopai query --bundle out/bundle.bin search --text "waterproof boots"
///
/// Configuration: ./shopai.toml (or --config), overridden by SHOPAI_S3_ENDPOINT, SHOPAI_S3_BUCKET,
/// SHOPAI_S3_PREFIX, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, OPENAI_BASE_URL,
/// OPENAI_API_KEY, SHOPAI_DATA_DIR, SHOPAI_OUT_DIR. Secrets are never printed.
#[derive(Parser, Debug)]
#[command(name = "shopai", version, about, long_about, verbatim_doc_comment)]
pub struct Cli {
    /// Config file (default: ./shopai.toml when present).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Log as JSON lines on stderr.
    #[arg(long, global = true)]
    pub json: bool,
    /// Hide progress bars.
    #[arg(long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Validate and clean raw interactions (+ catalog) into versioned parquet; mirror to S3.
    Ingest(data::IngestArgs),
    /// Exploratory report (HTML with charts + JSON) of processed data.
    Eda(data::StageArgs),
    /// Temporal 70/15/15 split, user/product tables with counts, popularity baselines.
    Split(data::StageArgs),
    /// Train ALS, embed product text and write a bundle (from processed data or raw files).
    Build(model::BuildArgs),
    /// Embed product texts with the configured provider ([embeddings] in the config), filling the
    /// cache; prints requests, retries, cache hits, tokens and cost.
    Embed(data::StageArgs),
    /// Grid-search ALS and the fusion weights on the validation split (writes out/tuned.json).
    Tune(model::TuneArgs),
    /// Evaluate popularity, vector-only, ALS-only and the fusion on the protocol (out/eval.{json,html}).
    Evaluate(model::EvaluateArgs),
    /// nDCG@10 and recall@10 of lexical, vector and hybrid search against graded labels, and the
    /// hybrid setting to use (weighted or reciprocal-rank fusion); `shopai synth` writes an example
    /// pair of files. Pass the result to `shopai build --search-tuned`.
    EvaluateSearch(model::EvaluateSearchArgs),
    /// Run ingest → eda → split → tune → evaluate → build.
    Run(model::RunArgs),
    /// Answer search and recommendation requests from a bundle (prints JSON).
    Query(serve::QueryArgs),
    /// Print a bundle's manifest (version, model, counts) as JSON.
    Inspect(serve::InspectArgs),
    /// Write a synthetic storefront for demos and tests.
    Synth(data::SynthArgs),
    /// Print the effective configuration (secrets redacted).
    Config,
    /// Serve all-MiniLM-L6-v2 behind an OpenAI-compatible API (POST /v1/embeddings) on 127.0.0.1.
    ServeEmbeddings(serve::ServeEmbeddingsArgs),
    /// Time vector search through a bundle built from raw f32 vectors (the index `--index` picks:
    /// graph, sign bits or int8 scan; 1 thread) and its recall@10 against exact f32 search; see
    /// scripts/bench-search.sh.
    BenchSearch(serve::BenchSearchArgs),
    /// Time ALS training on a ratings file (seconds per iteration, as JSON); see scripts/bench-als.sh.
    BenchAls(serve::BenchAlsArgs),
    /// Time one recommendation on a bundle (core's recommend for its shoppers, one thread; µs
    /// percentiles as JSON).
    BenchRecommend(serve::BenchRecommendArgs),
    /// Request logs → dashboard (HTML + JSON); `--fail-on` thresholds make it an alert check.
    Monitor(shopai_batch::ops::monitor::Args),
    /// Compare fresh interactions (and request logs) with the bundle's reference sketches and
    /// recorded NDCG@10; exits non-zero on drift.
    Drift(shopai_batch::ops::drift::Args),
    /// Scheduled retrain: ingest → embed changed products only → retrain → evaluate → bundle.
    Refresh(shopai_batch::stages::refresh::Args),
    /// Upload a bundle to bundles/<version>/ (immutable), read it back and load it, pass the
    /// evaluation gate against the live version, then move bundles/LATEST to it. Exit code 3:
    /// the gate refused; 4: the upload did not verify.
    Publish(release::PublishArgs),
    /// List published versions (LATEST marked).
    Versions(release::RootArgs),
    /// Point bundles/LATEST back at a published version.
    Rollback(release::RollbackArgs),
    /// Shoppers' feedback (the edge's feedback/*.jsonl) → interactions for the next build
    /// (feedback_interactions.csv) and demotions (demotions.json for `build --demotions`), with a ledger.
    IngestFeedback(feedback::IngestArgs),
    /// Feedback events by bundle version and surface: click-through and purchase rates.
    FeedbackReport(feedback::ReportArgs),
}

/// What every command gets: the config loader and whether to draw progress bars.
pub struct Ctx {
    config: Option<PathBuf>,
    /// Progress bars on stderr (a terminal, without `--quiet` or `--json`).
    pub progress: bool,
}

impl Ctx {
    /// The typed configuration (file, then environment), validated.
    pub fn config(&self) -> Result<Config> {
        Config::load(self.config.as_deref())
    }
}

/// Run one parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let ctx = Ctx { progress: !cli.quiet && !cli.json && std::io::stderr().is_terminal(), config: cli.config };
    // No bar drawn: long steps print a progress line every few seconds instead.
    shopai_batch::io::progress::set_heartbeat(!ctx.progress && (cli.json || !cli.quiet));
    match cli.command {
        Command::Ingest(a) => data::ingest(&ctx, a),
        Command::Eda(a) => data::eda(&ctx, a),
        Command::Split(a) => data::split(&ctx, a),
        Command::Synth(a) => data::synth(a),
        Command::Config => data::config(&ctx),
        Command::Build(a) => model::build(&ctx, a),
        Command::Embed(a) => model::embed(&ctx, a),
        Command::Tune(a) => model::tune(&ctx, a),
        Command::Evaluate(a) => model::evaluate(&ctx, a),
        Command::EvaluateSearch(a) => model::evaluate_search(&ctx, a),
        Command::Run(a) => model::run(&ctx, a),
        Command::Query(a) => serve::query(a),
        Command::Inspect(a) => serve::inspect(a),
        Command::ServeEmbeddings(a) => serve::serve_embeddings(a),
        Command::BenchSearch(a) => serve::bench_search(a),
        Command::BenchAls(a) => serve::bench_als(a),
        Command::BenchRecommend(a) => serve::bench_recommend(a),
        Command::Monitor(a) => shopai_batch::ops::monitor::run(a, &ctx.config()?),
        Command::Drift(a) => shopai_batch::ops::drift::run(a, &ctx.config()?),
        Command::Refresh(a) => shopai_batch::stages::refresh::run(a, &ctx.config()?, ctx.progress),
        Command::Publish(a) => print_json(&release::publish(&ctx.config()?, &a)?),
        Command::Versions(a) => print_json(&release::versions(&ctx.config()?, &a)?),
        Command::Rollback(a) => print_json(&release::rollback(&ctx.config()?, &a)?),
        Command::IngestFeedback(a) => print_json(&feedback::ingest(&ctx.config()?, &a)?),
        Command::FeedbackReport(a) => print_json(&feedback::report(&ctx.config()?, &a)?),
    }
}

/// Print a value as pretty JSON on stdout.
fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}
