//! The in-memory dataset: string ids mapped to dense indices, ready for training and bundling.

use crate::ingest::{Interaction, Product};
use shopai_core::als::CsrMatrix;
use std::collections::HashMap;

/// Items, users and interactions as dense indices.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// Product ids; index = item index. Catalog order first, then products seen only in ratings.
    pub item_ids: Vec<String>,
    /// Titles (the id when the catalog has none).
    pub titles: Vec<String>,
    /// Text to embed per item.
    pub texts: Vec<String>,
    /// Category names.
    pub category_names: Vec<String>,
    /// Category ids per item.
    pub item_categories: Vec<Vec<u32>>,
    /// User ids; index = user index, in order of first appearance.
    pub user_ids: Vec<String>,
    /// `(user, item, rating, timestamp)`, in source order.
    pub interactions: Vec<(u32, u32, f32, i64)>,
}

impl Dataset {
    /// Index interactions against a catalog.
    pub fn new(rows: &[Interaction], catalog: &[Product]) -> Self {
        let mut d = Dataset::default();
        let mut items: HashMap<String, u32> = HashMap::new();
        let mut cats: HashMap<String, u32> = HashMap::new();
        let add_item =
            |d: &mut Dataset, items: &mut HashMap<String, u32>, cats: &mut HashMap<String, u32>, p: &Product| {
                let idx = d.item_ids.len() as u32;
                items.insert(p.id.clone(), idx);
                d.item_ids.push(p.id.clone());
                d.titles.push(if p.title.is_empty() { p.id.clone() } else { p.title.clone() });
                d.texts.push(product_text(p));
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
                idx
            };
        for p in catalog {
            if !items.contains_key(&p.id) {
                add_item(&mut d, &mut items, &mut cats, p);
            }
        }
        let mut users: HashMap<String, u32> = HashMap::new();
        for r in rows {
            let item = match items.get(&r.item) {
                Some(&i) => i,
                None => add_item(&mut d, &mut items, &mut cats, &Product { id: r.item.clone(), ..Product::default() }),
            };
            let user = *users.entry(r.user.clone()).or_insert_with(|| {
                d.user_ids.push(r.user.clone());
                d.user_ids.len() as u32 - 1
            });
            d.interactions.push((user, item, r.rating, r.timestamp));
        }
        d
    }

    /// Binary user × item matrix of the given interactions (value 1 per pair).
    pub fn binary_matrix(&self, interactions: &[(u32, u32, f32, i64)]) -> CsrMatrix {
        let t: Vec<(u32, u32, f32)> = interactions.iter().map(|&(u, i, _, _)| (u, i, 1.0)).collect();
        let mut m = CsrMatrix::from_triplets(self.user_ids.len(), self.item_ids.len(), &t);
        m.values.iter_mut().for_each(|v| *v = 1.0);
        m
    }

    /// Interaction count per item over the given interactions.
    pub fn popularity(&self, interactions: &[(u32, u32, f32, i64)]) -> Vec<f32> {
        let mut p = vec![0f32; self.item_ids.len()];
        interactions.iter().for_each(|&(_, i, _, _)| p[i as usize] += 1.0);
        p
    }
}

/// The text that represents a product to the embedder: title, categories, description.
pub fn product_text(p: &Product) -> String {
    let mut t = if p.title.is_empty() { p.id.clone() } else { p.title.clone() };
    if !p.categories.is_empty() {
        t.push_str(": ");
        t.push_str(&p.categories.join(" "));
    }
    if !p.description.is_empty() {
        t.push_str(". ");
        t.push_str(&p.description);
    }
    t
}
