//! The bundle: one versioned, checksummed, zero-copy file that every runtime loads.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! 0   magic  b"SHOPAIBN"
//! 8   format version u32          12  section count u32
//! 16  total length u64            24  CRC-32 of the section table u32, reserved u32
//! 32  section table: count × { kind u32, reserved u32, offset u64, length u64, crc32 u32, reserved u32 }
//! ..  sections, each starting on a 64-byte boundary
//! ```
//!
//! Loading checks magic, version, lengths and checksums, then hands out typed slices into the
//! original bytes: no per-item parsing, so a fresh edge instance answers at once.

use crate::error::{corrupt, Error, Result};
use crate::quant::{QuantMatrix, QuantView};
use serde::{Deserialize, Serialize};

/// The eight magic bytes every bundle starts with.
pub const MAGIC: [u8; 8] = *b"SHOPAIBN";
/// The format version this build writes.
pub const FORMAT_VERSION: u32 = 2;
/// The oldest format version this build reads (v1 bundles have no vector mean and no index
/// sections; they read exactly as before).
pub const MIN_FORMAT_VERSION: u32 = 1;
/// Every section starts on a multiple of this.
pub const SECTION_ALIGN: usize = 64;
/// Zero-copy loading needs the bytes to start on this alignment (for `f32`/`u32` slices).
pub const REQUIRED_ALIGN: usize = 4;

const HEADER_LEN: usize = 32;
const ENTRY_LEN: usize = 32;

/// The kinds of section a bundle may hold. Unknown kinds are skipped, so newer writers can add
/// sections without a format bump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum SectionKind {
    /// JSON [`Manifest`].
    Manifest = 1,
    /// Product ids (string table).
    ItemIds = 2,
    /// Item indices sorted by product id, for binary search.
    ItemIdOrder = 3,
    /// Product titles (string table).
    Titles = 4,
    /// Category names (string table).
    CategoryNames = 5,
    /// Per-item category ids (CSR).
    ItemCategories = 6,
    /// int8 item vectors, row-major.
    Vectors = 7,
    /// One f32 scale per item vector.
    VectorScales = 8,
    /// int8 ALS item factors, row-major.
    Factors = 9,
    /// One f32 scale per item factor row.
    FactorScales = 10,
    /// `YᵀY + λI` (factors × factors f32), for fold-in.
    Gram = 11,
    /// Popularity score per item (f32).
    Popularity = 12,
    /// Known user ids (string table).
    UserIds = 13,
    /// User indices sorted by user id.
    UserIdOrder = 14,
    /// Per-user history of item indices (CSR).
    UserHistory = 15,
    /// Item-to-item neighbours (CSR of item indices; optional).
    ItemNeighbors = 16,
    /// Weights of [`SectionKind::ItemNeighbors`], aligned with its values (f32; optional).
    ItemNeighborWeights = 17,
    /// Lexical index: sorted vocabulary (string table; optional).
    LexTerms = 18,
    /// Lexical index: per-term postings of item indices (CSR).
    LexPostings = 19,
    /// Lexical index: term frequency per posting (u32, aligned with the postings).
    LexTf = 20,
    /// Lexical index: terms per item (u32).
    LexDocLen = 21,
    /// Mean subtracted from the item vectors before coding (f32 × dim; optional, v2).
    VectorMean = 22,
    /// Sign bits of the centered item vectors (u64 words per row; optional).
    VectorSigns = 23,
    /// int4 residual codes of the item vectors (packed nibbles; optional).
    VectorRefine = 24,
    /// One f32 scale per row of [`SectionKind::VectorRefine`].
    VectorRefineScales = 25,
    /// HNSW layer 0: 24-bit neighbour item indices (optional).
    GraphZero = 26,
    /// HNSW upper layers: 24-bit neighbour graph ids.
    GraphUpper = 27,
    /// HNSW: nodes per upper layer (u32).
    GraphLayerSizes = 28,
    /// HNSW: item of each graph id (u32).
    GraphPidItems = 29,
    /// Next-item transitions: per item, the items that followed it in training sequences (CSR of
    /// item indices; optional).
    ItemNext = 30,
    /// Weights of [`SectionKind::ItemNext`], aligned with its values (f32; optional).
    ItemNextWeights = 31,
}

/// Section kinds this reader knows (the largest kind's number).
const SECTION_KINDS: usize = 31;

impl SectionKind {
    const ALL: [SectionKind; SECTION_KINDS] = [
        Self::Manifest,
        Self::ItemIds,
        Self::ItemIdOrder,
        Self::Titles,
        Self::CategoryNames,
        Self::ItemCategories,
        Self::Vectors,
        Self::VectorScales,
        Self::Factors,
        Self::FactorScales,
        Self::Gram,
        Self::Popularity,
        Self::UserIds,
        Self::UserIdOrder,
        Self::UserHistory,
        Self::ItemNeighbors,
        Self::ItemNeighborWeights,
        Self::LexTerms,
        Self::LexPostings,
        Self::LexTf,
        Self::LexDocLen,
        Self::VectorMean,
        Self::VectorSigns,
        Self::VectorRefine,
        Self::VectorRefineScales,
        Self::GraphZero,
        Self::GraphUpper,
        Self::GraphLayerSizes,
        Self::GraphPidItems,
        Self::ItemNext,
        Self::ItemNextWeights,
    ];

    fn from_u32(v: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|k| *k as u32 == v)
    }

    /// Human-readable name, used in errors.
    pub fn name(self) -> &'static str {
        match self {
            Self::Manifest => "manifest",
            Self::ItemIds => "item ids",
            Self::ItemIdOrder => "item id order",
            Self::Titles => "titles",
            Self::CategoryNames => "category names",
            Self::ItemCategories => "item categories",
            Self::Vectors => "vectors",
            Self::VectorScales => "vector scales",
            Self::Factors => "ALS factors",
            Self::FactorScales => "ALS factor scales",
            Self::Gram => "gram matrix",
            Self::Popularity => "popularity",
            Self::UserIds => "user ids",
            Self::UserIdOrder => "user id order",
            Self::UserHistory => "user history",
            Self::ItemNeighbors => "item neighbours",
            Self::ItemNeighborWeights => "item neighbour weights",
            Self::LexTerms => "lexical terms",
            Self::LexPostings => "lexical postings",
            Self::LexTf => "lexical term frequencies",
            Self::LexDocLen => "lexical document lengths",
            Self::VectorMean => "vector mean",
            Self::VectorSigns => "vector signs",
            Self::VectorRefine => "vector refinement",
            Self::VectorRefineScales => "vector refinement scales",
            Self::GraphZero => "graph layer 0",
            Self::GraphUpper => "graph upper layers",
            Self::GraphLayerSizes => "graph layer sizes",
            Self::GraphPidItems => "graph ids",
            Self::ItemNext => "next items",
            Self::ItemNextWeights => "next item weights",
        }
    }
}

/// Counts recorded in the manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Catalog items.
    pub items: u32,
    /// Known users (with stored history).
    pub users: u32,
    /// Distinct categories.
    pub categories: u32,
    /// Interactions the model was trained on.
    pub interactions: u64,
}

/// Which embedder produced the item vectors; queries must use the same.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingInfo {
    /// Model name, e.g. `hash-v1`, `text-embedding-3-large`, `all-MiniLM-L6-v2`.
    pub model: String,
    /// Vector dimensions.
    pub dimensions: u32,
    /// The `dimensions` parameter the product vectors were requested with (OpenAI's shortened
    /// `text-embedding-3-*` vectors); a runtime embedding a query must ask for the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_dimensions: Option<u32>,
    /// Quantization scheme of the stored vectors.
    pub quantization: String,
}

/// ALS hyper-parameters the factors were trained with (fold-in needs them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlsInfo {
    /// Latent factors.
    pub factors: u32,
    /// L2 regularization λ (already added to the stored Gram matrix).
    pub regularization: f32,
    /// Confidence scaling: confidence = alpha × interaction value.
    pub alpha: f32,
    /// Training iterations.
    pub iterations: u32,
}

/// Weights of the score sources in the fused recommendation score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FusionWeights {
    /// Weight of content similarity to the history.
    pub vector: f32,
    /// Weight of the ALS score.
    pub collab: f32,
    /// Weight of popularity.
    pub popularity: f32,
    /// Weight of the item-to-item neighbour score (0 when the bundle has no neighbours).
    #[serde(default)]
    pub item: f32,
    /// Weight of the next-item score: what followed the history's latest items in training
    /// sequences (0 when the bundle has no transitions; not written when 0, so manifests without
    /// it keep their bytes).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub next: f32,
    /// Weight of content similarity for items with few interactions (the content z-score scaled
    /// by `1 / (1 + interactions)`, [`crate::recommend::cold_factor`]): how much more the text
    /// counts where the collaborative sources know little. Not written when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cold: f32,
}

/// Fusion weights for the histories of up to `up_to` distinct items that no earlier segment
/// takes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FusionSegment {
    /// Largest history length (distinct catalog items) the segment takes.
    pub up_to: u32,
    /// The weights.
    pub weights: FusionWeights,
}

/// The history-length segments `shopai tune` fits weights for: 1 item, 2–4, 5 and more.
pub const FUSION_SEGMENTS: [u32; 3] = [1, 4, u32::MAX];

impl Manifest {
    /// The fusion weights for a history of `history_len` distinct catalog items: the first
    /// segment that takes it, else [`Manifest::fusion`].
    pub fn fusion_for(&self, history_len: usize) -> FusionWeights {
        fusion_for(self.fusion, &self.fusion_segments, history_len)
    }
}

/// [`Manifest::fusion_for`] over given weights and segments (what evaluation calls).
pub fn fusion_for(default: FusionWeights, segments: &[FusionSegment], history_len: usize) -> FusionWeights {
    segments.iter().find(|s| history_len <= s.up_to as usize).map_or(default, |s| s.weights)
}

fn is_zero(x: &f32) -> bool {
    *x == 0.0
}

impl Default for FusionWeights {
    fn default() -> Self {
        Self { vector: 0.3, collab: 1.0, popularity: 0.1, item: 0.0, next: 0.0, cold: 0.0 }
    }
}

/// How search combines the vector and lexical (BM25) rankings. Serialized as the manifest's
/// strings `"weighted"` and `"rrf"`, so bundles written before the enum read (and re-write) the
/// same bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// Inner product with the query vector + `lexical` × BM25 / the query's best BM25.
    #[default]
    Weighted,
    /// Reciprocal-rank fusion (k = [`crate::search::RRF_K`]) of the candidates' vector and BM25
    /// rankings.
    Rrf,
    /// BM25 alone for text queries, whatever vector comes with them (so runtimes do not fetch
    /// one): chosen when lexical search beats every fusion on the bundle's labelled queries. A
    /// query without text still searches by its vector.
    Lexical,
}

/// How search combines the vector and lexical (BM25) scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SearchWeights {
    /// Weight of the BM25 score (normalized by the query's best BM25 score); the vector score
    /// has weight 1. 0 disables lexical scoring when the query has a vector.
    pub lexical: f32,
    /// Weighted sum or reciprocal-rank fusion; chosen by `shopai evaluate-search`.
    #[serde(default)]
    pub mode: SearchMode,
}

impl Default for SearchWeights {
    fn default() -> Self {
        Self { lexical: 0.3, mode: SearchMode::Weighted }
    }
}

/// How the vector index was built (see [`crate::index`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IndexInfo {
    /// `flat`, `flat+signs` or `hnsw`.
    pub kind: String,
    /// Whether the int4 residual is stored.
    pub refine: bool,
    /// Default beam width of the graph search.
    pub ef_search: u32,
    /// Beam width the graph was built with.
    pub ef_construction: u32,
    /// What built the graph, e.g. `instant-distance 0.6`.
    pub builder: String,
    /// Graph neighbour slots per item on layer 0 (0 without a graph).
    pub degree0: u32,
    /// Graph neighbour slots per node on the upper layers.
    pub degree_upper: u32,
}

/// The bundle's JSON manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Version id, `{model_id}-{yyyymmdd-hhmmss}` (UTC build time).
    pub version: String,
    /// Model id (what produced the bundle).
    pub model_id: String,
    /// RFC 3339 build time (supplied by the writer; core reads no clock).
    pub created_at: String,
    /// Hash of the source data.
    pub source_hash: String,
    /// Counts.
    pub counts: Counts,
    /// Embedding model and quantization.
    pub embedding: EmbeddingInfo,
    /// ALS hyper-parameters.
    pub als: AlsInfo,
    /// Fusion weights for recommendations.
    pub fusion: FusionWeights,
    /// Fusion weights for histories of a given length, where tuning found them better than
    /// [`Manifest::fusion`] (see [`Manifest::fusion_for`]); absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fusion_segments: Vec<FusionSegment>,
    /// Recency weighting of a history in the ALS fold-in, the content centroid and the
    /// item-to-item sum: the half-life in distinct items counted from the latest (the latest
    /// weighs 1, the one `h` places back ½; see [`crate::recommend::History`]). 0: every item
    /// weighs the same (not written, so manifests without it keep their bytes).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub history_half_life: f32,
    /// Hybrid search weights.
    #[serde(default)]
    pub search: SearchWeights,
    /// Mean terms per item in the lexical index (0 without one).
    #[serde(default)]
    pub lexical_avg_doc_len: f32,
    /// Terms in the lexical index (0 without one).
    #[serde(default)]
    pub lexical_terms: u32,
    /// Evaluation summary written by `shopai evaluate`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval: Option<serde_json::Value>,
    /// Vector index parameters (v2; default: flat).
    #[serde(default)]
    pub index: IndexInfo,
    /// Training-time reference distributions for drift checks (written by `shopai build`,
    /// read by `shopai drift`); absent in older bundles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<serde_json::Value>,
    /// Products shoppers marked `not_relevant` (from feedback), for a query or a user; search and
    /// recommendations leave them out there. Absent when empty, so bundles without demotions
    /// are byte-for-byte what they were.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub demotions: Vec<crate::demote::Demotion>,
}

/// Everything a bundle holds, in owned form: what the writer takes.
#[derive(Debug, Clone, Default)]
pub struct BundleParts {
    /// Manifest; counts and dimensions are filled in by [`BundleParts::to_bytes`].
    pub manifest: Manifest,
    /// Product ids, one per item.
    pub item_ids: Vec<String>,
    /// Titles, one per item.
    pub titles: Vec<String>,
    /// Category names.
    pub category_names: Vec<String>,
    /// Category ids per item.
    pub item_categories: Vec<Vec<u32>>,
    /// Quantized item vectors.
    pub vectors: QuantMatrix,
    /// Quantized ALS item factors.
    pub factors: QuantMatrix,
    /// `YᵀY + λI`, row-major, factors × factors.
    pub gram: Vec<f32>,
    /// Popularity per item.
    pub popularity: Vec<f32>,
    /// Known user ids.
    pub user_ids: Vec<String>,
    /// Item indices each known user interacted with.
    pub user_history: Vec<Vec<u32>>,
    /// Item-to-item neighbours `(item, weight)` per item; empty for none.
    pub item_neighbors: Vec<Vec<(u32, f32)>>,
    /// Next-item transitions `(item, weight)` per item; empty for none.
    pub item_next: Vec<Vec<(u32, f32)>>,
    /// BM25 index over product text; `None` for none.
    pub lexical: Option<crate::lexical::LexicalIndex>,
    /// Vector mean, sign bits, int4 residual and graph (all optional).
    pub vector_extras: crate::index::VectorExtras,
}

fn sorted_order(ids: &[String]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..ids.len() as u32).collect();
    order.sort_by(|&a, &b| ids[a as usize].cmp(&ids[b as usize]));
    order
}

fn string_table(strings: &[String]) -> Vec<u8> {
    let mut offsets = Vec::with_capacity(strings.len() + 1);
    let mut blob = Vec::new();
    offsets.push(0u32);
    for s in strings {
        blob.extend_from_slice(s.as_bytes());
        offsets.push(blob.len() as u32);
    }
    let mut out = bytemuck::cast_slice::<u32, u8>(&offsets).to_vec();
    out.extend_from_slice(&blob);
    out
}

fn csr(rows: &[Vec<u32>]) -> Vec<u8> {
    let mut words = Vec::with_capacity(rows.len() + 1 + rows.iter().map(Vec::len).sum::<usize>());
    let mut acc = 0u32;
    words.push(0);
    for r in rows {
        acc += r.len() as u32;
        words.push(acc);
    }
    for r in rows {
        words.extend_from_slice(r);
    }
    le_words(&words)
}

fn le_words<T: bytemuck::Pod>(v: &[T]) -> Vec<u8> {
    // Every supported target is little-endian (x86_64, aarch64, wasm32); asserted below.
    bytemuck::cast_slice::<T, u8>(v).to_vec()
}

const _: () = assert!(cfg!(target_endian = "little"), "ShopAI bundles are little-endian");
const _: () = assert!(HEADER_LEN == 32 && ENTRY_LEN == 32);

impl BundleParts {
    /// Check that the parts agree with each other.
    pub fn validate(&self) -> Result<()> {
        let n = self.item_ids.len();
        let check = |ok: bool, field: &'static str, reason: String| {
            if ok {
                Ok(())
            } else {
                Err(Error::InvalidArgument { field, reason })
            }
        };
        check(self.titles.len() == n, "titles", format!("{} titles for {n} items", self.titles.len()))?;
        check(
            self.item_categories.len() == n,
            "item_categories",
            format!("{} rows for {n} items", self.item_categories.len()),
        )?;
        check(self.vectors.rows() == n, "vectors", format!("{} rows for {n} items", self.vectors.rows()))?;
        check(self.factors.rows() == n, "factors", format!("{} rows for {n} items", self.factors.rows()))?;
        let k = self.factors.dim;
        check(self.gram.len() == k * k, "gram", format!("{} values for {k} factors", self.gram.len()))?;
        check(self.popularity.len() == n, "popularity", format!("{} values", self.popularity.len()))?;
        check(
            self.user_history.len() == self.user_ids.len(),
            "user_history",
            format!("{} rows for {} users", self.user_history.len(), self.user_ids.len()),
        )?;
        let ncat = self.category_names.len() as u32;
        check(
            self.item_categories.iter().flatten().all(|&c| c < ncat),
            "item_categories",
            "category id out of range".into(),
        )?;
        check(
            self.user_history.iter().flatten().all(|&i| (i as usize) < n),
            "user_history",
            "item index out of range".into(),
        )?;
        if let Some(lex) = &self.lexical {
            check(lex.doc_len.len() == n, "lexical", format!("{} document lengths for {n} items", lex.doc_len.len()))?;
            check(lex.postings.len() == lex.terms.len(), "lexical", "postings and terms differ in number".into())?;
            check(lex.terms.windows(2).all(|w| w[0] < w[1]), "lexical", "terms are not sorted and unique".into())?;
            check(
                lex.postings.iter().flatten().all(|&(i, _)| (i as usize) < n),
                "lexical",
                "posting out of range".into(),
            )?;
        }
        let x = &self.vector_extras;
        let dim = self.vectors.dim;
        check(x.mean.is_empty() || x.mean.len() == dim, "vector_extras", "mean length differs from dimensions".into())?;
        check(
            x.signs.is_empty() || x.signs.len() == n * dim.div_ceil(64),
            "vector_extras",
            "sign bits do not cover every item".into(),
        )?;
        if let Some(r) = &x.refine {
            check(
                r.scales.len() == n && r.codes.len() == n * dim.div_ceil(2),
                "vector_extras",
                "refinement codes do not cover every item".into(),
            )?;
        }
        if let Some(g) = &x.graph {
            check(n <= crate::index::GRAPH_MAX_ITEMS, "vector_extras", "too many items for a graph".into())?;
            graph_view(g).validate(n).map_err(|reason| Error::InvalidArgument { field: "vector_extras", reason })?;
        }
        for (field, rows) in [("item_neighbors", &self.item_neighbors), ("item_next", &self.item_next)] {
            check(rows.is_empty() || rows.len() == n, field, format!("{} rows for {n} items", rows.len()))?;
            check(
                rows.iter().flatten().all(|&(i, w)| (i as usize) < n && w.is_finite()),
                field,
                "item out of range or weight not finite".into(),
            )?;
        }
        Ok(())
    }

    /// Serialize into the bundle format. Counts and dimensions in the manifest are set from the parts.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.validate()?;
        let mut manifest = self.manifest.clone();
        manifest.counts.items = self.item_ids.len() as u32;
        manifest.counts.users = self.user_ids.len() as u32;
        manifest.counts.categories = self.category_names.len() as u32;
        manifest.embedding.dimensions = self.vectors.dim as u32;
        manifest.als.factors = self.factors.dim as u32;
        manifest.lexical_avg_doc_len = self.lexical.as_ref().map_or(0.0, |l| l.avg_doc_len);
        manifest.lexical_terms = self.lexical.as_ref().map_or(0, |l| l.terms.len() as u32);
        let x = &self.vector_extras;
        manifest.index.refine = x.refine.is_some();
        manifest.index.kind = match (&x.graph, x.signs.is_empty()) {
            (Some(_), _) => "hnsw",
            (None, false) => "flat+signs",
            (None, true) => "flat",
        }
        .into();
        match &x.graph {
            Some(g) => {
                manifest.index.degree0 = g.degree0;
                manifest.index.degree_upper = g.degree_upper;
                manifest.index.ef_search = manifest.index.ef_search.max(1);
            }
            None => {
                let refine = manifest.index.refine;
                manifest.index =
                    IndexInfo { kind: std::mem::take(&mut manifest.index.kind), refine, ..IndexInfo::default() };
            }
        }
        let manifest_json = serde_json::to_vec(&manifest).map_err(|e| corrupt(e.to_string()))?;

        let mut sections: Vec<(SectionKind, Vec<u8>)> = vec![
            (SectionKind::Manifest, manifest_json),
            (SectionKind::ItemIds, string_table(&self.item_ids)),
            (SectionKind::ItemIdOrder, le_words(&sorted_order(&self.item_ids))),
            (SectionKind::Titles, string_table(&self.titles)),
            (SectionKind::CategoryNames, string_table(&self.category_names)),
            (SectionKind::ItemCategories, csr(&self.item_categories)),
            (SectionKind::Vectors, le_words(&self.vectors.codes)),
            (SectionKind::VectorScales, le_words(&self.vectors.scales)),
            (SectionKind::Factors, le_words(&self.factors.codes)),
            (SectionKind::FactorScales, le_words(&self.factors.scales)),
            (SectionKind::Gram, le_words(&self.gram)),
            (SectionKind::Popularity, le_words(&self.popularity)),
            (SectionKind::UserIds, string_table(&self.user_ids)),
            (SectionKind::UserIdOrder, le_words(&sorted_order(&self.user_ids))),
            (SectionKind::UserHistory, csr(&self.user_history)),
        ];
        for (rows, ids_kind, weights_kind) in [
            (&self.item_neighbors, SectionKind::ItemNeighbors, SectionKind::ItemNeighborWeights),
            (&self.item_next, SectionKind::ItemNext, SectionKind::ItemNextWeights),
        ] {
            if !rows.is_empty() {
                let ids: Vec<Vec<u32>> = rows.iter().map(|r| r.iter().map(|p| p.0).collect()).collect();
                let weights: Vec<f32> = rows.iter().flatten().map(|p| p.1).collect();
                sections.push((ids_kind, csr(&ids)));
                sections.push((weights_kind, le_words(&weights)));
            }
        }
        if !x.mean.is_empty() {
            sections.push((SectionKind::VectorMean, le_words(&x.mean)));
        }
        if !x.signs.is_empty() {
            sections.push((SectionKind::VectorSigns, le_words(&x.signs)));
        }
        if let Some(r) = &x.refine {
            sections.push((SectionKind::VectorRefine, r.codes.clone()));
            sections.push((SectionKind::VectorRefineScales, le_words(&r.scales)));
        }
        if let Some(g) = &x.graph {
            sections.push((SectionKind::GraphZero, g.zero.clone()));
            sections.push((SectionKind::GraphUpper, g.upper.clone()));
            sections.push((SectionKind::GraphLayerSizes, le_words(&g.layer_sizes)));
            sections.push((SectionKind::GraphPidItems, le_words(&g.pid_items)));
        }
        if let Some(lex) = &self.lexical {
            let ids: Vec<Vec<u32>> = lex.postings.iter().map(|p| p.iter().map(|x| x.0).collect()).collect();
            let tf: Vec<u32> = lex.postings.iter().flatten().map(|x| x.1).collect();
            sections.push((SectionKind::LexTerms, string_table(&lex.terms)));
            sections.push((SectionKind::LexPostings, csr(&ids)));
            sections.push((SectionKind::LexTf, le_words(&tf)));
            sections.push((SectionKind::LexDocLen, le_words(&lex.doc_len)));
        }

        Ok(assemble(FORMAT_VERSION, sections.iter().map(|(k, d)| (*k as u32, d.as_slice())).collect()))
    }
}

/// `a × b` for a section size derived from the manifest's counts. On a 32-bit target (wasm32) a
/// crafted manifest could wrap the product to the length a small section really has, pass every
/// check and panic on the first query; an overflow is corruption instead.
fn size(kind: SectionKind, a: usize, b: usize) -> Result<usize> {
    a.checked_mul(b).ok_or_else(|| corrupt(format!("{} section size {a} × {b} overflows", kind.name())))
}

/// The same bundle with another manifest; every other section (known or not) is copied as is.
/// The result is loaded before it is returned, so a manifest whose counts disagree with the
/// sections is an error.
pub fn replace_manifest(bytes: &[u8], manifest: &Manifest) -> Result<Vec<u8>> {
    Layout::parse(bytes)?;
    let json = serde_json::to_vec(manifest).map_err(|e| corrupt(e.to_string()))?;
    let sections: Vec<(u32, &[u8])> = (0..u32_at(bytes, 12) as usize)
        .map(|e| {
            let at = HEADER_LEN + e * ENTRY_LEN;
            let (kind, offset, len) =
                (u32_at(bytes, at), u64_at(bytes, at + 8) as usize, u64_at(bytes, at + 16) as usize);
            (kind, if kind == SectionKind::Manifest as u32 { &json[..] } else { &bytes[offset..offset + len] })
        })
        .collect();
    let out = assemble(u32_at(bytes, 8), sections);
    Layout::parse(&out)?;
    Ok(out)
}

/// Header (format `version`), section table and 64-byte-aligned sections, in the given order.
fn assemble(version: u32, sections: Vec<(u32, &[u8])>) -> Vec<u8> {
    let table_end = HEADER_LEN + ENTRY_LEN * sections.len();
    let mut offset = align_up(table_end);
    let mut table = Vec::with_capacity(ENTRY_LEN * sections.len());
    for (kind, data) in &sections {
        table.extend_from_slice(&kind.to_le_bytes());
        table.extend_from_slice(&0u32.to_le_bytes());
        table.extend_from_slice(&(offset as u64).to_le_bytes());
        table.extend_from_slice(&(data.len() as u64).to_le_bytes());
        table.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
        table.extend_from_slice(&0u32.to_le_bytes());
        offset = align_up(offset + data.len());
    }
    let total = offset;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    out.extend_from_slice(&(total as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&table).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&table);
    for (_, data) in &sections {
        out.resize(align_up(out.len()), 0);
        out.extend_from_slice(data);
    }
    out.resize(total, 0);
    out
}

fn align_up(x: usize) -> usize {
    x.div_ceil(SECTION_ALIGN) * SECTION_ALIGN
}

/// The total length a bundle's header declares, read from its first 24 bytes; `None` when `head`
/// is shorter or does not start with [`MAGIC`]. Not a validation (loading checks it against the
/// bytes): it lets a reader size its buffer before reading the rest, so the bytes are read once,
/// into their final place.
pub fn declared_len(head: &[u8]) -> Option<u64> {
    (head.len() >= 24 && head[..8] == MAGIC).then(|| u64_at(head, 16))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Where each section lives, and the parsed manifest. Small; computed once per load.
#[derive(Debug, Clone)]
pub struct Layout {
    ranges: [Option<(usize, usize)>; SECTION_KINDS + 1],
    manifest: Manifest,
}

/// Whether loading recomputes the checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checksums {
    Verify,
    Trust,
}

impl Layout {
    /// Validate `bytes` as a bundle and locate its sections.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        Self::parse_with(bytes, Checksums::Verify)
    }

    fn parse_with(bytes: &[u8], checksums: Checksums) -> Result<Self> {
        let verify = checksums == Checksums::Verify;
        if bytes.len() < 12 {
            if bytes.len() >= 8 && bytes[..8] != MAGIC {
                return Err(Error::NotABundle);
            }
            return Err(Error::Truncated { expected: HEADER_LEN as u64, actual: bytes.len() as u64 });
        }
        if bytes[..8] != MAGIC {
            return Err(Error::NotABundle);
        }
        let version = u32_at(bytes, 8);
        if !(MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(Error::IncompatibleFormat { found: version, min: MIN_FORMAT_VERSION, max: FORMAT_VERSION });
        }
        if bytes.len() < HEADER_LEN {
            return Err(Error::Truncated { expected: HEADER_LEN as u64, actual: bytes.len() as u64 });
        }
        let count = u32_at(bytes, 12) as usize;
        let total = u64_at(bytes, 16);
        if total != bytes.len() as u64 {
            if total > bytes.len() as u64 {
                return Err(Error::Truncated { expected: total, actual: bytes.len() as u64 });
            }
            return Err(corrupt(format!("header says {total} bytes, file has {}", bytes.len())));
        }
        let table_end = count
            .checked_mul(ENTRY_LEN)
            .and_then(|t| t.checked_add(HEADER_LEN))
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| corrupt(format!("section table of {count} entries does not fit")))?;
        let table = &bytes[HEADER_LEN..table_end];
        if verify && crc32fast::hash(table) != u32_at(bytes, 24) {
            return Err(corrupt("section table checksum mismatch"));
        }
        let mut ranges = [None; SECTION_KINDS + 1];
        for e in 0..count {
            let at = HEADER_LEN + e * ENTRY_LEN;
            let kind = u32_at(bytes, at);
            let offset = u64_at(bytes, at + 8);
            let len = u64_at(bytes, at + 16);
            let crc = u32_at(bytes, at + 24);
            let end = offset.checked_add(len).filter(|&end| end <= total);
            let Some(end) = end else {
                return Err(corrupt(format!("section {e} ({offset}+{len}) is out of bounds")));
            };
            if !(offset as usize).is_multiple_of(SECTION_ALIGN) {
                return Err(corrupt(format!("section {e} is not aligned")));
            }
            let data = &bytes[offset as usize..end as usize];
            let Some(kind) = SectionKind::from_u32(kind) else { continue };
            if verify && crc32fast::hash(data) != crc {
                return Err(corrupt(format!("{} section checksum mismatch", kind.name())));
            }
            ranges[kind as usize] = Some((offset as usize, end as usize));
        }
        let (ms, me) = ranges[SectionKind::Manifest as usize].ok_or(Error::MissingSection("manifest"))?;
        let manifest: Manifest =
            serde_json::from_slice(&bytes[ms..me]).map_err(|e| corrupt(format!("manifest is not valid JSON: {e}")))?;
        let layout = Self { ranges, manifest };
        // Structural checks: sizes agree with the manifest's counts, so accessors never go out of bounds.
        layout.view(bytes)?;
        Ok(layout)
    }

    fn section<'a>(&self, bytes: &'a [u8], kind: SectionKind) -> Result<&'a [u8]> {
        let (s, e) = self.ranges[kind as usize].ok_or(Error::MissingSection(kind.name()))?;
        Ok(&bytes[s..e])
    }

    fn words<'a, T: bytemuck::Pod>(&self, bytes: &'a [u8], kind: SectionKind) -> Result<&'a [T]> {
        let raw = self.section(bytes, kind)?;
        bytemuck::try_cast_slice(raw).map_err(|e| match e {
            bytemuck::PodCastError::TargetAlignmentGreaterAndInputNotAligned => {
                Error::Misaligned { required: REQUIRED_ALIGN }
            }
            _ => corrupt(format!("{} section has a partial element", kind.name())),
        })
    }

    /// Typed, zero-copy view over `bytes` (which must be the bytes this layout was parsed from).
    pub fn view<'a>(&'a self, bytes: &'a [u8]) -> Result<BundleView<'a>> {
        let m = &self.manifest;
        let n = m.counts.items as usize;
        let users = m.counts.users as usize;
        let ncat = m.counts.categories as usize;
        let dim = m.embedding.dimensions as usize;
        let k = m.als.factors as usize;
        let expect = |kind: SectionKind, got: usize, want: usize| {
            if got == want {
                Ok(())
            } else {
                Err(corrupt(format!("{} section holds {got} values, manifest implies {want}", kind.name())))
            }
        };
        let item_ids = StrTable::new(self.words(bytes, SectionKind::ItemIds)?, n, SectionKind::ItemIds)?;
        let titles = StrTable::new(self.words(bytes, SectionKind::Titles)?, n, SectionKind::Titles)?;
        let category_names =
            StrTable::new(self.words(bytes, SectionKind::CategoryNames)?, ncat, SectionKind::CategoryNames)?;
        let user_ids = StrTable::new(self.words(bytes, SectionKind::UserIds)?, users, SectionKind::UserIds)?;
        let item_categories = Csr::new(self.words(bytes, SectionKind::ItemCategories)?, n)?;
        let user_history = Csr::new(self.words(bytes, SectionKind::UserHistory)?, users)?;
        let item_order: &[u32] = self.words(bytes, SectionKind::ItemIdOrder)?;
        expect(SectionKind::ItemIdOrder, item_order.len(), n)?;
        let user_order: &[u32] = self.words(bytes, SectionKind::UserIdOrder)?;
        expect(SectionKind::UserIdOrder, user_order.len(), users)?;
        let vcodes: &[i8] = self.words(bytes, SectionKind::Vectors)?;
        expect(SectionKind::Vectors, vcodes.len(), size(SectionKind::Vectors, n, dim)?)?;
        let vscales: &[f32] = self.words(bytes, SectionKind::VectorScales)?;
        expect(SectionKind::VectorScales, vscales.len(), n)?;
        let fcodes: &[i8] = self.words(bytes, SectionKind::Factors)?;
        expect(SectionKind::Factors, fcodes.len(), size(SectionKind::Factors, n, k)?)?;
        let fscales: &[f32] = self.words(bytes, SectionKind::FactorScales)?;
        expect(SectionKind::FactorScales, fscales.len(), n)?;
        let gram: &[f32] = self.words(bytes, SectionKind::Gram)?;
        expect(SectionKind::Gram, gram.len(), size(SectionKind::Gram, k, k)?)?;
        let popularity: &[f32] = self.words(bytes, SectionKind::Popularity)?;
        expect(SectionKind::Popularity, popularity.len(), n)?;
        let weighted = |ids: SectionKind, weights: SectionKind| -> Result<Weighted<'a>> {
            if self.ranges[ids as usize].is_none() {
                return Ok(Weighted::default());
            }
            let c = Csr::new(self.words(bytes, ids)?, n)?;
            let w: &[f32] = self.words(bytes, weights)?;
            expect(weights, w.len(), c.values.len())?;
            Ok(Weighted { rows: Some(c), weights: w })
        };
        let item_neighbors = weighted(SectionKind::ItemNeighbors, SectionKind::ItemNeighborWeights)?;
        let item_next = weighted(SectionKind::ItemNext, SectionKind::ItemNextWeights)?;
        let lexical = match self.ranges[SectionKind::LexTerms as usize] {
            None => None,
            Some((s, e)) => {
                let postings_words: &[u32] = self.words(bytes, SectionKind::LexPostings)?;
                let n_terms = m.lexical_terms as usize;
                let terms = StrTable::new(&bytes[s..e], n_terms, SectionKind::LexTerms)?;
                let postings = Csr::new(postings_words, n_terms)?;
                let tf: &[u32] = self.words(bytes, SectionKind::LexTf)?;
                expect(SectionKind::LexTf, tf.len(), postings.values.len())?;
                let doc_len: &[u32] = self.words(bytes, SectionKind::LexDocLen)?;
                expect(SectionKind::LexDocLen, doc_len.len(), n)?;
                Some(LexicalView { terms, postings, tf, doc_len, avg_doc_len: m.lexical_avg_doc_len })
            }
        };
        let mean: &[f32] = match self.ranges[SectionKind::VectorMean as usize] {
            None => &[],
            Some(_) => self.words(bytes, SectionKind::VectorMean)?,
        };
        expect(SectionKind::VectorMean, mean.len(), if mean.is_empty() { 0 } else { dim })?;
        let mut index = crate::index::IndexView::default();
        if self.ranges[SectionKind::VectorSigns as usize].is_some() {
            index.signs = self.words(bytes, SectionKind::VectorSigns)?;
            index.sign_words = dim.div_ceil(64);
            expect(SectionKind::VectorSigns, index.signs.len(), size(SectionKind::VectorSigns, n, index.sign_words)?)?;
        }
        if self.ranges[SectionKind::VectorRefine as usize].is_some() {
            let codes: &[u8] = self.section(bytes, SectionKind::VectorRefine)?;
            expect(SectionKind::VectorRefine, codes.len(), size(SectionKind::VectorRefine, n, dim.div_ceil(2))?)?;
            let scales: &[f32] = self.words(bytes, SectionKind::VectorRefineScales)?;
            expect(SectionKind::VectorRefineScales, scales.len(), n)?;
            index.refine = Some((codes, scales));
        }
        if self.ranges[SectionKind::GraphZero as usize].is_some() {
            let g = crate::index::GraphView {
                degree0: m.index.degree0 as usize,
                degree_upper: m.index.degree_upper as usize,
                zero: self.section(bytes, SectionKind::GraphZero)?,
                upper: self.section(bytes, SectionKind::GraphUpper)?,
                layer_sizes: self.words(bytes, SectionKind::GraphLayerSizes)?,
                pid_items: self.words(bytes, SectionKind::GraphPidItems)?,
            };
            if n > 0 {
                g.validate(n).map_err(|e| corrupt(format!("graph: {e}")))?;
                index.graph = Some(g);
            }
        }
        Ok(BundleView {
            index,
            lexical,
            manifest: m,
            item_ids,
            item_order,
            titles,
            category_names,
            item_categories,
            vectors: QuantView { codes: vcodes, scales: vscales, dim, mean },
            factors: QuantView { codes: fcodes, scales: fscales, dim: k, mean: &[] },
            gram,
            popularity,
            user_ids,
            user_order,
            user_history,
            item_neighbors,
            item_next,
        })
    }

    /// The parsed manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
}

/// A table of strings: `n + 1` offsets followed by UTF-8 bytes.
#[derive(Debug, Clone, Copy)]
pub struct StrTable<'a> {
    offsets: &'a [u32],
    blob: &'a [u8],
}

impl<'a> StrTable<'a> {
    fn new(raw: &'a [u8], n: usize, kind: SectionKind) -> Result<Self> {
        let head = size(kind, n.saturating_add(1), 4)?;
        if raw.len() < head {
            return Err(corrupt(format!("{} section is too short for {n} strings", kind.name())));
        }
        let offsets: &[u32] =
            bytemuck::try_cast_slice(&raw[..head]).map_err(|_| Error::Misaligned { required: REQUIRED_ALIGN })?;
        Ok(Self { offsets, blob: &raw[head..] })
    }

    /// Number of strings.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Every string in order (see [`StrTable::get`]).
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// String `i`; empty if `i` is out of range or the stored bytes are not UTF-8.
    pub fn get(&self, i: usize) -> &'a str {
        let (Some(&s), Some(&e)) = (self.offsets.get(i), self.offsets.get(i + 1)) else { return "" };
        self.blob.get(s as usize..e as usize).and_then(|b| std::str::from_utf8(b).ok()).unwrap_or("")
    }

    /// Position of `key` using a permutation sorted by string value.
    pub fn find(&self, order: &[u32], key: &str) -> Option<u32> {
        let pos = order.binary_search_by(|&i| self.get(i as usize).cmp(key)).ok()?;
        Some(order[pos])
    }
}

/// Compressed sparse rows of `u32`: `n + 1` offsets followed by values, in one section.
#[derive(Debug, Clone, Copy)]
pub struct Csr<'a> {
    offsets: &'a [u32],
    values: &'a [u32],
}

impl<'a> Csr<'a> {
    fn new(words: &'a [u32], n: usize) -> Result<Self> {
        if words.len() <= n {
            return Err(corrupt("CSR section is too short"));
        }
        let (offsets, values) = words.split_at(n + 1);
        if offsets[n] as usize != values.len() {
            return Err(corrupt("CSR section's last offset does not match its length"));
        }
        Ok(Self { offsets, values })
    }

    /// Start and end of row `i` in the values (empty span when out of range).
    pub fn span(&self, i: usize) -> (usize, usize) {
        match (self.offsets.get(i), self.offsets.get(i + 1)) {
            (Some(&s), Some(&e)) if s <= e => (s as usize, e as usize),
            _ => (0, 0),
        }
    }

    /// Row `i`; empty when out of range or inconsistent.
    pub fn row(&self, i: usize) -> &'a [u32] {
        let (Some(&s), Some(&e)) = (self.offsets.get(i), self.offsets.get(i + 1)) else { return &[] };
        self.values.get(s as usize..e as usize).unwrap_or(&[])
    }
}

/// Per-item weighted item lists (a CSR of item indices and a weight per value): the EASE
/// neighbours, the next-item transitions. Empty when the bundle does not store them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Weighted<'a> {
    /// The item lists, when stored.
    pub rows: Option<Csr<'a>>,
    weights: &'a [f32],
}

impl<'a> Weighted<'a> {
    /// Whether the bundle stores these lists.
    pub fn is_present(&self) -> bool {
        self.rows.is_some()
    }

    /// Row `i` as `(item, weight)` pairs (empty when absent or out of range).
    pub fn row(&self, i: usize) -> impl Iterator<Item = (u32, f32)> + 'a {
        let (ids, weights): (&[u32], &[f32]) = match self.rows {
            Some(c) => {
                let (s, e) = c.span(i);
                (c.values.get(s..e).unwrap_or(&[]), self.weights.get(s..e).unwrap_or(&[]))
            }
            None => (&[], &[]),
        };
        ids.iter().copied().zip(weights.iter().copied())
    }
}

/// Typed slices into a loaded bundle. Cheap to make; every query function takes one.
#[derive(Debug, Clone, Copy)]
pub struct BundleView<'a> {
    /// The manifest.
    pub manifest: &'a Manifest,
    /// Product ids.
    pub item_ids: StrTable<'a>,
    item_order: &'a [u32],
    /// Titles.
    pub titles: StrTable<'a>,
    /// Category names.
    pub category_names: StrTable<'a>,
    /// Per-item category ids.
    pub item_categories: Csr<'a>,
    /// Item vectors.
    pub vectors: QuantView<'a>,
    /// ALS item factors.
    pub factors: QuantView<'a>,
    /// `YᵀY + λI`.
    pub gram: &'a [f32],
    /// Popularity per item.
    pub popularity: &'a [f32],
    /// Known user ids.
    pub user_ids: StrTable<'a>,
    user_order: &'a [u32],
    /// Per-user item history.
    pub user_history: Csr<'a>,
    /// Item-to-item neighbours (EASE), if the bundle has them.
    pub item_neighbors: Weighted<'a>,
    /// Next-item transitions, if the bundle has them.
    pub item_next: Weighted<'a>,
    /// BM25 index, if the bundle has one.
    pub lexical: Option<LexicalView<'a>>,
    /// Optional vector index parts (sign bits, int4 residual, graph).
    pub index: crate::index::IndexView<'a>,
}

fn graph_view(g: &crate::index::Graph) -> crate::index::GraphView<'_> {
    crate::index::GraphView {
        degree0: g.degree0 as usize,
        degree_upper: g.degree_upper as usize,
        zero: &g.zero,
        upper: &g.upper,
        layer_sizes: &g.layer_sizes,
        pid_items: &g.pid_items,
    }
}

/// A zero-copy BM25 index.
#[derive(Debug, Clone, Copy)]
pub struct LexicalView<'a> {
    /// Sorted vocabulary.
    pub terms: StrTable<'a>,
    /// Items per term.
    pub postings: Csr<'a>,
    /// Term frequency per posting.
    pub tf: &'a [u32],
    /// Terms per item.
    pub doc_len: &'a [u32],
    /// Mean terms per item.
    pub avg_doc_len: f32,
}

impl<'a> LexicalView<'a> {
    /// Index of `term` in the sorted vocabulary.
    pub fn term_index(&self, term: &str) -> Option<usize> {
        let (mut lo, mut hi) = (0, self.terms.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.terms.get(mid).cmp(term) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }
}

impl<'a> BundleView<'a> {
    /// Number of items.
    pub fn n_items(&self) -> usize {
        self.item_ids.len()
    }

    /// Item index of a product id.
    pub fn item_index(&self, product_id: &str) -> Option<u32> {
        self.item_ids.find(self.item_order, product_id)
    }

    /// User index of a user id.
    pub fn user_index(&self, user_id: &str) -> Option<u32> {
        self.user_ids.find(self.user_order, user_id)
    }

    /// Category id of a category name (linear; categories are few).
    pub fn category_index(&self, name: &str) -> Option<u32> {
        (0..self.category_names.len()).find(|&c| self.category_names.get(c) == name).map(|c| c as u32)
    }

    /// Neighbours of item `i` with their weights (empty when the bundle has none).
    pub fn neighbors_of(&self, i: usize) -> impl Iterator<Item = (u32, f32)> + 'a {
        self.item_neighbors.row(i)
    }

    /// Items that followed item `i` in training sequences, with their weights (empty when the
    /// bundle has no transitions).
    pub fn next_of(&self, i: usize) -> impl Iterator<Item = (u32, f32)> + 'a {
        self.item_next.row(i)
    }

    /// Category names of item `i`.
    pub fn categories_of(&self, i: usize) -> impl Iterator<Item = &'a str> + 'a {
        let names = self.category_names;
        self.item_categories.row(i).iter().map(move |&c| names.get(c as usize))
    }
}

/// Bytes with the alignment zero-copy loading needs, owned.
#[derive(Debug, Clone, Default)]
pub struct AlignedBytes {
    words: Vec<u64>,
    len: usize,
}

impl AlignedBytes {
    /// Copy `bytes` into aligned storage.
    pub fn copy_from(bytes: &[u8]) -> Self {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
        Self { words, len: bytes.len() }
    }
}

impl AsRef<[u8]> for AlignedBytes {
    fn as_ref(&self) -> &[u8] {
        &bytemuck::cast_slice::<u64, u8>(&self.words)[..self.len]
    }
}

/// A validated bundle over some byte storage: `&[u8]` (zero-copy), [`AlignedBytes`] (owned).
#[derive(Debug, Clone)]
pub struct Bundle<S: AsRef<[u8]>> {
    storage: S,
    layout: Layout,
}

impl<'a> Bundle<&'a [u8]> {
    /// Validate and borrow `bytes` without copying. They must be 4-byte aligned
    /// (`include_bytes!` in an aligned wrapper, a `Vec<u32>`, an mmap); otherwise use [`Bundle::load`].
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self> {
        Self::borrow(bytes, Checksums::Verify)
    }

    /// [`Bundle::from_bytes`] without recomputing the checksums, for bytes verified already: a
    /// bundle built into the edge component, verified by its build (recomputing them is much of a
    /// fresh edge instance's load of a large bundle, docs/EDGE.md). Every structural check still runs, so
    /// bytes that are not a bundle are refused and no query reads out of bounds; a byte changed
    /// inside a section goes unnoticed.
    pub fn from_verified_bytes(bytes: &'a [u8]) -> Result<Self> {
        Self::borrow(bytes, Checksums::Trust)
    }

    fn borrow(bytes: &'a [u8], checksums: Checksums) -> Result<Self> {
        if bytes.len() >= MAGIC.len() && bytes[..MAGIC.len()] != MAGIC {
            return Err(Error::NotABundle);
        }
        if !(bytes.as_ptr() as usize).is_multiple_of(REQUIRED_ALIGN) {
            return Err(Error::Misaligned { required: REQUIRED_ALIGN });
        }
        let layout = Layout::parse_with(bytes, checksums)?;
        Ok(Self { storage: bytes, layout })
    }
}

impl Bundle<AlignedBytes> {
    /// Validate bytes of any alignment, copying them once into aligned storage.
    pub fn load(bytes: &[u8]) -> Result<Self> {
        let storage = AlignedBytes::copy_from(bytes);
        let layout = Layout::parse(storage.as_ref())?;
        Ok(Self { storage, layout })
    }
}

impl<S: AsRef<[u8]>> Bundle<S> {
    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.layout.manifest
    }

    /// Typed view for the query functions.
    pub fn view(&self) -> BundleView<'_> {
        self.layout.view(self.storage.as_ref()).expect("layout was validated against these bytes at load")
    }

    /// Size of the bundle in bytes.
    pub fn len_bytes(&self) -> usize {
        self.storage.as_ref().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::fixture_bundle;
    use proptest::prelude::*;

    fn section_table(bytes: &[u8]) -> Vec<(SectionKind, usize, usize)> {
        let count = u32_at(bytes, 12) as usize;
        (0..count)
            .map(|e| {
                let at = HEADER_LEN + e * ENTRY_LEN;
                let kind = SectionKind::from_u32(u32_at(bytes, at)).expect("known kind");
                (kind, u64_at(bytes, at + 8) as usize, u64_at(bytes, at + 16) as usize)
            })
            .collect()
    }

    #[test]
    fn verified_bytes_skip_the_checksums_and_nothing_else() {
        let (bytes, _, _) = fixture_bundle(40, 8, 2);
        let aligned = AlignedBytes::copy_from(&bytes);
        let ok = Bundle::from_verified_bytes(aligned.as_ref()).expect("a good bundle");
        assert_eq!(ok.manifest(), Bundle::from_bytes(aligned.as_ref()).expect("verified").manifest());
        // A changed byte inside the last section: only the checksum can tell.
        let mut flipped = bytes.clone();
        let (_, off, len) = *section_table(&bytes).last().expect("sections");
        flipped[off + len - 1] ^= 0x01;
        let flipped = AlignedBytes::copy_from(&flipped);
        assert!(Bundle::from_bytes(flipped.as_ref()).is_err(), "recomputed: refused");
        assert!(Bundle::from_verified_bytes(flipped.as_ref()).is_ok(), "trusted: not noticed");
        // Structure is still checked.
        let truncated = AlignedBytes::copy_from(&bytes[..bytes.len() - 64]);
        assert!(matches!(Bundle::from_verified_bytes(truncated.as_ref()), Err(Error::Truncated { .. })));
        let not = AlignedBytes::copy_from(b"definitely not a bundle, just text");
        assert_eq!(Bundle::from_verified_bytes(not.as_ref()).err(), Some(Error::NotABundle));
    }

    #[test]
    fn declared_len_reads_the_header_only() {
        let (bytes, _, _) = fixture_bundle(40, 8, 2);
        assert_eq!(declared_len(&bytes[..24]), Some(bytes.len() as u64));
        assert_eq!(declared_len(&bytes), Some(bytes.len() as u64));
        assert_eq!(declared_len(&bytes[..23]), None, "too short to hold the length");
        let mut other = bytes.clone();
        other[0] ^= 1;
        assert_eq!(declared_len(&other), None, "no magic, no length");
    }

    #[test]
    fn replace_manifest_keeps_every_other_section() {
        let (bytes, _, _) = fixture_bundle(40, 8, 2);
        let mut m = Bundle::load(&bytes).expect("load").manifest().clone();
        assert!(m.reference.is_none());
        m.reference = Some(serde_json::json!({"ratings": {"4": 0.5}}));
        let out = replace_manifest(&bytes, &m).expect("replace");
        let b = Bundle::load(&out).expect("load replaced");
        assert_eq!(b.manifest(), &m);
        let (old, new) = (section_table(&bytes), section_table(&out));
        assert_eq!(old.len(), new.len());
        for ((k0, o0, l0), (k1, o1, l1)) in old.into_iter().zip(new) {
            assert_eq!(k0, k1);
            if k0 != SectionKind::Manifest {
                assert_eq!(bytes[o0..o0 + l0], out[o1..o1 + l1], "{}", k0.name());
            }
        }
        // Counts that disagree with the sections are refused.
        m.counts.items += 1;
        assert!(replace_manifest(&bytes, &m).is_err());
    }

    #[test]
    fn roundtrip_preserves_everything() {
        let (bytes, _, _) = fixture_bundle(40, 8, 2);
        let b = Bundle::load(&bytes).expect("load");
        let v = b.view();
        assert_eq!(v.n_items(), 40);
        assert_eq!(v.item_ids.get(7), "p7");
        assert_eq!(v.titles.get(39), "Product 39");
        assert_eq!(v.item_index("p23"), Some(23));
        assert_eq!(v.item_index("nope"), None);
        assert_eq!(v.user_index("u12"), Some(12));
        assert_eq!(v.categories_of(10).collect::<Vec<_>>(), vec!["cat0", "cat4"]);
        assert_eq!(v.next_of(39).collect::<Vec<_>>(), vec![(0, 0.7), (1, 0.3)]);
        assert_eq!(v.neighbors_of(0).count(), 3);
        assert_eq!(b.manifest().counts.items, 40);
        assert_eq!(b.manifest().embedding.dimensions, 8);
        // Sections are aligned, so the zero-copy path works on aligned storage.
        let aligned = AlignedBytes::copy_from(&bytes);
        let z = Bundle::from_bytes(aligned.as_ref()).expect("zero-copy");
        assert_eq!(z.view().item_ids.get(3), "p3");
        for (_, off, _) in section_table(&bytes) {
            assert_eq!(off % SECTION_ALIGN, 0);
        }
    }

    #[test]
    fn transitions_are_optional_and_a_zero_weight_is_not_written() {
        let (mut parts, _) = crate::testutil::fixture_parts(30, 8, 4);
        parts.item_next.clear();
        let bytes = parts.to_bytes().expect("bundle");
        let b = Bundle::load(&bytes).expect("load");
        assert!(!b.view().item_next.is_present());
        assert_eq!(b.view().next_of(3).count(), 0);
        assert!(section_table(&bytes).iter().all(|(k, _, _)| *k != SectionKind::ItemNext));
        // A manifest without a next-item weight is the manifest bundles had before it existed.
        let json = serde_json::to_string(&b.manifest().fusion).expect("json");
        assert!(!json.contains("next") && !json.contains("cold"), "{json}");
        let read: FusionWeights = serde_json::from_str(r#"{"vector":0.3,"collab":1,"popularity":0.1}"#).expect("old");
        assert_eq!((read.next, read.cold), (0.0, 0.0));
        parts.manifest.fusion.next = 0.5;
        let json = serde_json::to_string(&parts.manifest.fusion).expect("json");
        assert!(json.contains(r#""next":0.5"#), "{json}");
        // Transitions that name an item outside the catalog are refused at write time.
        parts.item_next = vec![vec![(99, 1.0)]; 30];
        assert!(parts.to_bytes().is_err());
    }

    #[test]
    fn fusion_weights_follow_the_history_length_segment() {
        let w = |x: f32| FusionWeights { vector: x, collab: 1.0, popularity: 0.0, item: 0.0, next: 0.0, cold: 0.0 };
        let mut m = Manifest { fusion: w(0.0), ..Manifest::default() };
        assert_eq!(m.fusion_for(3), w(0.0));
        assert!(!serde_json::to_string(&m).expect("json").contains("fusion_segments"));
        m.fusion_segments =
            vec![FusionSegment { up_to: 1, weights: w(1.0) }, FusionSegment { up_to: 4, weights: w(2.0) }];
        assert_eq!([0, 1, 2, 4, 5, 99].map(|n| m.fusion_for(n).vector), [1.0, 1.0, 2.0, 2.0, 0.0, 0.0]);
        let back: Manifest = serde_json::from_str(&serde_json::to_string(&m).expect("json")).expect("read");
        assert_eq!(back.fusion_segments, m.fusion_segments);
    }

    #[test]
    fn truncation_at_every_section_boundary_is_reported() {
        let (bytes, _, _) = fixture_bundle(30, 8, 4);
        let mut cuts = vec![0, 4, 8, 11, 12, 31, HEADER_LEN, HEADER_LEN + ENTRY_LEN];
        for (_, off, len) in section_table(&bytes) {
            cuts.extend([off, off + len / 2, off + len]);
        }
        for cut in cuts.into_iter().filter(|&c| c < bytes.len()) {
            let err = Bundle::load(&bytes[..cut]).expect_err("truncated must fail");
            assert!(matches!(err, Error::Truncated { .. }), "cut at {cut}: {err:?}");
        }
    }

    #[test]
    fn flipped_bit_in_each_section_is_reported() {
        let (bytes, _, _) = fixture_bundle(30, 8, 4);
        for (kind, off, len) in section_table(&bytes) {
            if len == 0 {
                continue;
            }
            let mut bad = bytes.clone();
            bad[off + len / 2] ^= 0x10;
            let err = Bundle::load(&bad).expect_err("corrupt must fail");
            assert_eq!(err, Error::Corrupt { what: format!("{} section checksum mismatch", kind.name()) });
        }
        let mut bad = bytes.clone();
        bad[HEADER_LEN + 9] ^= 1; // inside the section table
        assert!(matches!(Bundle::load(&bad), Err(Error::Corrupt { .. })));
    }

    #[test]
    fn wrong_magic_and_newer_version_are_distinct_errors() {
        let (bytes, _, _) = fixture_bundle(10, 4, 1);
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert_eq!(Bundle::load(&bad).unwrap_err(), Error::NotABundle);
        assert_eq!(Bundle::load(b"PK\x03\x04 this is a zip").unwrap_err(), Error::NotABundle);
        let mut newer = bytes.clone();
        newer[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        assert_eq!(
            Bundle::load(&newer).unwrap_err(),
            Error::IncompatibleFormat { found: FORMAT_VERSION + 1, min: MIN_FORMAT_VERSION, max: FORMAT_VERSION }
        );
        assert!(matches!(Bundle::load(&[]).unwrap_err(), Error::Truncated { .. }));
    }

    #[test]
    fn misaligned_zero_copy_is_an_error_not_ub() {
        let (bytes, _, _) = fixture_bundle(10, 4, 1);
        let mut shifted = vec![0u8; bytes.len() + 1];
        shifted[1..].copy_from_slice(&bytes);
        let slice = &shifted[1..];
        if !(slice.as_ptr() as usize).is_multiple_of(REQUIRED_ALIGN) {
            assert_eq!(Bundle::from_bytes(slice).unwrap_err(), Error::Misaligned { required: REQUIRED_ALIGN });
        }
        assert!(Bundle::load(slice).is_ok());
    }

    /// Re-write the manifest section (shifting the sections after it) with valid checksums.
    fn rewrite_manifest(bytes: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let table = section_table(bytes);
        let (kind, moff, mlen) = table[0];
        assert_eq!(kind, SectionKind::Manifest, "the writer puts the manifest first");
        let mut manifest: serde_json::Value = serde_json::from_slice(&bytes[moff..moff + mlen]).expect("manifest");
        edit(&mut manifest);
        let json = serde_json::to_vec(&manifest).expect("json");
        let mut bad = bytes[..moff].to_vec();
        bad.extend_from_slice(&json);
        bad.resize(align_up(bad.len()), 0);
        let shift = bad.len() as i64 - align_up(moff + mlen) as i64;
        bad.extend_from_slice(&bytes[align_up(moff + mlen)..]);
        for (e, (_, off, _)) in table.iter().enumerate() {
            let at = HEADER_LEN + e * ENTRY_LEN;
            let new_off = if e == 0 { *off } else { (*off as i64 + shift) as usize };
            bad[at + 8..at + 16].copy_from_slice(&(new_off as u64).to_le_bytes());
            if e == 0 {
                bad[at + 16..at + 24].copy_from_slice(&(json.len() as u64).to_le_bytes());
            }
        }
        let total = bad.len() as u64;
        bad[16..24].copy_from_slice(&total.to_le_bytes());
        recompute_crcs(&mut bad);
        bad
    }

    /// Make every checksum match the (possibly mutated) bytes, so that loading gets past the
    /// CRCs to the structural checks. Entries that point out of bounds are left alone.
    fn recompute_crcs(bytes: &mut [u8]) {
        if bytes.len() < HEADER_LEN {
            return;
        }
        let count = u32_at(bytes, 12) as usize;
        let Some(end) = count.checked_mul(ENTRY_LEN).map(|t| t + HEADER_LEN).filter(|&e| e <= bytes.len()) else {
            return;
        };
        for e in 0..count {
            let at = HEADER_LEN + e * ENTRY_LEN;
            let (off, len) = (u64_at(bytes, at + 8), u64_at(bytes, at + 16));
            if let Some(stop) = off.checked_add(len).filter(|&s| s <= bytes.len() as u64) {
                let crc = crc32fast::hash(&bytes[off as usize..stop as usize]);
                bytes[at + 24..at + 28].copy_from_slice(&crc.to_le_bytes());
            }
        }
        let crc = crc32fast::hash(&bytes[HEADER_LEN..end]);
        bytes[24..28].copy_from_slice(&crc.to_le_bytes());
    }

    /// Ask a loaded bundle everything a runtime may ask: searches by text and by vector with
    /// every strategy, with and without a category filter; recommendations for a known user, a
    /// history, and nobody. Errors are fine; panics are not.
    fn query_everything(b: &Bundle<AlignedBytes>) {
        use crate::search::{search, Filter, SearchQuery, SearchScratch, Strategy};
        use crate::service::{answer_recommend, answer_search, RecommendRequest, Scratch, SearchRequest};
        let view = b.view();
        let mut scratch = Scratch::default();
        let category: Vec<String> = view.category_names.iter().take(1).map(str::to_string).collect();
        let dim = view.vectors.dim.min(4096);
        let vector: Vec<f32> = (0..dim).map(|d| if d % 3 == 0 { 0.5 } else { -0.25 }).collect();
        for filters in [crate::service::Filters::default(), crate::service::Filters { category }] {
            for req in [
                SearchRequest { query: Some("product cat1 3".into()), filters: filters.clone(), ..Default::default() },
                SearchRequest { vector: Some(vector.clone()), filters: filters.clone(), ..Default::default() },
                SearchRequest {
                    query: Some("cat2".into()),
                    vector: Some(vector.clone()),
                    top_k: Some(100),
                    filters: filters.clone(),
                },
            ] {
                let _ = answer_search(&view, &req, None, &mut scratch);
            }
            let history: Vec<String> = (0..3).map(|i| view.item_ids.get(i).to_string()).collect();
            for req in [
                RecommendRequest { user_id: Some(view.user_ids.get(0).to_string()), ..Default::default() },
                RecommendRequest { history, top_k: Some(100), filters: filters.clone(), ..Default::default() },
                RecommendRequest { filters, ..Default::default() },
            ] {
                let _ = answer_recommend(&view, &req, &mut scratch);
            }
        }
        if view.vectors.dim == vector.len() {
            let filter = Filter { categories: vec![0], exclude: vec![1, 2] };
            for strategy in [Strategy::Flat, Strategy::Coarse, Strategy::Graph] {
                for f in [&crate::search::NO_FILTER, &filter] {
                    let q = SearchQuery {
                        vector: Some(&vector),
                        text: Some("cat3"),
                        filter: f,
                        strategy,
                        ..Default::default()
                    };
                    let _ = search(&view, &q, &mut SearchScratch::default());
                }
            }
        }
    }

    #[test]
    fn inconsistent_counts_are_corrupt_not_panics() {
        let (bytes, _, _) = fixture_bundle(10, 4, 1);
        let bad = rewrite_manifest(&bytes, |m| m["counts"]["items"] = 11.into());
        let err = Bundle::load(&bad).expect_err("count mismatch");
        assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
        // The helper itself changes nothing else: an unedited rewrite loads.
        query_everything(&Bundle::load(&rewrite_manifest(&bytes, |_| {})).expect("unchanged manifest"));
    }

    /// Counts whose products wrap around on a 32-bit target (wasm32) to exactly the length the
    /// sections have: without checked multiplication such a bundle loads there and the first
    /// query panics or aborts. It must be `Corrupt` on every target.
    #[test]
    fn counts_that_wrap_on_32_bit_targets_are_corrupt() {
        // 4 items × (2 + 2³⁰) dimensions ≡ 4 × 2 (mod 2³²): the 8 bytes of vector codes "fit".
        let parts = BundleParts {
            item_ids: (0..4).map(|i| format!("p{i}")).collect(),
            titles: vec!["a".into(); 4],
            item_categories: vec![vec![]; 4],
            vectors: QuantMatrix::from_f32(&[0.6, 0.8, 1.0, 0.0, 0.8, 0.6, 0.0, 1.0], 2),
            factors: QuantMatrix::from_f32(&[0.1, 0.2, 0.3, 0.4], 1),
            gram: vec![1.0],
            popularity: vec![1.0; 4],
            user_ids: vec!["u".into()],
            user_history: vec![vec![0, 1]],
            ..BundleParts::default()
        };
        let bytes = parts.to_bytes().expect("bundle");
        query_everything(&Bundle::load(&bytes).expect("the honest bundle loads"));
        let bad = rewrite_manifest(&bytes, |m| m["embedding"]["dimensions"] = (2u64 + (1 << 30)).into());
        let err = Bundle::load(&bad).expect_err("wrapped dimensions");
        assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");

        // A graph on 64 items: 64 × 3 × (16 + 2²⁶) ≡ 64 × 3 × 16 (mod 2³²) bytes of layer 0.
        let (mut parts, vectors) = crate::testutil::fixture_parts(64, 8, 3);
        parts.vector_extras.graph = Some(crate::testutil::knn_graph(&vectors, 8, 16));
        let bytes = parts.to_bytes().expect("bundle");
        query_everything(&Bundle::load(&bytes).expect("the honest graph loads"));
        let bad = rewrite_manifest(&bytes, |m| m["index"]["degree0"] = (16u64 + (1 << 26)).into());
        let err = Bundle::load(&bad).expect_err("wrapped degree");
        assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    }

    /// Manifest fields that size sections, set to arbitrary values (checksums recomputed).
    const SIZING_FIELDS: [(&str, &str); 9] = [
        ("counts", "items"),
        ("counts", "users"),
        ("counts", "categories"),
        ("embedding", "dimensions"),
        ("als", "factors"),
        ("index", "degree0"),
        ("index", "degree_upper"),
        ("index", "ef_search"),
        ("lexical_terms", ""),
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// Any byte changed (checksums recomputed, so the structural checks are what stands
        /// between the bytes and the queries) or any truncation: an error or a bundle that
        /// answers every query without panicking.
        #[test]
        fn arbitrary_mutations_never_panic(pos in 0usize..16384, val in any::<u8>(), cut in 0usize..16384, graph in any::<bool>()) {
            let bytes = mutation_fixture(graph);
            let mut bad = bytes.clone();
            let p = pos % bad.len();
            bad[p] = val;
            recompute_crcs(&mut bad);
            if let Ok(b) = Bundle::load(&bad) {
                query_everything(&b);
            }
            if let Ok(b) = Bundle::load(&bytes[..cut.min(bytes.len())]) {
                query_everything(&b);
            }
        }

        /// A section-sizing manifest field set to any value: `Corrupt` or a bundle that answers.
        #[test]
        fn arbitrary_sizing_counts_never_panic(field in 0usize..SIZING_FIELDS.len(), value in any::<u32>(), graph in any::<bool>()) {
            let bytes = mutation_fixture(graph);
            let (a, b) = SIZING_FIELDS[field];
            let bad = rewrite_manifest(&bytes, |m| if b.is_empty() { m[a] = value.into() } else { m[a][b] = value.into() });
            if let Ok(b) = Bundle::load(&bad) {
                query_everything(&b);
            }
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut with_magic = MAGIC.to_vec();
            with_magic.extend_from_slice(&data);
            let _ = Bundle::load(&data);
            let _ = Bundle::load(&with_magic);
        }
    }

    /// A small bundle with every optional section, with or without a graph (built once).
    fn mutation_fixture(graph: bool) -> Vec<u8> {
        static BYTES: std::sync::OnceLock<[Vec<u8>; 2]> = std::sync::OnceLock::new();
        let both =
            BYTES.get_or_init(|| [fixture_bundle(12, 4, 6).0, crate::testutil::fixture_bundle_with_graph(40, 8, 5).0]);
        both[graph as usize].clone()
    }
}
