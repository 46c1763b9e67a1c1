//! Small synthetic bundles for unit tests.

use crate::als::{gram, train, AlsConfig, CsrMatrix, SplitMix64};
use crate::bundle::{BundleParts, Manifest};
use crate::quant::QuantMatrix;

/// A bundle of `n` items with random normalized `dim`-d vectors (returned too), categories
/// `cat0..cat4`, ALS factors from random interactions of 30 users, popularity.
pub fn fixture_bundle(n: usize, dim: usize, seed: u64) -> (Vec<u8>, Vec<f32>, usize) {
    let mut rng = SplitMix64::new(seed);
    let mut vectors = vec![0f32; n * dim];
    for row in vectors.chunks_mut(dim) {
        row.iter_mut().for_each(|x| *x = rng.next_f32() - 0.5);
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        row.iter_mut().for_each(|x| *x /= norm);
    }
    let users = 30;
    let mut t = Vec::new();
    for u in 0..users {
        for i in 0..n {
            if (i % 7 == u % 7 && rng.next_f32() < 0.4) || rng.next_f32() < 0.02 {
                t.push((u as u32, i as u32, 1.0));
            }
        }
    }
    let m = CsrMatrix::from_triplets(users, n, &t);
    let cfg = AlsConfig::default().factors(8).iterations(5);
    let model = train(&m, &cfg, |_| {}).expect("train");
    let factors = QuantMatrix::from_f32(&model.item_factors, 8);
    let mut deq = vec![0f32; n * 8];
    for i in 0..n {
        factors.view().dequantize_into(i, &mut deq[i * 8..(i + 1) * 8]);
    }
    let mut popularity = vec![0f32; n];
    t.iter().for_each(|&(_, i, _)| popularity[i as usize] += 1.0);
    let (codes, vector_extras) =
        crate::index::encode(&vectors, dim, crate::index::EncodeOptions { signs: true, refine: true });
    let parts = BundleParts {
        manifest: Manifest { version: "test-2026-01-01".into(), model_id: "test".into(), ..Manifest::default() },
        item_ids: (0..n).map(|i| format!("p{i}")).collect(),
        titles: (0..n).map(|i| format!("Product {i}")).collect(),
        category_names: (0..5).map(|c| format!("cat{c}")).collect(),
        item_categories: (0..n)
            .map(|i| if i % 10 == 0 { vec![(i % 5) as u32, 4] } else { vec![(i % 5) as u32] })
            .collect(),
        vectors: codes,
        vector_extras,
        factors,
        gram: gram(&deq, 8, cfg.regularization),
        popularity,
        user_ids: (0..users).map(|u| format!("u{u}")).collect(),
        user_history: (0..users).map(|u| m.row(u).0.to_vec()).collect(),
        // Neighbours within the same taste group (i mod 7), as an item-item model would find.
        item_neighbors: (0..n).map(|i| (1..4).map(|d| (((i + 7 * d) % n) as u32, 1.0 / d as f32)).collect()).collect(),
        lexical: Some(crate::lexical::LexicalIndex::build(
            &(0..n).map(|i| format!("Product {i} cat{}", i % 5)).collect::<Vec<_>>(),
        )),
    };
    (parts.to_bytes().expect("valid parts"), vectors, dim)
}
