//! `shopai bench-search`: single-thread query throughput and recall@10 of core's exact int8 scan,
//! measured through a real bundle, against exact f32 brute force.

use anyhow::{ensure, Context, Result};
use rayon::prelude::*;
use serde::Serialize;
use shopai_core::search::{search, Filter, SearchScratch};
use shopai_core::{Bundle, BundleParts, QuantMatrix};
use std::path::Path;
use std::time::Instant;

/// Benchmark result.
#[derive(Debug, Serialize)]
pub struct SearchBench {
    /// Base vectors.
    pub n: usize,
    /// Dimensions.
    pub dim: usize,
    /// Queries.
    pub queries: usize,
    /// Single-thread queries per second (wall clock).
    pub qps_single_thread: f64,
    /// Median milliseconds per query.
    pub median_ms: f64,
    /// recall@10 against exact f32 inner product.
    pub recall_at_10: f64,
    /// Index bytes per vector (codes + scale).
    pub bytes_per_vector: f64,
    /// Bundle size.
    pub bundle_bytes: usize,
}

fn read_f32(path: &Path) -> Result<Vec<f32>> {
    let b = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    ensure!(b.len() % 4 == 0, "{} is not a whole number of f32", path.display());
    Ok(b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// Run the benchmark.
pub fn run(base: &Path, queries: &Path, dim: usize, limit: usize, out: Option<&Path>) -> Result<SearchBench> {
    let mut xb = read_f32(base)?;
    let xq = read_f32(queries)?;
    ensure!(dim > 0 && xb.len() % dim == 0 && xq.len() % dim == 0, "files are not rows of {dim} floats");
    if limit > 0 && limit * dim < xb.len() {
        xb.truncate(limit * dim);
    }
    let (n, nq) = (xb.len() / dim, xq.len() / dim);
    let parts = BundleParts {
        item_ids: (0..n).map(|i| i.to_string()).collect(),
        titles: vec![String::new(); n],
        item_categories: vec![Vec::new(); n],
        vectors: QuantMatrix::from_f32(&xb, dim),
        factors: QuantMatrix::from_f32(&vec![0.0; n], 1),
        gram: vec![1.0],
        popularity: vec![0.0; n],
        ..BundleParts::default()
    };
    let bytes = parts.to_bytes()?;
    if let Some(o) = out {
        crate::build::write_atomic(o, &bytes)?;
    }
    let bundle = Bundle::load(&bytes)?;
    let view = bundle.view();
    // Exact top-10 by f32 inner product (parallel; not timed).
    let gt: Vec<Vec<u32>> = (0..nq)
        .into_par_iter()
        .map(|q| {
            let qv = &xq[q * dim..(q + 1) * dim];
            let mut top = shopai_core::topk::TopK::new(10);
            for i in 0..n {
                top.push(i as u32, shopai_core::als::dot(qv, &xb[i * dim..(i + 1) * dim]));
            }
            top.drain_sorted().into_iter().map(|s| s.item).collect()
        })
        .collect();
    let mut scratch = SearchScratch::default();
    let filter = Filter::default();
    let mut lat = Vec::with_capacity(nq);
    let mut hits = 0usize;
    let started = Instant::now();
    for q in 0..nq {
        let t = Instant::now();
        let res = search(&view, &xq[q * dim..(q + 1) * dim], 10, &filter, &mut scratch)?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        hits += res.iter().filter(|h| gt[q].contains(&h.item)).count();
    }
    let total = started.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    Ok(SearchBench {
        n,
        dim,
        queries: nq,
        qps_single_thread: nq as f64 / total,
        median_ms: lat[lat.len() / 2],
        recall_at_10: hits as f64 / (nq * 10) as f64,
        bytes_per_vector: (dim + 4) as f64,
        bundle_bytes: bytes.len(),
    })
}
