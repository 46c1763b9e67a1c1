//! `shopai`: the ShopAI batch CLI. Raw arguments (clap) → validated config → run.

mod build;
mod dataset;
mod ingest;
mod query;
mod synth;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use shopai_core::als::AlsConfig;
use shopai_core::service::{answer_recommend, answer_search, Filters, RecommendRequest, Scratch, SearchRequest};
use shopai_core::FusionWeights;
use std::io::IsTerminal;
use std::path::PathBuf;

/// ShopAI batch CLI: turn interaction logs and a catalog into a bundle, and query it.
///
/// Typical flow:
///   shopai synth --out data/synth                      # or bring your own CSVs
///   shopai build --ratings data/synth/ratings.csv --catalog data/synth/catalog.csv --out out/bundle.bin
///   shopai query --bundle out/bundle.bin search --text "waterproof boots"
///   shopai query --bundle out/bundle.bin recommend --history P00012,P00077
#[derive(Parser, Debug)]
#[command(name = "shopai", version, about, long_about, verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train ALS, embed product text and write a bundle.
    Build(BuildArgs),
    /// Answer search and recommendation requests from a bundle (prints JSON).
    Query(QueryArgs),
    /// Print a bundle's manifest (version, model, counts) as JSON.
    Inspect {
        /// Bundle file.
        bundle: PathBuf,
    },
    /// Write a small synthetic storefront (catalog.csv, ratings.csv) for demos and tests.
    Synth(SynthArgs),
}

#[derive(Args, Debug)]
struct BuildArgs {
    /// Interaction log: CSV/TSV (optionally gzip), with or without a header.
    /// Without a header the columns are userId,productId,rating,timestamp.
    #[arg(long)]
    ratings: PathBuf,
    /// Product catalog: CSV/TSV with a header naming an id column (title, category, description optional).
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Output bundle path (written atomically).
    #[arg(long, default_value = "out/bundle.bin")]
    out: PathBuf,
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
    /// Hide progress bars.
    #[arg(long)]
    quiet: bool,
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
    /// Output folder.
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
    /// Seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Build(a) => {
            anyhow::ensure!(a.dims >= 8, "--dims must be at least 8 (got {})", a.dims);
            anyhow::ensure!((1..=512).contains(&a.factors), "--factors must be in 1..=512 (got {})", a.factors);
            anyhow::ensure!(a.regularization >= 0.0 && a.alpha > 0.0, "--regularization must be ≥ 0 and --alpha > 0");
            let cfg = build::BuildConfig {
                ratings: a.ratings,
                catalog: a.catalog,
                out: a.out,
                dims: a.dims,
                als: AlsConfig::default()
                    .factors(a.factors)
                    .regularization(a.regularization)
                    .alpha(a.alpha)
                    .iterations(a.iterations)
                    .seed(a.seed),
                fusion: FusionWeights::default(),
                progress: !a.quiet && std::io::stderr().is_terminal(),
            };
            print_json(&build::run(&cfg)?)
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
        Command::Synth(s) => {
            let (items, users, ratings) = synth::write(&s.out, s.items, s.users, s.per_user, s.seed)?;
            print_json(&serde_json::json!({"out": s.out, "items": items, "users": users, "ratings": ratings}))
        }
    }
}
