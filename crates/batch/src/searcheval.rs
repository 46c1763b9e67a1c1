//! `shopai evaluate-search`: nDCG@10 and recall@10 of lexical, vector and hybrid search against
//! graded relevance labels, and the hybrid setting (weighted lexical term or reciprocal-rank
//! fusion) that evaluation picks.
//!
//! Grades may be fractional (judgement sets average several raters: `2.33`). Gains are
//! `2^grade − 1` (exponential, the default) or the grade itself (linear), discounted by
//! `log2(rank + 1)`; the ideal ranking is the labels sorted by grade. Recall@10 counts the labels
//! whose grade reaches the relevance threshold (default 1), averaged over the queries that have
//! one. Queries without a positive label are skipped (and counted). Every search goes through
//! core's `hybrid_search_with`, as runtimes answer; the report names the vector index searched.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use shopai_core::search::{hybrid_search_with, Filter, SearchOptions, SearchScratch};
use shopai_core::BundleView;
use std::collections::HashMap;
use std::path::Path;

/// Ranking depth.
pub const K: usize = 10;
/// Lexical weights tried for the weighted hybrid (0: the vector ranking alone, BM25 unused).
pub const WEIGHTS: [f32; 8] = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0];

/// Queries and their graded labels, as item indices of one bundle.
#[derive(Debug, Default)]
pub struct LabelSet {
    /// (query id, text).
    pub queries: Vec<(String, String)>,
    /// Grade per (query, item); only grades > 0 are kept.
    pub grades: Vec<HashMap<u32, f64>>,
    /// Label rows naming a product the bundle does not have.
    pub unknown_products: usize,
}

/// Read `query_id,query` and `query_id,product_id,grade` CSVs against `view`'s catalog.
pub fn read_labels(view: &BundleView<'_>, queries: &Path, labels: &Path) -> Result<LabelSet> {
    let mut set = LabelSet::default();
    let mut index = HashMap::new();
    let mut rdr = csv::Reader::from_path(queries).with_context(|| format!("reading {}", queries.display()))?;
    for (line, rec) in rdr.records().enumerate() {
        let rec = rec.with_context(|| format!("{} line {}", queries.display(), line + 2))?;
        let (Some(id), Some(text)) = (rec.get(0), rec.get(1)) else {
            bail!("{} line {}: expected query_id,query", queries.display(), line + 2)
        };
        index.insert(id.to_string(), set.queries.len());
        set.queries.push((id.to_string(), text.to_string()));
        set.grades.push(HashMap::new());
    }
    let mut rdr = csv::Reader::from_path(labels).with_context(|| format!("reading {}", labels.display()))?;
    for (line, rec) in rdr.records().enumerate() {
        let rec = rec.with_context(|| format!("{} line {}", labels.display(), line + 2))?;
        let (Some(q), Some(p), Some(g)) = (rec.get(0), rec.get(1), rec.get(2)) else {
            bail!("{} line {}: expected query_id,product_id,grade", labels.display(), line + 2)
        };
        let Some(&qi) = index.get(q) else { bail!("{} line {}: unknown query id {q:?}", labels.display(), line + 2) };
        let grade: f64 = g
            .trim()
            .parse()
            .ok()
            .filter(|x: &f64| x.is_finite() && *x >= 0.0)
            .with_context(|| format!("{} line {}: grade {g:?} is not a number ≥ 0", labels.display(), line + 2))?;
        match view.item_index(p) {
            Some(i) if grade > 0.0 => {
                set.grades[qi].insert(i, grade);
            }
            Some(_) => {}
            None => set.unknown_products += 1,
        }
    }
    Ok(set)
}

/// How a grade becomes a gain in nDCG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Gain {
    /// `2^grade − 1` (Burges et al.; stresses the top grades).
    #[default]
    Exponential,
    /// The grade itself (TREC-style).
    Linear,
}

impl Gain {
    /// The gain of one grade.
    pub fn of(self, grade: f64) -> f64 {
        match self {
            Self::Exponential => grade.exp2() - 1.0,
            Self::Linear => grade,
        }
    }
}

/// How labels are scored.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scoring {
    /// Gain of a grade in nDCG.
    pub gain: Gain,
    /// Smallest grade that counts as relevant for recall.
    pub relevance_threshold: f64,
}

impl Default for Scoring {
    fn default() -> Self {
        Self { gain: Gain::Exponential, relevance_threshold: 1.0 }
    }
}

/// nDCG@K of `ranked` against `grades` with exponential gains.
pub fn ndcg(ranked: &[u32], grades: &HashMap<u32, f64>) -> f64 {
    ndcg_with(ranked, grades, Gain::Exponential)
}

/// nDCG@K of `ranked` against `grades` with the given gain.
pub fn ndcg_with(ranked: &[u32], grades: &HashMap<u32, f64>, gain: Gain) -> f64 {
    let gain = |g: f64| gain.of(g);
    let dcg: f64 = ranked
        .iter()
        .take(K)
        .enumerate()
        .map(|(r, i)| gain(*grades.get(i).unwrap_or(&0.0)) / (r as f64 + 2.0).log2())
        .sum();
    let mut ideal: Vec<f64> = grades.values().copied().collect();
    ideal.sort_unstable_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal.iter().take(K).enumerate().map(|(r, &g)| gain(g) / (r as f64 + 2.0).log2()).sum();
    if idcg > 0.0 {
        dcg / idcg
    } else {
        0.0
    }
}

/// Recall@K of `ranked` against the labelled items (every positive grade relevant).
pub fn recall(ranked: &[u32], grades: &HashMap<u32, f64>) -> f64 {
    recall_with(ranked, grades, f64::MIN_POSITIVE).unwrap_or(0.0)
}

/// Recall@K counting the items graded at least `threshold`; `None` when the query has none.
pub fn recall_with(ranked: &[u32], grades: &HashMap<u32, f64>, threshold: f64) -> Option<f64> {
    let relevant = grades.values().filter(|&&g| g >= threshold).count();
    if relevant == 0 {
        return None;
    }
    let hits = ranked.iter().take(K).filter(|i| grades.get(i).is_some_and(|&g| g >= threshold)).count();
    Some(hits as f64 / relevant as f64)
}

/// One evaluated setting.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModeResult {
    /// `lexical`, `vector`, `hybrid` or `rrf`.
    pub mode: String,
    /// Lexical weight (hybrid only).
    pub lexical_weight: f32,
    /// Mean nDCG@10.
    pub ndcg_at_10: f64,
    /// Mean recall@10.
    pub recall_at_10: f64,
}

/// The report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchEvalReport {
    /// Queries with at least one label.
    pub queries: usize,
    /// Queries skipped for having no label.
    pub skipped_queries: usize,
    /// Label rows naming unknown products.
    pub unknown_products: usize,
    /// Embedding model of the query vectors.
    pub model: String,
    /// The vector index searched (`flat`, `signs`, or `graph (ef_search N)`).
    #[serde(default)]
    pub index: String,
    /// Gain and relevance threshold used.
    #[serde(default)]
    pub scoring: Scoring,
    /// Queries with a label at or above the relevance threshold (recall averages over these).
    #[serde(default)]
    pub recall_queries: usize,
    /// Lexical weights tried beyond the grid's largest (the best sat on the edge), with nDCG@10.
    #[serde(default)]
    pub beyond_grid: Option<crate::edges::EdgeNote>,
    /// Lexical only.
    pub lexical: ModeResult,
    /// Vector only.
    pub vector: ModeResult,
    /// The best weighted hybrid (by nDCG@10).
    pub hybrid: ModeResult,
    /// Reciprocal-rank fusion.
    pub rrf: ModeResult,
    /// Every weighted hybrid tried.
    pub hybrid_grid: Vec<ModeResult>,
    /// What evaluation picks for the bundle's `search` settings: the better of `hybrid` and `rrf`.
    pub chosen: shopai_core::SearchWeights,
    /// Per query, per mode, the ranked product ids (for audit and reference checks).
    pub rankings: Vec<QueryRanking>,
}

/// The report without the rankings (what the command prints).
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    /// Queries with at least one label.
    pub queries: usize,
    /// Queries skipped for having no label.
    pub skipped_queries: usize,
    /// Label rows naming unknown products.
    pub unknown_products: usize,
    /// Embedding model of the query vectors.
    pub model: &'a str,
    /// The vector index searched.
    pub index: &'a str,
    /// Gain and relevance threshold used.
    pub scoring: &'a Scoring,
    /// Lexical weights tried beyond the grid.
    pub beyond_grid: &'a Option<crate::edges::EdgeNote>,
    /// Lexical only.
    pub lexical: &'a ModeResult,
    /// Vector only.
    pub vector: &'a ModeResult,
    /// The best weighted hybrid.
    pub hybrid: &'a ModeResult,
    /// Reciprocal-rank fusion.
    pub rrf: &'a ModeResult,
    /// The setting evaluation picks.
    pub chosen: &'a shopai_core::SearchWeights,
    /// Where the full report is.
    pub report: &'a Path,
}

impl SearchEvalReport {
    /// The printable summary.
    pub fn summary<'a>(&'a self, report: &'a Path) -> Summary<'a> {
        Summary {
            queries: self.queries,
            skipped_queries: self.skipped_queries,
            unknown_products: self.unknown_products,
            model: &self.model,
            index: &self.index,
            scoring: &self.scoring,
            beyond_grid: &self.beyond_grid,
            lexical: &self.lexical,
            vector: &self.vector,
            hybrid: &self.hybrid,
            rrf: &self.rrf,
            chosen: &self.chosen,
            report,
        }
    }
}

/// Rankings of one query.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryRanking {
    /// Query id.
    pub query_id: String,
    /// Mode → ranked product ids.
    pub ranked: HashMap<String, Vec<String>>,
}

/// Evaluate `set` on `view`, with one query vector per query (`None` where none could be had:
/// that query's vector and hybrid runs fall back to lexical, as a runtime would).
pub fn evaluate(view: &BundleView<'_>, set: &LabelSet, vectors: &[Option<Vec<f32>>]) -> Result<SearchEvalReport> {
    evaluate_with(view, set, vectors, Scoring::default())
}

/// [`evaluate`] with a gain and a relevance threshold.
pub fn evaluate_with(
    view: &BundleView<'_>,
    set: &LabelSet,
    vectors: &[Option<Vec<f32>>],
    scoring: Scoring,
) -> Result<SearchEvalReport> {
    let mut scratch = SearchScratch::default();
    let used: Vec<usize> = (0..set.queries.len()).filter(|&q| !set.grades[q].is_empty()).collect();
    let mut rankings: Vec<QueryRanking> =
        used.iter().map(|&q| QueryRanking { query_id: set.queries[q].0.clone(), ranked: HashMap::new() }).collect();
    let mut run = |mode: &str, name: String, weight: f32, vector: bool, text: bool, rrf: bool| -> Result<ModeResult> {
        let (mut n, mut r, mut rq) = (0.0, 0.0, 0usize);
        for (k, &q) in used.iter().enumerate() {
            let v = if vector { vectors[q].as_deref() } else { None };
            let t = if text || v.is_none() { Some(set.queries[q].1.as_str()) } else { None };
            let opts = SearchOptions { rrf, ..SearchOptions::default() };
            let hits = hybrid_search_with(view, v, t, weight, K, &Filter::default(), opts, &mut scratch)?;
            let ranked: Vec<u32> = hits.iter().map(|h| h.item).collect();
            n += ndcg_with(&ranked, &set.grades[q], scoring.gain);
            if let Some(x) = recall_with(&ranked, &set.grades[q], scoring.relevance_threshold) {
                r += x;
                rq += 1;
            }
            rankings[k]
                .ranked
                .insert(name.clone(), ranked.iter().map(|&i| view.item_ids.get(i as usize).to_string()).collect());
        }
        let d = used.len().max(1) as f64;
        Ok(ModeResult {
            mode: mode.to_string(),
            lexical_weight: weight,
            ndcg_at_10: n / d,
            recall_at_10: r / rq.max(1) as f64,
        })
    };
    let lexical = run("lexical", "lexical".into(), 1.0, false, true, false)?;
    let vector = run("vector", "vector".into(), 0.0, true, false, false)?;
    let mut grid = Vec::new();
    for w in WEIGHTS {
        grid.push(run("hybrid", format!("hybrid@{w}"), w, true, true, false)?);
    }
    // The best weight on the grid's top edge: keep doubling it while nDCG@10 rises.
    let top = grid.iter().cloned().max_by(|a, b| a.ndcg_at_10.total_cmp(&b.ndcg_at_10)).expect("the grid is not empty");
    let axis = crate::edges::Axis { name: "lexical_weight", min: 0.0, max: 1e4, integer: false };
    let beyond = crate::edges::extend(axis, &WEIGHTS, top.lexical_weight, top.ndcg_at_10, |w| {
        let r = run("hybrid", format!("hybrid@{w}"), w, true, true, false)?;
        let n = r.ndcg_at_10;
        grid.push(r);
        Ok(Some(n))
    })?
    .map(|(_, _, note)| note);
    let rrf = run("rrf", "rrf".into(), 0.0, true, true, true)?;
    let hybrid = grid
        .iter()
        .cloned()
        .max_by(|a, b| a.ndcg_at_10.total_cmp(&b.ndcg_at_10).then(b.lexical_weight.total_cmp(&a.lexical_weight)))
        .expect("the grid is not empty");
    let chosen = if rrf.ndcg_at_10 > hybrid.ndcg_at_10 {
        shopai_core::SearchWeights { lexical: 0.0, mode: "rrf".into() }
    } else {
        shopai_core::SearchWeights { lexical: hybrid.lexical_weight, mode: "weighted".into() }
    };
    Ok(SearchEvalReport {
        queries: used.len(),
        skipped_queries: set.queries.len() - used.len(),
        unknown_products: set.unknown_products,
        model: view.manifest.embedding.model.clone(),
        index: match (&view.index.graph, view.index.signs.is_empty()) {
            (Some(_), _) => format!("graph (ef_search {})", view.manifest.index.ef_search),
            (None, false) => "signs".into(),
            (None, true) => "flat".into(),
        },
        scoring,
        recall_queries: used
            .iter()
            .filter(|&&q| set.grades[q].values().any(|&g| g >= scoring.relevance_threshold))
            .count(),
        beyond_grid: beyond,
        lexical,
        vector,
        hybrid,
        rrf,
        hybrid_grid: grid,
        chosen,
        rankings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndcg_and_recall_match_hand_computed_values() {
        let grades: HashMap<u32, f64> = [(1, 3.0), (2, 1.0), (3, 2.0)].into_iter().collect();
        // Perfect order.
        assert!((ndcg(&[1, 3, 2], &grades) - 1.0).abs() < 1e-12);
        // [2, 9, 1]: gains 1, 0, 7 at ranks 1..3.
        let dcg = 1.0 + 7.0 / 4f64.log2();
        let idcg = 7.0 + 3.0 / 3f64.log2() + 1.0 / 4f64.log2();
        assert!((ndcg(&[2, 9, 1], &grades) - dcg / idcg).abs() < 1e-12);
        assert!((recall(&[2, 9, 1], &grades) - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(ndcg(&[5], &HashMap::new()), 0.0);
    }

    #[test]
    fn fractional_grades_linear_gains_and_a_threshold() {
        let grades: HashMap<u32, f64> = [(1, 2.33), (2, 0.5), (3, 1.67)].into_iter().collect();
        // [2, 9, 1] with linear gains: 0.5, 0, 2.33; ideal 2.33, 1.67, 0.5.
        let dcg = 0.5 + 2.33 / 4f64.log2();
        let idcg = 2.33 + 1.67 / 3f64.log2() + 0.5 / 4f64.log2();
        assert!((ndcg_with(&[2, 9, 1], &grades, Gain::Linear) - dcg / idcg).abs() < 1e-12);
        let e = |g: f64| g.exp2() - 1.0;
        let dcg = e(0.5) + e(2.33) / 4f64.log2();
        let idcg = e(2.33) + e(1.67) / 3f64.log2() + e(0.5) / 4f64.log2();
        assert!((ndcg_with(&[2, 9, 1], &grades, Gain::Exponential) - dcg / idcg).abs() < 1e-12);
        // Threshold 1: items 1 and 3 are relevant; [2, 9, 1] finds one of them.
        assert_eq!(recall_with(&[2, 9, 1], &grades, 1.0), Some(0.5));
        assert_eq!(recall_with(&[2, 9, 1], &grades, 0.1), Some(2.0 / 3.0));
        assert_eq!(recall_with(&[2], &grades, 3.0), None, "no label reaches 3");
    }
}
