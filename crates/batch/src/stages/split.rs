//! `shopai split`: the protocol's temporal 70/15/15 split written as parquet, user and product
//! tables with counts per part, and popularity baselines.

use crate::data::dataset::Dataset;
use crate::data::parquet;
use crate::data::processed::load_processed;
use crate::data::ratings::Interactions;
use crate::data::split::{take, temporal_split};
use crate::evaluation::protocol::{eval_set, evaluate, popularity_scores, Report, Variant};
use crate::io::fs::write_atomic;
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// What `split` reports.
#[derive(Debug, Clone, Serialize)]
pub struct SplitSummary {
    /// Folder with train/val/test parquet and the reports.
    pub dir: String,
    /// Rows per part.
    pub rows: BTreeMap<String, usize>,
    /// First and last timestamp per part.
    pub time_bounds: BTreeMap<String, (i64, i64)>,
    /// Popularity baseline per protocol split and variant (history = train for val, train+val for test).
    pub popularity_baseline: BTreeMap<String, Report>,
}

/// Temporal 70/15/15 split, user and product tables with counts, popularity baselines.
pub fn split(dir: &Path) -> Result<SplitSummary> {
    let p = load_processed(dir)?;
    let t = p.protocol_rows();
    let s = temporal_split(&t.timestamp, &t.line, 0.70, 0.15);
    let out = dir.join("split");
    std::fs::create_dir_all(&out)?;
    let mut rows = BTreeMap::new();
    let mut time_bounds = BTreeMap::new();
    for (name, idx) in [("train", &s.train), ("val", &s.val), ("test", &s.test)] {
        let part = Interactions::from_rows(
            idx.iter()
                .map(|&k| (t.users.name(t.user[k]), t.items.name(t.item[k]), t.rating[k], t.timestamp[k], t.line[k])),
        );
        write_atomic(&out.join(format!("{name}.parquet")), &parquet::write_ratings(&part)?)?;
        rows.insert(name.to_string(), idx.len());
        if let (Some(&a), Some(&b)) = (idx.first(), idx.last()) {
            time_bounds.insert(name.to_string(), (t.timestamp[a], t.timestamp[b]));
        }
    }
    let d = Dataset::new(t, &p.catalog);
    let all = &d.interactions;
    let (train, val, test) = (take(all, &s.train), take(all, &s.val), take(all, &s.test));

    // Users and products with their interaction counts per part.
    let mut ucount = vec![[0u64; 3]; d.user_ids.len()];
    let mut icount = vec![[0u64; 3]; d.item_ids.len()];
    for (k, part) in [&train, &val, &test].iter().enumerate() {
        for &(u, i, _, _) in part.iter() {
            ucount[u as usize][k] += 1;
            icount[i as usize][k] += 1;
        }
    }
    let mut users = csv::Writer::from_writer(Vec::new());
    users.write_record(["user_id", "train", "val", "test"])?;
    for (u, c) in d.user_ids.iter().zip(&ucount) {
        users.write_record([u, &c[0].to_string(), &c[1].to_string(), &c[2].to_string()])?;
    }
    let mut products = csv::Writer::from_writer(Vec::new());
    products.write_record(["product_id", "title", "train", "val", "test"])?;
    for ((id, title), c) in d.item_ids.iter().zip(&d.titles).zip(&icount) {
        products.write_record([id, title, &c[0].to_string(), &c[1].to_string(), &c[2].to_string()])?;
    }
    write_atomic(&out.join("users.csv"), &csv_bytes(users)?)?;
    write_atomic(&out.join("products.csv"), &csv_bytes(products)?)?;

    // Popularity baselines: global counts in H; per user, counts re-weighted by the user's category mix.
    let trainval: Vec<_> = train.iter().chain(&val).copied().collect();
    let mut popularity_baseline = BTreeMap::new();
    let n_items = d.item_ids.len();
    for (split_name, h, e) in [("val", &train, &val), ("test", &trainval, &test)] {
        let pop = popularity_scores(n_items, h);
        for variant in [Variant::All, Variant::Pos] {
            let set = eval_set(d.user_ids.len(), n_items, h, e, variant);
            let r = evaluate(&set, &[5, 10, 20], |_, _, s| s.copy_from_slice(&pop));
            let v = if variant == Variant::All { "all" } else { "pos" };
            popularity_baseline.insert(format!("{split_name}/{v}/global"), r);
            let ncat = d.category_names.len();
            if ncat > 0 {
                let r = evaluate(&set, &[5, 10, 20], |_, hist, s| {
                    let mut mix = vec![0f32; ncat];
                    for &i in hist {
                        for &c in &d.item_categories[i as usize] {
                            mix[c as usize] += 1.0 / hist.len() as f32;
                        }
                    }
                    for (i, out) in s.iter_mut().enumerate() {
                        let affinity: f32 = d.item_categories[i].iter().map(|&c| mix[c as usize]).sum();
                        *out = pop[i] * (1.0 + affinity);
                    }
                });
                popularity_baseline.insert(format!("{split_name}/{v}/per_user_category"), r);
            }
        }
    }
    let mut global = csv::Writer::from_writer(Vec::new());
    global.write_record(["product_id", "train_interactions"])?;
    let pop = popularity_scores(n_items, &train);
    let mut order: Vec<usize> = (0..n_items).collect();
    order.sort_by(|&a, &b| pop[b].total_cmp(&pop[a]).then(a.cmp(&b)));
    for i in order.into_iter().take(1000) {
        global.write_record([&d.item_ids[i], &pop[i].to_string()])?;
    }
    write_atomic(&out.join("popularity.csv"), &csv_bytes(global)?)?;
    let summary = SplitSummary { dir: out.display().to_string(), rows, time_bounds, popularity_baseline };
    write_atomic(&out.join("split.json"), serde_json::to_string_pretty(&summary)?.as_bytes())?;
    Ok(summary)
}

fn csv_bytes(w: csv::Writer<Vec<u8>>) -> Result<Vec<u8>> {
    w.into_inner().map_err(|e| anyhow::anyhow!("writing CSV: {e}"))
}
