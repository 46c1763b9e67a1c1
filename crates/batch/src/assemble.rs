//! A dataset → a bundle's bytes: train ALS, embed item texts (unless a provider already did),
//! build the vector index, the lexical index, the item-to-item neighbours and the next-item
//! transitions, and assemble the
//! sections with their manifest. Training for `tune`/`evaluate` and `shopai build` alike. Item
//! factors trained elsewhere (`data::factors`, e.g. by Spark) replace the ALS training step; the
//! rest, fold-in's Gram matrix included, is the same.

use crate::config::Confidence;
use crate::data::dataset::{Dataset, Row};
use crate::data::factors::{trained_items, ItemFactors};
use crate::index::transitions::{self, TransitionConfig};
use crate::index::{ease, popularity::popularity, vectors};
use crate::io::progress;
use anyhow::{Context, Result};
use shopai_core::als::{gram, train, AlsConfig};
use shopai_core::search::Strategy;
use shopai_core::{BundleParts, FusionWeights, HashEmbedder, Manifest, QuantMatrix, HASH_MODEL};
use std::path::PathBuf;
use std::sync::Arc;

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
    /// Fusion weights per history-length segment (empty: `fusion` for every history).
    pub fusion_segments: Vec<shopai_core::FusionSegment>,
    /// Recency weighting of histories: half-life in distinct items (0: none; see
    /// `shopai_core::recommend::History`).
    pub history_half_life: f32,
    /// Show progress bars.
    pub progress: bool,
    /// Evaluation summary to record in the manifest.
    pub eval: Option<serde_json::Value>,
    /// Item-to-item source: EASE λ and neighbours kept per item (None: no item-to-item section).
    pub ease: Option<(f32, usize)>,
    /// Next-item source: how transitions are counted (None: no transitions section).
    pub transitions: Option<TransitionConfig>,
    /// Popularity half-life in days (None: plain interaction counts).
    pub popularity_half_life_days: Option<f32>,
    /// How ratings become ALS interaction values.
    pub confidence: Confidence,
    /// Vector index.
    pub index: vectors::IndexOptions,
    /// Hybrid search setting (from `shopai evaluate-search`).
    pub search: shopai_core::SearchWeights,
    /// Item factors trained elsewhere (`--als-factors`, e.g. Spark): used instead of training ALS.
    pub als_factors: Option<Arc<ItemFactors>>,
    /// `not_relevant` feedback the bundle applies (from `shopai ingest-feedback`).
    pub demotions: Vec<shopai_core::demote::Demotion>,
}

impl BuildConfig {
    /// Defaults around the given embedder size and ALS settings: default fusion weights, no
    /// EASE, plain popularity, binary confidence, automatic index, default search setting.
    pub fn new(dims: usize, als: AlsConfig, progress: bool) -> Self {
        Self {
            out: PathBuf::new(),
            dims,
            als,
            fusion: FusionWeights::default(),
            fusion_segments: Vec::new(),
            history_half_life: 0.0,
            progress,
            eval: None,
            ease: None,
            transitions: None,
            popularity_half_life_days: None,
            confidence: Default::default(),
            index: Default::default(),
            search: Default::default(),
            als_factors: None,
            demotions: Vec::new(),
        }
    }
}

/// Train, embed and assemble a bundle from `train` interactions of `data`.
pub fn build_bundle(data: &Dataset, train_rows: &[Row], cfg: &BuildConfig, source_hash: &str) -> Result<Vec<u8>> {
    let matrix = data.matrix(train_rows, cfg.confidence);
    let (item_factors, k, iterations) = match &cfg.als_factors {
        Some(f) => (f.align(&data.item_ids, &trained_items(data.item_ids.len(), train_rows))?, f.dim, 0),
        None => {
            let pb = progress::bar(cfg.progress, cfg.als.iterations as u64, "ALS");
            let model = train(&matrix, &cfg.als, |_| pb.inc(1)).context("training ALS")?;
            pb.finish_and_clear();
            (model.item_factors, cfg.als.factors, cfg.als.iterations as u32)
        }
    };

    let (embed_model, dims, vectors) = match &data.vectors {
        Some(v) => (v.model.clone(), v.dims, v.values.clone()),
        None => {
            let embedder = HashEmbedder::new(cfg.dims);
            let mut v = vec![0f32; data.item_ids.len() * cfg.dims];
            for (text, out) in data.texts.iter().zip(v.chunks_mut(cfg.dims)) {
                embedder.embed_into(text, out);
            }
            (HASH_MODEL.to_string(), cfg.dims, v)
        }
    };

    let factors = QuantMatrix::from_f32(&item_factors, k);
    // Fold-in must see the factors the runtimes see: the Gram matrix is built from the dequantized ones.
    let mut deq = vec![0f32; item_factors.len()];
    for (i, out) in deq.chunks_mut(k).enumerate() {
        factors.view().dequantize_into(i, out);
    }
    // Each known user's items (those in the training matrix), oldest first: the latest drive the
    // next-item source.
    let timelines = transitions::timelines(matrix.rows(), train_rows);
    let user_history =
        transitions::sequences_in(&timelines, train_rows, |u, i| matrix.row(u as usize).0.binary_search(&i).is_ok());
    let now = chrono::Utc::now();
    let short: String = embed_model.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    // "ext": the factors were trained elsewhere (their iteration count is then recorded as 0).
    let ext = if cfg.als_factors.is_some() { "ext" } else { "" };
    let model_id = format!("als{k}{ext}-{short}-d{dims}");
    let manifest = Manifest {
        version: format!("{model_id}-{}", now.format("%Y%m%d-%H%M%S")),
        model_id,
        created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        source_hash: source_hash.to_string(),
        counts: shopai_core::bundle::Counts { interactions: train_rows.len() as u64, ..Default::default() },
        embedding: shopai_core::bundle::EmbeddingInfo {
            model: embed_model,
            dimensions: dims as u32,
            request_dimensions: data.vectors.as_ref().and_then(|v| v.requested_dimensions),
            quantization: "int8-centered-projection-preserving".into(),
        },
        als: shopai_core::bundle::AlsInfo {
            factors: k as u32,
            regularization: cfg.als.regularization,
            alpha: cfg.als.alpha,
            iterations,
        },
        fusion: cfg.fusion,
        fusion_segments: cfg.fusion_segments.clone(),
        history_half_life: cfg.history_half_life,
        search: cfg.search,
        eval: cfg.eval.clone(),
        demotions: cfg.demotions.clone(),
        index: shopai_core::bundle::IndexInfo {
            ef_search: cfg.index.graph.ef_search as u32,
            ef_construction: cfg.index.graph.ef_construction as u32,
            builder: "instant-distance 0.6".into(),
            ..Default::default()
        },
        ..Manifest::default()
    };
    let (codes, vector_extras) = vectors::build_index(&vectors, dims, &cfg.index, cfg.progress)?;
    let mut parts = BundleParts {
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
            Some((lambda, k)) => ease::neighbors(&matrix, lambda, k).unwrap_or_default(),
            None => Vec::new(),
        },
        item_next: match cfg.transitions {
            Some(t) => transitions::transitions_in(data.item_ids.len(), &timelines, train_rows, t),
            None => Vec::new(),
        },
    };
    let bytes = parts.to_bytes()?;
    if cfg.index.kind == vectors::IndexKind::Auto {
        return guard_index(&mut parts, bytes, &vectors, dims, &cfg.index);
    }
    Ok(bytes)
}

/// `--index auto` keeps the index it chose by catalog size only where it keeps recall@10 within
/// [`vectors::INDEX_RECALL_SLACK`] of the int8 scan on the bundle's own items: a graph at the
/// configured search beam, else at twice or four times that (stored as the bundle's `ef_search`),
/// else sign bits; sign bits (chosen, or in the graph's place), else the plain scan. What was
/// measured and decided is logged.
fn guard_index(
    parts: &mut BundleParts,
    bytes: Vec<u8>,
    values: &[f32],
    dims: usize,
    opts: &vectors::IndexOptions,
) -> Result<Vec<u8>> {
    let bytes = match parts.vector_extras.graph {
        Some(_) => match guard_graph(parts, bytes, values, dims, opts)? {
            Some(kept) => return Ok(kept),
            None => {
                // Coded again: without a graph the bundle gets sign bits and the int4 residual.
                let signs = vectors::IndexOptions { kind: vectors::IndexKind::Signs, refine: None, ..*opts };
                let (codes, extras) = vectors::build_index(values, dims, &signs, false)?;
                parts.vectors = codes;
                parts.vector_extras = extras;
                parts.to_bytes()?
            }
        },
        None => bytes,
    };
    if parts.vector_extras.signs.is_empty() {
        return Ok(bytes);
    }
    let (scan, probes) = vectors::recall_at_10(&bytes, values, dims, &[(Strategy::Coarse, 0)])?;
    let signs = probes.first().copied().unwrap_or(0.0);
    let fields = serde_json::json!({"recall_at_10_signs": signs, "recall_at_10_scan": scan,
        "slack": vectors::INDEX_RECALL_SLACK});
    if scan - signs <= vectors::INDEX_RECALL_SLACK {
        crate::io::log::info("index auto: sign bits kept", fields);
        return Ok(bytes);
    }
    // Not a warning: sparse (hashed) vectors meet this on every build.
    crate::io::log::info("index auto: the plain scan (sign bits would lose recall@10)", fields);
    // The scan reads the same codes and residual: only the sign bits go.
    parts.vector_extras.signs.clear();
    Ok(parts.to_bytes()?)
}

/// The graph part of [`guard_index`]: the bundle with the graph kept (at the first beam width
/// that keeps recall), or `None` when none does.
fn guard_graph(
    parts: &mut BundleParts,
    bytes: Vec<u8>,
    values: &[f32],
    dims: usize,
    opts: &vectors::IndexOptions,
) -> Result<Option<Vec<u8>>> {
    let base = opts.graph.ef_search.max(1);
    let checks = vectors::recall_checks(&bytes, values, dims, &[base, base * 2, base * 4])?;
    for &check in &checks {
        let ef = check.ef_search;
        if check.keeps_recall() {
            crate::io::log::info(
                "index auto: graph kept",
                serde_json::json!({"ef_search": ef, "recall_at_10_graph": check.graph, "recall_at_10_scan": check.scan}),
            );
            if ef == base {
                return Ok(Some(bytes));
            }
            parts.manifest.index.ef_search = ef as u32;
            return Ok(Some(parts.to_bytes()?));
        }
    }
    crate::io::log::warn(
        "index auto: graph dropped for sign bits and the scan (it lost recall@10)",
        serde_json::json!({"checks": checks, "slack": vectors::INDEX_RECALL_SLACK}),
    );
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--index auto` picks sign bits from 1,024 items and keeps them only where the coarse pass
    /// keeps recall@10: dense clustered vectors (what a text model gives) keep them; sparse
    /// hashed text vectors, whose signs say little, fall back to the plain scan.
    #[test]
    fn auto_keeps_sign_bits_only_where_they_keep_recall() {
        let (n, dim) = (2_000, 64);
        assert!(n >= vectors::SIGNS_MIN_ITEMS);
        let mut rng = shopai_core::math::SplitMix64::new(11);
        let centers: Vec<f32> = (0..40 * dim).map(|_| rng.next_f32() - 0.5).collect();
        let dense: Vec<f32> = (0..n)
            .flat_map(|i| {
                let row: Vec<f32> = centers[(i % 40) * dim..(i % 40 + 1) * dim]
                    .iter()
                    .map(|c| c + 0.2 * (rng.next_f32() - 0.5))
                    .collect();
                let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
                row.into_iter().map(move |x| x / norm)
            })
            .collect();
        let words = ["red", "blue", "mug", "boot", "lamp", "desk", "wool", "steel", "kids", "garden", "tea", "oak"];
        let e = HashEmbedder::new(dim);
        let hashed: Vec<f32> = (0..n)
            .flat_map(|i| e.embed(&format!("{} {} {}", words[i % 12], words[i / 12 % 12], words[i / 144 % 12])))
            .collect();
        let opts = vectors::IndexOptions::default();
        for (values, keeps) in [(&dense, true), (&hashed, false)] {
            let mut parts = vectors::parts_for_tests(values, dim, &opts);
            assert!(!parts.vector_extras.signs.is_empty(), "auto picks sign bits at {n} items");
            let bytes = parts.to_bytes().expect("bundle");
            let measured = vectors::recall_at_10(&bytes, values, dim, &[(Strategy::Coarse, 0)]).expect("recall");
            let kept = guard_index(&mut parts, bytes, values, dim, &opts).expect("guard");
            assert_eq!(!parts.vector_extras.signs.is_empty(), keeps, "recall@10 scan, signs: {measured:?}");
            let served = shopai_core::Bundle::load(&kept).expect("load");
            assert_eq!(served.view().index.signs.is_empty(), !keeps);
        }
    }
}
