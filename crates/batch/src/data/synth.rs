//! `shopai synth`: a small synthetic storefront (catalog + timestamped ratings) with real structure
//! (category tastes, popularity skew), deterministic for a seed. Tests and demos use it so they
//! depend on nothing outside the repository.

use anyhow::Result;
use shopai_core::math::SplitMix64;
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

/// How a shopper might ask for each product kind, in words the catalog does not use.
const SHOPPER_WORDS: [(&str, &str); 40] = [
    ("Running Shoe", "jogging sneakers"),
    ("Trail Sneaker", "off-road running shoes"),
    ("Leather Boot", "boots made of hide"),
    ("Sandal", "open summer footwear"),
    ("Hiking Boot", "mountain trekking footwear"),
    ("Rain Jacket", "coat for wet weather"),
    ("Down Parka", "warm winter coat"),
    ("Denim Jacket", "jean coat"),
    ("Fleece", "soft warm pullover"),
    ("Windbreaker", "light wind-proof shell"),
    ("Chef Knife", "kitchen blade for chopping"),
    ("Cast Iron Pan", "heavy skillet"),
    ("Espresso Maker", "coffee machine"),
    ("Cutting Board", "chopping block"),
    ("Stock Pot", "large soup pot"),
    ("Mystery Novel", "detective story book"),
    ("Cookbook", "recipe book"),
    ("Travel Guide", "guidebook for tourists"),
    ("Poetry Collection", "book of poems"),
    ("Science Primer", "introduction to science"),
    ("Building Blocks", "construction bricks for kids"),
    ("Puzzle", "jigsaw"),
    ("Plush Bear", "stuffed teddy"),
    ("Toy Train", "model railway set"),
    ("Board Game", "tabletop game for family night"),
    ("Pruning Shears", "secateurs for trimming plants"),
    ("Watering Can", "can to water plants"),
    ("Seed Kit", "seeds to grow vegetables"),
    ("Garden Hose", "flexible water pipe for the yard"),
    ("Planter", "flower pot"),
    ("Wireless Earbuds", "cordless in-ear headphones"),
    ("Phone Charger", "mobile charging cable"),
    ("Bluetooth Speaker", "portable wireless speaker"),
    ("Smart Watch", "fitness tracker wristwatch"),
    ("USB Hub", "port expander for a laptop"),
    ("Face Cream", "facial moisturizer"),
    ("Lip Balm", "chapstick"),
    ("Shampoo", "hair wash"),
    ("Sunscreen", "sun protection lotion"),
    ("Perfume", "fragrance"),
];

/// Write `search_queries.csv` (query_id, query) and `search_labels.csv` (query_id, product_id,
/// grade) for a catalog written by [`write`] with `items` products: per product kind, the
/// shopper's words for it (and with an adjective); grade 2 for products of that kind (3 when the
/// adjective matches too), 1 for the rest of its category.
pub fn write_search_labels(dir: &Path, items: usize, seed: u64) -> Result<usize> {
    let mut rng = SplitMix64::new(seed);
    let pick = |n: usize, rng: &mut SplitMix64| (rng.next_u64() % n as u64) as usize;
    // Replay the catalog draws of `write`.
    let mut kinds = Vec::with_capacity(items);
    for _ in 0..items {
        let c = pick(CATEGORIES.len(), &mut rng);
        let noun = CATEGORIES[c].1[pick(CATEGORIES[c].1.len(), &mut rng)];
        let adj = ADJECTIVES[pick(ADJECTIVES.len(), &mut rng)];
        kinds.push((c, noun, adj));
    }
    let mut queries = String::from("query_id,query\n");
    let mut labels = String::from("query_id,product_id,grade\n");
    let mut n = 0;
    for (k, &(noun, words)) in SHOPPER_WORDS.iter().enumerate() {
        let c = CATEGORIES.iter().position(|(_, ns)| ns.contains(&noun)).expect("every noun has a category");
        for adj in [None, Some(ADJECTIVES[k % ADJECTIVES.len()])] {
            let qid = format!("q{n:03}");
            let text = match adj {
                Some(a) => format!("{} {words}", a.to_lowercase()),
                None => words.to_string(),
            };
            writeln!(queries, "{qid},{text}")?;
            for (i, &(ci, ni, ai)) in kinds.iter().enumerate() {
                let grade = match (ni == noun, adj == Some(ai)) {
                    (true, true) => 3,
                    (true, false) => 2,
                    _ if ci == c => 1,
                    _ => continue,
                };
                writeln!(labels, "{qid},P{i:05},{grade}")?;
            }
            n += 1;
        }
    }
    std::fs::write(dir.join("search_queries.csv"), queries)?;
    std::fs::write(dir.join("search_labels.csv"), labels)?;
    Ok(n)
}

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
    write_search_labels(dir, items, seed)?;
    Ok((items, users, count))
}

/// What [`write_scale`] wrote.
#[derive(Debug, serde::Serialize)]
pub struct ScaleSummary {
    /// CSV path.
    pub out: String,
    /// Distinct interactions.
    pub interactions: usize,
    /// Users in the id space.
    pub users: usize,
    /// Items in the id space.
    pub items: usize,
}

/// A large ratings CSV with the shape of `../shared/anchors/gen_synth.py`: `nnz / 50` users with
/// lognormal(0, 1) activity, `nnz / 250` items with weight `1 / (rank + 10)` over a random
/// permutation of ranks, `1.4 × nnz` independent draws of which the first occurrence of each
/// distinct pair is kept (the first `nnz`), ratings uniform 1..5, timestamps
/// 1,600,000,000 + sorted uniform offsets in [0, 3·10⁷). Header `userId,itemId,rating,timestamp`.
pub fn write_scale(out: &Path, nnz: usize, seed: u64) -> Result<ScaleSummary> {
    use std::io::Write as _;
    let (nu, ni) = ((nnz / 50).max(2), (nnz / 250).max(2));
    let mut rng = SplitMix64::new(seed);
    let mut rank: Vec<usize> = (0..ni).collect();
    for k in (1..ni).rev() {
        rank.swap(k, (rng.next_u64() % (k as u64 + 1)) as usize);
    }
    let cumulative = |w: Vec<f64>| {
        let mut acc = 0.0;
        w.into_iter()
            .map(|x| {
                acc += x;
                acc
            })
            .collect::<Vec<f64>>()
    };
    let item_cdf = cumulative(rank.iter().map(|&r| 1.0 / (r as f64 + 10.0)).collect());
    let mut normal = || {
        let (a, b) = (rng.next_f32().max(1e-7) as f64, rng.next_f32() as f64);
        (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
    };
    let user_cdf = cumulative((0..nu).map(|_| normal().exp()).collect());
    let draw = |cdf: &[f64], u: f64| cdf.partition_point(|&c| c < u * cdf[cdf.len() - 1]).min(cdf.len() - 1);
    let mut seen = std::collections::HashSet::with_capacity(nnz * 2);
    let mut pairs = Vec::with_capacity(nnz);
    let mut draws = 0usize;
    while pairs.len() < nnz && draws < nnz * 3 {
        draws += 1;
        let u = draw(&user_cdf, rng.next_u64() as f64 / u64::MAX as f64);
        let i = draw(&item_cdf, rng.next_u64() as f64 / u64::MAX as f64);
        if seen.insert((u as u64) << 32 | i as u64) {
            pairs.push((u as u32, i as u32));
        }
    }
    let mut offsets: Vec<u64> = (0..pairs.len()).map(|_| rng.next_u64() % 30_000_000).collect();
    offsets.sort_unstable();
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(out)?);
    writeln!(w, "userId,itemId,rating,timestamp")?;
    for (&(u, i), off) in pairs.iter().zip(offsets) {
        writeln!(w, "{u},{i},{},{}", 1 + rng.next_u64() % 5, 1_600_000_000 + off)?;
    }
    w.flush()?;
    Ok(ScaleSummary { out: out.display().to_string(), interactions: pairs.len(), users: nu, items: ni })
}
