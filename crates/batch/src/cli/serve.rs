//! Serving and measuring commands: query, inspect, serve-embeddings, bench-search, bench-als.

use super::print_json;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use shopai_batch::bench;
use shopai_batch::index::vectors::{GraphParams, IndexKind, IndexOptions};
use shopai_batch::local_model::{model::LocalModel, server};
use shopai_batch::query::{self, load_bundle};
use shopai_core::als::AlsConfig;
use shopai_core::service::{answer_recommend, answer_search, Filters, RecommendRequest, Scratch, SearchRequest};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct QueryArgs {
    /// Bundle file.
    #[arg(long)]
    bundle: PathBuf,
    #[command(subcommand)]
    what: QueryKind,
}

#[derive(Subcommand, Debug)]
pub enum QueryKind {
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
pub struct InspectArgs {
    /// Bundle file.
    bundle: PathBuf,
}

#[derive(Args, Debug)]
pub struct ServeEmbeddingsArgs {
    /// Folder with config.json, model.safetensors, tokenizer.json (scripts/fetch-model.sh).
    #[arg(long, env = "SHOPAI_MODEL_DIR")]
    model_dir: PathBuf,
    /// Address to listen on (port 0 picks a free one; the URL is printed).
    #[arg(long, default_value = "127.0.0.1:8090")]
    addr: String,
}

#[derive(Args, Debug)]
pub struct BenchSearchArgs {
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
}

#[derive(Args, Debug)]
pub struct BenchAlsArgs {
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

/// `shopai bench-recommend` arguments.
#[derive(Args, Debug)]
pub struct BenchRecommendArgs {
    /// The bundle (with stored shoppers' histories).
    #[arg(long)]
    bundle: PathBuf,
    /// Shoppers to time, spread evenly over the bundle's.
    #[arg(long, default_value_t = 2000)]
    users: usize,
    /// Rounds over them (the first is warm-up and not counted).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

/// `shopai bench-recommend`.
pub fn bench_recommend(a: BenchRecommendArgs) -> Result<()> {
    print_json(&bench::recommend::run(&a.bundle, a.users, a.rounds)?)
}

/// `shopai query`.
pub fn query(q: QueryArgs) -> Result<()> {
    let bundle = load_bundle(&q.bundle)?;
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
            let text = std::fs::read_to_string(&requests).with_context(|| format!("reading {}", requests.display()))?;
            let set: query::RequestSet =
                serde_json::from_str(&text).with_context(|| format!("parsing {}", requests.display()))?;
            print_json(&query::answer_all(&bundle, &set)?)
        }
    }
}

/// `shopai inspect`.
pub fn inspect(a: InspectArgs) -> Result<()> {
    print_json(load_bundle(&a.bundle)?.manifest())
}

/// `shopai serve-embeddings`.
pub fn serve_embeddings(a: ServeEmbeddingsArgs) -> Result<()> {
    server::run(LocalModel::load(&a.model_dir)?, &a.addr)
}

/// `shopai bench-search`: one JSON line per measured setting.
pub fn bench_search(a: BenchSearchArgs) -> Result<()> {
    let graph = GraphParams { ef_construction: a.ef_construction, ..GraphParams::default() };
    let opts = IndexOptions { kind: a.index, refine: a.refine, graph };
    let rows = bench::search::run(&a.base, &a.queries, a.dim, a.limit, a.out.as_deref(), &opts, &a.ef, a.categories)?;
    for r in rows {
        println!("{}", serde_json::to_string(&r)?);
    }
    Ok(())
}

/// `shopai bench-als`.
pub fn bench_als(a: BenchAlsArgs) -> Result<()> {
    let cfg = AlsConfig::default()
        .factors(a.factors)
        .iterations(a.iterations)
        .regularization(a.regularization)
        .alpha(a.alpha);
    print_json(&bench::als::run(&a.ratings, &cfg, a.threads)?)
}
