//! `shopai tune`: grid-search ALS alone, then the fusion weights (with EASE λ and the popularity
//! half-life), on the validation part with the model fit on train — every trial scored through
//! the served path by [`SourceMatrix`].

use super::offline::{Experiment, SourceMatrix, Tuned, NEIGHBORS};
use super::protocol::{eval_set, Variant};
use crate::assemble::BuildConfig;
use crate::index::{ease, popularity::popularity};
use crate::io::progress;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use shopai_core::als::AlsConfig;
use shopai_core::FusionWeights;

/// ALS and fusion grids.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grid {
    /// Factor counts.
    pub factors: Vec<usize>,
    /// Regularization values.
    pub regularization: Vec<f32>,
    /// Alpha values.
    pub alpha: Vec<f32>,
    /// Content weights (ALS weight fixed at 1).
    pub vector: Vec<f32>,
    /// Popularity weights.
    pub popularity: Vec<f32>,
    /// Item-to-item (EASE) weights.
    pub item: Vec<f32>,
    /// ALS weights (0 lets the item-to-item source stand alone, as on very sparse logs).
    pub collab: Vec<f32>,
    /// EASE λ values (empty: no item-to-item source).
    pub ease_lambda: Vec<f32>,
    /// Popularity half-lives in days (0 = plain counts).
    pub half_life_days: Vec<f32>,
    /// A fusion is only chosen if its validation coverage@10 is at least this fraction of the
    /// ALS-only model's: NDCG differences among blends are within noise on small validation sets,
    /// while a collapse of coverage onto popular items is not.
    pub min_relative_coverage: f64,
}

impl Default for Grid {
    fn default() -> Self {
        Self {
            factors: vec![16, 32, 64],
            regularization: vec![0.05, 0.5, 5.0],
            alpha: vec![0.5, 1.0, 2.0, 5.0],
            vector: vec![0.0, 0.1, 0.2, 0.4],
            popularity: vec![0.0, 0.1, 0.2, 0.4, 0.8],
            item: vec![0.0, 0.25, 0.5, 1.0, 2.0],
            collab: vec![0.0, 1.0],
            ease_lambda: vec![100.0, 300.0, 1000.0],
            half_life_days: vec![0.0, 30.0, 90.0, 365.0],
            min_relative_coverage: 0.9,
        }
    }
}

/// Grid-search ALS (alone) and then the fusion weights, on validation (model fit on train).
pub fn tune(exp: &Experiment, grid: &Grid, base: &BuildConfig, show: bool) -> Result<Tuned> {
    let set = eval_set(exp.data.user_ids.len(), exp.data.item_ids.len(), &exp.train, &exp.val, Variant::All);
    let total = grid.factors.len() * grid.regularization.len() * grid.alpha.len();
    let pb = progress::bar(show, total as u64, "tune ALS");
    let mut als_trials = Vec::new();
    let mut best: Option<(f64, AlsConfig, SourceMatrix)> = None;
    let als_only = FusionWeights { vector: 0.0, collab: 1.0, popularity: 0.0, item: 0.0 };
    for &f in &grid.factors {
        for &reg in &grid.regularization {
            for &alpha in &grid.alpha {
                let als = AlsConfig { factors: f, regularization: reg, alpha, ..base.als };
                let m = SourceMatrix::compute(exp, &exp.train, &set, &BuildConfig { als, ..base.clone() })?;
                let ndcg = m.report(&set, als_only).ndcg(10);
                als_trials.push((f, reg, alpha, ndcg));
                pb.inc(1);
                if best.as_ref().is_none_or(|b| ndcg > b.0) {
                    best = Some((ndcg, als, m));
                }
            }
        }
    }
    pb.finish_and_clear();
    let (val_ndcg_als, als, m_plain) = best.ok_or_else(|| anyhow::anyhow!("the ALS grid is empty"))?;
    let als_coverage = m_plain.report(&set, als_only).at.get(&10).map_or(0.0, |m| m.coverage);
    let min_coverage = grid.min_relative_coverage * als_coverage;
    let n_items = exp.data.item_ids.len();
    let too_big = n_items > ease::MAX_ITEMS;
    let lambdas: Vec<Option<f32>> = if grid.ease_lambda.is_empty() || too_big {
        vec![None]
    } else {
        grid.ease_lambda.iter().map(|&l| Some(l)).collect()
    };
    let pb = progress::bar(show, lambdas.len() as u64, "tune fusion");
    let mut fusion_trials = Vec::new();
    let mut best_f = (val_ndcg_als, als_only, None, None);
    let mut m_plain = Some(m_plain);
    for lambda in lambdas {
        let m = match lambda {
            None => m_plain.take().ok_or_else(|| anyhow::anyhow!("internal: source matrix reused"))?,
            Some(l) => {
                let cfg = BuildConfig { als, ease: Some((l, NEIGHBORS)), ..base.clone() };
                SourceMatrix::compute(exp, &exp.train, &set, &cfg)?
            }
        };
        let mut m = m;
        for &hl in &grid.half_life_days {
            let half_life = (hl > 0.0).then_some(hl);
            m = m.with_popularity(&popularity(n_items, &exp.train, half_life));
            for &c in &grid.collab {
                for &v in &grid.vector {
                    for &p in &grid.popularity {
                        for &it in if lambda.is_some() { &grid.item[..] } else { &[0.0][..] } {
                            if c == 0.0 && it == 0.0 {
                                continue;
                            }
                            let w = FusionWeights { vector: v, collab: c, popularity: p, item: it };
                            let r = m.report(&set, w);
                            let (ndcg, coverage) = r.at.get(&10).map_or((0.0, 0.0), |m| (m.ndcg, m.coverage));
                            fusion_trials.push((lambda, half_life, w, ndcg));
                            if ndcg > best_f.0 && coverage >= min_coverage {
                                best_f = (ndcg, w, lambda, half_life);
                            }
                        }
                    }
                }
            }
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(Tuned {
        factors: als.factors,
        regularization: als.regularization,
        alpha: als.alpha,
        iterations: als.iterations,
        seed: als.seed,
        fusion: best_f.1,
        ease_lambda: best_f.2.filter(|_| best_f.1.item > 0.0),
        popularity_half_life_days: best_f.3,
        confidence: base.confidence,
        val_ndcg_als,
        val_ndcg_fusion: best_f.0,
        als_trials,
        fusion_trials,
    })
}
