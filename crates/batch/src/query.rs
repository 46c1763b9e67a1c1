//! `shopai query`: answer requests natively from a bundle, as JSON.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use shopai_core::service::{
    answer_recommend, answer_search, RecommendRequest, RecommendResponse, Scratch, SearchRequest, SearchResponse,
};
use shopai_core::{AlignedBytes, Bundle};
use std::path::Path;

/// A file of requests, answered in one go (what the parity tests feed every runtime).
#[derive(Debug, Deserialize)]
pub struct RequestSet {
    /// Search requests.
    #[serde(default)]
    pub search: Vec<SearchRequest>,
    /// Recommendation requests.
    #[serde(default)]
    pub recommend: Vec<RecommendRequest>,
}

/// Answers to a [`RequestSet`], in order.
#[derive(Debug, Serialize)]
pub struct ResponseSet {
    /// Search answers.
    pub search: Vec<SearchResponse>,
    /// Recommendation answers.
    pub recommend: Vec<RecommendResponse>,
}

/// Load a bundle file with a clear error.
pub fn load_bundle(path: &Path) -> Result<Bundle<AlignedBytes>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading bundle {}", path.display()))?;
    Bundle::load(&bytes).with_context(|| format!("loading bundle {}", path.display()))
}

/// Answer every request in `set`.
pub fn answer_all(bundle: &Bundle<AlignedBytes>, set: &RequestSet) -> Result<ResponseSet> {
    let view = bundle.view();
    let mut scratch = Scratch::default();
    let search =
        set.search.iter().map(|r| answer_search(&view, r, None, &mut scratch)).collect::<Result<Vec<_>, _>>()?;
    let recommend =
        set.recommend.iter().map(|r| answer_recommend(&view, r, &mut scratch)).collect::<Result<Vec<_>, _>>()?;
    Ok(ResponseSet { search, recommend })
}
