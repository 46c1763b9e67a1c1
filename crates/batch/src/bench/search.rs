//! `shopai bench-search`: single-thread query throughput and recall@10 of core's vector search,
//! measured through a real bundle (the same codes, sign bits, residual and graph a build writes),
//! against exact f32 brute force.

use crate::index::vectors::{build_index, IndexOptions};
use anyhow::{ensure, Context, Result};
use rayon::prelude::*;
use serde::Serialize;
use shopai_core::search::{search, Filter, SearchQuery, SearchScratch, Strategy};
use shopai_core::{Bundle, BundleParts, QuantMatrix};
use std::path::Path;
use std::time::Instant;

/// Benchmark result (one per beam width for a graph).
#[derive(Debug, Serialize)]
pub struct SearchBench {
    /// Base vectors.
    pub n: usize,
    /// Dimensions.
    pub dim: usize,
    /// Queries.
    pub queries: usize,
    /// Index kind as the manifest names it.
    pub index: String,
    /// Whether the int4 residual was used.
    pub refine: bool,
    /// Graph beam width (0 without a graph).
    pub ef: usize,
    /// Single-thread queries per second (wall clock).
    pub qps_single_thread: f64,
    /// Median milliseconds per query.
    pub median_ms: f64,
    /// recall@10 against exact f32 inner product.
    pub recall_at_10: f64,
    /// Vector index bytes per item: codes, scales, sign bits, residual, graph (and the mean,
    /// amortized).
    pub bytes_per_vector: f64,
    /// Bundle size.
    pub bundle_bytes: usize,
    /// Seconds to code the vectors and build the graph.
    pub build_s: f64,
    /// Share of the catalog a category filter allowed (1 = no filter).
    pub filter_fraction: f64,
    /// Candidate strategy measured.
    pub strategy: String,
}

fn read_f32(path: &Path) -> Result<Vec<f32>> {
    let b = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    ensure!(b.len() % 4 == 0, "{} is not a whole number of f32", path.display());
    Ok(b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// Run the benchmark: build the index once, then one timed pass over the queries per beam width
/// in `efs` (one pass with the default when empty or without a graph). With `categories > 1`,
/// item `i` is in category `i mod categories`, and the queries are also run filtered to
/// category 0 (recall against the exact top-10 of that category), with the default strategy
/// and with the scan.
#[allow(clippy::too_many_arguments)]
pub fn run(
    base: &Path,
    queries: &Path,
    dim: usize,
    limit: usize,
    out: Option<&Path>,
    index: &IndexOptions,
    efs: &[usize],
    categories: usize,
) -> Result<Vec<SearchBench>> {
    let mut xb = read_f32(base)?;
    let xq = read_f32(queries)?;
    ensure!(dim > 0 && xb.len() % dim == 0 && xq.len() % dim == 0, "files are not rows of {dim} floats");
    if limit > 0 && limit * dim < xb.len() {
        xb.truncate(limit * dim);
    }
    let (n, nq) = (xb.len() / dim, xq.len() / dim);
    let started = Instant::now();
    let (codes, vector_extras) = build_index(&xb, dim, index, std::io::IsTerminal::is_terminal(&std::io::stderr()))?;
    let build_s = started.elapsed().as_secs_f64();
    let x = &vector_extras;
    let index_bytes = codes.codes.len()
        + 4 * codes.scales.len()
        + 4 * x.mean.len()
        + 8 * x.signs.len()
        + x.refine.as_ref().map_or(0, |r| r.codes.len() + 4 * r.scales.len())
        + x.graph.as_ref().map_or(0, |g| g.zero.len() + g.upper.len() + 4 * (g.layer_sizes.len() + g.pid_items.len()));
    let mut parts = BundleParts {
        item_ids: (0..n).map(|i| i.to_string()).collect(),
        titles: vec![String::new(); n],
        category_names: (0..categories.max(1)).map(|c| format!("c{c}")).collect(),
        item_categories: (0..n)
            .map(|i| if categories > 1 { vec![(i % categories) as u32] } else { Vec::new() })
            .collect(),
        vectors: codes,
        vector_extras,
        factors: QuantMatrix::from_f32(&vec![0.0; n], 1),
        gram: vec![1.0],
        popularity: vec![0.0; n],
        ..BundleParts::default()
    };
    parts.manifest.index.ef_search = index.graph.ef_search as u32;
    let bytes = parts.to_bytes()?;
    drop(parts);
    if let Some(o) = out {
        crate::io::fs::write_atomic(o, &bytes)?;
    }
    let bundle = Bundle::load(&bytes)?;
    let view = bundle.view();
    // Exact top-10 by f32 inner product (parallel; not timed), over everything and over category 0.
    let exact = |keep: &(dyn Fn(usize) -> bool + Sync)| -> Vec<Vec<u32>> {
        (0..nq)
            .into_par_iter()
            .map(|q| {
                let qv = &xq[q * dim..(q + 1) * dim];
                let mut top = shopai_core::topk::TopK::new(10);
                for i in (0..n).filter(|&i| keep(i)) {
                    top.push(i as u32, shopai_core::math::dot(qv, &xb[i * dim..(i + 1) * dim]));
                }
                top.drain_sorted().into_iter().map(|s| s.item).collect()
            })
            .collect()
    };
    let graph = view.index.graph.is_some();
    let efs: Vec<usize> = if graph && !efs.is_empty() { efs.to_vec() } else { vec![0] };
    let mut runs: Vec<(usize, Filter, Strategy, f64)> =
        efs.iter().map(|&ef| (ef, Filter::default(), Strategy::Auto, 1.0)).collect();
    if categories > 1 {
        let f = Filter::default().with_category_names(&view, &["c0"])?;
        let ef = efs[0];
        runs.push((ef, f.clone(), Strategy::Auto, 1.0 / categories as f64));
        runs.push((ef, f, Strategy::Flat, 1.0 / categories as f64));
    }
    let gt_all = exact(&|_| true);
    let gt_cat = if categories > 1 { exact(&|i| i % categories == 0) } else { Vec::new() };
    let mut results = Vec::new();
    for (ef, filter, strategy, fraction) in runs {
        let gt = if filter.categories.is_empty() { &gt_all } else { &gt_cat };
        let mut scratch = SearchScratch::default();
        let query = |q: usize| SearchQuery {
            vector: Some(&xq[q * dim..(q + 1) * dim]),
            top_k: 10,
            filter: &filter,
            strategy,
            ef,
            ..SearchQuery::default()
        };
        let mut lat = Vec::with_capacity(nq);
        let mut hits = 0usize;
        // One untimed warm-up pass over a tenth of the queries.
        for q in 0..nq / 10 {
            search(&view, &query(q), &mut scratch)?;
        }
        let started = Instant::now();
        for (q, truth) in gt.iter().enumerate().take(nq) {
            let t = Instant::now();
            let res = search(&view, &query(q), &mut scratch)?.hits;
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
            hits += res.iter().filter(|h| truth.contains(&h.item)).count();
        }
        let total = started.elapsed().as_secs_f64();
        lat.sort_by(f64::total_cmp);
        results.push(SearchBench {
            n,
            dim,
            queries: nq,
            index: view.manifest.index.kind.clone(),
            refine: view.manifest.index.refine,
            ef: if graph {
                if ef == 0 {
                    view.manifest.index.ef_search as usize
                } else {
                    ef
                }
            } else {
                0
            },
            qps_single_thread: nq as f64 / total,
            median_ms: lat[lat.len() / 2],
            recall_at_10: hits as f64 / (nq * 10) as f64,
            bytes_per_vector: index_bytes as f64 / n as f64,
            bundle_bytes: bytes.len(),
            build_s,
            filter_fraction: fraction,
            strategy: format!("{strategy:?}").to_lowercase(),
        });
    }
    Ok(results)
}
