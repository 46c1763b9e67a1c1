//! Small synthetic bundles for unit tests.

use crate::als::{gram, train, AlsConfig, CsrMatrix};
use crate::bundle::{BundleParts, Manifest};
use crate::math::{dot, SplitMix64};
use crate::quant::QuantMatrix;

/// A bundle of `n` items with random normalized `dim`-d vectors (returned too), categories
/// `cat0..cat4`, ALS factors from random interactions of 30 users, popularity, item neighbours,
/// a lexical index, sign bits and the int4 residual (no graph).
pub fn fixture_bundle(n: usize, dim: usize, seed: u64) -> (Vec<u8>, Vec<f32>, usize) {
    let (parts, vectors) = fixture_parts(n, dim, seed);
    (parts.to_bytes().expect("valid parts"), vectors, dim)
}

/// [`fixture_bundle`] with vectors clustered by category (item `i` near the centre of category
/// `i % 5`, as products of one category are in real catalogs) and a real navigable graph:
/// layer 0 links each item to its `degree − 4` nearest neighbours (exact, by inner product) and
/// 4 pseudo-random long links that join the clusters; one upper layer of 16 spread-out items
/// links each to its 4 nearest. Items `i % 100 == 0` also carry the category `rare`, a filter
/// too selective for the graph.
pub fn fixture_bundle_with_graph(n: usize, dim: usize, seed: u64) -> (Vec<u8>, Vec<f32>, usize) {
    let (mut parts, _) = fixture_parts(n, dim, seed);
    let mut rng = SplitMix64::new(seed ^ 0x5EED);
    let centres: Vec<f32> = (0..5 * dim).map(|_| rng.next_f32() - 0.5).collect();
    let mut vectors = Vec::with_capacity(n * dim);
    for i in 0..n {
        let c = &centres[(i % 5) * dim..(i % 5 + 1) * dim];
        let row: Vec<f32> = c.iter().map(|&x| x + 0.3 * (rng.next_f32() - 0.5)).collect();
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        vectors.extend(row.iter().map(|x| x / norm));
    }
    let (codes, extras) =
        crate::index::encode(&vectors, dim, crate::index::EncodeOptions { signs: true, refine: true });
    parts.vectors = codes;
    parts.vector_extras = extras;
    parts.vector_extras.graph = Some(knn_graph(&vectors, dim, 16));
    parts.manifest.index.ef_search = 40;
    parts.category_names.push("rare".into());
    for (i, c) in parts.item_categories.iter_mut().enumerate() {
        if i % 100 == 0 {
            c.push(5);
        }
    }
    (parts.to_bytes().expect("valid parts"), vectors, dim)
}

/// The graph [`fixture_bundle_with_graph`] describes.
pub fn knn_graph(v: &[f32], dim: usize, degree: usize) -> crate::index::Graph {
    let n = v.len() / dim;
    let row = |i: usize| &v[i * dim..(i + 1) * dim];
    let nearest = |i: usize, k: usize| -> Vec<usize> {
        let mut d: Vec<(f32, usize)> = (0..n).filter(|&j| j != i).map(|j| (-dot(row(i), row(j)), j)).collect();
        d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        d.into_iter().take(k).map(|x| x.1).collect()
    };
    let u24 = |x: usize| (x as u32).to_le_bytes()[..3].to_vec();
    let mut zero = Vec::with_capacity(n * degree * 3);
    for i in 0..n {
        for j in nearest(i, degree - 4) {
            zero.extend(u24(j));
        }
        for r in 1..=4 {
            zero.extend(u24((i * 97 + r * 131) % n));
        }
    }
    let m = 16.min(n);
    let pid_items: Vec<u32> = (0..m).map(|p| (p * n / m) as u32).collect();
    let mut upper = Vec::with_capacity(m * 4 * 3);
    for p in 0..m {
        // Upper layers name graph ids (positions in `pid_items`), not items.
        let item = |q: usize| pid_items[q] as usize;
        let mut d: Vec<(f32, usize)> =
            (0..m).filter(|&q| q != p).map(|q| (-dot(row(item(p)), row(item(q))), q)).collect();
        d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut ids: Vec<usize> = d.into_iter().take(4).map(|x| x.1).collect();
        ids.resize(4, 0x00FF_FFFF);
        ids.into_iter().for_each(|q| upper.extend(u24(q)));
    }
    crate::index::Graph { degree0: degree as u32, degree_upper: 4, zero, upper, layer_sizes: vec![m as u32], pid_items }
}

/// The parts of [`fixture_bundle`], to adjust before writing.
pub fn fixture_parts(n: usize, dim: usize, seed: u64) -> (BundleParts, Vec<f32>) {
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
        // Each item is followed by the next two in index order (a catalog browsed in sequence).
        item_next: (0..n).map(|i| vec![(((i + 1) % n) as u32, 0.7), (((i + 2) % n) as u32, 0.3)]).collect(),
        lexical: Some(crate::lexical::LexicalIndex::build(
            &(0..n).map(|i| format!("Product {i} cat{}", i % 5)).collect::<Vec<_>>(),
        )),
    };
    (parts, vectors)
}
