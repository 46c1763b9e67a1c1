//! The in-memory dataset: string ids mapped to dense indices, ready for training and bundling.

use crate::ingest::{Interactions, Product};
use shopai_core::als::CsrMatrix;
use std::collections::HashMap;

/// How a rating becomes the ALS interaction value (confidence = alpha × value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// Every interaction counts 1 (the evaluation protocol's choice).
    #[default]
    Binary,
    /// The rating itself.
    Rating,
    /// `1 + ln(1 + rating)`: grows with the rating but saturates (Hu, Koren & Volinsky's log scaling).
    Log,
}

impl Confidence {
    /// Parse `binary`, `rating` or `log`.
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        Ok(match s {
            "binary" => Self::Binary,
            "rating" => Self::Rating,
            "log" => Self::Log,
            _ => anyhow::bail!("unknown confidence {s:?} (use binary, rating or log)"),
        })
    }

    /// The value of one interaction with this rating.
    pub fn value(self, rating: f32) -> f32 {
        match self {
            Self::Binary => 1.0,
            Self::Rating => rating.max(0.0),
            Self::Log => 1.0 + rating.max(0.0).ln_1p(),
        }
    }
}

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
    /// Where each item's text came from (see [`crate::describe`]).
    pub text_sources: Vec<crate::describe::TextSource>,
    /// Category names.
    pub category_names: Vec<String>,
    /// Category ids per item.
    pub item_categories: Vec<Vec<u32>>,
    /// User ids; index = user index, in order of first appearance.
    pub user_ids: Vec<String>,
    /// Interactions in source order.
    pub interactions: Vec<Row>,
    /// Item vectors from a real embedder (model name, dimensions, row-major values); `None`
    /// means the bundle uses the built-in hashing embedder.
    pub vectors: Option<(String, usize, Vec<f32>)>,
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
                d.texts.push(crate::describe::template_text(p));
                d.text_sources.push(crate::describe::TextSource::Template);
            } else {
                d.texts.push(product_text(p));
                d.text_sources.push(crate::describe::TextSource::Catalog);
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
    /// A pair appears once: repeated rows collapse to the latest (see [`crate::split::collapse`]).
    pub fn matrix(&self, interactions: &[Row], confidence: Confidence) -> CsrMatrix {
        let t: Vec<(u32, u32, f32)> =
            crate::split::collapse(interactions).iter().map(|&(u, i, r, _)| (u, i, confidence.value(r))).collect();
        let mut m = CsrMatrix::from_triplets(self.user_ids.len(), self.item_ids.len(), &t);
        if confidence == Confidence::Binary {
            m.values.iter_mut().for_each(|v| *v = 1.0);
        }
        m
    }
}

/// The text that represents a product to the embedder: title, categories, brand, description.
pub fn product_text(p: &Product) -> String {
    let mut t = if p.title.is_empty() { p.id.clone() } else { p.title.clone() };
    if !p.categories.is_empty() {
        t.push_str(": ");
        t.push_str(&p.categories.join(" "));
    }
    if !p.brand.is_empty() {
        t.push_str(". Brand: ");
        t.push_str(&p.brand);
    }
    if !p.description.is_empty() {
        t.push_str(". ");
        t.push_str(&p.description);
    }
    t
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
        assert!(Confidence::parse("squared").is_err());
        let t = Interactions::from_rows([("u", "a", 4.0, 1, 1), ("u", "b", 2.0, 2, 2)]);
        let d = Dataset::new(&t, &[]);
        assert_eq!(d.matrix(&d.interactions, Confidence::Rating).values, vec![4.0, 2.0]);
        assert_eq!(d.binary_matrix(&d.interactions).values, vec![1.0, 1.0]);
    }
}
