//! Search: the one entry point [`search`] takes a [`SearchQuery`] (vector, text, top-k, filter,
//! fusion weights, candidate strategy) and returns hits with their score parts and what it did.
//! Vector candidates come from the int8 scan, the sign-bit pass or the graph (see
//! [`crate::index`]), and are rescored with the f32 query; BM25 matches join them; the two are
//! fused by weighted sum or reciprocal rank.

use crate::bundle::{BundleView, SearchMode, SearchWeights};
use crate::error::{Error, Result};
use crate::index::{precise_dots, IndexScratch};
use crate::quant::{best_dot_i8, quantize_into};
use crate::topk::TopK;

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

    /// The items of `0..n` that pass, ascending: [`Filter::allows`] for each, with the exclusions
    /// walked beside the items instead of searched for each one.
    pub fn admitted<'a>(&'a self, view: &'a BundleView<'_>, n: usize) -> impl Iterator<Item = u32> + 'a {
        let mut excluded = self.exclude.iter().copied().peekable();
        (0..n as u32).filter(move |&i| {
            while excluded.next_if(|&e| e < i).is_some() {}
            excluded.peek() != Some(&i) && self.in_categories(view, i)
        })
    }

    /// Whether item `i` passes.
    #[inline]
    pub fn allows(&self, view: &BundleView<'_>, i: u32) -> bool {
        if !self.exclude.is_empty() && self.exclude.binary_search(&i).is_ok() {
            return false;
        }
        self.in_categories(view, i)
    }

    /// Whether item `i` is in an allowed category (or every category is allowed).
    #[inline]
    fn in_categories(&self, view: &BundleView<'_>, i: u32) -> bool {
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
    /// [`precise_dots`] of `candidates`.
    precise: Vec<f32>,
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

/// Which candidate pass actually ran (what [`Strategy`] asked for may not be available, and a
/// filtered graph search may give way to the scan).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyUsed {
    /// No query vector: BM25 alone.
    Lexical,
    /// The int8 scan.
    Scan,
    /// The sign-bit (Hamming) pass, rescored on the int8 codes.
    Signs,
    /// The graph's beam search.
    Graph,
    /// The graph was tried, then the scan ran: the beam scored more than a quarter of the
    /// catalog under a filter, or found fewer than `top_k` allowed items.
    Fallback,
}

/// What a search did, for tests and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchStats {
    /// The candidate pass that produced the answer.
    pub strategy: StrategyUsed,
    /// Candidates rescored with the f32 query (vector and lexical ones together).
    pub candidates: usize,
}

/// An empty filter: every item passes.
pub static NO_FILTER: Filter = Filter { categories: Vec::new(), exclude: Vec::new() };

/// One search: the single entry point every runtime and tool goes through ([`search`]).
///
/// Fields left at their defaults take the bundle's settings: `weights: None` is the manifest's
/// `search` section, `ef: 0` its `index.ef_search`.
#[derive(Debug, Clone, Copy)]
pub struct SearchQuery<'a> {
    /// Query vector, embedded with the bundle's model.
    pub vector: Option<&'a [f32]>,
    /// Query text for BM25 (used when the weights give it a part, or when there is no vector).
    pub text: Option<&'a str>,
    /// How many results.
    pub top_k: usize,
    /// Which items may be returned.
    pub filter: &'a Filter,
    /// Lexical weight and fusion mode (`None`: the bundle's).
    pub weights: Option<SearchWeights>,
    /// Candidate strategy.
    pub strategy: Strategy,
    /// Graph beam width (0: the manifest's `index.ef_search`, at least 16).
    pub ef: usize,
}

impl Default for SearchQuery<'_> {
    fn default() -> Self {
        Self { vector: None, text: None, top_k: 10, filter: &NO_FILTER, weights: None, strategy: Strategy::Auto, ef: 0 }
    }
}

/// The `k` of reciprocal-rank fusion (Cormack et al.'s default).
pub const RRF_K: f32 = 60.0;

/// One hybrid search hit with its score parts.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Hit {
    /// Item index.
    #[serde(skip)]
    pub item: u32,
    /// Ranking score. [`SearchMode::Weighted`]: `vector + lexical weight × lexical`;
    /// [`SearchMode::Rrf`]: `Σ 1 / (RRF_K + rank)` over the vector and BM25 rankings (1-based).
    #[serde(skip)]
    pub score: f32,
    /// Inner product of the query vector with the item's stored (quantized) vector: the cosine
    /// when both are unit length, as the embedders make them. 0 without a query vector.
    pub vector: f32,
    /// BM25 divided by the query's best BM25 (0..1; 0 without lexical scoring).
    pub lexical: f32,
}

/// The answer to a [`SearchQuery`].
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResults {
    /// Best first; ties by item index.
    pub hits: Vec<Hit>,
    /// What the search did.
    pub stats: SearchStats,
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
    // (A comparison, not `f32::max`: on wasm that is a libcall per item; BM25 sums are finite.)
    let max = out.iter().fold(0f32, |m, &x| if x > m { x } else { m });
    if max > 0.0 {
        out.iter_mut().for_each(|x| *x /= max);
    }
    any
}

/// Search the bundle: inner product with `query.vector` (if any) fused with BM25 of `query.text`
/// (if any, and if the bundle has a lexical index), filters applied inside every pass. Without a
/// vector, only items that match a query term are returned.
///
/// Vector candidates come from the strategy (int8 scan, sign-bit pass rescored in int8, or the
/// graph); the best BM25 items are added to them; then every candidate is rescored with the f32
/// query against the stored codes (plus the int4 residual when the bundle has it) and fused with
/// its BM25 score (weighted sum or reciprocal rank), and the best `top_k` are returned. A filtered
/// graph search that finds fewer than `top_k` allowed items, or scores more than a quarter of the
/// catalog, falls back to the scan, so a top-k returns k whenever k items pass.
pub fn search(view: &BundleView<'_>, query: &SearchQuery<'_>, scratch: &mut SearchScratch) -> Result<SearchResults> {
    let SearchQuery { vector, text, top_k, filter, weights, strategy: requested, ef } = *query;
    let weights = weights.unwrap_or(view.manifest.search);
    let rrf = weights.mode == SearchMode::Rrf;
    let lexical_weight = weights.lexical;
    let dim = view.vectors.dim;
    if let Some(q) = vector {
        if q.len() != dim {
            return Err(Error::DimensionMismatch { expected: dim, actual: q.len() });
        }
        if !q.iter().all(|x| x.is_finite()) {
            return Err(Error::InvalidArgument { field: "vector", reason: "contains NaN or infinity".into() });
        }
    }
    // Lexical mode: a text query is answered by BM25 alone, its vector (if any) unused.
    let has_text = text.is_some_and(|t| !t.trim().is_empty());
    let vector = if weights.mode == SearchMode::Lexical && has_text && view.lexical.is_some() { None } else { vector };
    let use_lex = match text {
        Some(t) if lexical_weight > 0.0 || vector.is_none() || rrf => bm25_into(view, t, &mut scratch.lexical),
        _ => false,
    };
    let unfiltered = filter.categories.is_empty() && filter.exclude.is_empty();
    let allowed = |i: u32| unfiltered || filter.allows(view, i);
    let lex_of = |lexical: &[f32], i: u32| if use_lex { lexical[i as usize] } else { 0.0 };

    let Some(q) = vector else {
        // Lexical only: the matching items, best BM25 first.
        scratch.top.reset(top_k);
        let mut matched = 0;
        if use_lex {
            for (i, &l) in scratch.lexical.iter().enumerate() {
                if l > 0.0 && allowed(i as u32) {
                    scratch.top.push(i as u32, l);
                    matched += 1;
                }
            }
        }
        let top = scratch.top.drain_sorted();
        return Ok(SearchResults {
            hits: top
                .into_iter()
                .map(|s| Hit { item: s.item, score: s.score, vector: 0.0, lexical: s.score })
                .collect(),
            stats: SearchStats { strategy: StrategyUsed::Lexical, candidates: matched },
        });
    };

    scratch.codes.resize(dim, 0);
    quantize_into(q, &mut scratch.codes);
    let dot_i8 = best_dot_i8();
    let int8 =
        |i: u32, codes: &[i8]| dot_i8(view.vectors.row(i as usize), codes) as f32 * view.vectors.scales[i as usize];
    let wanted = candidates(top_k);
    let mut strategy = match requested {
        Strategy::Auto if view.index.graph.is_some() => Strategy::Graph,
        Strategy::Auto if !view.index.signs.is_empty() => Strategy::Coarse,
        Strategy::Auto => Strategy::Flat,
        Strategy::Graph if view.index.graph.is_none() => Strategy::Flat,
        Strategy::Coarse if view.index.signs.is_empty() => Strategy::Flat,
        s => s,
    };
    let mut used = match strategy {
        Strategy::Graph => StrategyUsed::Graph,
        Strategy::Coarse => StrategyUsed::Signs,
        Strategy::Flat | Strategy::Auto => StrategyUsed::Scan,
    };
    scratch.candidates.clear();
    if let (Strategy::Graph, Some(g)) = (strategy, view.index.graph.as_ref()) {
        let ef = match ef {
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
            used = StrategyUsed::Fallback;
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
    if use_lex && (w > 0.0 || rrf) {
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
    let stats = SearchStats { strategy: used, candidates: scratch.candidates.len() };
    if rrf && use_lex {
        return Ok(SearchResults { hits: rrf_fuse(view, q, qmu, top_k, scratch), stats });
    }
    scratch.top.reset(top_k);
    precise_dots(&view.vectors, &view.index, &scratch.candidates, q, &mut scratch.precise);
    for (&i, &p) in scratch.candidates.iter().zip(&scratch.precise) {
        scratch.top.push(i, p + qmu + w * lex_of(&scratch.lexical, i));
    }
    let top = scratch.top.drain_sorted();
    let hits = top
        .into_iter()
        .map(|s| {
            let lexical = lex_of(&scratch.lexical, s.item);
            Hit { item: s.item, score: s.score, vector: s.score - w * lexical, lexical }
        })
        .collect();
    Ok(SearchResults { hits, stats })
}

/// Reciprocal-rank fusion of the candidates' vector ranking and BM25 ranking (items without a
/// lexical match get no lexical term).
fn rrf_fuse(view: &BundleView<'_>, q: &[f32], qmu: f32, top_k: usize, scratch: &mut SearchScratch) -> Vec<Hit> {
    let by = |mut v: Vec<(u32, f32)>| {
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    };
    precise_dots(&view.vectors, &view.index, &scratch.candidates, q, &mut scratch.precise);
    let vec_rank = by(scratch.candidates.iter().zip(&scratch.precise).map(|(&i, &p)| (i, p + qmu)).collect());
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

/// How many int8 candidates are rescored for a top-k.
fn candidates(top_k: usize) -> usize {
    (top_k * 4).max(top_k + 16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{fixture_bundle, fixture_bundle_with_graph};

    fn vector_only<'a>(v: &'a [f32], top_k: usize, filter: &'a Filter, strategy: Strategy) -> SearchQuery<'a> {
        SearchQuery { vector: Some(v), top_k, filter, strategy, ..SearchQuery::default() }
    }

    fn items(r: &SearchResults) -> Vec<u32> {
        r.hits.iter().map(|h| h.item).collect()
    }

    #[test]
    fn admitted_items_are_the_ones_each_check_allows() {
        let (bytes, _, _) = fixture_bundle(200, 8, 5);
        let b = crate::Bundle::load(&bytes).expect("load");
        let view = b.view();
        let filters = [
            Filter::default(),
            Filter::default().with_exclude([0, 3, 3, 7, 199, 250]),
            Filter::default().with_category_names(&view, &["cat1", "cat3"]).expect("names"),
            Filter::default().with_category_names(&view, &["cat2"]).expect("names").with_exclude((0..200).step_by(3)),
        ];
        for f in &filters {
            for n in [0, 1, 150, 200] {
                let want: Vec<u32> = (0..n as u32).filter(|&i| f.allows(&view, i)).collect();
                assert_eq!(f.admitted(&view, n).collect::<Vec<_>>(), want, "{f:?}, n {n}");
            }
        }
    }

    /// Four items titled `texts` (with a lexical index) and the given `dim`-wide vectors.
    fn four_items(texts: &[&str; 4], vectors: &[f32], dim: usize) -> crate::Bundle<crate::AlignedBytes> {
        use crate::{BundleParts, QuantMatrix};
        let parts = BundleParts {
            item_ids: (0..4).map(|i| format!("p{i}")).collect(),
            titles: texts.iter().map(|t| t.to_string()).collect(),
            item_categories: vec![vec![]; 4],
            vectors: QuantMatrix::from_f32(vectors, dim),
            factors: QuantMatrix::from_f32(&[0.1; 4], 1),
            gram: vec![1.0],
            popularity: vec![1.0; 4],
            lexical: Some(crate::lexical::LexicalIndex::build(texts)),
            ..BundleParts::default()
        };
        crate::Bundle::load(&parts.to_bytes().expect("bundle")).expect("load")
    }

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
            let r = search(&view, &vector_only(query, 10, &NO_FILTER, Strategy::Auto), &mut scratch).expect("search");
            assert_eq!(r.stats.strategy, StrategyUsed::Signs, "the fixture has sign bits and no graph");
            let got = items(&r);
            let mut exact: Vec<(u32, f32)> =
                (0..400).map(|i| (i as u32, crate::math::dot(query, &vectors[i * dim..(i + 1) * dim]))).collect();
            exact.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            recall += exact[..10].iter().filter(|(i, _)| got.contains(i)).count() as f64 / 10.0;
            assert_eq!(got[0], q as u32, "a stored vector finds itself");
        }
        assert!(recall / queries as f64 >= 0.95, "recall {}", recall / queries as f64);
    }

    #[test]
    fn hybrid_matches_lexical_terms_and_ranks_by_combined_score() {
        use crate::HashEmbedder;
        let texts = ["red running shoes", "blue denim jacket", "trail running shoe with grip", "cast iron pan"];
        let e = HashEmbedder::new(32);
        let vectors: Vec<f32> = texts.iter().flat_map(|t| e.embed(t)).collect();
        let b = four_items(&texts, &vectors, 32);
        let v = b.view();
        let mut s = SearchScratch::default();
        let weighted = |lexical| Some(SearchWeights { lexical, mode: SearchMode::Weighted });
        // Lexical only (no vector): only matching items, "shoes" folds to "shoe".
        let q = SearchQuery { text: Some("Shoes"), weights: weighted(0.3), ..SearchQuery::default() };
        let r = search(&v, &q, &mut s).expect("search");
        assert_eq!(r.stats.strategy, StrategyUsed::Lexical);
        let mut found = items(&r);
        found.sort();
        assert_eq!(found, vec![0, 2]);
        assert!(r.hits.iter().all(|h| h.lexical > 0.0 && h.vector == 0.0));
        // Hybrid: the score is the vector score + weight × lexical, and ranking follows it.
        let qv = e.embed("running shoe");
        let q = SearchQuery {
            vector: Some(&qv),
            text: Some("running shoe"),
            top_k: 4,
            weights: weighted(0.5),
            ..SearchQuery::default()
        };
        let hits = search(&v, &q, &mut s).expect("search").hits;
        for h in &hits {
            assert!((h.score - (h.vector + 0.5 * h.lexical)).abs() < 1e-5);
        }
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
        assert!(hits[0].item == 0 || hits[0].item == 2);
    }

    #[test]
    fn lexical_mode_answers_text_with_bm25_alone_whatever_the_vector() {
        use crate::HashEmbedder;
        let texts = ["red running shoes", "blue denim jacket", "trail running shoe with grip", "cast iron pan"];
        let e = HashEmbedder::new(32);
        let vectors: Vec<f32> = texts.iter().flat_map(|t| e.embed(t)).collect();
        let b = four_items(&texts, &vectors, 32);
        let v = b.view();
        let mut s = SearchScratch::default();
        let lexical = Some(SearchWeights { lexical: 1.0, mode: SearchMode::Lexical });
        // A vector pointing at the jacket changes nothing: the reference is the text-only search.
        let qv = e.embed("blue denim jacket");
        let with_vector = SearchQuery {
            vector: Some(&qv),
            text: Some("running shoe"),
            weights: lexical,
            top_k: 4,
            ..SearchQuery::default()
        };
        let got = search(&v, &with_vector, &mut s).expect("search");
        let reference = search(&v, &SearchQuery { vector: None, ..with_vector }, &mut s).expect("search");
        assert_eq!(got.hits, reference.hits);
        assert_eq!(got.stats.strategy, StrategyUsed::Lexical);
        assert!(!items(&got).contains(&1), "the jacket matches no term");
        // Without text the vector still searches.
        let vector_only =
            SearchQuery { vector: Some(&qv), text: None, weights: lexical, top_k: 1, ..SearchQuery::default() };
        assert_eq!(items(&search(&v, &vector_only, &mut s).expect("search")), vec![1]);
    }

    #[test]
    fn filter_returns_k_when_k_pass() {
        let (bytes, vectors, dim) = fixture_bundle(300, 16, 3);
        let b = crate::Bundle::load(&bytes).expect("load");
        let view = b.view();
        let f = Filter::default().with_category_names(&view, &["cat1"]).expect("known category");
        let mut s = SearchScratch::default();
        let hits = search(&view, &vector_only(&vectors[..dim], 10, &f, Strategy::Auto), &mut s).expect("search").hits;
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|h| view.categories_of(h.item as usize).any(|c| c == "cat1")));
        assert!(Filter::default().with_category_names(&view, &["nope"]).is_err());
        assert!(matches!(
            search(&view, &vector_only(&[0.0; 3], 5, &f, Strategy::Auto), &mut s),
            Err(Error::DimensionMismatch { .. })
        ));
    }

    /// Reference: four 2-d items, query vector (1, 0) and text "red". Vector ranking (inner
    /// products 1.0, 0.8, 0.6, 0.0): items 1, 2, 0, 3. BM25 ranking of "red": item 2 ("red red",
    /// tf 2) above item 0 ("red"); items 1 and 3 do not match. Fused, Σ 1/(60 + rank):
    /// item 2: 1/62 + 1/61, item 0: 1/63 + 1/62, item 1: 1/61, item 3: 1/64.
    #[test]
    fn rrf_scores_equal_the_hand_computed_reference() {
        let texts = ["red", "blue", "red red", "green"];
        let b = four_items(&texts, &[0.6, 0.8, 1.0, 0.0, 0.8, 0.6, 0.0, 1.0], 2);
        let v = b.view();
        let q = SearchQuery {
            vector: Some(&[1.0, 0.0]),
            text: Some("red"),
            top_k: 4,
            weights: Some(SearchWeights { lexical: 0.0, mode: SearchMode::Rrf }),
            ..SearchQuery::default()
        };
        let hits = search(&v, &q, &mut SearchScratch::default()).expect("rrf").hits;
        let want = [(2, 1.0 / 62.0 + 1.0 / 61.0), (0, 1.0 / 63.0 + 1.0 / 62.0), (1, 1.0 / 61.0), (3, 1.0 / 64.0)];
        assert_eq!(hits.len(), 4);
        for (h, (item, score)) in hits.iter().zip(want) {
            assert_eq!(h.item, item, "{hits:?}");
            assert!((h.score - score).abs() < 1e-7, "item {item}: {} vs {score}", h.score);
        }
        // The parts are the inputs of the ranks: inner products and BM25 / best BM25.
        // BM25 of "red" (same idf for both): tf·(k1+1) / (tf + k1·(1 − b + b·len/avg)), avg 1.25.
        let bm25 = |tf: f32, len: f32| tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * len / 1.25));
        let lexical = [(2, 1.0), (0, bm25(1.0, 1.0) / bm25(2.0, 2.0)), (1, 0.0), (3, 0.0)];
        let vector = [(2, 0.8), (0, 0.6), (1, 1.0), (3, 0.0)];
        for (h, ((_, l), (_, x))) in hits.iter().zip(lexical.iter().zip(vector)) {
            assert!((h.lexical - l).abs() < 1e-5, "item {}: lexical {} vs {l}", h.item, h.lexical);
            assert!((h.vector - x).abs() < 0.01, "item {}: vector {} vs {x}", h.item, h.vector);
        }
    }

    #[test]
    fn every_strategy_honours_category_filters_and_reports_itself() {
        let (bytes, vectors, dim) = fixture_bundle_with_graph(4000, 16, 8);
        let b = crate::Bundle::load(&bytes).expect("load");
        let view = b.view();
        let f = Filter::default().with_category_names(&view, &["cat2"]).expect("category");
        // Item 7 is in cat2: a query near the filtered category, as a shopper's would be.
        let query = &vectors[7 * dim..8 * dim];
        for (strategy, used) in [
            (Strategy::Flat, StrategyUsed::Scan),
            (Strategy::Coarse, StrategyUsed::Signs),
            (Strategy::Graph, StrategyUsed::Graph),
            (Strategy::Auto, StrategyUsed::Graph),
        ] {
            let r =
                search(&view, &vector_only(query, 10, &f, strategy), &mut SearchScratch::default()).expect("search");
            assert_eq!(r.stats.strategy, used, "{strategy:?}");
            assert_eq!(r.hits.len(), 10, "{strategy:?}");
            assert!(r.hits.iter().all(|h| view.categories_of(h.item as usize).any(|c| c == "cat2")), "{strategy:?}");
        }
        // Without a graph, asking for one scans.
        let (bytes, vectors, dim) = fixture_bundle(300, 16, 8);
        let b = crate::Bundle::load(&bytes).expect("load");
        let r =
            search(&b.view(), &vector_only(&vectors[..dim], 10, &NO_FILTER, Strategy::Graph), &mut Default::default())
                .expect("search");
        assert_eq!(r.stats.strategy, StrategyUsed::Scan);
    }

    /// The graph answers (it is not skipped), and finds what the exact int8 scan finds.
    #[test]
    fn graph_search_is_used_and_agrees_with_the_scan() {
        let (bytes, vectors, dim) = fixture_bundle_with_graph(2000, 16, 11);
        let b = crate::Bundle::load(&bytes).expect("load");
        let view = b.view();
        assert!(view.index.graph.is_some());
        let mut s = SearchScratch::default();
        let mut agree = 0;
        for q in 0..40 {
            let item = q * 37 % 2000;
            let query = &vectors[item * dim..(item + 1) * dim];
            let graph = search(&view, &vector_only(query, 10, &NO_FILTER, Strategy::Auto), &mut s).expect("graph");
            assert_eq!(graph.stats.strategy, StrategyUsed::Graph);
            assert!(graph.stats.candidates < 2000 / 4, "the beam rescored {} items", graph.stats.candidates);
            let flat = search(&view, &vector_only(query, 10, &NO_FILTER, Strategy::Flat), &mut s).expect("scan");
            agree += items(&graph).iter().filter(|i| items(&flat).contains(i)).count();
        }
        assert!(agree as f64 / 400.0 >= 0.95, "graph vs scan overlap {}", agree as f64 / 400.0);
    }

    /// A category filter keeps the graph (allowed items only in its results) and finds what the
    /// filtered scan finds; a filter too selective for the beam falls back to the scan, and
    /// still returns k items.
    #[test]
    fn filtered_graph_search_is_used_and_falls_back_when_too_selective() {
        let (bytes, vectors, dim) = fixture_bundle_with_graph(4000, 16, 12);
        let b = crate::Bundle::load(&bytes).expect("load");
        let view = b.view();
        let mut s = SearchScratch::default();
        let f = Filter::default().with_category_names(&view, &["cat2"]).expect("category");
        let mut agree = 0;
        for q in 0..30 {
            let item = (q * 71 % 800) * 5 + 2; // cat2 items
            let query = &vectors[item * dim..(item + 1) * dim];
            let graph = search(&view, &vector_only(query, 10, &f, Strategy::Auto), &mut s).expect("graph");
            assert_eq!(graph.stats.strategy, StrategyUsed::Graph, "query {q}");
            assert_eq!(graph.hits.len(), 10);
            assert!(graph.hits.iter().all(|h| h.item % 5 == 2));
            let flat = search(&view, &vector_only(query, 10, &f, Strategy::Flat), &mut s).expect("scan");
            agree += items(&graph).iter().filter(|i| items(&flat).contains(i)).count();
        }
        assert!(agree as f64 / 300.0 >= 0.9, "filtered graph vs scan overlap {}", agree as f64 / 300.0);
        let rare = Filter::default().with_category_names(&view, &["rare"]).expect("category");
        let r = search(&view, &vector_only(&vectors[..dim], 10, &rare, Strategy::Auto), &mut s).expect("rare");
        assert_eq!(r.stats.strategy, StrategyUsed::Fallback);
        assert_eq!(r.hits.len(), 10);
        assert!(r.hits.iter().all(|h| h.item % 100 == 0));
    }
}
