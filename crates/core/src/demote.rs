//! Demotions: products shoppers marked `not_relevant`, recorded in the manifest by the batch
//! build (from `shopai ingest-feedback`) and left out of the answers they were marked in: a
//! search for the same (normalized) query text, or recommendations for the same user.

use crate::BundleView;
use serde::{Deserialize, Serialize};

/// One `not_relevant` judgement.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Demotion {
    /// The product.
    pub product_id: String,
    /// Normalized query text ([`normalize_query`]) it was marked for, if a search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// The user it was marked by, if a recommendation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// Lowercase, whitespace collapsed: how query texts are compared.
pub fn normalize_query(q: &str) -> String {
    q.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>().join(" ")
}

/// Items demoted for this query text.
pub fn for_query<'a>(view: &'a BundleView<'_>, text: Option<&str>) -> impl Iterator<Item = u32> + 'a {
    let q = text.filter(|_| !view.manifest.demotions.is_empty()).map(normalize_query);
    view.manifest
        .demotions
        .iter()
        .filter(move |d| q.is_some() && d.query == q)
        .filter_map(|d| view.item_index(&d.product_id))
}

/// Items demoted for this user.
pub fn for_user<'a>(view: &'a BundleView<'_>, user: Option<&'a str>) -> impl Iterator<Item = u32> + 'a {
    view.manifest
        .demotions
        .iter()
        .filter(move |d| user.is_some() && d.user_id.as_deref() == user)
        .filter_map(|d| view.item_index(&d.product_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::{answer_recommend, answer_search, RecommendRequest, Scratch, SearchRequest};
    use crate::{Bundle, BundleParts, HashEmbedder, QuantMatrix, HASH_MODEL};

    fn parts() -> BundleParts {
        let e = HashEmbedder::new(16);
        let titles = ["red running shoe", "blue running shoe", "trail running shoe", "cast iron pan"];
        let vectors: Vec<f32> = titles.iter().flat_map(|t| e.embed(t)).collect();
        let mut p = BundleParts {
            item_ids: (0..4).map(|i| format!("p{i}")).collect(),
            titles: titles.iter().map(|t| t.to_string()).collect(),
            item_categories: vec![vec![]; 4],
            vectors: QuantMatrix::from_f32(&vectors, 16),
            factors: QuantMatrix::from_f32(&[0.1, 0.3, 0.2, 0.5, 0.3, 0.1, 0.0, 0.2], 2),
            gram: vec![1.0, 0.1, 0.1, 1.0],
            popularity: vec![5.0, 4.0, 3.0, 2.0],
            user_ids: vec!["u1".into()],
            user_history: vec![vec![3]],
            ..BundleParts::default()
        };
        p.manifest.embedding.model = HASH_MODEL.into();
        p
    }

    fn ids(r: &[crate::service::ItemResult]) -> Vec<String> {
        r.iter().map(|x| x.product_id.clone()).collect()
    }

    #[test]
    fn demotions_leave_out_the_product_where_it_was_marked_only() {
        let plain = parts().to_bytes().expect("bundle");
        let mut p = parts();
        p.manifest.demotions = vec![
            Demotion { product_id: "p0".into(), query: Some("running shoe".into()), user_id: None },
            Demotion { product_id: "p1".into(), query: None, user_id: Some("u1".into()) },
        ];
        let demoted = p.to_bytes().expect("bundle");
        let (a, b) = (Bundle::load(&plain).expect("a"), Bundle::load(&demoted).expect("b"));
        let s = &mut Scratch::default();
        let q = |t: &str| SearchRequest { query: Some(t.into()), top_k: Some(4), ..Default::default() };
        let before = ids(&answer_search(&a.view(), &q("running shoe"), None, s).expect("search").results);
        assert!(before.contains(&"p0".to_string()));
        let after = ids(&answer_search(&b.view(), &q("  Running   SHOE "), None, s).expect("search").results);
        assert!(!after.contains(&"p0".to_string()), "{after:?}");
        assert_eq!(after.len(), 3);
        let other = ids(&answer_search(&b.view(), &q("red shoe"), None, s).expect("search").results);
        assert!(other.contains(&"p0".to_string()), "other queries keep it");
        let r = |u: Option<&str>| RecommendRequest { user_id: u.map(Into::into), top_k: Some(4), ..Default::default() };
        assert!(ids(&answer_recommend(&a.view(), &r(Some("u1")), s).expect("rec").results).contains(&"p1".into()));
        assert!(!ids(&answer_recommend(&b.view(), &r(Some("u1")), s).expect("rec").results).contains(&"p1".into()));
        assert!(ids(&answer_recommend(&b.view(), &r(None), s).expect("rec").results).contains(&"p1".into()));
    }

    #[test]
    fn no_demotions_leave_the_bytes_unchanged() {
        let a = parts().to_bytes().expect("a");
        let mut p = parts();
        p.manifest.demotions = Vec::new();
        assert_eq!(a, p.to_bytes().expect("b"));
        let m = serde_json::to_string(Bundle::load(&a).expect("load").manifest()).expect("json");
        assert!(!m.contains("demotions"));
    }
}
