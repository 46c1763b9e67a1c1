//! `shopai tune`: grid-search ALS alone, then the fusion weights (with EASE λ and the popularity
//! half-life), then each weight in turn with the others held (the next-item weight first, which
//! the grid leaves at 0), on the validation part with the model fit on train — every trial scored
//! through the served path by [`SourceMatrix`]. A best value on a grid edge is stepped past it
//! (see [`super::edges`]).

use super::edges::{extend, Axis, EdgeNote, BUDGET};
use super::offline::{Experiment, SourceMatrix, Tuned, NEIGHBORS};
use super::protocol::{eval_set, evaluate_par, EvalSet, Report, Variant};
use crate::assemble::BuildConfig;
use crate::index::{ease, popularity::popularity};
use crate::io::progress;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use shopai_core::als::AlsConfig;
use shopai_core::bundle::{fusion_for, FUSION_SEGMENTS};
use shopai_core::{FusionSegment, FusionWeights};

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
    /// Next-item weights, searched after the grid with the other weights held, each of which is
    /// then searched again (coordinate ascent).
    #[serde(default = "default_next")]
    pub next: Vec<f32>,
    /// Cold-item content weights (the content score scaled by `1 / (1 + interactions)`),
    /// searched like the next-item weight: after the grid, the others held.
    #[serde(default = "default_cold")]
    pub cold: Vec<f32>,
    /// EASE λ values (empty: no item-to-item source).
    pub ease_lambda: Vec<f32>,
    /// Popularity half-lives in days (0 = plain counts).
    pub half_life_days: Vec<f32>,
    /// Recency weighting of histories, half-lives in distinct items (0 = every item the same),
    /// searched after the weights with them held, then the weights once more.
    #[serde(default = "default_history_half_life")]
    pub history_half_life: Vec<f32>,
    /// A fusion is only chosen if its validation coverage@10 is at least this fraction of the
    /// ALS-only model's: NDCG differences among blends are within noise on small validation sets,
    /// while a collapse of coverage onto popular items is not.
    pub min_relative_coverage: f64,
}

/// Small values first: the next-item source is sparse (most items 0), so its z-scores reach
/// tens on the few items that followed, and a weight of 0.25 already ranks them above every
/// other source's choice (on amazon-scientific-unisrec validation NDCG@10 rose at 0.05 and fell
/// below the fusion without it from 0.1).
fn default_next() -> Vec<f32> {
    vec![0.0, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0]
}

fn default_cold() -> Vec<f32> {
    vec![0.0, 0.1, 0.2, 0.4, 0.8]
}

fn default_history_half_life() -> Vec<f32> {
    vec![0.0, 1.0, 2.0, 4.0, 8.0, 16.0]
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
            next: default_next(),
            cold: default_cold(),
            ease_lambda: vec![100.0, 300.0, 1000.0],
            half_life_days: vec![0.0, 30.0, 90.0, 365.0],
            history_half_life: default_history_half_life(),
            min_relative_coverage: 0.9,
        }
    }
}

/// Grid-search ALS (alone) and then the fusion weights, on validation (model fit on train).
pub fn tune(exp: &Experiment, grid: &Grid, base: &BuildConfig, show: bool) -> Result<Tuned> {
    let set = eval_set(exp.data.user_ids.len(), exp.data.item_ids.len(), &exp.train, &exp.val, Variant::All);
    let total = grid.factors.len() * grid.regularization.len() * grid.alpha.len();
    let pb = progress::bar(show, total as u64, "tune ALS");
    let hb = progress::Heartbeat::start("tune");
    hb.step("ALS grid", total as u64);
    let mut als_trials = Vec::new();
    let mut best: Option<(f64, AlsConfig, SourceMatrix)> = None;
    let als_only = FusionWeights { vector: 0.0, collab: 1.0, popularity: 0.0, item: 0.0, next: 0.0, cold: 0.0 };
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
                hb.inc(best.as_ref().map(|b| b.0));
            }
        }
    }
    pb.finish_and_clear();
    let best = best.ok_or_else(|| anyhow::anyhow!("the ALS grid is empty"))?;
    let mut edges = Vec::new();
    let (val_ndcg_als, als, m_plain) = extend_als(exp, &set, grid, base, best, &mut als_trials, &mut edges, &hb)?;
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
    hb.step("fusion grid (per EASE λ)", lambdas.len() as u64);
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
                            let w =
                                FusionWeights { vector: v, collab: c, popularity: p, item: it, next: 0.0, cold: 0.0 };
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
        hb.inc(Some(best_f.0));
    }
    pb.finish_and_clear();
    let (best_f, m) =
        extend_fusion(exp, &set, grid, base, als, best_f, min_coverage, &mut fusion_trials, &mut edges, &hb)?;
    let recency = Recency { exp, set: &set, grid, base, als, min_coverage, hb: &hb };
    let (history_half_life, best_f, m, history_half_life_trials) = recency.tune(best_f, m, &mut edges)?;
    let with_ease = best_f.2.is_some() && best_f.1.item > 0.0;
    let (fusion_segments, val_ndcg_fusion) = fit_segments(&set, &m, grid, (best_f.0, best_f.1), with_ease, &hb);
    let uses_item = best_f.1.item > 0.0 || fusion_segments.iter().any(|s| s.weights.item > 0.0);
    Ok(Tuned {
        factors: als.factors,
        regularization: als.regularization,
        alpha: als.alpha,
        iterations: als.iterations,
        seed: als.seed,
        fusion: best_f.1,
        fusion_segments,
        ease_lambda: best_f.2.filter(|_| uses_item),
        ease_neighbors: None,
        popularity_half_life_days: best_f.3,
        protocol: exp.protocol,
        history_half_life,
        history_half_life_trials,
        confidence: base.confidence,
        val_ndcg_als,
        val_ndcg_fusion,
        als_trials,
        fusion_trials,
        edges,
    })
}

/// The best fusion so far: validation NDCG@10, weights, EASE λ, popularity half-life.
type FusionBest = (f64, FusionWeights, Option<f32>, Option<f32>);

/// One fusion weight: its name in reports, its grid, and where it lives in [`FusionWeights`].
type WeightAxis<'g> = (&'static str, &'g [f32], fn(&mut FusionWeights) -> &mut f32);

/// The fusion weights coordinate ascent visits, in order: the next-item and cold-item weights
/// first (the grid holds them at 0), then the others.
fn weight_axes(grid: &Grid) -> [WeightAxis<'_>; 6] {
    [
        ("w_next", &grid.next, |w| &mut w.next),
        ("w_cold", &grid.cold, |w| &mut w.cold),
        ("w_collab", &grid.collab, |w| &mut w.collab),
        ("w_vector", &grid.vector, |w| &mut w.vector),
        ("w_popularity", &grid.popularity, |w| &mut w.popularity),
        ("w_item", &grid.item, |w| &mut w.item),
    ]
}

/// `w` with one weight set to `x`, for a line search over that weight; `None` when that is `w`
/// itself or leaves no collaborative source (ALS, EASE or next-item).
fn varied(w: FusionWeights, field: fn(&mut FusionWeights) -> &mut f32, x: f32) -> Option<FusionWeights> {
    let mut v = w;
    *field(&mut v) = x;
    (v != w && (v.collab != 0.0 || v.item != 0.0 || v.next != 0.0)).then_some(v)
}

/// The recency weighting search: what it scores with.
struct Recency<'a> {
    exp: &'a Experiment,
    set: &'a EvalSet,
    grid: &'a Grid,
    base: &'a BuildConfig,
    als: AlsConfig,
    min_coverage: f64,
    hb: &'a progress::Heartbeat,
}

impl Recency<'_> {
    /// The history half-life over its grid and past an edge, with the weights held (the bundle
    /// is built once and re-scored per half-life); when one wins, each weight once more over its
    /// grid. Returns the half-life (0: none), the best fusion, its matrix and every half-life's
    /// validation NDCG@10.
    #[allow(clippy::type_complexity)]
    fn tune(
        &self,
        best: FusionBest,
        m: SourceMatrix,
        edges: &mut Vec<EdgeNote>,
    ) -> Result<(f32, FusionBest, SourceMatrix, Vec<(f32, f64)>)> {
        let values: Vec<f32> = self.grid.history_half_life.iter().copied().filter(|&h| h > 0.0).collect();
        let mut trials = vec![(0.0, best.0)];
        if values.is_empty() {
            return Ok((0.0, best, m, trials));
        }
        let n_items = self.exp.data.item_ids.len();
        let cfg = BuildConfig {
            als: self.als,
            ease: best.2.filter(|_| best.1.item > 0.0).map(|l| (l, NEIGHBORS)),
            ..self.base.clone()
        };
        let bytes = SourceMatrix::bundle(self.exp, &self.exp.train, &cfg)?;
        let pop = popularity(n_items, &self.exp.train, best.3);
        let score = |h: f32| -> Result<(Option<f64>, f64, SourceMatrix)> {
            let m = SourceMatrix::from_bundle(&bytes, self.set, h)?.with_popularity(&pop);
            let r = m.report(self.set, best.1);
            let admissible = r.at.get(&10).filter(|a| a.coverage >= self.min_coverage).map(|a| a.ndcg);
            Ok((admissible, r.ndcg(10), m))
        };
        self.hb.step("history recency weighting", (values.len() + BUDGET) as u64);
        let (mut chosen, mut top, mut matrix) = (0.0f32, best.0, None);
        for &h in &values {
            let (admissible, ndcg, mh) = score(h)?;
            trials.push((h, ndcg));
            self.hb.inc(Some(top));
            if let Some(n) = admissible.filter(|&n| n > top) {
                (chosen, top, matrix) = (h, n, Some(mh));
            }
        }
        if chosen > 0.0 {
            let mut found: Option<(f32, f64, SourceMatrix)> = None;
            let r = extend(
                Axis { name: "history_half_life", min: 0.25, max: 1e4, integer: false },
                &values,
                chosen,
                top,
                |h| {
                    let (admissible, ndcg, mh) = score(h)?;
                    trials.push((h, ndcg));
                    self.hb.inc(None);
                    if let Some(n) = admissible.filter(|&n| n > found.as_ref().map_or(top, |f| f.1)) {
                        found = Some((h, n, mh));
                    }
                    Ok(admissible)
                },
            )?;
            if let Some((h, t, note)) = r {
                edges.push(note);
                if t > top {
                    if let Some((fh, _, fm)) = found.filter(|f| f.0 == h) {
                        (chosen, top, matrix) = (fh, t, Some(fm));
                    }
                }
            }
        }
        let Some(m) = matrix else { return Ok((0.0, best, m, trials)) };
        // The weights once more over their grids, with the recency weighting in place.
        let mut best = (top, best.1, best.2, best.3);
        for (name, values, field) in weight_axes(self.grid) {
            if name == "w_item" && best.2.is_none() {
                continue;
            }
            for &x in values {
                let Some(w) = varied(best.1, field, x) else { continue };
                let r = m.report(self.set, w);
                if let Some(n) = r.at.get(&10).filter(|a| a.coverage >= self.min_coverage).map(|a| a.ndcg) {
                    if n > best.0 {
                        (best.0, best.1) = (n, w);
                    }
                }
            }
        }
        Ok((chosen, best, m, trials))
    }
}

/// Validation users a history-length segment needs before it gets weights of its own.
pub const MIN_SEGMENT_USERS: usize = 50;

/// Per history-length segment ([`FUSION_SEGMENTS`]: 1 item, 2–4, 5+), coordinate ascent over the
/// weights from the global best, scored on that segment's validation users only (each user's
/// score depends on its own segment's weights alone, so the macro average rises with each
/// segment's). A segment with fewer than [`MIN_SEGMENT_USERS`] users, or whose best stays the
/// global weights, keeps them; the coverage guard applies per segment. Returns the segments (all
/// of them, so the first-match rule holds, or none when every one kept the global weights or one
/// segment holds every user) and the validation NDCG@10 they reach together.
fn fit_segments(
    set: &EvalSet,
    m: &SourceMatrix,
    grid: &Grid,
    best: (f64, FusionWeights),
    with_ease: bool,
    hb: &progress::Heartbeat,
) -> (Vec<FusionSegment>, f64) {
    let als_only = FusionWeights { vector: 0.0, collab: 1.0, popularity: 0.0, item: 0.0, next: 0.0, cold: 0.0 };
    let axes = weight_axes(grid);
    hb.step("fusion per history length", FUSION_SEGMENTS.len() as u64);
    let mut segments = Vec::new();
    let mut shortest = 1usize;
    for up_to in FUSION_SEGMENTS {
        let positions: Vec<usize> =
            (0..set.users.len()).filter(|&p| (shortest..=up_to as usize).contains(&set.history[p].len())).collect();
        shortest = (up_to as usize).saturating_add(1);
        if positions.len() == set.users.len() {
            // One segment holds every user: the global weights are already its best.
            return (Vec::new(), best.0);
        }
        let mut chosen = best.1;
        if positions.len() >= MIN_SEGMENT_USERS {
            let sub = set.subset(&positions);
            let score = |w: FusionWeights| {
                let r = evaluate_par(&sub, &[10], |p, _, out| m.scores(positions[p], w, out));
                r.at.get(&10).map_or((0.0, 0.0), |a| (a.ndcg, a.coverage))
            };
            let min_coverage = grid.min_relative_coverage * score(als_only).1;
            let mut top = score(chosen).0;
            for (name, values, field) in axes {
                if name == "w_item" && !with_ease {
                    continue;
                }
                for &x in values {
                    let Some(w) = varied(chosen, field, x) else { continue };
                    let (ndcg, coverage) = score(w);
                    if ndcg > top && coverage >= min_coverage {
                        (top, chosen) = (ndcg, w);
                    }
                }
            }
        }
        segments.push(FusionSegment { up_to, weights: chosen });
        hb.inc(None);
    }
    if segments.iter().all(|s| s.weights == best.1) {
        return (Vec::new(), best.0);
    }
    let ndcg =
        evaluate_par(set, &[10], |p, hist, out| m.scores(p, fusion_for(best.1, &segments, hist.len()), out)).ndcg(10);
    (segments, ndcg)
}

/// Past the ALS grid: each of α, λ and factors whose best value is a grid edge is stepped outward
/// (log scale) with the others held, while validation NDCG@10 rises (see [`super::edges`]).
#[allow(clippy::too_many_arguments)]
fn extend_als(
    exp: &Experiment,
    set: &EvalSet,
    grid: &Grid,
    base: &BuildConfig,
    best: (f64, AlsConfig, SourceMatrix),
    trials: &mut Vec<(usize, f32, f32, f64)>,
    edges: &mut Vec<EdgeNote>,
    hb: &progress::Heartbeat,
) -> Result<(f64, AlsConfig, SourceMatrix)> {
    let als_only = FusionWeights { vector: 0.0, collab: 1.0, popularity: 0.0, item: 0.0, next: 0.0, cold: 0.0 };
    let mut best = best;
    let factors: Vec<f32> = grid.factors.iter().map(|&f| f as f32).collect();
    let axes: [(Axis, &[f32]); 3] = [
        (Axis { name: "alpha", min: 1e-3, max: 1e3, integer: false }, &grid.alpha),
        (Axis { name: "regularization", min: 1e-4, max: 1e4, integer: false }, &grid.regularization),
        (Axis { name: "factors", min: 1.0, max: 512.0, integer: true }, &factors),
    ];
    for (axis, values) in axes {
        hb.step(&format!("ALS past the grid edge: {}", axis.name), BUDGET as u64);
        let with = |c: AlsConfig, x: f32| match axis.name {
            "alpha" => AlsConfig { alpha: x, ..c },
            "regularization" => AlsConfig { regularization: x, ..c },
            _ => AlsConfig { factors: x as usize, ..c },
        };
        let current = match axis.name {
            "alpha" => best.1.alpha,
            "regularization" => best.1.regularization,
            _ => best.1.factors as f32,
        };
        let (score, cfg0) = (best.0, best.1);
        let mut found: Option<(f64, AlsConfig, SourceMatrix)> = None;
        let r = extend(axis, values, current, score, |x| {
            let als = with(cfg0, x);
            let m = SourceMatrix::compute(exp, &exp.train, set, &BuildConfig { als, ..base.clone() })?;
            let ndcg = m.report(set, als_only).ndcg(10);
            trials.push((als.factors, als.regularization, als.alpha, ndcg));
            hb.inc(Some(ndcg.max(score)));
            if found.as_ref().is_none_or(|f| ndcg > f.0) {
                found = Some((ndcg, als, m));
            }
            Ok(Some(ndcg))
        })?;
        if let Some((_, top, note)) = r {
            edges.push(note);
            if let Some(f) = found.filter(|f| f.0 == top && top > best.0) {
                best = f;
            }
        }
    }
    Ok(best)
}

/// Past the fusion grid: the EASE λ, each weight with more than one grid value, and the
/// popularity half-life, stepped outward from a grid edge while validation NDCG@10 rises (the
/// coverage guard still applies).
#[allow(clippy::too_many_arguments)]
fn extend_fusion(
    exp: &Experiment,
    set: &EvalSet,
    grid: &Grid,
    base: &BuildConfig,
    als: AlsConfig,
    best: FusionBest,
    min_coverage: f64,
    trials: &mut Vec<(Option<f32>, Option<f32>, FusionWeights, f64)>,
    edges: &mut Vec<EdgeNote>,
    hb: &progress::Heartbeat,
) -> Result<(FusionBest, SourceMatrix)> {
    let n_items = exp.data.item_ids.len();
    let mut best = best;
    let matrix = |lambda: Option<f32>, half_life: Option<f32>| -> Result<SourceMatrix> {
        let cfg = BuildConfig { als, ease: lambda.map(|l| (l, NEIGHBORS)), ..base.clone() };
        Ok(SourceMatrix::compute(exp, &exp.train, set, &cfg)?
            .with_popularity(&popularity(n_items, &exp.train, half_life)))
    };
    let admissible = |r: &Report| r.at.get(&10).filter(|m| m.coverage >= min_coverage).map(|m| m.ndcg);
    // EASE λ: each new λ gets the whole weight grid.
    if let Some(lambda) = best.2.filter(|_| best.1.item > 0.0) {
        hb.step("fusion past the grid edge: EASE λ", BUDGET as u64);
        let mut found = best;
        let r = extend(
            Axis { name: "ease_lambda", min: 1e-2, max: 1e6, integer: false },
            &grid.ease_lambda,
            lambda,
            best.0,
            |l| {
                let m = matrix(Some(l), best.3)?;
                let mut top: Option<f64> = None;
                for &c in &grid.collab {
                    for &v in &grid.vector {
                        for &p in &grid.popularity {
                            for &it in grid.item.iter().filter(|&&it| it > 0.0) {
                                let w = FusionWeights {
                                    vector: v,
                                    collab: c,
                                    popularity: p,
                                    item: it,
                                    next: 0.0,
                                    cold: 0.0,
                                };
                                let r = m.report(set, w);
                                trials.push((Some(l), best.3, w, r.ndcg(10)));
                                if let Some(ndcg) = admissible(&r) {
                                    top = Some(top.map_or(ndcg, |t: f64| t.max(ndcg)));
                                    if ndcg > found.0 {
                                        found = (ndcg, w, Some(l), best.3);
                                    }
                                }
                            }
                        }
                    }
                }
                hb.inc(Some(found.0));
                Ok(top)
            },
        )?;
        if let Some((_, _, note)) = r {
            edges.push(note);
            best = found;
        }
    }
    let mut m = matrix(best.2.filter(|_| best.1.item > 0.0), best.3)?;
    // Weights, one at a time (coordinate ascent): the next-item weight first (the grid held it at
    // 0), then the others again with it in place; each over its grid, then past an edge.
    let weights = weight_axes(grid);
    let steps: usize = weights.iter().map(|w| w.1.len() + BUDGET).sum();
    hb.step("fusion: each weight in turn, and past its grid edge", steps as u64);
    for (name, values, field) in weights {
        if name == "w_item" && best.2.is_none() {
            continue;
        }
        for &x in values {
            hb.inc(None);
            let Some(w) = varied(best.1, field, x) else { continue };
            let r = m.report(set, w);
            trials.push((best.2, best.3, w, r.ndcg(10)));
            if let Some(ndcg) = admissible(&r).filter(|&n| n > best.0) {
                best.0 = ndcg;
                best.1 = w;
            }
        }
        let mut w0 = best.1;
        let current = *field(&mut w0);
        let r = extend(Axis { name, min: 0.0, max: 1e3, integer: false }, values, current, best.0, |x| {
            let mut w = best.1;
            *field(&mut w) = x;
            let r = m.report(set, w);
            trials.push((best.2, best.3, w, r.ndcg(10)));
            hb.inc(None);
            Ok(admissible(&r))
        })?;
        if let Some((x, top, note)) = r {
            edges.push(note);
            if top > best.0 {
                *field(&mut best.1) = x;
                best.0 = top;
            }
        }
    }
    // Popularity half-life (0 = plain counts is a switch, not an edge).
    if let Some(hl) = best.3 {
        let values: Vec<f32> = grid.half_life_days.iter().copied().filter(|&h| h > 0.0).collect();
        hb.step("fusion past the grid edge: half-life", BUDGET as u64);
        let r =
            extend(Axis { name: "half_life_days", min: 0.5, max: 1e5, integer: false }, &values, hl, best.0, |h| {
                m = std::mem::replace(&mut m, SourceMatrix::empty()).with_popularity(&popularity(
                    n_items,
                    &exp.train,
                    Some(h),
                ));
                let r = m.report(set, best.1);
                trials.push((best.2, Some(h), best.1, r.ndcg(10)));
                hb.inc(None);
                Ok(admissible(&r))
            })?;
        if let Some((h, top, note)) = r {
            edges.push(note);
            if top > best.0 {
                best.3 = Some(h);
                best.0 = top;
            }
        }
    }
    // The matrix scores the chosen popularity: the search past the half-life's edge left it with
    // the last value it tried (before this, per-length weights were fit on that one).
    let m = m.with_popularity(&popularity(n_items, &exp.train, best.3));
    debug_assert_eq!(admissible(&m.report(set, best.1)), Some(best.0));
    Ok((best, m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::catalog::Product;
    use crate::data::ratings::Interactions;

    /// (user, product, time) rows over products p0…p59, split by the temporal protocol.
    fn sixty_products(rows: &[(String, String, i64)]) -> Experiment {
        let table = Interactions::from_rows(
            rows.iter().enumerate().map(|(n, (u, i, t))| (u.as_str(), i.as_str(), 4.0, *t, n as u64)),
        );
        let catalog: Vec<Product> = (0..60)
            .map(|i| Product { id: format!("p{i}"), title: format!("Product {i}"), ..Product::default() })
            .collect();
        Experiment::split(&table, &catalog)
    }

    /// 90 shoppers each walk 8 steps along a ring of 60 products (p, p+1, …), all of them at step
    /// k in the same time band: validation holds each walk's next step after training.
    fn walks() -> Experiment {
        let mut rows = Vec::new();
        for step in 0..8usize {
            for u in 0..90usize {
                let item = (u * 7 + step) % 60;
                rows.push((format!("u{u}"), format!("p{item}"), (step * 1000 + u) as i64));
            }
        }
        sixty_products(&rows)
    }

    #[test]
    fn a_segment_gets_its_own_weights_where_they_win_there() {
        // 100 one-item histories whose relevant item only the next-item source ranks first, and
        // 100 six-item histories whose relevant item only ALS ranks first.
        let n = 30;
        let mut set = EvalSet { users: vec![], history: vec![], latest: vec![], relevant: vec![], n_items: n };
        let (mut collab, mut next) = (Vec::new(), Vec::new());
        for p in 0..200usize {
            let short = p < 100;
            let relevant = (p % n) as u32;
            let len = if short { 1 } else { 6 };
            let mut h: Vec<u32> = (1..=len).map(|d| ((p + d) % n) as u32).collect();
            h.sort_unstable();
            set.users.push(p as u32);
            set.latest.push(h.iter().rev().copied().collect());
            set.history.push(h);
            set.relevant.push([relevant].into_iter().collect());
            for j in 0..n {
                let noise = ((j * 7 + p) % 11) as f32 / 10.0;
                let hit = j as u32 == relevant;
                collab.push(if hit && !short {
                    5.0
                } else if hit {
                    -1.0
                } else {
                    noise
                });
                next.push(if hit && short {
                    5.0
                } else if hit {
                    -1.0
                } else {
                    1.0 - noise
                });
            }
        }
        let zeros = vec![0.0; 200 * n];
        let m = SourceMatrix::from_sources(n, [collab, zeros.clone(), zeros, next], vec![0.0; n]);
        let global = FusionWeights { vector: 0.0, collab: 1.0, popularity: 0.0, item: 0.0, next: 0.0, cold: 0.0 };
        let before = m.report(&set, global).ndcg(10);
        let hb = progress::Heartbeat::start("test");
        let (segments, after) = fit_segments(&set, &m, &Grid::default(), (before, global), false, &hb);
        assert_eq!(segments.iter().map(|s| s.up_to).collect::<Vec<_>>(), FUSION_SEGMENTS.to_vec());
        assert!(segments[0].weights.next > 0.0, "{segments:?}");
        assert_eq!(segments[1].weights, global, "no users of 2–4 items: the global weights");
        assert_eq!(segments[2].weights, global, "{segments:?}");
        assert!(after > before + 0.4, "{before} → {after}");
        assert_eq!(after, m.report_segmented(&set, global, &segments).ndcg(10));
        // When one segment holds every user (here: the one-item histories alone), the global
        // weights are its weights: no segments.
        let short = set.subset(&(0..100).collect::<Vec<_>>());
        let (none, same) = fit_segments(&short, &m, &Grid::default(), (0.5, global), false, &hb);
        assert!(none.is_empty(), "{none:?}");
        assert_eq!(same, 0.5);
    }

    /// 120 shoppers whose taste moves: 4 products of one group of 10, then 6 of the next group,
    /// each step in its own time band (10 steps: training ends after 7, 4 old and 3 new).
    fn drifting_tastes() -> Experiment {
        let mut rows = Vec::new();
        for step in 0..10usize {
            for u in 0..120usize {
                let item = if step < 4 {
                    (u % 6) * 10 + (u * 3 + step * 7) % 10
                } else {
                    ((u + 1) % 6) * 10 + (u * 7 + (step - 4) * 3) % 10
                };
                rows.push((format!("u{u}"), format!("p{item}"), (step * 1000 + u) as i64));
            }
        }
        sixty_products(&rows)
    }

    #[test]
    fn recency_weighting_is_chosen_where_tastes_move() {
        let exp = drifting_tastes();
        let grid = Grid {
            factors: vec![8],
            regularization: vec![0.5],
            alpha: vec![1.0],
            ease_lambda: vec![],
            half_life_days: vec![0.0],
            // Without the next-item source, which would follow the new group by itself.
            next: vec![0.0],
            ..Grid::default()
        };
        let base = BuildConfig::new(16, AlsConfig::default().iterations(5), false);
        let tuned = tune(&exp, &grid, &base, false).expect("tune");
        assert!(tuned.history_half_life > 0.0, "{:?}", tuned.history_half_life_trials);
        let flat = tuned.history_half_life_trials[0];
        assert_eq!(flat.0, 0.0);
        assert!(tuned.val_ndcg_fusion > flat.1 + 0.05, "{} vs {:?}", tuned.val_ndcg_fusion, flat);
        // The evaluation reads it back: the bundle scores with the same weighting.
        assert_eq!(tuned.apply(&base).history_half_life, tuned.history_half_life);
        // With 0 alone there is nothing to choose.
        let none = tune(&exp, &Grid { history_half_life: vec![0.0], ..grid }, &base, false).expect("tune");
        assert_eq!(none.history_half_life, 0.0);
    }

    #[test]
    fn the_next_item_weight_is_found_where_order_matters() {
        let exp = walks();
        let grid = Grid {
            factors: vec![8],
            regularization: vec![0.5],
            alpha: vec![1.0],
            ease_lambda: vec![],
            half_life_days: vec![0.0],
            ..Grid::default()
        };
        let base = BuildConfig::new(16, AlsConfig::default().iterations(5), false);
        let tuned = tune(&exp, &grid, &base, false).expect("tune");
        assert!(tuned.fusion.next > 0.0, "{:?}", tuned.fusion);
        assert!(
            tuned.val_ndcg_fusion > tuned.val_ndcg_als + 0.1,
            "{} vs {}",
            tuned.val_ndcg_fusion,
            tuned.val_ndcg_als
        );
        // With the next-item weight held at 0 the tuner cannot use it.
        let tuned = tune(&exp, &Grid { next: vec![0.0], ..grid }, &base, false).expect("tune");
        assert_eq!(tuned.fusion.next, 0.0);
    }

    /// 120 shoppers in 6 groups of 10 products whose titles share the group's words: in training
    /// each buys 4 of the group's 8 established products (again and again); then the group's two
    /// new arrivals (p…8, p…9), which no one bought in training, are what they buy next.
    fn new_arrivals() -> Experiment {
        const GROUPS: [&str; 6] = [
            "red wool scarf",
            "steel chef knife",
            "green tea tin",
            "oak desk lamp",
            "blue yoga mat",
            "brass door bell",
        ];
        let mut rows = Vec::new();
        for step in 0..10usize {
            for u in 0..120usize {
                let g = u % 6;
                let item = if step < 7 { g * 10 + (u / 6 + step % 4) % 8 } else { g * 10 + 8 + (u + step) % 2 };
                rows.push((format!("u{u}"), format!("p{item}"), (step * 1000 + u) as i64));
            }
        }
        let table = Interactions::from_rows(
            rows.iter().enumerate().map(|(n, (u, i, t))| (u.as_str(), i.as_str(), 4.0, *t, n as u64)),
        );
        let catalog: Vec<Product> = (0..60)
            .map(|i| Product { id: format!("p{i}"), title: format!("{} {}", GROUPS[i / 10], i), ..Product::default() })
            .collect();
        Experiment::split(&table, &catalog)
    }

    #[test]
    fn the_cold_weight_is_found_where_new_products_sell() {
        let exp = new_arrivals();
        let grid = Grid {
            factors: vec![8],
            regularization: vec![0.5],
            alpha: vec![1.0],
            half_life_days: vec![0.0],
            next: vec![0.0],
            history_half_life: vec![0.0],
            ..Grid::default()
        };
        let base = BuildConfig::new(64, AlsConfig::default().iterations(5), false);
        let tuned = tune(&exp, &grid, &base, false).expect("tune");
        assert!(tuned.fusion.cold > 0.0, "{:?}", tuned.fusion);
        // Held at 0, the tuner cannot reach the new arrivals as well: the text alone ranks them
        // with the group's established products, which the collaborative sources prefer.
        let without = tune(&exp, &Grid { cold: vec![0.0], ..grid }, &base, false).expect("tune");
        assert_eq!(without.fusion.cold, 0.0);
        assert!(
            tuned.val_ndcg_fusion > without.val_ndcg_fusion + 0.1,
            "{} vs {}",
            tuned.val_ndcg_fusion,
            without.val_ndcg_fusion
        );
    }
}
