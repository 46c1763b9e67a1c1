//! `shopai tune` and `shopai evaluate`: the offline protocol of `EVAL_PROTOCOL.md` applied to the
//! same code path the runtimes serve. For each evaluated user the bundle built from the history
//! rows H scores every item through `shopai_core::recommend::source_scores` (ALS fold-in from
//! quantized factors, content centroid, popularity), so what is measured is what ships.

use crate::build::{build_bundle, progress, BuildConfig};
use crate::dataset::{Dataset, Row};
use crate::eval::{eval_set, evaluate, popularity_scores, EvalSet, Report, Variant};
use crate::pipeline::load_processed;
use crate::split::{take, temporal_split};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use shopai_core::als::AlsConfig;
use shopai_core::recommend::{source_scores, RecScratch};
use shopai_core::{Bundle, FusionWeights};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// Cut-offs every report carries.
pub const KS: [usize; 3] = [5, 10, 20];

/// A dataset with the protocol's temporal split.
pub struct Experiment {
    /// Indexed data.
    pub data: Dataset,
    /// First 70% (time order).
    pub train: Vec<Row>,
    /// Next 15%.
    pub val: Vec<Row>,
    /// Last 15%.
    pub test: Vec<Row>,
}

impl Experiment {
    /// Load a processed folder and split it.
    pub fn load(dir: &Path) -> Result<Self> {
        let p = load_processed(dir)?;
        // Every input row is split (duplicates collapse later, in the matrix and the counts).
        let t = p.protocol_rows();
        let data = Dataset::new(t, &p.catalog);
        let s = temporal_split(&t.timestamp, &t.line, 0.70, 0.15);
        let rows = &data.interactions;
        let (train, val, test) = (take(rows, &s.train), take(rows, &s.val), take(rows, &s.test));
        Ok(Self { data, train, val, test })
    }

    /// Train + validation rows.
    pub fn trainval(&self) -> Vec<Row> {
        self.train.iter().chain(&self.val).copied().collect()
    }
}

/// Standardized per-source scores for every evaluated user (row-major users × items).
pub struct SourceMatrix {
    n_items: usize,
    collab: Vec<f32>,
    vector: Vec<f32>,
    item: Vec<f32>,
    /// Popularity does not depend on the user: one standardized vector.
    popularity: Vec<f32>,
    /// Microseconds to compute each user's scores (fold-in + both scans), for latency figures.
    pub micros: Vec<f64>,
}

impl SourceMatrix {
    /// Score every user of `set` with a bundle built from `h`.
    pub fn compute(exp: &Experiment, h: &[Row], set: &EvalSet, cfg: &BuildConfig) -> Result<Self> {
        let bytes = build_bundle(&exp.data, h, &BuildConfig { progress: false, ..cfg.clone() }, "evaluation")?;
        let bundle = Bundle::load(&bytes)?;
        let view = bundle.view();
        let n = exp.data.item_ids.len();
        let mut m = Self {
            n_items: n,
            collab: Vec::with_capacity(set.users.len() * n),
            vector: Vec::with_capacity(set.users.len() * n),
            item: Vec::with_capacity(set.users.len() * n),
            popularity: Vec::new(),
            micros: Vec::with_capacity(set.users.len()),
        };
        let mut scratch = RecScratch::default();
        for hist in &set.history {
            let t = Instant::now();
            source_scores(&view, hist, &mut scratch)?;
            m.micros.push(t.elapsed().as_secs_f64() * 1e6);
            m.collab.extend_from_slice(scratch.collab());
            m.vector.extend_from_slice(scratch.vector());
            m.item.extend_from_slice(scratch.item());
            if m.popularity.is_empty() {
                m.popularity = scratch.popularity().to_vec();
            }
        }
        Ok(m)
    }

    /// No users, no items (a placeholder while a matrix is moved).
    fn empty() -> Self {
        Self {
            n_items: 0,
            collab: Vec::new(),
            vector: Vec::new(),
            item: Vec::new(),
            popularity: Vec::new(),
            micros: Vec::new(),
        }
    }

    /// Replace the popularity source (e.g. with a time-decayed variant), standardized as core does.
    pub fn with_popularity(mut self, raw: &[f32]) -> Self {
        self.popularity = raw.iter().map(|c| c.max(0.0).ln_1p()).collect();
        shopai_core::recommend::standardize(&mut self.popularity);
        self
    }

    /// Metrics of the fused score `w · sources`.
    pub fn report(&self, set: &EvalSet, w: FusionWeights) -> Report {
        let n = self.n_items;
        evaluate(set, &KS, |pos, _, out| {
            let r = pos * n..(pos + 1) * n;
            let sources =
                self.collab[r.clone()].iter().zip(&self.vector[r.clone()]).zip(&self.item[r]).zip(&self.popularity);
            for (o, (((c, v), it), p)) in out.iter_mut().zip(sources) {
                *o = w.collab * c + w.vector * v + w.popularity * p + w.item * it;
            }
        })
    }
}

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

/// Neighbours kept per item for the item-to-item source.
pub const NEIGHBORS: usize = 100;

/// What tuning chose, and the evidence.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tuned {
    /// Chosen ALS factors.
    pub factors: usize,
    /// Chosen regularization.
    pub regularization: f32,
    /// Chosen alpha.
    pub alpha: f32,
    /// Iterations.
    pub iterations: usize,
    /// Seed.
    pub seed: u64,
    /// Chosen fusion weights.
    pub fusion: FusionWeights,
    /// Chosen EASE λ (None: no item-to-item source).
    #[serde(default)]
    pub ease_lambda: Option<f32>,
    /// Chosen popularity half-life in days (None: plain counts).
    #[serde(default)]
    pub popularity_half_life_days: Option<f32>,
    /// How ratings became ALS interaction values.
    #[serde(default)]
    pub confidence: crate::dataset::Confidence,
    /// Validation NDCG@10 ("all") of the chosen ALS alone.
    pub val_ndcg_als: f64,
    /// Validation NDCG@10 ("all") of the chosen fusion.
    pub val_ndcg_fusion: f64,
    /// Every ALS configuration tried: (factors, regularization, alpha, val NDCG@10).
    pub als_trials: Vec<(usize, f32, f32, f64)>,
    /// Every fusion tried: (EASE λ, half-life, weights, val NDCG@10).
    pub fusion_trials: Vec<(Option<f32>, Option<f32>, FusionWeights, f64)>,
    /// Parameters whose best grid value was an edge, how far the search went past it, and whether
    /// the chosen value still sits on the edge (and why).
    #[serde(default)]
    pub edges: Vec<crate::edges::EdgeNote>,
}

impl Tuned {
    /// The ALS configuration.
    pub fn als(&self) -> AlsConfig {
        AlsConfig::default()
            .factors(self.factors)
            .regularization(self.regularization)
            .alpha(self.alpha)
            .iterations(self.iterations)
            .seed(self.seed)
    }

    /// A build configuration with these parameters.
    pub fn apply(&self, base: &BuildConfig) -> BuildConfig {
        BuildConfig {
            als: self.als(),
            fusion: self.fusion,
            ease: self.ease_lambda.map(|l| (l, NEIGHBORS)),
            popularity_half_life_days: self.popularity_half_life_days,
            confidence: self.confidence,
            ..base.clone()
        }
    }

    /// Defaults, untuned.
    pub fn defaults() -> Self {
        let d = AlsConfig::default();
        Self {
            factors: d.factors,
            regularization: d.regularization,
            alpha: d.alpha,
            iterations: d.iterations,
            seed: d.seed,
            fusion: FusionWeights::default(),
            ease_lambda: None,
            popularity_half_life_days: None,
            confidence: Default::default(),
            val_ndcg_als: 0.0,
            val_ndcg_fusion: 0.0,
            als_trials: vec![],
            fusion_trials: vec![],
            edges: vec![],
        }
    }
}

/// Grid-search ALS (alone) and then the fusion weights, on validation (model fit on train).
pub fn tune(exp: &Experiment, grid: &Grid, base: &BuildConfig, show: bool) -> Result<Tuned> {
    let set = eval_set(exp.data.user_ids.len(), exp.data.item_ids.len(), &exp.train, &exp.val, Variant::All);
    let total = grid.factors.len() * grid.regularization.len() * grid.alpha.len();
    let pb = progress(show, total as u64, "tune ALS");
    let hb = crate::heartbeat::Heartbeat::start("tune");
    hb.step("ALS grid", total as u64);
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
    let too_big = n_items > crate::ease::MAX_ITEMS;
    let lambdas: Vec<Option<f32>> = if grid.ease_lambda.is_empty() || too_big {
        vec![None]
    } else {
        grid.ease_lambda.iter().map(|&l| Some(l)).collect()
    };
    let pb = progress(show, lambdas.len() as u64, "tune fusion");
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
            m = m.with_popularity(&crate::build::popularity(n_items, &exp.train, half_life));
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
        hb.inc(Some(best_f.0));
    }
    pb.finish_and_clear();
    let best_f = extend_fusion(exp, &set, grid, base, als, best_f, min_coverage, &mut fusion_trials, &mut edges, &hb)?;
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
        edges,
    })
}

/// Past the ALS grid: each of α, λ and factors whose best value is a grid edge is stepped outward
/// (log scale) with the others held, while validation NDCG@10 rises (see [`crate::edges`]).
#[allow(clippy::too_many_arguments)]
fn extend_als(
    exp: &Experiment,
    set: &EvalSet,
    grid: &Grid,
    base: &BuildConfig,
    best: (f64, AlsConfig, SourceMatrix),
    trials: &mut Vec<(usize, f32, f32, f64)>,
    edges: &mut Vec<crate::edges::EdgeNote>,
    hb: &crate::heartbeat::Heartbeat,
) -> Result<(f64, AlsConfig, SourceMatrix)> {
    use crate::edges::{extend, Axis};
    let als_only = FusionWeights { vector: 0.0, collab: 1.0, popularity: 0.0, item: 0.0 };
    let mut best = best;
    let factors: Vec<f32> = grid.factors.iter().map(|&f| f as f32).collect();
    let axes: [(Axis, &[f32]); 3] = [
        (Axis { name: "alpha", min: 1e-3, max: 1e3, integer: false }, &grid.alpha),
        (Axis { name: "regularization", min: 1e-4, max: 1e4, integer: false }, &grid.regularization),
        (Axis { name: "factors", min: 1.0, max: 512.0, integer: true }, &factors),
    ];
    for (axis, values) in axes {
        hb.step(&format!("ALS past the grid edge: {}", axis.name), crate::edges::BUDGET as u64);
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
    best: (f64, FusionWeights, Option<f32>, Option<f32>),
    min_coverage: f64,
    trials: &mut Vec<(Option<f32>, Option<f32>, FusionWeights, f64)>,
    edges: &mut Vec<crate::edges::EdgeNote>,
    hb: &crate::heartbeat::Heartbeat,
) -> Result<(f64, FusionWeights, Option<f32>, Option<f32>)> {
    use crate::edges::{extend, Axis};
    let n_items = exp.data.item_ids.len();
    let mut best = best;
    let matrix = |lambda: Option<f32>, half_life: Option<f32>| -> Result<SourceMatrix> {
        let cfg = BuildConfig { als, ease: lambda.map(|l| (l, NEIGHBORS)), ..base.clone() };
        Ok(SourceMatrix::compute(exp, &exp.train, set, &cfg)?
            .with_popularity(&crate::build::popularity(n_items, &exp.train, half_life)))
    };
    let admissible = |r: &Report| r.at.get(&10).filter(|m| m.coverage >= min_coverage).map(|m| m.ndcg);
    // EASE λ: each new λ gets the whole weight grid.
    if let Some(lambda) = best.2.filter(|_| best.1.item > 0.0) {
        hb.step("fusion past the grid edge: EASE λ", crate::edges::BUDGET as u64);
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
                                let w = FusionWeights { vector: v, collab: c, popularity: p, item: it };
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
    // Weights, one at a time.
    type Field = fn(&mut FusionWeights) -> &mut f32;
    let weights: [(&'static str, &[f32], Field); 4] = [
        ("w_collab", &grid.collab, |w| &mut w.collab),
        ("w_vector", &grid.vector, |w| &mut w.vector),
        ("w_popularity", &grid.popularity, |w| &mut w.popularity),
        ("w_item", &grid.item, |w| &mut w.item),
    ];
    hb.step("fusion past the grid edge: weights", 4 * crate::edges::BUDGET as u64);
    for (name, values, field) in weights {
        if name == "w_item" && best.2.is_none() {
            continue;
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
        hb.step("fusion past the grid edge: half-life", crate::edges::BUDGET as u64);
        let r =
            extend(Axis { name: "half_life_days", min: 0.5, max: 1e5, integer: false }, &values, hl, best.0, |h| {
                m = std::mem::replace(&mut m, SourceMatrix::empty()).with_popularity(&crate::build::popularity(
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
    Ok(best)
}

/// One variant's metrics on one part and relevance variant.
#[derive(Debug, Clone, Serialize)]
pub struct ModelRow {
    /// Model variant.
    pub model: String,
    /// `val` or `test`, or a test segment.
    pub split: String,
    /// `all` or `pos`.
    pub relevance: Variant,
    /// Metrics.
    pub report: Report,
}

/// The evaluation report.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// Parameters evaluated.
    pub tuned: Tuned,
    /// All rows.
    pub rows: Vec<ModelRow>,
    /// Headline (test, "all", K=10) per model.
    pub headline: BTreeMap<String, crate::eval::AtK>,
    /// Per-user scoring latency in µs on the test bundle (fold-in + scans over the catalog).
    pub latency_us: BTreeMap<String, f64>,
    /// Embedding cost estimate for the catalog with OpenAI text-embedding-3-large.
    pub embedding_cost: BTreeMap<String, f64>,
    /// The search index's recall@10 against exact f32 inner product, with catalog items as queries.
    pub index_recall_at_10: f64,
}

/// Recall@10 of the bundle's vector search (int8 scan + rescoring) against exact f32 inner
/// product over the same f32 vectors, using up to 200 evenly spaced catalog items as queries.
pub fn index_recall(exp: &Experiment, cfg: &BuildConfig) -> Result<f64> {
    let bytes = build_bundle(&exp.data, &exp.train, &BuildConfig { progress: false, ..cfg.clone() }, "index recall")?;
    let bundle = Bundle::load(&bytes)?;
    let view = bundle.view();
    let (dim, n) = (view.vectors.dim, view.n_items());
    let vectors: Vec<f32> = match &exp.data.vectors {
        Some((_, _, v)) => v.clone(),
        None => {
            let e = shopai_core::HashEmbedder::new(dim);
            exp.data.texts.iter().flat_map(|t| e.embed(t)).collect()
        }
    };
    let step = (n / 200).max(1);
    let mut scratch = shopai_core::search::SearchScratch::default();
    let (mut hits, mut total) = (0usize, 0usize);
    for q in (0..n).step_by(step) {
        let query = &vectors[q * dim..(q + 1) * dim];
        let mut exact = shopai_core::topk::TopK::new(10);
        for i in 0..n {
            exact.push(i as u32, shopai_core::als::dot(query, &vectors[i * dim..(i + 1) * dim]));
        }
        let exact: Vec<u32> = exact.drain_sorted().into_iter().map(|s| s.item).collect();
        let got = shopai_core::search::search(&view, query, 10, &shopai_core::search::Filter::default(), &mut scratch)?;
        hits += got.iter().filter(|h| exact.contains(&h.item)).count();
        total += exact.len();
    }
    Ok(hits as f64 / total.max(1) as f64)
}

/// The models reported: `None` weights mean the protocol's popularity (raw counts in H).
fn variants(tuned: &Tuned) -> Vec<(&'static str, Option<FusionWeights>)> {
    let only = |vector, collab, item| Some(FusionWeights { vector, collab, popularity: 0.0, item });
    let mut v = vec![("popularity", None), ("vector-only", only(1.0, 0.0, 0.0)), ("als-only", only(0.0, 1.0, 0.0))];
    if tuned.ease_lambda.is_some() {
        v.push(("item-to-item", only(0.0, 0.0, 1.0)));
    }
    v.push(("fusion", Some(tuned.fusion)));
    v
}

fn percentile(v: &[f64], q: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(((s.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0.0)
}

/// Evaluate the tuned configuration: validation (fit on train) and test (fit on train+val), both
/// relevance variants, each third of the test period, plus latency and cost figures.
pub fn run(exp: &Experiment, tuned: &Tuned, base: &BuildConfig, show: bool) -> Result<EvalReport> {
    let cfg = tuned.apply(base);
    let (nu, ni) = (exp.data.user_ids.len(), exp.data.item_ids.len());
    let trainval = exp.trainval();
    let mut rows = Vec::new();
    let mut latency = Vec::new();
    // Test segments: thirds of the test period, in time order.
    let third = exp.test.len().div_ceil(3);
    let segments: Vec<(String, &[Row])> =
        exp.test.chunks(third.max(1)).enumerate().map(|(k, c)| (format!("test-segment-{}", k + 1), c)).collect();
    let mut parts: Vec<(String, &[Row], &[Row])> =
        vec![("val".into(), &exp.train, &exp.val), ("test".into(), &trainval, &exp.test)];
    parts.extend(segments.iter().map(|(n, c)| (n.clone(), &trainval[..], *c)));
    let pb = progress(show, parts.len() as u64 * 2, "evaluate");
    let hb = crate::heartbeat::Heartbeat::start("evaluate");
    hb.step("parts × relevance variants", parts.len() as u64 * 2);
    for (name, h, e) in parts {
        for relevance in [Variant::All, Variant::Pos] {
            let set = eval_set(nu, ni, h, e, relevance);
            let m = SourceMatrix::compute(exp, h, &set, &cfg)?;
            if name == "test" && relevance == Variant::All {
                latency = m.micros.clone();
            }
            let pop = popularity_scores(ni, h);
            for (model, w) in variants(tuned) {
                let report = match w {
                    None => evaluate(&set, &KS, |_, _, s| s.copy_from_slice(&pop)),
                    Some(w) => m.report(&set, w),
                };
                rows.push(ModelRow { model: model.into(), split: name.clone(), relevance, report });
            }
            pb.inc(1);
            hb.inc(None);
        }
    }
    pb.finish_and_clear();
    let headline = rows
        .iter()
        .filter(|r| r.split == "test" && r.relevance == Variant::All)
        .filter_map(|r| r.report.at.get(&10).map(|m| (r.model.clone(), *m)))
        .collect();
    let tokens: f64 = exp.data.texts.iter().map(|t| (t.len() as f64 / 4.0).ceil()).sum();
    let latency_us = [("p50", 0.5), ("p95", 0.95), ("max", 1.0)]
        .iter()
        .map(|(k, q)| (k.to_string(), percentile(&latency, *q)))
        .collect();
    let embedding_cost = BTreeMap::from([
        ("catalog_tokens_estimate".to_string(), tokens),
        ("usd_per_million_tokens".to_string(), 0.13),
        ("usd_catalog_once".to_string(), tokens / 1e6 * 0.13),
    ]);
    let index_recall_at_10 = index_recall(exp, &cfg)?;
    Ok(EvalReport { tuned: tuned.clone(), rows, headline, latency_us, embedding_cost, index_recall_at_10 })
}

/// The report as one self-contained HTML page.
pub fn html(r: &EvalReport) -> String {
    use std::fmt::Write;
    let mut s = String::from("<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>ShopAI evaluation</title><style>body{font-family:system-ui,sans-serif;max-width:1000px;margin:2rem auto;color:#1d232a}table{border-collapse:collapse;margin:1rem 0}td,th{padding:.2rem .6rem;border-bottom:1px solid #ddd}td.n{text-align:right;font-variant-numeric:tabular-nums}figcaption{font-weight:600}svg{width:100%;max-width:640px;background:#fafafa}</style><h1>Offline evaluation</h1>");
    let _ = write!(s, "<p>Protocol: temporal 70/15/15, tuned on validation (model fit on train), reported on test (model re-fit on train+val). ALS factors {}, λ {}, α {}; fusion weights vector {}, collab {}, popularity {}.</p>",
        r.tuned.factors, r.tuned.regularization, r.tuned.alpha, r.tuned.fusion.vector, r.tuned.fusion.collab, r.tuned.fusion.popularity);
    let bars: Vec<(String, u64)> =
        r.headline.iter().map(|(k, m)| (k.clone(), (m.ndcg * 10000.0).round() as u64)).collect();
    s.push_str(&crate::eda::bars("Test NDCG@10 × 10⁴ (relevance: all)", &bars));
    for split in ["test", "val", "test-segment-1", "test-segment-2", "test-segment-3"] {
        for relevance in [Variant::All, Variant::Pos] {
            let rows: Vec<&ModelRow> = r.rows.iter().filter(|x| x.split == split && x.relevance == relevance).collect();
            if rows.is_empty() {
                continue;
            }
            let _ = write!(
                s,
                "<h2>{split}, relevance {relevance:?} ({} users)</h2><table><tr><th>model</th>",
                rows[0].report.users
            );
            for k in KS {
                let _ = write!(s, "<th>P@{k}</th><th>R@{k}</th><th>NDCG@{k}</th><th>Cov@{k}</th>");
            }
            s.push_str("</tr>");
            for row in rows {
                let _ = write!(s, "<tr><td>{}</td>", crate::eda::esc(&row.model));
                for k in KS {
                    let m = row.report.at.get(&k).copied().unwrap_or_default();
                    let _ = write!(
                        s,
                        "<td class=n>{:.4}</td><td class=n>{:.4}</td><td class=n>{:.4}</td><td class=n>{:.4}</td>",
                        m.precision, m.recall, m.ndcg, m.coverage
                    );
                }
                s.push_str("</tr>");
            }
            s.push_str("</table>");
        }
    }
    let _ = writeln!(s, "<h2>Serving cost</h2><p>Per-user scoring (fold-in + scoring the whole catalog from the bundle), native: p50 {:.0} µs, p95 {:.0} µs. Embedding the catalog once with text-embedding-3-large: ≈{:.0} tokens, ≈${:.4}. Vector index recall@10 against exact f32: {:.4}.</p></html>",
        r.latency_us.get("p50").copied().unwrap_or(0.0), r.latency_us.get("p95").copied().unwrap_or(0.0),
        r.embedding_cost["catalog_tokens_estimate"], r.embedding_cost["usd_catalog_once"], r.index_recall_at_10);
    s
}
