//! The request and response shapes every runtime speaks (HTTP at the edge, JS objects in the
//! browser, JSON on the CLI), and the functions that answer them. Runtimes only convert.
//!
//! Field names are snake_case; the JS-style camelCase spellings (`topK`, `userId`,
//! `excludeSeen`, `text`) are accepted as aliases. Unknown fields are rejected so typos surface.

use crate::bundle::BundleView;
use crate::embed::{HashEmbedder, HASH_MODEL};
use crate::error::{Error, Result};
use crate::recommend::{recommend, RecScratch, ScoreParts, Source};
use crate::search::{hybrid_search_with, Filter, Hit, SearchOptions, SearchScratch};
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
    /// Product ids the shopper interacted with (most recent session).
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
    /// Score (cosine for search, fused z-score for recommendations).
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

/// Embed query text with the bundle's own embedder, when core has it (the hashing embedder).
/// For any other model the runtime must embed the text and pass a vector.
pub fn embed_query_locally(view: &BundleView<'_>, text: &str) -> Result<Vec<f32>> {
    let model = &view.manifest.embedding.model;
    if model != HASH_MODEL {
        return Err(Error::EmbedderMismatch { expected: model.clone(), actual: HASH_MODEL.into() });
    }
    Ok(HashEmbedder::new(view.vectors.dim).embed(text))
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
    let opts = SearchOptions { rrf: view.manifest.search.mode == "rrf", ..SearchOptions::default() };
    let hits =
        hybrid_search_with(view, vector, text, view.manifest.search.lexical, k, &filter, opts, &mut scratch.search)?;
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
    let (recs, source) = recommend(view, &history, k, view.manifest.fusion, &filter, &mut scratch.rec)?;
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
