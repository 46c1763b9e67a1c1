//! `shopai`: the ShopAI batch CLI. Raw arguments (clap) → validated config → run.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use shopai_batch::config::Config;
use shopai_batch::storage::Location;
use shopai_batch::{build, log, pipeline, query, synth};
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
    /// Run ingest → eda → split → build.
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
}

#[derive(Args, Debug, Clone)]
struct IngestArgs {
    /// Interaction log: a path or s3://bucket/key. CSV/TSV (header optional), or JSON lines
    /// (Amazon reviews); gzip is detected. Headerless column order: [ingest] columns in the config.
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
}

#[derive(Args, Debug)]
struct BuildArgs {
    /// Raw interaction log (skips ingest; quarantined rows go to <out>.quarantine.jsonl).
    /// Without it, the processed data named by --data or data/processed/LATEST is used.
    #[arg(long)]
    ratings: Option<PathBuf>,
    /// Raw product catalog (with --ratings).
    #[arg(long, requires = "ratings")]
    catalog: Option<PathBuf>,
    /// Processed data folder.
    #[arg(long, conflicts_with = "ratings")]
    data: Option<PathBuf>,
    /// Output bundle path (written atomically).
    #[arg(long, default_value = "out/bundle.bin")]
    out: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
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
            let bc = build::BuildConfig {
                out: a.out.clone(),
                dims: a.model.dims,
                als: als_config(&a.model)?,
                fusion: FusionWeights::default(),
                progress,
            };
            let (data, hash, ledger) = match &a.ratings {
                Some(r) => {
                    let (d, h, l) =
                        build::dataset_from_raw(r, a.catalog.as_deref(), &a.out.with_extension("quarantine.jsonl"))?;
                    (d, h, Some(l))
                }
                None => {
                    let cfg = config()?;
                    let dir = pipeline::resolve_processed(&cfg, a.data.as_deref())?;
                    let p = pipeline::load_processed(&dir)?;
                    let version = dir.file_name().map(|v| v.to_string_lossy().into_owned()).unwrap_or_default();
                    (shopai_batch::dataset::Dataset::new(&p.table, &p.catalog), version, None)
                }
            };
            print_json(&build::run(&data, &hash, &bc, ledger)?)
        }
        Command::Run(a) => {
            let cfg = config()?;
            let s = ingest(&cfg, &a.ingest, progress)?;
            let dir = PathBuf::from(&s.dir);
            let e = pipeline::eda(&dir, &cfg.paths.out_dir)?;
            log::info("EDA", serde_json::json!({"report": cfg.paths.out_dir.join("eda.html"), "sparsity": e.sparsity}));
            let sp = pipeline::split(&dir)?;
            log::info("split", serde_json::json!({"rows": sp.rows}));
            let p = pipeline::load_processed(&dir)?;
            let data = shopai_batch::dataset::Dataset::new(&p.table, &p.catalog);
            let bc = build::BuildConfig {
                out: a.out,
                dims: a.model.dims,
                als: als_config(&a.model)?,
                fusion: FusionWeights::default(),
                progress,
            };
            let b = build::run(&data, &s.version, &bc, None)?;
            print_json(&serde_json::json!({"ingest": s, "split": sp.rows, "bundle": b}))
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
    }
}

fn ingest(cfg: &Config, a: &IngestArgs, progress: bool) -> Result<pipeline::IngestSummary> {
    let input = pipeline::IngestInput {
        ratings: Location::parse(&a.ratings)?,
        catalog: a.catalog.as_deref().map(Location::parse).transpose()?,
        force: a.force,
        publish: true,
        progress,
    };
    pipeline::ingest(cfg, &input)
}
