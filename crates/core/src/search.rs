//! Exact int8 vector search with filters applied inside the scan.

use crate::bundle::BundleView;
use crate::error::{Error, Result};
use crate::quant::{dot_i8, quantize_into};
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
}

/// The `top_k` items whose vectors are most similar (cosine, for normalized inputs) to `query`.
pub fn search(
    view: &BundleView<'_>,
    query: &[f32],
    top_k: usize,
    filter: &Filter,
    scratch: &mut SearchScratch,
) -> Result<Vec<Scored>> {
    let dim = view.vectors.dim;
    if query.len() != dim {
        return Err(Error::DimensionMismatch { expected: dim, actual: query.len() });
    }
    if !query.iter().all(|x| x.is_finite()) {
        return Err(Error::InvalidArgument { field: "vector", reason: "contains NaN or infinity".into() });
    }
    scratch.codes.resize(dim, 0);
    let qscale = quantize_into(query, &mut scratch.codes);
    scratch.top.reset(top_k);
    let filtered = filter.categories.is_empty() && filter.exclude.is_empty();
    for i in 0..view.n_items() as u32 {
        if !filtered && !filter.allows(view, i) {
            continue;
        }
        let s =
            dot_i8(view.vectors.row(i as usize), &scratch.codes) as f32 * (view.vectors.scales[i as usize] * qscale);
        scratch.top.push(i, s);
    }
    Ok(scratch.top.drain_sorted())
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
}
