//! `shopai build`: ratings + catalog → trained ALS + item vectors → one bundle file.

use crate::dataset::{Dataset, Row};
use crate::ingest::{self, RatingsOptions};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use shopai_core::als::{gram, train, AlsConfig};
use shopai_core::{BundleParts, FusionWeights, HashEmbedder, Manifest, QuantMatrix, HASH_MODEL};
use std::path::{Path, PathBuf};

/// Validated configuration of a build.
#[derive(Debug, Clone)]
pub struct BuildConfig {
    /// Where to write the bundle.
    pub out: PathBuf,
    /// Hashing-embedder dimensions.
    pub dims: usize,
    /// ALS hyper-parameters.
    pub als: AlsConfig,
    /// Fusion weights stored in the bundle.
    pub fusion: FusionWeights,
    /// Show progress bars.
    pub progress: bool,
    /// Evaluation summary to record in the manifest.
    pub eval: Option<serde_json::Value>,
    /// Item-to-item source: EASE λ and neighbours kept per item (None: no item-to-item section).
    pub ease: Option<(f32, usize)>,
    /// Popularity half-life in days (None: plain interaction counts).
    pub popularity_half_life_days: Option<f32>,
    /// How ratings become ALS interaction values.
    pub confidence: crate::dataset::Confidence,
    /// Vector index.
    pub index: crate::ann::IndexOptions,
    /// Hybrid search setting (from `shopai evaluate-search`).
    pub search: shopai_core::SearchWeights,
}

/// Popularity of each item over `rows`: plain counts, or counts decayed by age relative to the
/// newest row with the given half-life (a "trending" signal). A repeated (user, item) pair counts
/// once (its latest row), as in the protocol's binary matrix.
pub fn popularity(n_items: usize, rows: &[Row], half_life_days: Option<f32>) -> Vec<f32> {
    let rows = &crate::split::collapse(rows)[..];
    let mut p = vec![0f32; n_items];
    match half_life_days {
        None => rows.iter().for_each(|&(_, i, _, _)| p[i as usize] += 1.0),
        Some(h) => {
            let newest = rows.iter().map(|r| r.3).max().unwrap_or(0);
            let rate = std::f64::consts::LN_2 / (h as f64 * 86_400.0);
            rows.iter().for_each(|&(_, i, _, t)| p[i as usize] += (-(newest - t) as f64 * rate).exp() as f32);
        }
    }
    p
}

/// What a build did, printed as JSON.
#[derive(Debug, serde::Serialize)]
pub struct BuildSummary {
    /// Bundle path.
    pub out: String,
    /// Bundle version id.
    pub version: String,
    /// Bundle size in bytes.
    pub bytes: usize,
    /// Items.
    pub items: usize,
    /// Users.
    pub users: usize,
    /// Interactions trained on.
    pub interactions: usize,
    /// The source's row ledger, when built from raw files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger: Option<serde_json::Value>,
}

pub(crate) fn progress(enabled: bool, len: u64, what: &str) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

/// Write `bytes` to `path` atomically (temp file in the same folder, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

/// A dataset read straight from raw files (no versioned parquet), with its ledger.
/// Quarantined rows go to `quarantine` (JSON lines) when there are any.
pub fn dataset_from_raw(
    ratings: &Path,
    catalog: Option<&Path>,
    quarantine: &Path,
) -> Result<(Dataset, String, serde_json::Value)> {
    let read_file = |p: &Path| -> Result<Vec<u8>> {
        ingest::maybe_gunzip(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?)
    };
    let ratings_bytes = read_file(ratings)?;
    let read = ingest::read_ratings(&ratings_bytes, &RatingsOptions::default())
        .with_context(|| format!("parsing {}", ratings.display()))?;
    let (products, catalog_bytes) = match catalog {
        Some(p) => {
            let b = read_file(p)?;
            (ingest::read_catalog(&b).with_context(|| format!("parsing {}", p.display()))?.products, b)
        }
        None => (Vec::new(), Vec::new()),
    };
    anyhow::ensure!(
        !read.table.is_empty(),
        "{} has no valid interactions ({} rows quarantined)",
        ratings.display(),
        read.quarantined.len()
    );
    if !read.quarantined.is_empty() {
        let mut text = String::new();
        for q in &read.quarantined {
            text.push_str(&serde_json::to_string(q)?);
            text.push('\n');
        }
        write_atomic(quarantine, text.as_bytes())?;
    }
    let ledger = serde_json::json!({
        "input_rows": read.input_rows,
        "kept": read.table.len(),
        "duplicates": read.duplicates,
        "quarantined": read.quarantined.len(),
        "quarantine_file": (!read.quarantined.is_empty()).then(|| quarantine.display().to_string()),
    });
    Ok((Dataset::new(&read.table, &products), source_hash(&[&ratings_bytes, &catalog_bytes]), ledger))
}

/// A search-only dataset from a raw catalog alone (no interactions: recommendations fall back to
/// popularity, which is flat), with its ledger.
pub fn dataset_from_catalog(catalog: &Path) -> Result<(Dataset, String, serde_json::Value)> {
    let bytes =
        ingest::maybe_gunzip(std::fs::read(catalog).with_context(|| format!("reading {}", catalog.display()))?)?;
    let read = ingest::read_catalog(&bytes).with_context(|| format!("parsing {}", catalog.display()))?;
    anyhow::ensure!(
        !read.products.is_empty(),
        "{} has no valid products ({} lines quarantined)",
        catalog.display(),
        read.quarantined.len()
    );
    let ledger = serde_json::json!({
        "catalog_input_rows": read.input_rows,
        "products": read.products.len(),
        "merged": read.merged,
        "quarantined": read.quarantined.len(),
        "interactions": 0,
    });
    Ok((Dataset::new(&ingest::Interactions::default(), &read.products), source_hash(&[&[], &bytes]), ledger))
}

/// Build a bundle from all interactions of `data` and write it.
pub fn run(
    data: &Dataset,
    source_hash: &str,
    cfg: &BuildConfig,
    ledger: Option<serde_json::Value>,
) -> Result<BuildSummary> {
    let bytes = build_bundle(data, &data.interactions, cfg, source_hash)?;
    write_atomic(&cfg.out, &bytes)?;
    let manifest = shopai_core::Bundle::load(&bytes)?.manifest().clone();
    Ok(BuildSummary {
        out: cfg.out.display().to_string(),
        version: manifest.version,
        bytes: bytes.len(),
        items: data.item_ids.len(),
        users: data.user_ids.len(),
        interactions: data.interactions.len(),
        ledger,
    })
}

/// Hex SHA-256 over the inputs, in order.
pub fn source_hash(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// Train, embed and assemble a bundle from `train` interactions of `data`.
pub fn build_bundle(data: &Dataset, train_rows: &[Row], cfg: &BuildConfig, source_hash: &str) -> Result<Vec<u8>> {
    let matrix = data.matrix(train_rows, cfg.confidence);
    let pb = progress(cfg.progress, cfg.als.iterations as u64, "ALS");
    let model = train(&matrix, &cfg.als, |_| pb.inc(1)).context("training ALS")?;
    pb.finish_and_clear();

    let (embed_model, dims, vectors) = match &data.vectors {
        Some((model, dims, v)) => (model.clone(), *dims, v.clone()),
        None => {
            let embedder = HashEmbedder::new(cfg.dims);
            let mut v = vec![0f32; data.item_ids.len() * cfg.dims];
            for (text, out) in data.texts.iter().zip(v.chunks_mut(cfg.dims)) {
                embedder.embed_into(text, out);
            }
            (HASH_MODEL.to_string(), cfg.dims, v)
        }
    };

    let k = cfg.als.factors;
    let factors = QuantMatrix::from_f32(&model.item_factors, k);
    // Fold-in must see the factors the runtimes see: the Gram matrix is built from the dequantized ones.
    let mut deq = vec![0f32; model.item_factors.len()];
    for (i, out) in deq.chunks_mut(k).enumerate() {
        factors.view().dequantize_into(i, out);
    }
    let user_history: Vec<Vec<u32>> = (0..matrix.rows()).map(|u| matrix.row(u).0.to_vec()).collect();
    let now = chrono::Utc::now();
    let short: String = embed_model.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    let model_id = format!("als{k}-{short}-d{dims}");
    let manifest = Manifest {
        version: format!("{model_id}-{}", now.format("%Y%m%d")),
        model_id,
        created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        source_hash: source_hash.to_string(),
        counts: shopai_core::bundle::Counts { interactions: train_rows.len() as u64, ..Default::default() },
        embedding: shopai_core::bundle::EmbeddingInfo {
            model: embed_model,
            dimensions: dims as u32,
            quantization: "int8-centered-projection-preserving".into(),
        },
        als: shopai_core::bundle::AlsInfo {
            factors: k as u32,
            regularization: cfg.als.regularization,
            alpha: cfg.als.alpha,
            iterations: cfg.als.iterations as u32,
        },
        fusion: cfg.fusion,
        search: cfg.search.clone(),
        eval: cfg.eval.clone(),
        index: shopai_core::bundle::IndexInfo {
            ef_search: cfg.index.graph.ef_search as u32,
            ef_construction: cfg.index.graph.ef_construction as u32,
            builder: "instant-distance 0.6".into(),
            ..Default::default()
        },
        ..Manifest::default()
    };
    let (codes, vector_extras) = crate::ann::build_index(&vectors, dims, &cfg.index, cfg.progress)?;
    let parts = BundleParts {
        manifest,
        item_ids: data.item_ids.clone(),
        titles: data.titles.clone(),
        category_names: data.category_names.clone(),
        item_categories: data.item_categories.clone(),
        vectors: codes,
        vector_extras,
        factors,
        gram: gram(&deq, k, cfg.als.regularization),
        popularity: popularity(data.item_ids.len(), train_rows, cfg.popularity_half_life_days),
        user_ids: data.user_ids.clone(),
        user_history,
        lexical: Some(shopai_core::lexical::LexicalIndex::build(&data.texts)),
        item_neighbors: match cfg.ease {
            Some((lambda, k)) => crate::ease::neighbors(&matrix, lambda, k).unwrap_or_default(),
            None => Vec::new(),
        },
    };
    Ok(parts.to_bytes()?)
}
