//! The vector index a bundle carries: codes for every catalog, plus an HNSW graph (built with
//! `instant-distance`) for catalogs too large to scan.
//!
//! instant-distance keeps its graph private but serializes it; we serialize with bincode (a fixed,
//! documented layout: little-endian, u64 lengths, arrays as tuples) and read the layers back:
//!
//! ```text
//! ef_search u64 | points: len u64, len × u32 (our item index, see `Row`)
//! zero:   len u64, len × [u32; 64]        (layer 0, nearest-first after the selection heuristic)
//! layers: len u64, each: len u64, len × [u32; 32]   (layer 1 first; layer l = graph ids 0..len)
//! ```
//!
//! Neighbour lists are truncated to the first `degree0` / `degree_upper` entries (the heuristic
//! puts the diverse, selected neighbours first) and stored as 24-bit ids.

use anyhow::{bail, ensure, Context, Result};
use serde::{Serialize, Serializer};
use shopai_core::index::{encode, EncodeOptions, Graph, VectorExtras, GRAPH_MAX_ITEMS};
use shopai_core::search::Strategy;
use shopai_core::QuantMatrix;

/// Catalogs at least this large get a graph under `--index auto`.
pub const GRAPH_MIN_ITEMS: usize = 50_000;
/// Catalogs at least this large (and without a graph) get sign bits under `--index auto`, kept
/// only where they keep recall (`assemble::guard_index`). Below it the scan is a few µs and the
/// coarse pass's 200 candidates would be a large share of the catalog.
pub const SIGNS_MIN_ITEMS: usize = 1_024;

/// Which index `shopai build` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IndexKind {
    /// By catalog size: graph from 50,000 items, sign bits from 1,024, else a plain scan; a graph
    /// or sign bits kept only where they keep recall (see `assemble::guard_index`).
    #[default]
    Auto,
    /// int8 scan only.
    Flat,
    /// int8 codes plus sign bits for a coarse Hamming pass.
    Signs,
    /// int8 codes plus an HNSW graph.
    Graph,
}

/// Graph construction parameters.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct GraphParams {
    /// Beam width while building.
    pub ef_construction: usize,
    /// Default beam width for searching (stored in the manifest).
    pub ef_search: usize,
    /// Neighbours kept per item on layer 0 (instant-distance builds up to 64).
    pub degree0: usize,
    /// Neighbours kept per node above (up to 32).
    pub degree_upper: usize,
    /// Seed of the layer assignment.
    pub seed: u64,
}

impl Default for GraphParams {
    fn default() -> Self {
        Self { ef_construction: 100, ef_search: 96, degree0: 32, degree_upper: 16, seed: 42 }
    }
}

/// Index options for a build.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct IndexOptions {
    /// Which index.
    pub kind: IndexKind,
    /// int4 residual: `None` decides by kind (on without a graph, off with one).
    pub refine: Option<bool>,
    /// Graph parameters.
    pub graph: GraphParams,
}

/// Code `values` (row-major, `dim` columns) and build what `opts` asks for.
pub fn build_index(
    values: &[f32],
    dim: usize,
    opts: &IndexOptions,
    progress: bool,
) -> Result<(QuantMatrix, VectorExtras)> {
    let n = values.len() / dim.max(1);
    let kind = match opts.kind {
        IndexKind::Auto if (GRAPH_MIN_ITEMS..=GRAPH_MAX_ITEMS).contains(&n) => IndexKind::Graph,
        IndexKind::Auto if n >= SIGNS_MIN_ITEMS => IndexKind::Signs,
        IndexKind::Auto => IndexKind::Flat,
        k => k,
    };
    let refine = opts.refine.unwrap_or(kind != IndexKind::Graph);
    let (codes, mut extras) = encode(values, dim, EncodeOptions { signs: kind == IndexKind::Signs, refine });
    if kind == IndexKind::Graph {
        extras.graph = Some(build_graph(values, dim, &opts.graph, progress)?);
    }
    Ok((codes, extras))
}

/// `--index auto` keeps a graph or sign bits only where recall@10 stays within this of the int8
/// scan's.
pub const INDEX_RECALL_SLACK: f64 = 0.005;
/// Items whose own vectors serve as queries for the recall check.
pub const RECALL_CHECK_QUERIES: usize = 200;

/// Recall@10 of the served search against the exact f32 inner product, over the bundle's own items.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RecallCheck {
    /// Beam width the graph was searched with.
    pub ef_search: usize,
    /// The int8 scan's recall@10.
    pub scan: f64,
    /// The graph's recall@10.
    pub graph: f64,
}

impl RecallCheck {
    /// Whether the graph keeps recall within [`INDEX_RECALL_SLACK`] of the scan.
    pub fn keeps_recall(&self) -> bool {
        self.scan - self.graph <= INDEX_RECALL_SLACK
    }
}

/// Measure recall@10 of the scan and of the graph at each beam width in `efs` (see [`recall_at_10`]).
pub fn recall_checks(bytes: &[u8], values: &[f32], dim: usize, efs: &[usize]) -> Result<Vec<RecallCheck>> {
    let probes: Vec<(Strategy, usize)> = efs.iter().map(|&ef| (Strategy::Graph, ef)).collect();
    let (scan, graph) = recall_at_10(bytes, values, dim, &probes)?;
    Ok(efs.iter().zip(graph).map(|(&ef, graph)| RecallCheck { ef_search: ef, scan, graph }).collect())
}

/// Recall@10 of the int8 scan and of each `(strategy, beam width)` probe, in the bundle `bytes`,
/// with up to [`RECALL_CHECK_QUERIES`] evenly spread items' f32 vectors (`values`, row-major) as
/// queries, against exact top-10 by f32 inner product over every item. The exact top-10 and the
/// scan are computed once per query.
pub fn recall_at_10(bytes: &[u8], values: &[f32], dim: usize, probes: &[(Strategy, usize)]) -> Result<(f64, Vec<f64>)> {
    use shopai_core::search::{search, SearchQuery, SearchScratch};
    let bundle = shopai_core::Bundle::load(bytes)?;
    let view = bundle.view();
    let n = values.len() / dim.max(1);
    let queries = RECALL_CHECK_QUERIES.min(n);
    let mut scratch = SearchScratch::default();
    let mut scan = 0usize;
    let mut found = vec![0usize; probes.len()];
    let mut exact = shopai_core::topk::TopK::new(10);
    for j in 0..queries {
        let q = &values[(j * n / queries) * dim..(j * n / queries + 1) * dim];
        exact.reset(10);
        for (i, row) in values.chunks_exact(dim).enumerate() {
            exact.push(i as u32, shopai_core::math::dot(q, row));
        }
        let truth: Vec<u32> = exact.drain_sorted().into_iter().map(|s| s.item).collect();
        let mut hits = |strategy, ef| -> Result<usize> {
            let query = SearchQuery { vector: Some(q), top_k: 10, strategy, ef, ..SearchQuery::default() };
            Ok(search(&view, &query, &mut scratch)?.hits.iter().filter(|h| truth.contains(&h.item)).count())
        };
        scan += hits(Strategy::Flat, 0)?;
        for (f, &(strategy, ef)) in found.iter_mut().zip(probes) {
            *f += hits(strategy, ef)?;
        }
    }
    let total = (queries * 10).max(1) as f64;
    Ok((scan as f64 / total, found.into_iter().map(|f| f as f64 / total).collect()))
}

/// One catalog vector as instant-distance sees it; it serializes as its item index, so the
/// serialized graph tells us which item each graph id is.
#[derive(Clone)]
struct Row<'a> {
    item: u32,
    v: &'a [f32],
}

impl instant_distance::Point for Row<'_> {
    fn distance(&self, other: &Self) -> f32 {
        1.0 - shopai_core::math::dot(self.v, other.v)
    }
}

impl Serialize for Row<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_u32(self.item)
    }
}

/// Build an HNSW graph over `values` (cosine distance on normalized vectors).
pub fn build_graph(values: &[f32], dim: usize, p: &GraphParams, progress: bool) -> Result<Graph> {
    let n = values.len() / dim.max(1);
    ensure!(n <= GRAPH_MAX_ITEMS, "{n} items is more than a graph addresses ({GRAPH_MAX_ITEMS})");
    ensure!(
        (1..=64).contains(&p.degree0) && (1..=32).contains(&p.degree_upper),
        "graph degrees must be 1..=64 and 1..=32"
    );
    let points: Vec<Row<'_>> = values.chunks_exact(dim).enumerate().map(|(i, v)| Row { item: i as u32, v }).collect();
    let mut builder =
        instant_distance::Builder::default().ef_construction(p.ef_construction).ef_search(p.ef_search).seed(p.seed);
    if progress {
        let bar = indicatif::ProgressBar::new(n as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg:>28} [{bar:40}] {pos}/{len} ({eta})")
                .expect("valid template")
                .progress_chars("=> "),
        );
        builder = builder.progress(bar);
    }
    let (hnsw, _) = builder.build_hnsw(points);
    let raw = bincode::serialize(&hnsw).context("serializing the graph")?;
    drop(hnsw);
    convert(&raw, n, p.degree0, p.degree_upper)
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn u32(&mut self) -> Result<u32> {
        let Some(x) = self.b.get(self.at..self.at + 4) else { bail!("graph bytes end early at {}", self.at) };
        self.at += 4;
        Ok(u32::from_le_bytes(x.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> Result<u64> {
        let Some(x) = self.b.get(self.at..self.at + 8) else { bail!("graph bytes end early at {}", self.at) };
        self.at += 8;
        Ok(u64::from_le_bytes(x.try_into().expect("8 bytes")))
    }
}

fn push_u24(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes()[..3]);
}

/// Convert instant-distance's serialized graph to the bundle's compact [`Graph`].
fn convert(raw: &[u8], n: usize, degree0: usize, degree_upper: usize) -> Result<Graph> {
    const M: usize = 32;
    const EMPTY: u32 = 0x00FF_FFFF;
    let mut r = Reader { b: raw, at: 0 };
    let _ef_search = r.u64()?;
    let points = r.u64()? as usize;
    ensure!(points == n, "graph has {points} points for {n} items");
    let mut pid_item = Vec::with_capacity(n);
    for _ in 0..n {
        pid_item.push(r.u32()?);
    }
    let zero_len = r.u64()? as usize;
    ensure!(zero_len == n, "graph layer 0 has {zero_len} nodes for {n} items");
    let mut zero = vec![0u8; n * degree0 * 3];
    for pid in 0..n {
        let item = pid_item[pid] as usize;
        let mut row = Vec::with_capacity(degree0 * 3);
        for _ in 0..2 * M {
            let nb = r.u32()?;
            if nb != u32::MAX && row.len() < degree0 * 3 {
                push_u24(&mut row, pid_item[nb as usize]);
            }
        }
        while row.len() < degree0 * 3 {
            push_u24(&mut row, EMPTY);
        }
        zero[item * degree0 * 3..(item + 1) * degree0 * 3].copy_from_slice(&row);
    }
    let layers = r.u64()? as usize;
    let mut upper = Vec::new();
    let mut layer_sizes = Vec::with_capacity(layers);
    for _ in 0..layers {
        let len = r.u64()? as usize;
        layer_sizes.push(len as u32);
        for _ in 0..len {
            let mut kept = 0;
            for _ in 0..M {
                let nb = r.u32()?;
                if nb != u32::MAX && kept < degree_upper {
                    push_u24(&mut upper, nb);
                    kept += 1;
                }
            }
            for _ in kept..degree_upper {
                push_u24(&mut upper, EMPTY);
            }
        }
    }
    ensure!(r.at == raw.len(), "graph bytes have {} trailing bytes", raw.len() - r.at);
    let ids = layer_sizes.first().map_or(1, |&s| s as usize).min(n);
    Ok(Graph {
        degree0: degree0 as u32,
        degree_upper: degree_upper as u32,
        zero,
        upper,
        layer_sizes,
        pid_items: pid_item[..ids].to_vec(),
    })
}

/// A bundle of `values` (row-major, `dim` columns) indexed as `opts` asks, and nothing else that
/// search reads: for tests of the index and of its choice.
#[cfg(test)]
pub(crate) fn parts_for_tests(values: &[f32], dim: usize, opts: &IndexOptions) -> shopai_core::BundleParts {
    let n = values.len() / dim;
    let (codes, extras) = build_index(values, dim, opts, false).expect("index");
    shopai_core::BundleParts {
        item_ids: (0..n).map(|i| i.to_string()).collect(),
        titles: vec![String::new(); n],
        item_categories: vec![Vec::new(); n],
        vectors: codes,
        vector_extras: extras,
        factors: QuantMatrix::from_f32(&vec![0.0; n], 1),
        gram: vec![1.0],
        popularity: vec![0.0; n],
        ..shopai_core::BundleParts::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopai_core::search::{search, Filter, SearchQuery, SearchScratch, Strategy, StrategyUsed};
    use shopai_core::{Bundle, BundleParts};

    fn vectors(n: usize, dim: usize) -> Vec<f32> {
        let mut rng = shopai_core::math::SplitMix64::new(9);
        let centers: Vec<f32> = (0..16 * dim).map(|_| rng.next_f32() - 0.5).collect();
        let mut v = Vec::new();
        for i in 0..n {
            let row: Vec<f32> =
                centers[(i % 16) * dim..(i % 16 + 1) * dim].iter().map(|c| c + 0.4 * (rng.next_f32() - 0.5)).collect();
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.extend(row.iter().map(|x| x / norm));
        }
        v
    }

    fn bundle_of(v: &[f32], dim: usize, opts: &IndexOptions, graph_over: Option<&[f32]>) -> Vec<u8> {
        let mut parts = parts_for_tests(v, dim, opts);
        if let Some(other) = graph_over {
            parts.vector_extras.graph = Some(build_graph(other, dim, &opts.graph, false).expect("graph"));
        }
        parts.to_bytes().expect("bundle")
    }

    /// The guard `--index auto` applies: a well-built graph keeps recall within the slack of the
    /// scan; a graph whose links were built over other vectors (the rows permuted) walks the
    /// wrong neighbourhoods and does not.
    #[test]
    fn the_recall_check_tells_a_good_graph_from_a_misleading_one() {
        let (n, dim) = (2000, 32);
        let v = vectors(n, dim);
        let opts = IndexOptions { kind: IndexKind::Graph, refine: Some(false), graph: GraphParams::default() };
        let good = recall_checks(&bundle_of(&v, dim, &opts, None), &v, dim, &[96]).expect("check")[0];
        assert!(good.scan > 0.9, "{good:?}");
        assert!(good.keeps_recall(), "{good:?}");
        let permuted: Vec<f32> =
            (0..n).flat_map(|i| v[(i * 7919 % n) * dim..(i * 7919 % n + 1) * dim].to_vec()).collect();
        let bad = recall_checks(&bundle_of(&v, dim, &opts, Some(&permuted)), &v, dim, &[10]).expect("check")[0];
        assert!(!bad.keeps_recall(), "{bad:?}");
        assert_eq!(bad.scan, good.scan, "the scan does not depend on the graph");
    }

    /// The graph instant-distance builds, converted and searched in place by core, finds what
    /// the exact scan finds, and the bundle round-trips it.
    #[test]
    fn instant_distance_graph_searched_in_core_matches_the_scan() {
        let (n, dim) = (3000, 32);
        let v = vectors(n, dim);
        let opts = IndexOptions { kind: IndexKind::Graph, refine: Some(false), graph: GraphParams::default() };
        let (codes, extras) = build_index(&v, dim, &opts, false).expect("index");
        let g = extras.graph.as_ref().expect("graph");
        assert_eq!(g.zero.len(), n * 32 * 3);
        assert!(!g.layer_sizes.is_empty() && g.layer_sizes.windows(2).all(|w| w[0] >= w[1]));
        let parts = BundleParts {
            item_ids: (0..n).map(|i| i.to_string()).collect(),
            titles: vec![String::new(); n],
            category_names: (0..5).map(|c| format!("c{c}")).collect(),
            item_categories: (0..n).map(|i| vec![(i % 5) as u32]).collect(),
            vectors: codes,
            vector_extras: extras,
            factors: QuantMatrix::from_f32(&vec![0.0; n], 1),
            gram: vec![1.0],
            popularity: vec![0.0; n],
            ..BundleParts::default()
        };
        let bytes = parts.to_bytes().expect("bundle");
        let b = Bundle::load(&bytes).expect("load");
        let view = b.view();
        assert_eq!(view.manifest.index.kind, "hnsw");
        let mut s = SearchScratch::default();
        let mut agree = 0;
        for q in 0..50 {
            let query = &v[(q * 53 % n) * dim..(q * 53 % n + 1) * dim];
            let run = |strategy, used, s: &mut SearchScratch| -> Vec<u32> {
                let q = SearchQuery { vector: Some(query), strategy, ef: 64, ..SearchQuery::default() };
                let r = search(&view, &q, s).expect("search");
                assert_eq!(r.stats.strategy, used, "{strategy:?}");
                r.hits.iter().map(|h| h.item).collect()
            };
            let flat = run(Strategy::Flat, StrategyUsed::Scan, &mut s);
            let graph = run(Strategy::Graph, StrategyUsed::Graph, &mut s);
            assert_eq!(graph[0], (q * 53 % n) as u32, "a stored vector finds itself");
            agree += graph.iter().filter(|i| flat.contains(i)).count();
        }
        assert!(agree as f64 / 500.0 >= 0.95, "graph vs scan overlap {}", agree as f64 / 500.0);

        // With a category filter keeping three fifths of the catalog the graph walk serves the
        // query and returns k allowed items, nearly the same as the filtered scan.
        let f = Filter::default().with_category_names(&view, &["c1", "c2", "c3"]).expect("category");
        let mut agree = 0;
        for q in 0..30 {
            let query = &v[(q * 71 % n) * dim..(q * 71 % n + 1) * dim];
            let run = |strategy, used, s: &mut SearchScratch| -> Vec<u32> {
                let q = SearchQuery { vector: Some(query), filter: &f, strategy, ef: 96, ..SearchQuery::default() };
                let r = search(&view, &q, s).expect("search");
                assert_eq!(r.stats.strategy, used, "{strategy:?}");
                r.hits.iter().map(|h| h.item).collect()
            };
            let flat = run(Strategy::Flat, StrategyUsed::Scan, &mut s);
            let auto = run(Strategy::Auto, StrategyUsed::Graph, &mut s);
            assert_eq!(auto.len(), 10);
            assert!(auto.iter().all(|i| (1..=3).contains(&(i % 5))));
            agree += auto.iter().filter(|i| flat.contains(i)).count();
        }
        assert!(agree as f64 / 300.0 >= 0.9, "filtered graph vs scan overlap {}", agree as f64 / 300.0);

        // A filter keeping a fifth of this small catalog makes the beam score more than a quarter
        // of it for most queries; those give up on the walk and answer with the exact filtered scan.
        let f = Filter::default().with_category_names(&view, &["c2"]).expect("category");
        let mut fell_back = 0;
        for q in 0..30 {
            let query = &v[(q * 71 % n) * dim..(q * 71 % n + 1) * dim];
            let ask = |strategy, s: &mut SearchScratch| {
                let q = SearchQuery { vector: Some(query), filter: &f, strategy, ef: 96, ..SearchQuery::default() };
                search(&view, &q, s).expect("search")
            };
            let flat = ask(Strategy::Flat, &mut s);
            let auto = ask(Strategy::Auto, &mut s);
            assert_eq!(auto.hits.len(), 10);
            assert!(auto.hits.iter().all(|h| h.item % 5 == 2));
            if auto.stats.strategy == StrategyUsed::Fallback {
                fell_back += 1;
                assert_eq!(auto.hits, flat.hits, "a fallback answers exactly as the scan");
            } else {
                assert_eq!(auto.stats.strategy, StrategyUsed::Graph);
            }
        }
        assert!(fell_back > 0, "the budget rule never fired");
    }
}
