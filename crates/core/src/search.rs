//! Exact int8 vector search with filters applied inside the scan.

use crate::bundle::BundleView;
use crate::error::{Error, Result};
use crate::index::{precise_dot, IndexScratch};
use crate::quant::{best_dot_i8, quantize_into};
use crate::topk::{Scored, TopK};

/// Which items a query may return. Filters are checked inside the scan, so a top-k asks for k
/// results and gets k whenever k items pass.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Allowed category ids (any of); empty means all.
    pub categories: Vec<u32>,
    /// Item indices never to return, sorted.
    pub exclude: Vec<u32>,
}

impl Filter {
    /// Allow only items in any of the named categories.
    pub fn with_category_names<S: AsRef<str>>(mut self, view: &BundleView<'_>, names: &[S]) -> Result<Self> {
        for name in names {
            let name = name.as_ref();
            let id = view.category_index(name).ok_or_else(|| Error::InvalidArgument {
                field: "filters.category",
                reason: format!("unknown category {name:?}"),
            })?;
            self.categories.push(id);
        }
        self.categories.sort_unstable();
        self.categories.dedup();
        Ok(self)
    }

    /// Exclude these item indices.
    pub fn with_exclude(mut self, items: impl IntoIterator<Item = u32>) -> Self {
        self.exclude.extend(items);
        self.exclude.sort_unstable();
        self.exclude.dedup();
        self
    }

    /// Whether item `i` passes.
    #[inline]
    pub fn allows(&self, view: &BundleView<'_>, i: u32) -> bool {
        if !self.exclude.is_empty() && self.exclude.binary_search(&i).is_ok() {
            return false;
        }
        self.categories.is_empty()
            || view.item_categories.row(i as usize).iter().any(|c| self.categories.binary_search(c).is_ok())
    }
}

/// Reusable buffers for [`search`]; keep one per thread or engine.
#[derive(Debug, Default)]
pub struct SearchScratch {
    codes: Vec<i8>,
    top: TopK,
    lexical: Vec<f32>,
    candidates: Vec<u32>,
    index: IndexScratch,
}

/// How vector candidates are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// The bundle decides: the graph when it has one (a filtered beam that walks past a quarter
    /// of the catalog gives way to the scan), else the sign-bit pass when it has sign bits, else
    /// the int8 scan.
    #[default]
    Auto,
    /// Scan every item's int8 code (exact on the codes; filters inside the scan).
    Flat,
    /// Hamming distance on sign bits, the best rescored on the int8 codes.
    Coarse,
    /// HNSW beam search on the int8 codes.
    Graph,
}

/// Knobs of one search; the defaults come from the bundle.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SearchOptions {
    /// Candidate strategy.
    pub strategy: Strategy,
    /// Graph beam width (0: the manifest's `index.ef_search`, or 64).
    pub ef: usize,
    /// Fuse the vector and lexical rankings by reciprocal rank (k = 60) instead of adding
    /// weighted scores; only when the query has both a vector and a text.
    pub rrf: bool,
}

/// The `k` of reciprocal-rank fusion (Cormack et al.'s default).
pub const RRF_K: f32 = 60.0;

/// One hybrid search hit with its score parts.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Hit {
    /// Item index.
    #[serde(skip)]
    pub item: u32,
    /// Combined score: cosine + lexical weight × normalized BM25.
    #[serde(skip)]
    pub score: f32,
    /// Cosine of the quantized vectors (0 without a query vector).
    pub vector: f32,
    /// BM25 divided by the query's best BM25 (0..1; 0 without lexical scoring).
    pub lexical: f32,
}

/// Accumulate normalized BM25 scores of `text` into `out` (one slot per item); returns whether
/// any query term is in the vocabulary.
fn bm25_into(view: &BundleView<'_>, text: &str, out: &mut Vec<f32>) -> bool {
    out.clear();
    out.resize(view.n_items(), 0.0);
    let Some(lex) = view.lexical else { return false };
    let n = view.n_items();
    let mut terms: Vec<String> = crate::lexical::terms(text).collect();
    terms.sort();
    terms.dedup();
    let mut any = false;
    for t in &terms {
        let Some(k) = lex.term_index(t) else { continue };
        any = true;
        let (s, e) = lex.postings.span(k);
        let items = lex.postings.row(k);
        let tfs = lex.tf.get(s..e).unwrap_or(&[]);
        let idf = crate::lexical::idf(n, items.len());
        for (&i, &tf) in items.iter().zip(tfs) {
            if let (Some(slot), Some(&dl)) = (out.get_mut(i as usize), lex.doc_len.get(i as usize)) {
                *slot += crate::lexical::weight(idf, tf, dl, lex.avg_doc_len);
            }
        }
    }
    let max = out.iter().fold(0f32, |m, &x| m.max(x));
    if max > 0.0 {
        out.iter_mut().for_each(|x| *x /= max);
    }
    any
}

/// Hybrid search: cosine to `vector` (if any) plus `lexical_weight` × normalized BM25 of `text`
/// (if any, and if the bundle has a lexical index), with the filter applied inside the scan.
/// Without a vector, only items that match a query term are returned.
pub fn hybrid_search(
    view: &BundleView<'_>,
    vector: Option<&[f32]>,
    text: Option<&str>,
    lexical_weight: f32,
    top_k: usize,
    filter: &Filter,
    scratch: &mut SearchScratch,
) -> Result<Vec<Hit>> {
    hybrid_search_with(view, vector, text, lexical_weight, top_k, filter, SearchOptions::default(), scratch)
}

/// [`hybrid_search`] with explicit [`SearchOptions`].
///
/// Vector candidates come from the strategy (int8 scan, sign-bit pass rescored in int8, or the
/// graph); the best BM25 items are added to them; then every candidate is rescored with the f32
/// query against the stored codes (plus the int4 residual when the bundle has it) and the BM25
/// term, and the best `top_k` are returned. A filtered graph search that finds fewer than
/// `top_k` allowed items, or scores more than a quarter of the catalog, falls back to the scan,
/// so a top-k returns k whenever k items pass.
#[allow(clippy::too_many_arguments)]
pub fn hybrid_search_with(
    view: &BundleView<'_>,
    vector: Option<&[f32]>,
    text: Option<&str>,
    lexical_weight: f32,
    top_k: usize,
    filter: &Filter,
    opts: SearchOptions,
    scratch: &mut SearchScratch,
) -> Result<Vec<Hit>> {
    let dim = view.vectors.dim;
    if let Some(q) = vector {
        if q.len() != dim {
            return Err(Error::DimensionMismatch { expected: dim, actual: q.len() });
        }
        if !q.iter().all(|x| x.is_finite()) {
            return Err(Error::InvalidArgument { field: "vector", reason: "contains NaN or infinity".into() });
        }
    }
    let use_lex = match text {
        Some(t) if lexical_weight > 0.0 || vector.is_none() || opts.rrf => bm25_into(view, t, &mut scratch.lexical),
        _ => false,
    };
    let unfiltered = filter.categories.is_empty() && filter.exclude.is_empty();
    let allowed = |i: u32| unfiltered || filter.allows(view, i);
    let lex_of = |lexical: &[f32], i: u32| if use_lex { lexical[i as usize] } else { 0.0 };

    let Some(q) = vector else {
        // Lexical only: the matching items, best BM25 first.
        scratch.top.reset(top_k);
        if use_lex {
            for (i, &l) in scratch.lexical.iter().enumerate() {
                if l > 0.0 && allowed(i as u32) {
                    scratch.top.push(i as u32, l);
                }
            }
        }
        let top = scratch.top.drain_sorted();
        return Ok(top
            .into_iter()
            .map(|s| Hit { item: s.item, score: s.score, vector: 0.0, lexical: s.score })
            .collect());
    };

    scratch.codes.resize(dim, 0);
    quantize_into(q, &mut scratch.codes);
    let dot_i8 = best_dot_i8();
    let int8 =
        |i: u32, codes: &[i8]| dot_i8(view.vectors.row(i as usize), codes) as f32 * view.vectors.scales[i as usize];
    let wanted = candidates(top_k);
    let mut strategy = match opts.strategy {
        Strategy::Auto if view.index.graph.is_some() => Strategy::Graph,
        Strategy::Auto if !view.index.signs.is_empty() => Strategy::Coarse,
        Strategy::Auto => Strategy::Flat,
        Strategy::Graph if view.index.graph.is_none() => Strategy::Flat,
        Strategy::Coarse if view.index.signs.is_empty() => Strategy::Flat,
        s => s,
    };
    scratch.candidates.clear();
    if let (Strategy::Graph, Some(g)) = (strategy, view.index.graph.as_ref()) {
        let ef = match opts.ef {
            0 => (view.manifest.index.ef_search as usize).max(16),
            ef => ef,
        }
        .max(wanted);
        // With a category filter the beam walks past what the filter rejects; past a quarter of
        // the catalog a scan is cheaper, so give up there.
        let budget = if filter.categories.is_empty() { usize::MAX } else { view.n_items() / 4 };
        let done = crate::index::graph_candidates(
            g,
            &view.vectors,
            &scratch.codes,
            ef,
            allowed,
            budget,
            &mut scratch.index,
            &mut scratch.candidates,
        );
        if !done || scratch.candidates.len() < top_k {
            scratch.candidates.clear();
            strategy = Strategy::Flat;
        }
    }
    match strategy {
        Strategy::Coarse => {
            let r = (top_k * 20).max(200);
            let mut coarse = std::mem::take(&mut scratch.candidates);
            crate::index::coarse_candidates(
                view.index.signs,
                view.index.sign_words,
                q,
                r,
                allowed,
                &mut scratch.index,
                &mut coarse,
            );
            scratch.top.reset(wanted);
            for &i in &coarse {
                scratch.top.push(i, int8(i, &scratch.codes));
            }
            coarse.clear();
            coarse.extend(scratch.top.drain_sorted().into_iter().map(|s| s.item));
            scratch.candidates = coarse;
        }
        Strategy::Flat | Strategy::Auto => {
            scratch.top.reset(wanted);
            for i in 0..view.n_items() as u32 {
                if allowed(i) {
                    scratch.top.push(i, int8(i, &scratch.codes));
                }
            }
            let top = scratch.top.drain_sorted();
            scratch.candidates.extend(top.into_iter().map(|s| s.item));
        }
        Strategy::Graph => {}
    }
    let w = lexical_weight;
    if use_lex && (w > 0.0 || opts.rrf) {
        // The best lexical matches compete too, whatever their vectors.
        scratch.top.reset(wanted);
        for (i, &l) in scratch.lexical.iter().enumerate() {
            if l > 0.0 && allowed(i as u32) {
                scratch.top.push(i as u32, l);
            }
        }
        let top = scratch.top.drain_sorted();
        scratch.candidates.extend(top.into_iter().map(|s| s.item));
        scratch.candidates.sort_unstable();
        scratch.candidates.dedup();
    }
    // Rescore with the f32 query (only the items' quantization remains).
    let qmu: f32 = view.vectors.mean.iter().zip(q).map(|(m, x)| m * x).sum();
    if opts.rrf && use_lex {
        return Ok(rrf(view, q, qmu, top_k, scratch));
    }
    scratch.top.reset(top_k);
    for &i in &scratch.candidates {
        let v = precise_dot(&view.vectors, &view.index, i as usize, q) + qmu;
        scratch.top.push(i, v + w * lex_of(&scratch.lexical, i));
    }
    let top = scratch.top.drain_sorted();
    Ok(top
        .into_iter()
        .map(|s| {
            let lexical = lex_of(&scratch.lexical, s.item);
            Hit { item: s.item, score: s.score, vector: s.score - w * lexical, lexical }
        })
        .collect())
}

/// Reciprocal-rank fusion of the candidates' vector ranking and BM25 ranking (items without a
/// lexical match get no lexical term).
fn rrf(view: &BundleView<'_>, q: &[f32], qmu: f32, top_k: usize, scratch: &mut SearchScratch) -> Vec<Hit> {
    let by = |mut v: Vec<(u32, f32)>| {
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    };
    let vec_rank = by(scratch
        .candidates
        .iter()
        .map(|&i| (i, precise_dot(&view.vectors, &view.index, i as usize, q) + qmu))
        .collect());
    let lex_rank =
        by(scratch.candidates.iter().map(|&i| (i, scratch.lexical[i as usize])).filter(|x| x.1 > 0.0).collect());
    let mut fused: Vec<(u32, f32, f32, f32)> = vec_rank
        .iter()
        .enumerate()
        .map(|(r, &(i, v))| (i, 1.0 / (RRF_K + r as f32 + 1.0), v, scratch.lexical[i as usize]))
        .collect();
    fused.sort_by_key(|x| x.0);
    for (r, &(i, _)) in lex_rank.iter().enumerate() {
        if let Ok(k) = fused.binary_search_by_key(&i, |x| x.0) {
            fused[k].1 += 1.0 / (RRF_K + r as f32 + 1.0);
        }
    }
    fused.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    fused.truncate(top_k);
    fused.into_iter().map(|(item, score, vector, lexical)| Hit { item, score, vector, lexical }).collect()
}

/// The `top_k` items whose vectors are most similar (cosine, for normalized inputs) to `query`:
/// [`hybrid_search`] without a text.
pub fn search(
    view: &BundleView<'_>,
    query: &[f32],
    top_k: usize,
    filter: &Filter,
    scratch: &mut SearchScratch,
) -> Result<Vec<Scored>> {
    let hits = hybrid_search(view, Some(query), None, 0.0, top_k, filter, scratch)?;
    Ok(hits.into_iter().map(|h| Scored { item: h.item, score: h.score }).collect())
}

/// How many int8 candidates are rescored for a top-k.
fn candidates(top_k: usize) -> usize {
    (top_k * 4).max(top_k + 16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::fixture_bundle;

    #[test]
    fn int8_search_agrees_with_brute_force_f32() {
        let (bytes, vectors, dim) = fixture_bundle(400, 32, 7);
        println!("seed 7");
        let b = crate::Bundle::load(&bytes).expect("load");
        let view = b.view();
        let mut scratch = SearchScratch::default();
        let mut recall = 0.0;
        let queries = 20;
        for q in 0..queries {
            let query = &vectors[q * dim..(q + 1) * dim];
            let got: Vec<u32> = search(&view, query, 10, &Filter::default(), &mut scratch)
                .expect("search")
                .iter()
                .map(|s| s.item)
                .collect();
            let mut exact: Vec<(u32, f32)> =
                (0..400).map(|i| (i as u32, crate::als::dot(query, &vectors[i * dim..(i + 1) * dim]))).collect();
            exact.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            recall += exact[..10].iter().filter(|(i, _)| got.contains(i)).count() as f64 / 10.0;
            assert_eq!(got[0], q as u32, "a stored vector finds itself");
        }
        assert!(recall / queries as f64 >= 0.95, "recall {}", recall / queries as f64);
    }

    #[test]
    fn hybrid_matches_lexical_terms_and_ranks_by_combined_score() {
        use crate::{BundleParts, HashEmbedder, QuantMatrix};
        let texts = ["red running shoes", "blue denim jacket", "trail running shoe with grip", "cast iron pan"];
        let e = HashEmbedder::new(32);
        let vectors: Vec<f32> = texts.iter().flat_map(|t| e.embed(t)).collect();
        let parts = BundleParts {
            item_ids: (0..4).map(|i| format!("p{i}")).collect(),
            titles: texts.iter().map(|t| t.to_string()).collect(),
            item_categories: vec![vec![]; 4],
            vectors: QuantMatrix::from_f32(&vectors, 32),
            factors: QuantMatrix::from_f32(&[0.1; 4], 1),
            gram: vec![1.0],
            popularity: vec![1.0; 4],
            lexical: Some(crate::lexical::LexicalIndex::build(&texts)),
            ..BundleParts::default()
        };
        let b = crate::Bundle::load(&parts.to_bytes().expect("bundle")).expect("load");
        let v = b.view();
        let mut s = SearchScratch::default();
        // Lexical only (no vector): only matching items, "shoes" folds to "shoe".
        let hits = hybrid_search(&v, None, Some("Shoes"), 0.3, 10, &Filter::default(), &mut s).expect("search");
        let mut items: Vec<u32> = hits.iter().map(|h| h.item).collect();
        items.sort();
        assert_eq!(items, vec![0, 2]);
        assert!(hits.iter().all(|h| h.lexical > 0.0 && h.vector == 0.0));
        // Hybrid: the score is cosine + weight × lexical, and ranking follows it.
        let q = e.embed("running shoe");
        let hits =
            hybrid_search(&v, Some(&q), Some("running shoe"), 0.5, 4, &Filter::default(), &mut s).expect("search");
        for h in &hits {
            assert!((h.score - (h.vector + 0.5 * h.lexical)).abs() < 1e-5);
        }
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
        assert!(hits[0].item == 0 || hits[0].item == 2);
    }

    #[test]
    fn filter_returns_k_when_k_pass() {
        let (bytes, vectors, dim) = fixture_bundle(300, 16, 3);
        let b = crate::Bundle::load(&bytes).expect("load");
        let view = b.view();
        let f = Filter::default().with_category_names(&view, &["cat1"]).expect("known category");
        let hits = search(&view, &vectors[..dim], 10, &f, &mut SearchScratch::default()).expect("search");
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|h| view.categories_of(h.item as usize).any(|c| c == "cat1")));
        assert!(Filter::default().with_category_names(&view, &["nope"]).is_err());
        assert!(matches!(
            search(&view, &[0.0; 3], 5, &f, &mut SearchScratch::default()),
            Err(Error::DimensionMismatch { .. })
        ));
    }

    #[test]
    fn rrf_fuses_the_two_rankings_by_reciprocal_rank() {
        let (bytes, vectors, dim) = fixture_bundle(200, 16, 5);
        let b = crate::Bundle::load(&bytes).expect("load");
        let v = b.view();
        let q = &vectors[..dim];
        let mut s = SearchScratch::default();
        let opts = SearchOptions { rrf: true, ..SearchOptions::default() };
        let hits =
            hybrid_search_with(&v, Some(q), Some("cat3"), 0.0, 10, &Filter::default(), opts, &mut s).expect("rrf");
        assert_eq!(hits.len(), 10);
        // Reference: rank the same candidates by vector and by BM25 separately, fuse by hand.
        let vec_hits =
            hybrid_search_with(&v, Some(q), None, 0.0, 200, &Filter::default(), SearchOptions::default(), &mut s)
                .expect("vector");
        let lex_hits = hybrid_search(&v, None, Some("cat3"), 1.0, 200, &Filter::default(), &mut s).expect("lexical");
        for h in &hits {
            let rank_of = |list: &[Hit]| list.iter().position(|x| x.item == h.item);
            let want: f32 = [rank_of(&vec_hits), rank_of(&lex_hits)]
                .iter()
                .flatten()
                .map(|&r| 1.0 / (RRF_K + r as f32 + 1.0))
                .sum();
            // Ranks within the candidates are at most the global ranks, so each term can only grow.
            assert!(h.score >= want - 1e-6, "item {}: {} < {want}", h.item, h.score);
            assert!(h.score > 0.0);
        }
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
        // An item that tops both lists tops the fusion.
        if vec_hits[0].item == lex_hits[0].item {
            assert_eq!(hits[0].item, vec_hits[0].item);
        }
    }

    #[test]
    fn every_strategy_honours_category_filters_and_returns_k() {
        let (bytes, vectors, dim) = fixture_bundle(300, 16, 8);
        let b = crate::Bundle::load(&bytes).expect("load");
        let view = b.view();
        let f = Filter::default().with_category_names(&view, &["cat2"]).expect("category");
        for strategy in [Strategy::Flat, Strategy::Coarse, Strategy::Graph, Strategy::Auto] {
            let opts = SearchOptions { strategy, ..SearchOptions::default() };
            let hits = hybrid_search_with(
                &view,
                Some(&vectors[..dim]),
                None,
                0.0,
                10,
                &f,
                opts,
                &mut SearchScratch::default(),
            )
            .expect("search");
            assert_eq!(hits.len(), 10, "{strategy:?}");
            assert!(hits.iter().all(|h| view.categories_of(h.item as usize).any(|c| c == "cat2")), "{strategy:?}");
        }
    }
}
