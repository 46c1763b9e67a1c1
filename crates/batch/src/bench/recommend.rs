//! `shopai bench-recommend`: how long one recommendation takes on a bundle — core's `recommend`
//! (the sources the bundle's fusion weighs, top 10 with explanations, seen items excluded), the
//! call every runtime makes per request after parsing — for the bundle's own shoppers' histories,
//! one thread. The per-user latency figure of docs/BENCHMARKS.md, on a built bundle.

use crate::query::load_bundle;
use anyhow::{ensure, Result};
use serde::Serialize;
use shopai_core::recommend::{recommend, RecScratch};
use shopai_core::search::Filter;
use shopai_core::BundleView;
use std::path::Path;
use std::time::Instant;

/// Latency of `recommend` over the bundle's shoppers.
#[derive(Debug, Serialize)]
pub struct RecommendBench {
    /// Catalog items.
    pub items: usize,
    /// ALS factors.
    pub factors: usize,
    /// Vector dimensions.
    pub dimensions: usize,
    /// Shoppers timed (each `rounds` times, the first round discarded as warm-up).
    pub users: usize,
    /// Rounds per shopper.
    pub rounds: usize,
    /// Mean distinct history length.
    pub mean_history: f64,
    /// Median µs per recommendation.
    pub p50_us: f64,
    /// 95th percentile µs.
    pub p95_us: f64,
    /// 99th percentile µs.
    pub p99_us: f64,
}

/// Time `recommend` for up to `users` of the bundle's shoppers (spread evenly over them).
pub fn run(bundle: &Path, users: usize, rounds: usize) -> Result<RecommendBench> {
    let b = load_bundle(bundle)?;
    let view = b.view();
    let n_users = view.user_ids.len();
    ensure!(n_users > 0, "{} stores no shoppers' histories to time", bundle.display());
    let take = users.clamp(1, n_users);
    let histories: Vec<&[u32]> = (0..take).map(|k| view.user_history.row(k * n_users / take)).collect();
    let mut scratch = RecScratch::default();
    time_recommend(&view, &histories, &mut scratch)?; // warm-up
    let mut micros = Vec::with_capacity(take * rounds.saturating_sub(1));
    for _ in 1..rounds.max(2) {
        micros.extend(time_recommend(&view, &histories, &mut scratch)?);
    }
    micros.sort_by(f64::total_cmp);
    let q = |p: f64| micros[((micros.len() - 1) as f64 * p).round() as usize];
    let mean_history = histories.iter().map(|h| h.len() as f64).sum::<f64>() / take as f64;
    Ok(RecommendBench {
        items: view.n_items(),
        factors: view.factors.dim,
        dimensions: view.vectors.dim,
        users: take,
        rounds: rounds.max(2),
        mean_history,
        p50_us: q(0.5),
        p95_us: q(0.95),
        p99_us: q(0.99),
    })
}

/// Microseconds core's `recommend` takes for each history (oldest first): top 10 with
/// explanations, the history excluded as the runtimes exclude seen items, the bundle's own
/// weights. `shopai evaluate`'s latency figure calls it too.
pub fn time_recommend<H: AsRef<[u32]>>(
    view: &BundleView<'_>,
    histories: &[H],
    scratch: &mut RecScratch,
) -> Result<Vec<f64>> {
    let mut micros = Vec::with_capacity(histories.len());
    for h in histories {
        let h = h.as_ref();
        let t = Instant::now();
        let filter = Filter::default().with_exclude(h.iter().copied());
        std::hint::black_box(recommend(view, h, 10, None, &filter, scratch)?);
        micros.push(t.elapsed().as_secs_f64() * 1e6);
    }
    Ok(micros)
}
