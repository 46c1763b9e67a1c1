//! `shopai evaluate`: the offline protocol of `EVAL_PROTOCOL.md` applied to the same code path the
//! runtimes serve. For each evaluated user the bundle built from the history rows H scores every
//! item through `shopai_core::recommend::source_scores` (ALS fold-in from quantized factors,
//! content centroid, EASE neighbours, popularity) and fuses them with
//! `shopai_core::recommend::fuse`, so what is measured is what ships. The per-source scores
//! ([`SourceMatrix`]) are what `tune` (see [`super::tune`]) searches over.

use super::protocol::{eval_set, evaluate, evaluate_par, popularity_scores, AtK, EvalSet, Report, Variant};
use crate::assemble::{build_bundle, BuildConfig};
use crate::config::Confidence;
use crate::data::catalog::Product;
use crate::data::dataset::{Dataset, Row};
use crate::data::processed::load_processed;
use crate::data::ratings::Interactions;
use crate::data::split::{take, Protocol};
use crate::index::transitions::TransitionConfig;
use crate::index::vectors::{IndexKind, IndexOptions};
use crate::io::progress;
use crate::report::{self, esc};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use shopai_core::als::AlsConfig;
use shopai_core::bundle::fusion_for;
use shopai_core::recommend::{cold_factor, fuse, popularity_source, source_scores, History, RecScratch, ScoreParts};
use shopai_core::{Bundle, FusionSegment, FusionWeights};
use std::collections::BTreeMap;
use std::path::Path;

/// Cut-offs every report carries.
pub const KS: [usize; 3] = [5, 10, 20];

/// A dataset split by an evaluation protocol.
pub struct Experiment {
    /// Indexed data.
    pub data: Dataset,
    /// How it was split.
    pub protocol: Protocol,
    /// Training rows (temporal: the first 70%), in time order.
    pub train: Vec<Row>,
    /// Validation rows (temporal: the next 15%).
    pub val: Vec<Row>,
    /// Test rows (temporal: the last 15%).
    pub test: Vec<Row>,
}

impl Experiment {
    /// Load a processed folder and split it.
    pub fn load(dir: &Path, protocol: Protocol) -> Result<Self> {
        let p = load_processed(dir)?;
        // Every input row is split (duplicates collapse later, in the matrix and the counts).
        Ok(Self::split_by(p.protocol_rows(), &p.catalog, protocol))
    }

    /// Index `table` against `catalog` and split it 70/15/15 in time order.
    pub fn split(table: &Interactions, catalog: &[Product]) -> Self {
        Self::split_by(table, catalog, Protocol::Temporal)
    }

    /// Index `table` against `catalog` and split it by `protocol`.
    pub fn split_by(table: &Interactions, catalog: &[Product], protocol: Protocol) -> Self {
        let data = Dataset::new(table, catalog);
        let users: Vec<u32> = data.interactions.iter().map(|r| r.0).collect();
        let s = protocol.split(&users, &table.timestamp, &table.line);
        let rows = &data.interactions;
        let (train, val, test) = (take(rows, &s.train), take(rows, &s.val), take(rows, &s.test));
        Self { data, protocol, train, val, test }
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
    next: Vec<f32>,
    /// Popularity does not depend on the user: one standardized vector.
    popularity: Vec<f32>,
    /// Each item's `cold_factor` of the served bundle's popularity counts: the cold source is the
    /// content score times it (as core computes it).
    cold_scale: Vec<f32>,
}

impl SourceMatrix {
    /// Score every user of `set` with a bundle built from `h` (with next-item transitions, so
    /// their weight can be tuned, whether or not `cfg` asks for them), histories weighted by
    /// `cfg.history_half_life`.
    pub fn compute(exp: &Experiment, h: &[Row], set: &EvalSet, cfg: &BuildConfig) -> Result<Self> {
        Self::from_bundle(&Self::bundle(exp, h, cfg)?, set, cfg.history_half_life)
    }

    /// The bundle [`SourceMatrix::compute`] scores with, for scoring it again
    /// ([`SourceMatrix::from_bundle`]) with other recency weights.
    ///
    /// Recommendations read only the int8 codes, which every index kind codes alike: the
    /// bundle gets the plain scan, so no trial builds a graph or runs `--index auto`'s recall
    /// check (and logs its decision) for a search nobody makes.
    pub fn bundle(exp: &Experiment, h: &[Row], cfg: &BuildConfig) -> Result<Vec<u8>> {
        let transitions = Some(cfg.transitions.unwrap_or_default());
        let index = IndexOptions { kind: IndexKind::Flat, refine: Some(false), ..cfg.index };
        build_bundle(&exp.data, h, &BuildConfig { progress: false, transitions, index, ..cfg.clone() }, "evaluation")
    }

    /// Score every user of `set` with the bundle `bytes`, histories weighted by recency with
    /// `half_life` (distinct items; 0: none).
    pub fn from_bundle(bytes: &[u8], set: &EvalSet, half_life: f32) -> Result<Self> {
        let bundle = Bundle::load(bytes)?;
        let view = bundle.view();
        let n = view.n_items();
        let mut m = Self {
            n_items: n,
            collab: Vec::with_capacity(set.users.len() * n),
            vector: Vec::with_capacity(set.users.len() * n),
            item: Vec::with_capacity(set.users.len() * n),
            next: Vec::with_capacity(set.users.len() * n),
            popularity: Vec::new(),
            cold_scale: view.popularity.iter().map(|&c| cold_factor(c)).collect(),
        };
        let mut scratch = RecScratch::default();
        for (hist, latest) in set.history.iter().zip(&set.latest) {
            let history = History::from_latest_first(latest, half_life);
            debug_assert_eq!(&history.items, hist);
            source_scores(&view, &history, &mut scratch)?;
            m.collab.extend_from_slice(scratch.collab());
            m.vector.extend_from_slice(scratch.vector());
            m.item.extend_from_slice(scratch.item());
            m.next.extend_from_slice(scratch.next());
            if m.popularity.is_empty() {
                m.popularity = scratch.popularity().to_vec();
            }
        }
        Ok(m)
    }

    /// A matrix from given standardized sources (row-major users × items; one popularity row).
    #[cfg(test)]
    pub(crate) fn from_sources(n_items: usize, sources: [Vec<f32>; 4], popularity: Vec<f32>) -> Self {
        let [collab, vector, item, next] = sources;
        Self { n_items, collab, vector, item, next, popularity, cold_scale: vec![1.0; n_items] }
    }

    /// No users, no items (a placeholder while a matrix is moved).
    pub fn empty() -> Self {
        Self {
            n_items: 0,
            collab: Vec::new(),
            vector: Vec::new(),
            item: Vec::new(),
            next: Vec::new(),
            popularity: Vec::new(),
            cold_scale: Vec::new(),
        }
    }

    /// Replace the popularity source (e.g. with a time-decayed variant), standardized as core does;
    /// the cold source scales by these counts too, as a bundle storing them would.
    pub fn with_popularity(mut self, raw: &[f32]) -> Self {
        popularity_source(raw, &mut self.popularity);
        self.cold_scale = raw.iter().map(|&c| cold_factor(c)).collect();
        self
    }

    /// The fused score of every item for the user at `pos` of the evaluation set (core's `fuse`).
    pub fn scores(&self, pos: usize, w: FusionWeights, out: &mut [f32]) {
        let r = pos * self.n_items..(pos + 1) * self.n_items;
        let sources = self.collab[r.clone()]
            .iter()
            .zip(&self.vector[r.clone()])
            .zip(&self.item[r.clone()])
            .zip(&self.next[r])
            .zip(&self.popularity)
            .zip(&self.cold_scale);
        for (o, (((((&collab, &vector), &item), &next), &popularity), &scale)) in out.iter_mut().zip(sources) {
            *o = fuse(&w, &ScoreParts { vector, collab, popularity, item, next, cold: vector * scale });
        }
    }

    /// Metrics of the fused score `w · sources`.
    pub fn report(&self, set: &EvalSet, w: FusionWeights) -> Report {
        evaluate_par(set, &KS, |pos, _, out| self.scores(pos, w, out))
    }

    /// Metrics of the fused score with `w`, or a segment's weights for the histories it takes
    /// (core's `fusion_for`, as the runtimes choose).
    pub fn report_segmented(&self, set: &EvalSet, w: FusionWeights, segments: &[FusionSegment]) -> Report {
        evaluate_par(set, &KS, |pos, hist, out| self.scores(pos, fusion_for(w, segments, hist.len()), out))
    }
}

/// Neighbours kept per item for the item-to-item source.
pub const NEIGHBORS: usize = 100;

/// The parameters an evaluation runs with: what tuning chose, and the evidence.
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
    /// Weights per history-length segment where validation preferred them (empty: none).
    #[serde(default)]
    pub fusion_segments: Vec<FusionSegment>,
    /// Chosen EASE λ (None: no item-to-item source).
    #[serde(default)]
    pub ease_lambda: Option<f32>,
    /// EASE weights kept per item (None: [`NEIGHBORS`]); a larger value measures what the
    /// truncation costs (`scripts/bench-recsys.sh` with `FULL_EASE=1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ease_neighbors: Option<usize>,
    /// Chosen popularity half-life in days (None: plain counts).
    #[serde(default)]
    pub popularity_half_life_days: Option<f32>,
    /// The split it was chosen on (and `evaluate` reports on unless told otherwise).
    #[serde(default)]
    pub protocol: Protocol,
    /// Chosen recency weighting of histories: half-life in distinct items (0: none).
    #[serde(default)]
    pub history_half_life: f32,
    /// Every history half-life tried, with the fusion weights held: (half-life, val NDCG@10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history_half_life_trials: Vec<(f32, f64)>,
    /// How ratings became ALS interaction values.
    #[serde(default)]
    pub confidence: Confidence,
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
    pub edges: Vec<super::edges::EdgeNote>,
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

    /// Whether any of the weights (global or a segment's) gives `weight` a value above 0.
    fn uses(&self, weight: fn(&FusionWeights) -> f32) -> bool {
        weight(&self.fusion) > 0.0 || self.fusion_segments.iter().any(|s| weight(&s.weights) > 0.0)
    }

    /// A build configuration with these parameters.
    pub fn apply(&self, base: &BuildConfig) -> BuildConfig {
        BuildConfig {
            als: self.als(),
            fusion: self.fusion,
            fusion_segments: self.fusion_segments.clone(),
            ease: self.ease_lambda.map(|l| (l, self.ease_neighbors.unwrap_or(NEIGHBORS))),
            transitions: self.uses(|w| w.next).then(TransitionConfig::default),
            popularity_half_life_days: self.popularity_half_life_days,
            history_half_life: self.history_half_life,
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
            fusion_segments: Vec::new(),
            ease_lambda: None,
            ease_neighbors: None,
            popularity_half_life_days: None,
            protocol: Protocol::Temporal,
            history_half_life: 0.0,
            history_half_life_trials: Vec::new(),
            confidence: Default::default(),
            val_ndcg_als: 0.0,
            val_ndcg_fusion: 0.0,
            als_trials: vec![],
            fusion_trials: vec![],
            edges: vec![],
        }
    }
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
    pub headline: BTreeMap<String, AtK>,
    /// Per-user serving latency in µs on the test bundle: `shopai_core::recommend::recommend` for
    /// each test user's history, top 10 with explanations, seen items excluded — what the edge
    /// and the npm package run per request, after parsing.
    pub latency_us: BTreeMap<String, f64>,
    /// Embedding cost estimate for the catalog with OpenAI text-embedding-3-large.
    pub embedding_cost: BTreeMap<String, f64>,
    /// The search index's recall@10 against exact f32 inner product, with catalog items as queries.
    pub index_recall_at_10: f64,
}

/// Recall@10 of the bundle's vector search (its index — graph, sign bits or int8 scan — then the
/// rescoring) against exact f32 inner product over the same f32 vectors, using up to 200 evenly
/// spaced catalog items as queries.
pub fn index_recall(exp: &Experiment, cfg: &BuildConfig) -> Result<f64> {
    let bytes = build_bundle(&exp.data, &exp.train, &BuildConfig { progress: false, ..cfg.clone() }, "index recall")?;
    let bundle = Bundle::load(&bytes)?;
    let view = bundle.view();
    let (dim, n) = (view.vectors.dim, view.n_items());
    let vectors: Vec<f32> = match &exp.data.vectors {
        Some(v) => v.values.clone(),
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
            exact.push(i as u32, shopai_core::math::dot(query, &vectors[i * dim..(i + 1) * dim]));
        }
        let exact: Vec<u32> = exact.drain_sorted().into_iter().map(|s| s.item).collect();
        let q = shopai_core::search::SearchQuery { vector: Some(query), top_k: 10, ..Default::default() };
        let got = shopai_core::search::search(&view, &q, &mut scratch)?.hits;
        hits += got.iter().filter(|h| exact.contains(&h.item)).count();
        total += exact.len();
    }
    Ok(hits as f64 / total.max(1) as f64)
}

/// The models reported: `None` weights mean the protocol's popularity (raw counts in H).
fn variants(tuned: &Tuned) -> Vec<(&'static str, Option<FusionWeights>)> {
    let only =
        |vector, collab, item, next| Some(FusionWeights { vector, collab, popularity: 0.0, item, next, cold: 0.0 });
    let mut v =
        vec![("popularity", None), ("vector-only", only(1.0, 0.0, 0.0, 0.0)), ("als-only", only(0.0, 1.0, 0.0, 0.0))];
    if tuned.ease_lambda.is_some() {
        v.push(("item-to-item", only(0.0, 0.0, 1.0, 0.0)));
    }
    v.push(("next-item", only(0.0, 0.0, 0.0, 1.0)));
    v.push(("fusion", Some(tuned.fusion)));
    v
}

fn percentile(v: &[f64], q: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(((s.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0.0)
}

/// Microseconds `recommend` takes for each user of `set` on the bundle `bytes` (its own fusion
/// weights, top 10, the history excluded as the runtimes exclude it), one thread.
fn served_latency(bytes: &[u8], set: &EvalSet) -> Result<Vec<f64>> {
    let bundle = Bundle::load(bytes)?;
    let oldest_first: Vec<Vec<u32>> = set.latest.iter().map(|l| l.iter().rev().copied().collect()).collect();
    crate::bench::recommend::time_recommend(&bundle.view(), &oldest_first, &mut RecScratch::default())
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
    if exp.protocol == Protocol::Temporal {
        // (Under leave-last-out the test rows are each shopper's last: no period to cut.)
        parts.extend(segments.iter().map(|(n, c)| (n.clone(), &trainval[..], *c)));
    }
    let pb = progress::bar(show, parts.len() as u64 * 2, "evaluate");
    let hb = progress::Heartbeat::start("evaluate");
    hb.step("parts × relevance variants", parts.len() as u64 * 2);
    for (name, h, e) in parts {
        for relevance in [Variant::All, Variant::Pos] {
            let set = eval_set(nu, ni, h, e, relevance);
            let bytes = SourceMatrix::bundle(exp, h, &cfg)?;
            let m = SourceMatrix::from_bundle(&bytes, &set, cfg.history_half_life)?;
            if name == "test" && relevance == Variant::All {
                latency = served_latency(&bytes, &set)?;
            }
            let pop = popularity_scores(ni, h);
            for (model, w) in variants(tuned) {
                let report = match w {
                    None => evaluate(&set, &KS, |_, _, s| s.copy_from_slice(&pop)),
                    Some(w) if model == "fusion" => m.report_segmented(&set, w, &tuned.fusion_segments),
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
    let _ = write!(s, "<p>Protocol: {}; tuned on validation (model fit on train), reported on test (model re-fit on train+val). ALS factors {}, λ {}, α {}; fusion weights vector {}, collab {}, popularity {}.</p>",
        esc(r.tuned.protocol.describe()), r.tuned.factors, r.tuned.regularization, r.tuned.alpha, r.tuned.fusion.vector, r.tuned.fusion.collab, r.tuned.fusion.popularity);
    let bars: Vec<(String, u64)> =
        r.headline.iter().map(|(k, m)| (k.clone(), (m.ndcg * 10000.0).round() as u64)).collect();
    s.push_str(&report::bars("Test NDCG@10 × 10⁴ (relevance: all)", &bars));
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
                let _ = write!(s, "<tr><td>{}</td>", esc(&row.model));
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
    let _ = writeln!(s, "<h2>Serving cost</h2><p>Per-user serving (<code>recommend</code>: the sources the fusion weighs over the whole catalog, top 10 with explanations), native, one thread: p50 {:.0} µs, p95 {:.0} µs. Embedding the catalog once with text-embedding-3-large: ≈{:.0} tokens, ≈${:.4}. Vector index recall@10 against exact f32: {:.4}.</p></html>",
        r.latency_us.get("p50").copied().unwrap_or(0.0), r.latency_us.get("p95").copied().unwrap_or(0.0),
        r.embedding_cost["catalog_tokens_estimate"], r.embedding_cost["usd_catalog_once"], r.index_recall_at_10);
    s
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::evaluation::protocol::rankings;
    use shopai_core::service::{answer_recommend, RecommendRequest, Scratch};

    /// 40 users in 4 taste groups over 60 products, one interaction per time step.
    pub(crate) fn experiment() -> Experiment {
        let mut rng = shopai_core::math::SplitMix64::new(3);
        let mut rows = Vec::new();
        for u in 0..40 {
            for i in 0..60 {
                if (i % 4 == u % 4 && rng.next_f32() < 0.35) || rng.next_f32() < 0.03 {
                    rows.push((format!("u{u}"), format!("p{i}")));
                }
            }
        }
        // Interleave users in time so every user has rows in each part of the split.
        rows.sort_by_key(|(u, i)| (i.clone(), u.clone()));
        let n = rows.len();
        let table = Interactions::from_rows(
            rows.iter().enumerate().map(|(t, (u, i))| (u.as_str(), i.as_str(), 4.0, ((t * 7919) % n) as i64, t as u64)),
        );
        let catalog: Vec<Product> = (0..60)
            .map(|i| Product {
                id: format!("p{i}"),
                title: format!("Product {i} of group {}", i % 4),
                categories: vec![format!("g{}", i % 4)],
                ..Product::default()
            })
            .collect();
        Experiment::split(&table, &catalog)
    }

    /// What `evaluate`/`tune` measure for a user is exactly what `recommend` serves that user
    /// from the same bundle: same items, same order, same scores.
    #[test]
    fn evaluated_ranking_equals_the_served_recommendation() {
        let exp = experiment();
        let cfg = BuildConfig {
            out: Default::default(),
            dims: 16,
            als: AlsConfig::default().factors(8).iterations(5),
            fusion: FusionWeights { vector: 0.3, collab: 1.0, popularity: 0.2, item: 0.5, next: 0.4, cold: 0.3 },
            // Short histories get other weights (per-segment weights are served as evaluated).
            fusion_segments: vec![shopai_core::FusionSegment {
                up_to: 4,
                weights: FusionWeights { vector: 0.1, collab: 0.5, popularity: 0.8, item: 1.0, next: 2.0, cold: 0.0 },
            }],
            // Recency-weighted histories (the stored history's order is the evaluated one).
            history_half_life: 2.0,
            progress: false,
            eval: None,
            ease: Some((50.0, NEIGHBORS)),
            transitions: Some(TransitionConfig::default()),
            popularity_half_life_days: None,
            confidence: Default::default(),
            index: Default::default(),
            search: Default::default(),
            als_factors: None,
            demotions: Vec::new(),
        };
        let set = eval_set(exp.data.user_ids.len(), exp.data.item_ids.len(), &exp.train, &exp.val, Variant::All);
        assert!(set.users.len() >= 20, "{} evaluated users", set.users.len());
        let m = SourceMatrix::compute(&exp, &exp.train, &set, &cfg).expect("sources");
        let weights = |hist: &[u32]| fusion_for(cfg.fusion, &cfg.fusion_segments, hist.len());
        assert!(set.history.iter().any(|h| h.len() <= 4) && set.history.iter().any(|h| h.len() > 4));
        let lists = rankings(&set, 10, |pos, hist, out| m.scores(pos, weights(hist), out));
        let bundle =
            Bundle::load(&build_bundle(&exp.data, &exp.train, &cfg, "evaluation").expect("build")).expect("load");
        let view = bundle.view();
        let mut scores = vec![0f32; exp.data.item_ids.len()];
        let mut scratch = Scratch::default();
        for (pos, &u) in set.users.iter().enumerate() {
            let req = RecommendRequest {
                user_id: Some(exp.data.user_ids[u as usize].clone()),
                top_k: Some(10),
                ..RecommendRequest::default()
            };
            let served = answer_recommend(&view, &req, &mut scratch).expect("recommend");
            let served_items: Vec<u32> =
                served.results.iter().map(|r| view.item_index(&r.product_id).expect("known")).collect();
            assert_eq!(served_items, lists[pos], "user {u}");
            m.scores(pos, weights(&set.history[pos]), &mut scores);
            for r in &served.results {
                let i = view.item_index(&r.product_id).expect("known") as usize;
                assert_eq!(r.score.to_bits(), scores[i].to_bits(), "user {u}, item {i}");
            }
        }
    }
}
