//! The in-memory dataset: string ids mapped to dense indices, ready for training and bundling.

use super::catalog::Product;
use super::ratings::Interactions;
use super::text::{product_text, template_text, TextSource};
use crate::config::Confidence;
use shopai_core::als::CsrMatrix;
use std::collections::HashMap;

/// One interaction as dense indices: `(user, item, rating, timestamp)`.
pub type Row = (u32, u32, f32, i64);

/// Items, users and interactions as dense indices.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// Product ids; index = item index. Catalog order first, then products seen only in ratings.
    pub item_ids: Vec<String>,
    /// Titles (the id when the catalog has none).
    pub titles: Vec<String>,
    /// Text to embed per item.
    pub texts: Vec<String>,
    /// Where each item's text came from (see [`super::text`]).
    pub text_sources: Vec<TextSource>,
    /// Category names.
    pub category_names: Vec<String>,
    /// Category ids per item.
    pub item_categories: Vec<Vec<u32>>,
    /// User ids; index = user index, in order of first appearance.
    pub user_ids: Vec<String>,
    /// Interactions in source order.
    pub interactions: Vec<Row>,
    /// Item vectors from a real embedder; `None` means the bundle uses the built-in hashing embedder.
    pub vectors: Option<ItemVectors>,
}

/// Product vectors from an embeddings endpoint.
#[derive(Debug, Clone)]
pub struct ItemVectors {
    /// The model that made them.
    pub model: String,
    /// Dimensions of each vector.
    pub dims: usize,
    /// The `dimensions` parameter the endpoint was called with (models that shorten their
    /// vectors); query embeddings must be asked for the same.
    pub requested_dimensions: Option<u32>,
    /// Row-major values, one L2-normalized row per item.
    pub values: Vec<f32>,
}

impl Dataset {
    /// Index interactions against a catalog.
    pub fn new(table: &Interactions, catalog: &[Product]) -> Self {
        let mut d = Dataset::default();
        let mut items: HashMap<&str, u32> = HashMap::new();
        let mut cats: HashMap<String, u32> = HashMap::new();
        let mut add = |d: &mut Dataset, p: &Product| {
            d.item_ids.push(p.id.clone());
            d.titles.push(if p.title.is_empty() { p.id.clone() } else { p.title.clone() });
            if p.title.is_empty() && p.description.is_empty() {
                d.texts.push(template_text(p));
                d.text_sources.push(TextSource::Template);
            } else {
                d.texts.push(product_text(p));
                d.text_sources.push(TextSource::Catalog);
            }
            let ids = p
                .categories
                .iter()
                .map(|c| {
                    *cats.entry(c.clone()).or_insert_with(|| {
                        d.category_names.push(c.clone());
                        d.category_names.len() as u32 - 1
                    })
                })
                .collect();
            d.item_categories.push(ids);
            d.item_ids.len() as u32 - 1
        };
        for p in catalog {
            if !items.contains_key(p.id.as_str()) {
                let idx = add(&mut d, p);
                items.insert(p.id.as_str(), idx);
            }
        }
        // Map the table's interned item ids to dataset indices, adding products missing from the catalog.
        let item_map: Vec<u32> = table
            .items
            .names()
            .iter()
            .map(|name| match items.get(&**name) {
                Some(&i) => i,
                None => add(&mut d, &Product { id: name.to_string(), ..Product::default() }),
            })
            .collect();
        d.user_ids = table.users.names().iter().map(|s| s.to_string()).collect();
        d.interactions = (0..table.len())
            .map(|k| (table.user[k], item_map[table.item[k] as usize], table.rating[k], table.timestamp[k]))
            .collect();
        d
    }

    /// Binary user × item matrix of the given interactions (value 1 per pair).
    pub fn binary_matrix(&self, interactions: &[Row]) -> CsrMatrix {
        self.matrix(interactions, Confidence::Binary)
    }

    /// User × item matrix with each pair's value from its rating (ALS confidence = alpha × value).
    /// A pair appears once: repeated rows collapse to the latest (see [`collapse`]).
    pub fn matrix(&self, interactions: &[Row], confidence: Confidence) -> CsrMatrix {
        let t: Vec<(u32, u32, f32)> =
            collapse(interactions).iter().map(|&(u, i, r, _)| (u, i, confidence.value(r))).collect();
        let mut m = CsrMatrix::from_triplets(self.user_ids.len(), self.item_ids.len(), &t);
        if confidence == Confidence::Binary {
            m.values.iter_mut().for_each(|v| *v = 1.0);
        }
        m
    }
}

/// One row per (user, item) pair — the latest by (timestamp, position in `rows`) — in the order
/// of `rows`. The protocol splits every input row and only then collapses repeated pairs: a pair
/// counts once in a training matrix and in popularity counts.
pub fn collapse(rows: &[Row]) -> std::borrow::Cow<'_, [Row]> {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_unstable_by_key(|&k| (rows[k].0, rows[k].1, rows[k].3, k));
    let mut keep = vec![false; rows.len()];
    let mut dups = false;
    for (n, &k) in order.iter().enumerate() {
        let last_of_pair = order.get(n + 1).is_none_or(|&next| (rows[next].0, rows[next].1) != (rows[k].0, rows[k].1));
        keep[k] = last_of_pair;
        dups |= !last_of_pair;
    }
    if !dups {
        return std::borrow::Cow::Borrowed(rows);
    }
    std::borrow::Cow::Owned(rows.iter().zip(&keep).filter(|(_, &k)| k).map(|(r, _)| *r).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidence_scales_ratings() {
        assert_eq!(Confidence::Binary.value(5.0), 1.0);
        assert_eq!(Confidence::Rating.value(4.0), 4.0);
        assert!((Confidence::Log.value(1.0) - (1.0 + 2f32.ln())).abs() < 1e-6);
        assert!(Confidence::Log.value(5.0) > Confidence::Log.value(1.0));
        assert!(<Confidence as clap::ValueEnum>::from_str("squared", false).is_err());
        let t = Interactions::from_rows([("u", "a", 4.0, 1, 1), ("u", "b", 2.0, 2, 2)]);
        let d = Dataset::new(&t, &[]);
        assert_eq!(d.matrix(&d.interactions, Confidence::Rating).values, vec![4.0, 2.0]);
        assert_eq!(d.binary_matrix(&d.interactions).values, vec![1.0, 1.0]);
    }

    #[test]
    fn collapse_keeps_the_latest_row_of_each_pair_in_order() {
        let rows: Vec<Row> = vec![(0, 1, 3.0, 5), (1, 1, 1.0, 1), (0, 1, 5.0, 7), (0, 2, 2.0, 2), (0, 1, 4.0, 7)];
        assert_eq!(collapse(&rows).to_vec(), vec![(1, 1, 1.0, 1), (0, 2, 2.0, 2), (0, 1, 4.0, 7)]);
        let distinct = &rows[..2];
        assert!(matches!(collapse(distinct), std::borrow::Cow::Borrowed(_)));
    }
}
