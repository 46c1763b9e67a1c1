//! `shopai`: the ShopAI batch CLI. Raw arguments (clap) → validated config → run.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use shopai_batch::ann::{GraphParams, IndexKind, IndexOptions};
use shopai_batch::config::Config;
use shopai_batch::storage::Location;
use shopai_batch::{build, evaluate, log, pipeline, query, synth};
use shopai_core::als::AlsConfig;
use shopai_core::service::{answer_recommend, answer_search, Filters, RecommendRequest, Scratch, SearchRequest};
use shopai_core::FusionWeights;
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
struct Cli {
    /// Config file (default: ./shopai.toml when present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Log as JSON lines on stderr.
    #[arg(long, global = true)]
    json: bool,
    /// Hide progress bars.
    #[arg(long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate and clean raw interactions (+ catalog) into versioned parquet; mirror to S3.
    Ingest(IngestArgs),
    /// Exploratory report (HTML with charts + JSON) of processed data.
    Eda(StageArgs),
    /// Temporal 70/15/15 split, user/product tables with counts, popularity baselines.
    Split(StageArgs),
    /// Train ALS, embed product text and write a bundle (from processed data or raw files).
    Build(BuildArgs),
    /// Embed product texts with the configured provider ([embeddings] in the config), filling the
    /// cache; prints requests, retries, cache hits, tokens and cost.
    Embed(StageArgs),
    /// Grid-search ALS and the fusion weights on the validation split (writes out/tuned.json).
    Tune(TuneArgs),
    /// Evaluate popularity, vector-only, ALS-only and the fusion on the protocol (out/eval.{json,html}).
    Evaluate(EvaluateArgs),
    /// nDCG@10 and recall@10 of lexical, vector and hybrid search against graded labels, and the
    /// hybrid setting to use (weighted or reciprocal-rank fusion); `shopai synth` writes an example
    /// pair of files. Pass the result to `shopai build --search-tuned`.
    EvaluateSearch(EvaluateSearchArgs),
    /// Run ingest → eda → split → tune → evaluate → build.
    Run(RunArgs),
    /// Answer search and recommendation requests from a bundle (prints JSON).
    Query(QueryArgs),
    /// Print a bundle's manifest (version, model, counts) as JSON.
    Inspect {
        /// Bundle file.
        bundle: PathBuf,
    },
    /// Write a synthetic storefront for demos and tests.
    Synth(SynthArgs),
    /// Print the effective configuration (secrets redacted).
    Config,
    /// Serve all-MiniLM-L6-v2 behind an OpenAI-compatible API (POST /v1/embeddings) on 127.0.0.1.
    ServeEmbeddings {
        /// Folder with config.json, model.safetensors, tokenizer.json (scripts/fetch-model.sh).
        #[arg(long, env = "SHOPAI_MODEL_DIR")]
        model_dir: PathBuf,
        /// Address to listen on (port 0 picks a free one; the URL is printed).
        #[arg(long, default_value = "127.0.0.1:8090")]
        addr: String,
    },
    /// Time vector search through a bundle (exact int8 scan, 1 thread) on raw f32 vectors; see
    /// scripts/bench-search.sh.
    BenchSearch {
        /// Base vectors: raw little-endian f32 rows.
        #[arg(long)]
        base: PathBuf,
        /// Query vectors: raw little-endian f32 rows.
        #[arg(long)]
        queries: PathBuf,
        /// Dimensions.
        #[arg(long, default_value_t = 256)]
        dim: usize,
        /// Use only the first N base rows (0 = all).
        #[arg(long, default_value_t = 0)]
        limit: usize,
        /// Also write the bundle here (for the Node benchmark).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Index to build (as `shopai build --index`).
        #[arg(long, value_enum, default_value_t = IndexKind::Auto)]
        index: IndexKind,
        /// Store the int4 residual (default: on without a graph).
        #[arg(long)]
        refine: Option<bool>,
        /// Graph beam widths to measure, comma-separated (default: the stored default).
        #[arg(long, value_delimiter = ',')]
        ef: Vec<usize>,
        /// Graph build beam width.
        #[arg(long, default_value_t = GraphParams::default().ef_construction)]
        ef_construction: usize,
        /// Also measure a category filter: item i is in category i mod N, queries keep category 0.
        #[arg(long, default_value_t = 0)]
        categories: usize,
    },
    /// Time ALS training on a ratings file (seconds per iteration, as JSON); see scripts/bench-als.sh.
    BenchAls(BenchAlsArgs),
}

#[derive(Args, Debug, Clone)]
struct IngestArgs {
    /// Interaction log: a path or s3://bucket/key. CSV/TSV (header optional), JSON lines
    /// (Amazon reviews) or parquet (flat columns named like CSV headers); gzip is detected. Headerless column order: [ingest] columns in the config.
    #[arg(long)]
    ratings: String,
    /// Product catalog: a path or s3://bucket/key. CSV/TSV with a header, or JSON lines (Amazon metadata).
    #[arg(long)]
    catalog: Option<String>,
    /// Process again even if the input is unchanged.
    #[arg(long)]
    force: bool,
}

#[derive(Args, Debug, Clone)]
struct StageArgs {
    /// Processed data folder (default: the one data/processed/LATEST names).
    #[arg(long)]
    data: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
struct ModelArgs {
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
    #[arg(long, default_value = "binary")]
    confidence: String,
    /// Vector index: auto picks a graph from 50,000 items, sign bits from 8,192, else a plain scan.
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
struct TuneArgs {
    /// How ratings become ALS confidence: binary, rating or log.
    #[arg(long, default_value = "binary")]
    confidence: String,
    /// Processed data folder (default: the one data/processed/LATEST names).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Where to write the chosen parameters (default: <out_dir>/tuned.json).
    #[arg(long)]
    out: Option<PathBuf>,
    /// ALS factor counts to try.
    #[arg(long, value_delimiter = ',', default_values_t = shopai_batch::evaluate::Grid::default().factors)]
    factors: Vec<usize>,
    /// Regularization values to try.
    #[arg(long, value_delimiter = ',', default_values_t = shopai_batch::evaluate::Grid::default().regularization)]
    regularization: Vec<f32>,
    /// Alpha values to try.
    #[arg(long, value_delimiter = ',', default_values_t = shopai_batch::evaluate::Grid::default().alpha)]
    alpha: Vec<f32>,
    /// Content-similarity weights to try (the ALS weight is 1).
    #[arg(long, value_delimiter = ',', default_values_t = shopai_batch::evaluate::Grid::default().vector)]
    w_vector: Vec<f32>,
    /// Popularity weights to try.
    #[arg(long, value_delimiter = ',', default_values_t = shopai_batch::evaluate::Grid::default().popularity)]
    w_popularity: Vec<f32>,
    /// Item-to-item (EASE) weights to try.
    #[arg(long, value_delimiter = ',', default_values_t = shopai_batch::evaluate::Grid::default().item)]
    w_item: Vec<f32>,
    /// ALS weights to try in the fusion.
    #[arg(long, value_delimiter = ',', default_values_t = shopai_batch::evaluate::Grid::default().collab)]
    w_collab: Vec<f32>,
    /// EASE λ values to try (empty list: no item-to-item source).
    #[arg(long, value_delimiter = ',', default_values_t = shopai_batch::evaluate::Grid::default().ease_lambda)]
    ease_lambda: Vec<f32>,
    /// Only choose a fusion whose validation coverage@10 is at least this fraction of ALS-only's.
    #[arg(long, default_value_t = shopai_batch::evaluate::Grid::default().min_relative_coverage)]
    min_relative_coverage: f64,
    /// Popularity half-lives in days to try (0 = plain counts).
    #[arg(long, value_delimiter = ',', default_values_t = shopai_batch::evaluate::Grid::default().half_life_days)]
    half_life_days: Vec<f32>,
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
struct EvaluateArgs {
    /// Processed data folder (default: the one data/processed/LATEST names).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Parameters from `shopai tune` (default: <out_dir>/tuned.json; built-in defaults if absent).
    #[arg(long)]
    tuned: Option<PathBuf>,
    /// Hashing-embedder dimensions.
    #[arg(long, default_value_t = 256)]
    dims: usize,
}

#[derive(Args, Debug)]
struct BuildArgs {
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
    #[command(flatten)]
    model: ModelArgs,
}

#[derive(Args, Debug)]
struct EvaluateSearchArgs {
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
    #[arg(long, value_enum, default_value_t = shopai_batch::searcheval::Gain::Exponential)]
    gain: shopai_batch::searcheval::Gain,
    /// Smallest grade that counts as relevant for recall@10.
    #[arg(long, default_value_t = 1.0)]
    relevance_threshold: f64,
    /// Full report with per-query rankings (default: <out_dir>/search_eval.json).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    ingest: IngestArgs,
    /// Output bundle path.
    #[arg(long, default_value = "out/bundle.bin")]
    out: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
    /// Skip the ALS grid: use the given ALS parameters and tune only the fusion weights.
    #[arg(long)]
    quick_tune: bool,
}

#[derive(Args, Debug)]
struct QueryArgs {
    /// Bundle file.
    #[arg(long)]
    bundle: PathBuf,
    #[command(subcommand)]
    what: QueryKind,
}

#[derive(Subcommand, Debug)]
enum QueryKind {
    /// Semantic search by text (embedded with the bundle's own embedder).
    Search {
        /// Query text.
        #[arg(long)]
        text: String,
        /// Number of results (at most 100).
        #[arg(long, default_value_t = 10)]
        top_k: usize,
        /// Keep only these categories (repeatable).
        #[arg(long)]
        category: Vec<String>,
    },
    /// Recommendations for a known user and/or a session history.
    Recommend {
        /// A user id known to the bundle.
        #[arg(long)]
        user: Option<String>,
        /// Comma-separated product ids the shopper interacted with.
        #[arg(long, value_delimiter = ',')]
        history: Vec<String>,
        /// Number of results (at most 100).
        #[arg(long, default_value_t = 10)]
        top_k: usize,
        /// Keep items from the history in the results.
        #[arg(long)]
        include_seen: bool,
        /// Keep only these categories (repeatable).
        #[arg(long)]
        category: Vec<String>,
    },
    /// Answer a JSON file `{"search": [...], "recommend": [...]}` of requests.
    Batch {
        /// Requests file.
        #[arg(long)]
        requests: PathBuf,
    },
}

#[derive(Args, Debug)]
struct BenchAlsArgs {
    /// Ratings file (any format `ingest` reads); every pair becomes a 1 in the binary matrix.
    #[arg(long)]
    ratings: PathBuf,
    /// Latent factors.
    #[arg(long, default_value_t = 64)]
    factors: usize,
    /// Iterations.
    #[arg(long, default_value_t = 15)]
    iterations: usize,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Regularization.
    #[arg(long, default_value_t = 0.05)]
    regularization: f32,
    /// Alpha.
    #[arg(long, default_value_t = 1.0)]
    alpha: f32,
}

#[derive(Args, Debug)]
struct SynthArgs {
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

fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
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

fn main() {
    let cli = Cli::parse();
    log::set_json(cli.json);
    if let Err(e) = run(cli) {
        if log::is_json() {
            eprintln!("{}", serde_json::json!({"level": "error", "msg": format!("{e:#}")}));
        } else {
            eprintln!("error: {e:#}");
        }
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    let progress = !cli.quiet && !cli.json && std::io::stderr().is_terminal();
    // No bar drawn: long steps print a progress line every few seconds instead.
    shopai_batch::heartbeat::set_enabled(!progress && (cli.json || !cli.quiet));
    let config = || Config::load(cli.config.as_deref());
    match cli.command {
        Command::Ingest(a) => {
            let cfg = config()?;
            print_json(&ingest(&cfg, &a, progress)?)
        }
        Command::Eda(a) => {
            let cfg = config()?;
            let dir = pipeline::resolve_processed(&cfg, a.data.as_deref())?;
            let out = cfg.paths.out_dir.clone();
            let e = pipeline::eda(&dir, &out)?;
            log::info(
                "wrote EDA report",
                serde_json::json!({"html": out.join("eda.html"), "json": out.join("eda.json")}),
            );
            print_json(
                &serde_json::json!({"interactions": e.interactions, "users": e.users, "items": e.items, "sparsity": e.sparsity, "report": out.join("eda.html")}),
            )
        }
        Command::Split(a) => {
            let cfg = config()?;
            let dir = pipeline::resolve_processed(&cfg, a.data.as_deref())?;
            print_json(&pipeline::split(&dir)?)
        }
        Command::Build(a) => {
            let mut bc = build::BuildConfig {
                out: a.out.clone(),
                dims: a.model.dims,
                als: als_config(&a.model)?,
                fusion: FusionWeights::default(),
                progress,
                eval: None,
                ease: None,
                popularity_half_life_days: None,
                confidence: shopai_batch::dataset::Confidence::parse(&a.model.confidence)?,
                index: index_options(&a.model),
                search: Default::default(),
            };
            if let Some(t) = &a.tuned {
                let tuned = read_tuned(t)?;
                bc = tuned.apply(&bc);
            }
            if let Some(e) = &a.eval {
                bc.eval = Some(eval_headline(e)?);
            }
            if let Some(p) = &a.search_tuned {
                let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
                let r: shopai_batch::searcheval::SearchEvalReport = serde_json::from_str(&text)
                    .with_context(|| format!("parsing {} (write it with `shopai evaluate-search`)", p.display()))?;
                bc.search = r.chosen;
            }
            let cfg = config()?;
            let (mut data, hash, ledger) = match (&a.ratings, &a.catalog) {
                (Some(r), _) => {
                    let (d, h, l) =
                        build::dataset_from_raw(r, a.catalog.as_deref(), &a.out.with_extension("quarantine.jsonl"))?;
                    (d, h, Some(l))
                }
                (None, Some(c)) => {
                    let (d, h, l) = build::dataset_from_catalog(c)?;
                    (d, h, Some(l))
                }
                (None, None) => {
                    let dir = pipeline::resolve_processed(&cfg, a.data.as_deref())?;
                    let p = pipeline::load_processed(&dir)?;
                    let version = dir.file_name().map(|v| v.to_string_lossy().into_owned()).unwrap_or_default();
                    (shopai_batch::dataset::Dataset::new(&p.table, &p.catalog), version, None)
                }
            };
            pipeline::attach_vectors(&cfg, &mut data, progress)?;
            print_json(&build::run(&data, &hash, &bc, ledger)?)
        }
        Command::EvaluateSearch(a) => {
            let cfg = config()?;
            let bundle = query::load_bundle(&a.bundle)?;
            let view = bundle.view();
            let set = shopai_batch::searcheval::read_labels(&view, &a.queries, &a.labels)?;
            let model = &view.manifest.embedding.model;
            let texts: Vec<String> = set.queries.iter().map(|q| q.1.clone()).collect();
            let vectors: Vec<Option<Vec<f32>>> = if model == shopai_core::HASH_MODEL {
                let e = shopai_core::HashEmbedder::new(view.vectors.dim);
                texts.iter().map(|t| Some(e.embed(t))).collect()
            } else {
                anyhow::ensure!(
                    cfg.embeddings.provider != "hash" && &cfg.embeddings.model == model,
                    "the bundle's vectors come from {model:?}: configure [embeddings] provider = \"openai\" and model = {model:?} (and openai.base_url) so queries are embedded the same way"
                );
                let (v, _) =
                    shopai_batch::openai::Embedder::new(pipeline::embed_config(&cfg))?.embed_all(&texts, |_| {})?;
                v.into_iter().map(|v| (!v.is_empty()).then_some(v)).collect()
            };
            anyhow::ensure!(
                a.relevance_threshold.is_finite() && a.relevance_threshold > 0.0,
                "--relevance-threshold must be > 0 (got {})",
                a.relevance_threshold
            );
            let scoring =
                shopai_batch::searcheval::Scoring { gain: a.gain, relevance_threshold: a.relevance_threshold };
            let report = shopai_batch::searcheval::evaluate_with(&view, &set, &vectors, scoring)?;
            let out = a.out.unwrap_or_else(|| cfg.paths.out_dir.join("search_eval.json"));
            build::write_atomic(&out, serde_json::to_string_pretty(&report)?.as_bytes())?;
            print_json(&report.summary(&out))
        }
        Command::Embed(a) => {
            let cfg = config()?;
            anyhow::ensure!(
                cfg.embeddings.provider != "hash",
                "embeddings.provider is \"hash\": nothing to call (set it to \"openai\" and openai.base_url)"
            );
            let dir = pipeline::resolve_processed(&cfg, a.data.as_deref())?;
            let p = pipeline::load_processed(&dir)?;
            let mut data = shopai_batch::dataset::Dataset::new(&p.table, &p.catalog);
            let stats = pipeline::attach_vectors(&cfg, &mut data, progress)?;
            print_json(
                &serde_json::json!({"model": cfg.embeddings.model, "dimensions": data.vectors.as_ref().map(|v| v.1), "stats": stats}),
            )
        }
        Command::Tune(a) => {
            let cfg = config()?;
            let dir = pipeline::resolve_processed(&cfg, a.data.as_deref())?;
            let mut exp = evaluate::Experiment::load(&dir)?;
            pipeline::attach_vectors(&cfg, &mut exp.data, progress)?;
            let grid = evaluate::Grid {
                factors: a.factors,
                regularization: a.regularization,
                alpha: a.alpha,
                vector: a.w_vector,
                popularity: a.w_popularity,
                item: a.w_item,
                collab: a.w_collab,
                ease_lambda: a.ease_lambda,
                half_life_days: a.half_life_days,
                min_relative_coverage: a.min_relative_coverage,
            };
            let mut base = base_config(a.dims, AlsConfig::default().iterations(a.iterations).seed(a.seed), progress);
            base.confidence = shopai_batch::dataset::Confidence::parse(&a.confidence)?;
            let tuned = evaluate::tune(&exp, &grid, &base, progress)?;
            let out = a.out.unwrap_or_else(|| cfg.paths.out_dir.join("tuned.json"));
            build::write_atomic(&out, serde_json::to_string_pretty(&tuned)?.as_bytes())?;
            log::info("wrote tuned parameters", serde_json::json!({"to": out}));
            print_json(&serde_json::json!({
                "factors": tuned.factors, "regularization": tuned.regularization, "alpha": tuned.alpha,
                "fusion": tuned.fusion, "val_ndcg_als": tuned.val_ndcg_als, "val_ndcg_fusion": tuned.val_ndcg_fusion,
                "trials": tuned.als_trials.len() + tuned.fusion_trials.len(), "out": out,
                "edges": tuned.edges,
            }))
        }
        Command::Evaluate(a) => {
            let cfg = config()?;
            let dir = pipeline::resolve_processed(&cfg, a.data.as_deref())?;
            let report = evaluate_stage(&cfg, &dir, a.tuned, a.dims, progress)?;
            print_json(&serde_json::json!({
                "headline_test_all_at_10": report.headline,
                "latency_us": report.latency_us,
                "index_recall_at_10": report.index_recall_at_10,
                "report": cfg.paths.out_dir.join("eval.html"),
            }))
        }
        Command::Run(a) => {
            let cfg = config()?;
            let s = ingest(&cfg, &a.ingest, progress)?;
            let dir = PathBuf::from(&s.dir);
            let e = pipeline::eda(&dir, &cfg.paths.out_dir)?;
            log::info("EDA", serde_json::json!({"report": cfg.paths.out_dir.join("eda.html"), "sparsity": e.sparsity}));
            let sp = pipeline::split(&dir)?;
            log::info("split", serde_json::json!({"rows": sp.rows}));
            let mut exp = evaluate::Experiment::load(&dir)?;
            pipeline::attach_vectors(&cfg, &mut exp.data, progress)?;
            let mut base = base_config(a.model.dims, als_config(&a.model)?, progress);
            base.confidence = shopai_batch::dataset::Confidence::parse(&a.model.confidence)?;
            let grid = if a.quick_tune {
                evaluate::Grid {
                    factors: vec![a.model.factors],
                    regularization: vec![a.model.regularization],
                    alpha: vec![a.model.alpha],
                    ..Default::default()
                }
            } else {
                evaluate::Grid::default()
            };
            let tuned = evaluate::tune(&exp, &grid, &base, progress)?;
            let tuned_path = cfg.paths.out_dir.join("tuned.json");
            build::write_atomic(&tuned_path, serde_json::to_string_pretty(&tuned)?.as_bytes())?;
            log::info("tuned", serde_json::json!({"fusion": tuned.fusion, "val_ndcg": tuned.val_ndcg_fusion}));
            let report = evaluate_stage(&cfg, &dir, Some(tuned_path), a.model.dims, progress)?;
            log::info("evaluated", serde_json::json!({"report": cfg.paths.out_dir.join("eval.html")}));
            let bc = build::BuildConfig {
                out: a.out,
                eval: Some(headline_json(&report)),
                index: index_options(&a.model),
                ..tuned.apply(&base_config(a.model.dims, tuned.als(), progress))
            };
            let b = build::run(&exp.data, &s.version, &bc, None)?;
            print_json(
                &serde_json::json!({"ingest": s, "split": sp.rows, "headline_test_all_at_10": report.headline, "bundle": b}),
            )
        }
        Command::Query(q) => {
            let bundle = query::load_bundle(&q.bundle)?;
            let mut scratch = Scratch::default();
            match q.what {
                QueryKind::Search { text, top_k, category } => {
                    let req = SearchRequest {
                        query: Some(text),
                        top_k: Some(top_k),
                        filters: Filters { category },
                        ..Default::default()
                    };
                    print_json(&answer_search(&bundle.view(), &req, None, &mut scratch)?)
                }
                QueryKind::Recommend { user, history, top_k, include_seen, category } => {
                    let req = RecommendRequest {
                        user_id: user,
                        history,
                        top_k: Some(top_k),
                        exclude_seen: Some(!include_seen),
                        filters: Filters { category },
                    };
                    print_json(&answer_recommend(&bundle.view(), &req, &mut scratch)?)
                }
                QueryKind::Batch { requests } => {
                    let text = std::fs::read_to_string(&requests)
                        .with_context(|| format!("reading {}", requests.display()))?;
                    let set: query::RequestSet =
                        serde_json::from_str(&text).with_context(|| format!("parsing {}", requests.display()))?;
                    print_json(&query::answer_all(&bundle, &set)?)
                }
            }
        }
        Command::Inspect { bundle } => print_json(query::load_bundle(&bundle)?.manifest()),
        Command::Synth(s) => match s.scale {
            Some(n) => {
                let r = synth::write_scale(&s.out, n, s.seed)?;
                print_json(&r)
            }
            None => {
                let (items, users, ratings) = synth::write(&s.out, s.items, s.users, s.per_user, s.seed)?;
                print_json(&serde_json::json!({"out": s.out, "items": items, "users": users, "ratings": ratings}))
            }
        },
        Command::Config => print_json(&config()?),
        Command::ServeEmbeddings { model_dir, addr } => {
            let model = shopai_batch::local_model::LocalModel::load(&model_dir)?;
            shopai_batch::serve::run(model, &addr)
        }
        Command::BenchSearch { base, queries, dim, limit, out, index, refine, ef, ef_construction, categories } => {
            let opts =
                IndexOptions { kind: index, refine, graph: GraphParams { ef_construction, ..GraphParams::default() } };
            let rows =
                shopai_batch::benchsearch::run(&base, &queries, dim, limit, out.as_deref(), &opts, &ef, categories)?;
            for r in rows {
                println!("{}", serde_json::to_string(&r)?);
            }
            Ok(())
        }
        Command::BenchAls(a) => {
            let bytes = shopai_batch::ingest::maybe_gunzip(
                std::fs::read(&a.ratings).with_context(|| format!("reading {}", a.ratings.display()))?,
            )?;
            let read = shopai_batch::ingest::read_ratings(&bytes, &Default::default())?;
            let data = shopai_batch::dataset::Dataset::new(&read.table, &[]);
            let x = data.binary_matrix(&data.interactions);
            let cfg = AlsConfig::default()
                .factors(a.factors)
                .iterations(a.iterations)
                .regularization(a.regularization)
                .alpha(a.alpha);
            let pool = rayon::ThreadPoolBuilder::new().num_threads(a.threads).build()?;
            let mut per = Vec::new();
            let started = std::time::Instant::now();
            let mut last = started;
            pool.install(|| {
                shopai_core::als::train(&x, &cfg, |_| {
                    per.push(last.elapsed().as_secs_f64());
                    last = std::time::Instant::now();
                })
            })?;
            let total = started.elapsed().as_secs_f64();
            let mut sorted = per.clone();
            sorted.sort_by(f64::total_cmp);
            print_json(&serde_json::json!({
                "impl": "shopai", "users": x.rows(), "items": x.cols, "nnz": x.nnz(), "factors": a.factors,
                "threads": a.threads, "iterations": a.iterations, "fit_s": total,
                "s_per_iter_mean": total / a.iterations.max(1) as f64, "s_per_iter_median": sorted.get(sorted.len() / 2),
                "s_per_iter_min": sorted.first(),
            }))
        }
    }
}

fn base_config(dims: usize, als: AlsConfig, progress: bool) -> build::BuildConfig {
    build::BuildConfig {
        out: PathBuf::new(),
        dims,
        als,
        fusion: FusionWeights::default(),
        progress,
        eval: None,
        ease: None,
        popularity_half_life_days: None,
        confidence: Default::default(),
        index: Default::default(),
        search: Default::default(),
    }
}

fn read_tuned(path: &std::path::Path) -> Result<evaluate::Tuned> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {} (write it with `shopai tune`)", path.display()))
}

/// The part of an evaluation report that goes into a bundle's manifest.
fn headline_json(r: &evaluate::EvalReport) -> serde_json::Value {
    serde_json::json!({"protocol": "temporal 70/15/15, test, relevance all, K=10", "metrics": r.headline, "val_ndcg_at_10": r.tuned.val_ndcg_fusion})
}

fn eval_headline(path: &std::path::Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(
        serde_json::json!({"protocol": "temporal 70/15/15, test, relevance all, K=10", "metrics": v["headline"], "val_ndcg_at_10": v["tuned"]["val_ndcg_fusion"]}),
    )
}

fn evaluate_stage(
    cfg: &Config,
    dir: &std::path::Path,
    tuned: Option<PathBuf>,
    dims: usize,
    progress: bool,
) -> Result<evaluate::EvalReport> {
    let mut exp = evaluate::Experiment::load(dir)?;
    pipeline::attach_vectors(cfg, &mut exp.data, progress)?;
    let path = tuned.unwrap_or_else(|| cfg.paths.out_dir.join("tuned.json"));
    let tuned = if path.exists() {
        read_tuned(&path)?
    } else {
        log::info("no tuned.json; evaluating built-in defaults", serde_json::json!({"looked_for": path}));
        evaluate::Tuned::defaults()
    };
    let report = evaluate::run(&exp, &tuned, &base_config(dims, tuned.als(), progress), progress)?;
    build::write_atomic(&cfg.paths.out_dir.join("eval.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    build::write_atomic(&cfg.paths.out_dir.join("eval.html"), evaluate::html(&report).as_bytes())?;
    Ok(report)
}

fn ingest(cfg: &Config, a: &IngestArgs, progress: bool) -> Result<pipeline::IngestSummary> {
    let input = pipeline::IngestInput {
        ratings: Location::parse(&a.ratings)?,
        catalog: a.catalog.as_deref().map(Location::parse).transpose()?,
        force: a.force,
        progress,
    };
    pipeline::ingest(cfg, &input)
}
