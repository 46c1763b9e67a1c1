//! `shopai synth`: a small synthetic storefront (catalog + timestamped ratings) with real structure
//! (category tastes, popularity skew), deterministic for a seed. Tests and demos use it so they
//! depend on nothing outside the repository.

use anyhow::Result;
use shopai_core::als::SplitMix64;
use std::fmt::Write;
use std::path::Path;

const CATEGORIES: [(&str, &[&str]); 8] = [
    ("Shoes", &["Running Shoe", "Trail Sneaker", "Leather Boot", "Sandal", "Hiking Boot"]),
    ("Jackets", &["Rain Jacket", "Down Parka", "Denim Jacket", "Fleece", "Windbreaker"]),
    ("Kitchen", &["Chef Knife", "Cast Iron Pan", "Espresso Maker", "Cutting Board", "Stock Pot"]),
    ("Books", &["Mystery Novel", "Cookbook", "Travel Guide", "Poetry Collection", "Science Primer"]),
    ("Toys", &["Building Blocks", "Puzzle", "Plush Bear", "Toy Train", "Board Game"]),
    ("Garden", &["Pruning Shears", "Watering Can", "Seed Kit", "Garden Hose", "Planter"]),
    ("Electronics", &["Wireless Earbuds", "Phone Charger", "Bluetooth Speaker", "Smart Watch", "USB Hub"]),
    ("Beauty", &["Face Cream", "Lip Balm", "Shampoo", "Sunscreen", "Perfume"]),
];
const ADJECTIVES: [&str; 12] = [
    "Red",
    "Blue",
    "Classic",
    "Ultralight",
    "Organic",
    "Premium",
    "Compact",
    "Vintage",
    "Waterproof",
    "Eco",
    "Deluxe",
    "Everyday",
];

/// Write `catalog.csv` and `ratings.csv` into `dir`; returns (items, users, ratings).
pub fn write(dir: &Path, items: usize, users: usize, per_user: usize, seed: u64) -> Result<(usize, usize, usize)> {
    std::fs::create_dir_all(dir)?;
    let mut rng = SplitMix64::new(seed);
    let pick = |n: usize, rng: &mut SplitMix64| (rng.next_u64() % n as u64) as usize;
    let mut catalog = String::from("productId,title,category,description\n");
    let mut item_cat = Vec::with_capacity(items);
    for i in 0..items {
        let c = pick(CATEGORIES.len(), &mut rng);
        let (cat, nouns) = CATEGORIES[c];
        let noun = nouns[pick(nouns.len(), &mut rng)];
        let adj = ADJECTIVES[pick(ADJECTIVES.len(), &mut rng)];
        let second = if i % 9 == 0 { format!("|{}", CATEGORIES[(c + 1) % CATEGORIES.len()].0) } else { String::new() };
        writeln!(
            catalog,
            "P{i:05},{adj} {noun} {},{cat}{second},\"A {} {} for everyday use, model {}.\"",
            i % 97,
            adj.to_lowercase(),
            noun.to_lowercase(),
            i
        )?;
        item_cat.push(c);
    }
    let by_cat: Vec<Vec<usize>> =
        (0..CATEGORIES.len()).map(|c| (0..items).filter(|&i| item_cat[i] == c).collect()).collect();
    let mut ratings = String::from("userId,productId,rating,timestamp\n");
    let mut ts: i64 = 1_600_000_000;
    let mut count = 0;
    let mut events = Vec::new();
    for u in 0..users {
        let fav = [pick(CATEGORIES.len(), &mut rng), pick(CATEGORIES.len(), &mut rng)];
        let n = 3 + pick(per_user * 2, &mut rng);
        for _ in 0..n {
            let pool = if rng.next_f32() < 0.8 {
                &by_cat[fav[pick(2, &mut rng)]]
            } else {
                &by_cat[pick(CATEGORIES.len(), &mut rng)]
            };
            if pool.is_empty() {
                continue;
            }
            // Popularity skew: squaring a uniform draw favours the front of each category.
            let r = rng.next_f32();
            let item = pool[((r * r) * pool.len() as f32) as usize % pool.len()];
            let rating = 1 + pick(5, &mut rng);
            events.push((u, item, rating));
        }
    }
    // Interleave users in time.
    for k in (1..events.len()).rev() {
        let j = (rng.next_u64() % (k as u64 + 1)) as usize;
        events.swap(k, j);
    }
    for (u, item, rating) in events {
        ts += 1 + (rng.next_u64() % 600) as i64;
        writeln!(ratings, "U{u:04},P{item:05},{rating},{ts}")?;
        count += 1;
    }
    std::fs::write(dir.join("catalog.csv"), catalog)?;
    std::fs::write(dir.join("ratings.csv"), ratings)?;
    Ok((items, users, count))
}
