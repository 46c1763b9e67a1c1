//! `shopai evaluate-search`: nDCG@10 and recall@10 of lexical, vector and hybrid search against
//! graded relevance labels, and the hybrid setting (weighted lexical term or reciprocal-rank
//! fusion) that evaluation picks.
//!
//! Grades may be fractional (judgement sets average several raters: `2.33`). Gains are
//! `2^grade − 1` (exponential, the default) or the grade itself (linear), discounted by
//! `log2(rank + 1)`; the ideal ranking is the labels sorted by grade. Recall@10 counts the labels
//! whose grade reaches the relevance threshold (default 1), averaged over the queries that have
//! one. Queries without a positive label are skipped (and counted). Every search goes through
//! core's `search`, as runtimes answer; the metrics are core's `graded_ndcg_at` and
//! `graded_recall_at`; the report names the vector index searched. The best lexical weight on the
//! grid's top edge is stepped past it (λ > 1) while nDCG@10 rises.

use super::edges::{extend, Axis, EdgeNote};
use crate::config::{Config, EmbeddingsProvider};
use crate::openai::embeddings::{EmbedConfig, Embedder};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use shopai_core::metrics::{graded_ndcg_at, graded_recall_at, Gain};
use shopai_core::search::{search, SearchQuery, SearchScratch};
use shopai_core::{BundleView, SearchMode, SearchWeights};
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
    pub beyond_grid: Option<EdgeNote>,
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
    /// What evaluation picks for the bundle's `search` settings ([`choose`]): the best of
    /// `hybrid`, `rrf`, `vector` and `lexical`.
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
    pub beyond_grid: &'a Option<EdgeNote>,
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
    let mut run =
        |mode: &str, name: String, lexical: f32, vector: bool, text: bool, fusion: SearchMode| -> Result<ModeResult> {
            let (mut n, mut r, mut rq) = (0.0, 0.0, 0usize);
            for (k, &q) in used.iter().enumerate() {
                let v = if vector { vectors[q].as_deref() } else { None };
                let t = if text || v.is_none() { Some(set.queries[q].1.as_str()) } else { None };
                let weights = Some(SearchWeights { lexical, mode: fusion });
                let query = SearchQuery { vector: v, text: t, top_k: K, weights, ..SearchQuery::default() };
                let ranked: Vec<u32> = search(view, &query, &mut scratch)?.hits.iter().map(|h| h.item).collect();
                n += graded_ndcg_at(&ranked, &set.grades[q], K, scoring.gain);
                if let Some(x) = graded_recall_at(&ranked, &set.grades[q], K, scoring.relevance_threshold) {
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
                lexical_weight: lexical,
                ndcg_at_10: n / d,
                recall_at_10: r / rq.max(1) as f64,
            })
        };
    let lexical = run("lexical", "lexical".into(), 1.0, false, true, SearchMode::Weighted)?;
    let vector = run("vector", "vector".into(), 0.0, true, false, SearchMode::Weighted)?;
    let mut grid = Vec::new();
    for w in WEIGHTS {
        grid.push(run("hybrid", format!("hybrid@{w}"), w, true, true, SearchMode::Weighted)?);
    }
    // The best weight on the grid's top edge: keep stepping it up while nDCG@10 rises.
    let top = grid.iter().cloned().max_by(|a, b| a.ndcg_at_10.total_cmp(&b.ndcg_at_10)).expect("the grid is not empty");
    let axis = Axis { name: "lexical_weight", min: 0.0, max: 1e4, integer: false };
    let beyond = extend(axis, &WEIGHTS, top.lexical_weight, top.ndcg_at_10, |w| {
        let r = run("hybrid", format!("hybrid@{w}"), w, true, true, SearchMode::Weighted)?;
        let n = r.ndcg_at_10;
        grid.push(r);
        Ok(Some(n))
    })?
    .map(|(_, _, note)| note);
    let rrf = run("rrf", "rrf".into(), 0.0, true, true, SearchMode::Rrf)?;
    let hybrid = grid
        .iter()
        .cloned()
        .max_by(|a, b| a.ndcg_at_10.total_cmp(&b.ndcg_at_10).then(b.lexical_weight.total_cmp(&a.lexical_weight)))
        .expect("the grid is not empty");
    let chosen = choose(&hybrid, &rrf, &lexical, &vector);
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

/// The setting evaluation picks, by nDCG@10: the best weighted hybrid, reciprocal-rank fusion,
/// vector alone (weighted with lexical weight 0) or lexical alone ([`SearchMode::Lexical`]: then
/// runtimes skip the query embedding). A single source replaces a fusion only when strictly
/// better; on ties the earlier candidate stays.
pub fn choose(hybrid: &ModeResult, rrf: &ModeResult, lexical: &ModeResult, vector: &ModeResult) -> SearchWeights {
    let candidates = [
        (hybrid.ndcg_at_10, SearchWeights { lexical: hybrid.lexical_weight, mode: SearchMode::Weighted }),
        (rrf.ndcg_at_10, SearchWeights { lexical: 0.0, mode: SearchMode::Rrf }),
        (vector.ndcg_at_10, SearchWeights { lexical: 0.0, mode: SearchMode::Weighted }),
        (lexical.ndcg_at_10, SearchWeights { lexical: 1.0, mode: SearchMode::Lexical }),
    ];
    let mut best = candidates[0];
    for c in &candidates[1..] {
        if c.0 > best.0 {
            best = *c;
        }
    }
    best.1
}

/// One query vector per labelled query, embedded the way the bundle's items were: the bundle's
/// own hashing embedder, or the configured OpenAI-compatible provider (which must serve the
/// bundle's model). `None` where the provider returned nothing for a query.
pub fn embed_queries(view: &BundleView<'_>, cfg: &Config, set: &LabelSet) -> Result<Vec<Option<Vec<f32>>>> {
    let model = &view.manifest.embedding.model;
    let texts: Vec<String> = set.queries.iter().map(|q| q.1.clone()).collect();
    // Core decides whether it embeds queries for this bundle (the same call as at runtime).
    if let Some(e) = shopai_core::service::local_embedder(view.manifest) {
        return Ok(texts.iter().map(|t| Some(e.embed(t))).collect());
    }
    anyhow::ensure!(
        cfg.embeddings.provider != EmbeddingsProvider::Hash && &cfg.embeddings.model == model,
        "the bundle's vectors come from {model:?}: configure [embeddings] provider = \"openai\" and model = {model:?} (and openai.base_url) so queries are embedded the same way"
    );
    let (v, _) = Embedder::new(EmbedConfig::from_config(cfg))?.embed_all(&texts, |_| {})?;
    Ok(v.into_iter().map(|v| (!v.is_empty()).then_some(v)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(mode: &str, lexical_weight: f32, ndcg: f64) -> ModeResult {
        ModeResult { mode: mode.into(), lexical_weight, ndcg_at_10: ndcg, recall_at_10: 0.0 }
    }

    #[test]
    fn the_choice_includes_each_source_alone() {
        let hybrid = result("hybrid", 0.5, 0.35);
        let rrf = result("rrf", 0.0, 0.34);
        let pick =
            |lex: f64, vec: f64| choose(&hybrid, &rrf, &result("lexical", 1.0, lex), &result("vector", 0.0, vec));
        assert_eq!(pick(0.30, 0.20), SearchWeights { lexical: 0.5, mode: SearchMode::Weighted });
        assert_eq!(pick(0.37, 0.20), SearchWeights { lexical: 1.0, mode: SearchMode::Lexical }, "BM25 alone won");
        assert_eq!(pick(0.30, 0.36), SearchWeights { lexical: 0.0, mode: SearchMode::Weighted }, "vectors alone won");
        assert_eq!(
            pick(0.35, 0.35),
            SearchWeights { lexical: 0.5, mode: SearchMode::Weighted },
            "ties keep the fusion"
        );
        let better_rrf = result("rrf", 0.0, 0.40);
        assert_eq!(
            choose(&hybrid, &better_rrf, &result("lexical", 1.0, 0.1), &result("vector", 0.0, 0.1)),
            SearchWeights { lexical: 0.0, mode: SearchMode::Rrf }
        );
    }
}
