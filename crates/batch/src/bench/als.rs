//! `shopai bench-als`: ALS training time on a ratings file (seconds per iteration), the figure
//! `scripts/bench-als.sh` compares with `implicit`.

use crate::data::dataset::Dataset;
use crate::data::ratings::read_ratings;
use crate::io::fs::read_maybe_gz;
use anyhow::Result;
use serde::Serialize;
use shopai_core::als::AlsConfig;
use std::path::Path;
use std::time::Instant;

/// What one training run took (fields in name order, as the JSON has always printed them).
#[derive(Debug, Serialize)]
pub struct AlsBench {
    /// Latent factors.
    pub factors: usize,
    /// Seconds for the whole fit.
    pub fit_s: f64,
    /// Always `shopai` (the peer script prints `implicit`).
    #[serde(rename = "impl")]
    pub implementation: &'static str,
    /// Items.
    pub items: usize,
    /// Iterations.
    pub iterations: usize,
    /// Stored interactions.
    pub nnz: usize,
    /// Mean seconds per iteration.
    pub s_per_iter_mean: f64,
    /// Median seconds per iteration.
    pub s_per_iter_median: Option<f64>,
    /// Fastest iteration in seconds.
    pub s_per_iter_min: Option<f64>,
    /// Threads.
    pub threads: usize,
    /// Users.
    pub users: usize,
}

/// Train ALS with `cfg` on the binary matrix of `ratings` using `threads` threads.
pub fn run(ratings: &Path, cfg: &AlsConfig, threads: usize) -> Result<AlsBench> {
    let bytes = read_maybe_gz(ratings)?;
    let read = read_ratings(&bytes, &Default::default())?;
    let data = Dataset::new(&read.table, &[]);
    let x = data.binary_matrix(&data.interactions);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    let mut per = Vec::new();
    let started = Instant::now();
    let mut last = started;
    pool.install(|| {
        shopai_core::als::train(&x, cfg, |_| {
            per.push(last.elapsed().as_secs_f64());
            last = Instant::now();
        })
    })?;
    let total = started.elapsed().as_secs_f64();
    let mut sorted = per.clone();
    sorted.sort_by(f64::total_cmp);
    Ok(AlsBench {
        implementation: "shopai",
        users: x.rows(),
        items: x.cols,
        nnz: x.nnz(),
        factors: cfg.factors,
        threads,
        iterations: cfg.iterations,
        fit_s: total,
        s_per_iter_mean: total / cfg.iterations.max(1) as f64,
        s_per_iter_median: sorted.get(sorted.len() / 2).copied(),
        s_per_iter_min: sorted.first().copied(),
    })
}
