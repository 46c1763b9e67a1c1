//! The request and response shapes every runtime speaks (HTTP at the edge, JS objects in the
//! browser, JSON on the CLI), and the functions that answer them. Runtimes only convert.
//!
//! Field names are snake_case; the JS-style camelCase spellings (`topK`, `userId`,
//! `excludeSeen`, `text`) are accepted as aliases. Unknown fields are rejected so typos surface.

use crate::bundle::{BundleView, Manifest};
use crate::embed::{HashEmbedder, HASH_MODEL};
use crate::error::{Error, Result};
use crate::recommend::{recommend, RecScratch, ScoreParts, Source};
use crate::search::{search, Filter, Hit, SearchQuery, SearchScratch};
use serde::{Deserialize, Serialize};

/// Largest `top_k` any request may ask for; larger values are clamped.
pub const MAX_TOP_K: usize = 100;
/// `top_k` when a request gives none.
pub const DEFAULT_TOP_K: usize = 10;

/// Result filters.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    /// Keep items in any of these categories.
    #[serde(default, alias = "categories")]
    pub category: Vec<String>,
}

/// A search request: a query text or a ready query vector.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// Query text.
    #[serde(default, alias = "text")]
    pub query: Option<String>,
    /// Query vector, already embedded with the bundle's model.
    #[serde(default)]
    pub vector: Option<Vec<f32>>,
    /// How many results (default 10, at most 100).
    #[serde(default, alias = "topK")]
    pub top_k: Option<usize>,
    /// Filters.
    #[serde(default)]
    pub filters: Filters,
}

/// A recommendation request: a known user, a session history of product ids, or both.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RecommendRequest {
    /// A user known to the bundle; their stored history is used.
    #[serde(default, alias = "userId")]
    pub user_id: Option<String>,
    /// Product ids the shopper interacted with (most recent session), oldest first: the latest
    /// ones drive the next-item source.
    #[serde(default)]
    pub history: Vec<String>,
    /// How many results (default 10, at most 100).
    #[serde(default, alias = "topK")]
    pub top_k: Option<usize>,
    /// Leave out items in the history (default true).
    #[serde(default, alias = "excludeSeen")]
    pub exclude_seen: Option<bool>,
    /// Filters.
    #[serde(default)]
    pub filters: Filters,
}

/// One result item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemResult {
    /// Product id.
    pub product_id: String,
    /// Title.
    pub title: String,
    /// Ranking score: for search, the inner product with the query plus the weighted lexical
    /// part, or the reciprocal-rank fusion score when the bundle's search mode is `rrf`; for
    /// recommendations, the fused z-score.
    pub score: f32,
    /// Categories.
    pub categories: Vec<String>,
    /// Score per source: {vector, collab, popularity, item} for recommendations, {vector,
    /// lexical} for search.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parts: Option<Parts>,
    /// History items that contributed most ("because you liked …").
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub because: Vec<String>,
}

/// Score parts of a result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Parts {
    /// Recommendation sources.
    Recommend(ScoreParts),
    /// Search sources.
    Search(Hit),
}

/// Answer to a [`SearchRequest`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchResponse {
    /// Best first.
    pub results: Vec<ItemResult>,
    /// Bundle version that answered.
    pub version: String,
    /// Set when the answer is lexical only because no query vector could be had, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub degraded: Option<String>,
}

/// Answer to a [`RecommendRequest`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecommendResponse {
    /// Best first.
    pub results: Vec<ItemResult>,
    /// Bundle version that answered.
    pub version: String,
    /// Which sources produced the list.
    pub source: Source,
    /// History ids the bundle does not know (ignored).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown_ids: Vec<String>,
}

/// Reusable scratch for both query kinds.
#[derive(Debug, Default)]
pub struct Scratch {
    search: SearchScratch,
    rec: RecScratch,
}

fn top_k(requested: Option<usize>) -> Result<usize> {
    match requested {
        Some(0) => Err(Error::InvalidArgument { field: "top_k", reason: "must be at least 1".into() }),
        Some(k) => Ok(k.min(MAX_TOP_K)),
        None => Ok(DEFAULT_TOP_K),
    }
}

fn item_result(view: &BundleView<'_>, item: u32, score: f32) -> ItemResult {
    let i = item as usize;
    ItemResult {
        product_id: view.item_ids.get(i).to_string(),
        title: view.titles.get(i).to_string(),
        score,
        categories: view.categories_of(i).map(str::to_string).collect(),
        parts: None,
        because: Vec::new(),
    }
}

/// What a runtime must do before core can answer a search request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "plan")]
pub enum QueryPlan {
    /// Core answers as is: the request carries a vector, or has no text, or core embeds the
    /// text itself (the bundle's model is the built-in hashing embedder).
    Answer,
    /// Embed `text` with `model` (`dimensions` long) and pass the vector to
    /// [`answer_search_with`]; without one the answer is lexical only and says why.
    EmbedQuery {
        /// Query text.
        text: String,
        /// Model the bundle names.
        model: String,
        /// Dimensions the bundle expects.
        dimensions: usize,
        /// The `dimensions` parameter to send with the request (the product vectors were asked
        /// for with it); `None`: send none, the model's own size is the bundle's.
        request_dimensions: Option<u32>,
    },
}

impl QueryPlan {
    /// Whether the runtime must fetch a query vector.
    pub fn needs_query_vector(&self) -> bool {
        matches!(self, Self::EmbedQuery { .. })
    }
}

/// The embedder core runs itself for this bundle's queries, if it has one (the hashing
/// embedder); `None` means query texts must be embedded outside core by the bundle's model.
pub fn local_embedder(manifest: &Manifest) -> Option<HashEmbedder> {
    (manifest.embedding.model == HASH_MODEL).then(|| HashEmbedder::new(manifest.embedding.dimensions as usize))
}

/// Decide whether `req` needs a query vector from outside core: the one place this is decided
/// (the edge, the npm package's `needsQueryVector` and `shopai evaluate-search` all ask here).
pub fn plan_query(manifest: &Manifest, req: &SearchRequest) -> QueryPlan {
    // A bundle tuned to lexical search answers text with BM25 alone: no vector to fetch.
    let lexical_only = manifest.search.mode == crate::bundle::SearchMode::Lexical && manifest.lexical_terms > 0;
    match &req.query {
        Some(text)
            if req.vector.is_none()
                && !text.trim().is_empty()
                && local_embedder(manifest).is_none()
                && !lexical_only =>
        {
            QueryPlan::EmbedQuery {
                text: text.clone(),
                model: manifest.embedding.model.clone(),
                dimensions: manifest.embedding.dimensions as usize,
                request_dimensions: manifest.embedding.request_dimensions,
            }
        }
        _ => QueryPlan::Answer,
    }
}

/// Embed query text with the bundle's own embedder, when core has it (the hashing embedder).
/// For any other model the runtime must embed the text and pass a vector.
pub fn embed_query_locally(view: &BundleView<'_>, text: &str) -> Result<Vec<f32>> {
    match local_embedder(view.manifest) {
        Some(e) => Ok(e.embed(text)),
        None => {
            Err(Error::EmbedderMismatch { expected: view.manifest.embedding.model.clone(), actual: HASH_MODEL.into() })
        }
    }
}

/// Answer a search. `query_vector` is the runtime's embedding of `req.query`, if it made one;
/// otherwise `req.vector` is used, or the text is embedded locally when the bundle allows it.
/// When no vector can be had for a text query and the bundle has a lexical index, the answer is
/// lexical only and says so in `degraded`; `embed_failure` is the runtime's reason, if any.
pub fn answer_search(
    view: &BundleView<'_>,
    req: &SearchRequest,
    query_vector: Option<&[f32]>,
    scratch: &mut Scratch,
) -> Result<SearchResponse> {
    answer_search_with(view, req, query_vector, None, scratch)
}

/// [`answer_search`] with the runtime's reason for having no query vector.
pub fn answer_search_with(
    view: &BundleView<'_>,
    req: &SearchRequest,
    query_vector: Option<&[f32]>,
    embed_failure: Option<&str>,
    scratch: &mut Scratch,
) -> Result<SearchResponse> {
    let k = top_k(req.top_k)?;
    let text = req.query.as_deref().filter(|t| !t.trim().is_empty());
    if text.is_none() && req.vector.is_none() && query_vector.is_none() {
        return Err(Error::InvalidArgument {
            field: "query",
            reason: "give a non-empty query text or a vector".into(),
        });
    }
    let mut degraded = None;
    let local;
    let vector: Option<&[f32]> = match (query_vector, &req.vector, text) {
        (Some(v), _, _) => Some(v),
        (None, Some(v), _) => Some(v),
        (None, None, Some(t)) => match embed_query_locally(view, t) {
            Ok(v) => {
                local = v;
                Some(&local)
            }
            Err(e) if view.lexical.is_some() => {
                degraded =
                    Some(format!("lexical only: {}", embed_failure.map_or_else(|| e.to_string(), str::to_string)));
                None
            }
            Err(e) => return Err(e),
        },
        (None, None, None) => None,
    };
    let filter = Filter::default()
        .with_category_names(view, &req.filters.category)?
        .with_exclude(crate::demote::for_query(view, text));
    // The bundle's weights and index settings: what `shopai evaluate-search` chose.
    let query = SearchQuery { vector, text, top_k: k, filter: &filter, ..SearchQuery::default() };
    let hits = search(view, &query, &mut scratch.search)?.hits;
    Ok(SearchResponse {
        results: hits
            .iter()
            .map(|h| ItemResult { parts: Some(Parts::Search(*h)), ..item_result(view, h.item, h.score) })
            .collect(),
        version: view.manifest.version.clone(),
        degraded,
    })
}

/// Answer a recommendation request.
pub fn answer_recommend(
    view: &BundleView<'_>,
    req: &RecommendRequest,
    scratch: &mut Scratch,
) -> Result<RecommendResponse> {
    let k = top_k(req.top_k)?;
    let mut history = Vec::new();
    if let Some(user) = &req.user_id {
        if let Some(u) = view.user_index(user) {
            history.extend_from_slice(view.user_history.row(u as usize));
        }
    }
    let mut unknown_ids = Vec::new();
    for id in &req.history {
        match view.item_index(id) {
            Some(i) => history.push(i),
            None => unknown_ids.push(id.clone()),
        }
    }
    let mut filter = Filter::default().with_category_names(view, &req.filters.category)?;
    if req.exclude_seen.unwrap_or(true) {
        filter = filter.with_exclude(history.iter().copied());
    }
    filter = filter.with_exclude(crate::demote::for_user(view, req.user_id.as_deref()));
    let (recs, source) = recommend(view, &history, k, None, &filter, &mut scratch.rec)?;
    let results = recs
        .iter()
        .map(|r| ItemResult {
            parts: Some(Parts::Recommend(r.parts)),
            because: r.because.iter().map(|&h| view.item_ids.get(h as usize).to_string()).collect(),
            ..item_result(view, r.item, r.score)
        })
        .collect();
    Ok(RecommendResponse { results, version: view.manifest.version.clone(), source, unknown_ids })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Bundle, BundleParts, QuantMatrix};

    fn manifest(model: &str) -> Manifest {
        let mut m = Manifest::default();
        m.embedding.model = model.into();
        m.embedding.dimensions = 8;
        m
    }

    fn text(q: &str) -> SearchRequest {
        SearchRequest { query: Some(q.into()), ..SearchRequest::default() }
    }

    #[test]
    fn plan_query_asks_for_a_vector_only_when_core_cannot_embed_the_text() {
        let hash = manifest(HASH_MODEL);
        let minilm = manifest("all-MiniLM-L6-v2");
        assert_eq!(plan_query(&hash, &text("red shoe")), QueryPlan::Answer);
        assert!(local_embedder(&hash).is_some() && local_embedder(&minilm).is_none());
        assert_eq!(
            plan_query(&minilm, &text("red shoe")),
            QueryPlan::EmbedQuery {
                text: "red shoe".into(),
                model: "all-MiniLM-L6-v2".into(),
                dimensions: 8,
                request_dimensions: None
            }
        );
        assert!(plan_query(&minilm, &text("red shoe")).needs_query_vector());
        let with_vector = SearchRequest { vector: Some(vec![0.0; 8]), ..text("red shoe") };
        assert_eq!(plan_query(&minilm, &with_vector), QueryPlan::Answer, "the request carries its vector");
        assert_eq!(plan_query(&minilm, &text("   ")), QueryPlan::Answer, "nothing to embed");
        assert_eq!(plan_query(&minilm, &SearchRequest::default()), QueryPlan::Answer);
        let mut lexical = manifest("all-MiniLM-L6-v2");
        lexical.search.mode = crate::bundle::SearchMode::Lexical;
        lexical.lexical_terms = 5;
        assert_eq!(
            plan_query(&lexical, &text("red shoe")),
            QueryPlan::Answer,
            "tuned to BM25 alone: no vector to fetch"
        );
        lexical.lexical_terms = 0;
        assert!(plan_query(&lexical, &text("red shoe")).needs_query_vector(), "no lexical index: vectors it is");
    }

    /// What `plan_query` promises holds: a request it answers directly gets a semantic answer;
    /// one it says needs a vector is lexical only (and says so) when none is given.
    #[test]
    fn answers_follow_the_plan() {
        let titles = ["red running shoe", "blue denim jacket"];
        let mut parts = BundleParts {
            item_ids: vec!["a".into(), "b".into()],
            titles: titles.iter().map(|t| t.to_string()).collect(),
            item_categories: vec![vec![], vec![]],
            vectors: QuantMatrix::from_f32(&HashEmbedder::new(8).embed(titles[0]).repeat(2), 8),
            factors: QuantMatrix::from_f32(&[0.1, 0.2], 1),
            gram: vec![1.0],
            popularity: vec![1.0, 2.0],
            lexical: Some(crate::lexical::LexicalIndex::build(&titles)),
            ..BundleParts::default()
        };
        for (model, degraded) in [(HASH_MODEL, false), ("all-MiniLM-L6-v2", true)] {
            parts.manifest.embedding.model = model.into();
            let b = Bundle::load(&parts.to_bytes().expect("bundle")).expect("load");
            let req = text("running shoe");
            assert_eq!(plan_query(b.manifest(), &req).needs_query_vector(), degraded);
            let res = answer_search(&b.view(), &req, None, &mut Scratch::default()).expect("answer");
            assert_eq!(res.degraded.is_some(), degraded, "{model}");
        }
    }
}
