//! Where a request's time goes inside the edge, natively (the same pure code the component runs):
//! writes an ML-100k-shaped bundle (titles and genres from data/ml-100k, hashing embedder, stored
//! user histories, a BM25 index; ALS factors are random, which costs the same as trained ones)
//! and times load, parse, rank and serialization per route.
//!
//! `cargo run --release -p shopai-edge --example profile -- data/ml-100k OUT.bin [BUNDLE]`: with a
//! third argument, the same requests are timed against that bundle (e.g. one `shopai build` wrote
//! from the same data) instead of the synthetic one.
use shopai_core::service::Scratch;
use shopai_core::{BundleParts, HashEmbedder, QuantMatrix, HASH_MODEL};
use shopai_edge::api::{self, State};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (dir, out) = (&args[1], &args[2]);
    let items = std::fs::read_to_string(format!("{dir}/ml-100k.item")).expect("items");
    let inter = std::fs::read_to_string(format!("{dir}/ml-100k.inter")).expect("inter");
    let (mut ids, mut titles, mut cats) = (Vec::new(), Vec::new(), Vec::new());
    let mut names: Vec<String> = Vec::new();
    for line in items.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        ids.push(f[0].to_string());
        titles.push(f[1].to_string());
        let mut c = Vec::new();
        for g in f.get(3).unwrap_or(&"").split_whitespace() {
            let k = names.iter().position(|n| n == g).unwrap_or_else(|| {
                names.push(g.to_string());
                names.len() - 1
            });
            c.push(k as u32);
        }
        cats.push(c);
    }
    let index: std::collections::HashMap<&str, u32> =
        ids.iter().enumerate().map(|(i, s)| (s.as_str(), i as u32)).collect();
    let mut users: Vec<String> = Vec::new();
    let mut hist: Vec<Vec<u32>> = Vec::new();
    let mut uix = std::collections::HashMap::new();
    let mut pop = vec![0f32; ids.len()];
    for line in inter.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let u = *uix.entry(f[0].to_string()).or_insert_with(|| {
            users.push(f[0].to_string());
            hist.push(Vec::new());
            users.len() - 1
        });
        if let Some(&i) = index.get(f[1]) {
            hist[u].push(i);
            pop[i as usize] += 1.0;
        }
    }
    let dim = 256;
    let e = HashEmbedder::new(dim);
    let vectors: Vec<f32> = titles.iter().flat_map(|t| e.embed(t)).collect();
    let k = 64;
    let mut seed = 7u64;
    let mut rnd = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    };
    let factors: Vec<f32> = (0..ids.len() * k).map(|_| rnd() * 0.2).collect();
    let mut gram = vec![0f32; k * k];
    for i in 0..k {
        gram[i * k + i] = 1.0 + 0.1 * ids.len() as f32 / k as f32;
    }
    let mut parts = BundleParts {
        lexical: Some(shopai_core::lexical::LexicalIndex::build(&titles)),
        item_ids: ids.clone(),
        titles: titles.clone(),
        category_names: names,
        item_categories: cats,
        vectors: QuantMatrix::from_f32(&vectors, dim),
        factors: QuantMatrix::from_f32(&factors, k),
        gram,
        popularity: pop,
        user_ids: users.clone(),
        user_history: hist,
        ..BundleParts::default()
    };
    parts.manifest.version = "profile-1".into();
    parts.manifest.embedding.model = HASH_MODEL.into();
    let mut bytes = parts.to_bytes().expect("bundle");
    std::fs::write(out, &bytes).expect("write");
    if let Some(real) = args.get(3) {
        bytes = std::fs::read(real).expect("bundle");
    }
    let t = Instant::now();
    let n = 20;
    for _ in 0..n {
        std::hint::black_box(State::from_bundle_bytes(Ok(bytes.clone())));
    }
    println!(
        "bundle {} bytes; load (copy + checksums + view) {:.3} ms",
        bytes.len(),
        t.elapsed().as_secs_f64() * 1e3 / n as f64
    );
    let state = State::from_bundle_bytes(Ok(bytes));
    let mut scratch = Scratch::default();
    let bodies: Vec<(&str, String)> = (0..200)
        .map(|i| match i % 4 {
            0 => (
                "/search",
                format!(
                    r#"{{"query":"{} story","top_k":10}}"#,
                    titles[i * 7 % titles.len()].split_whitespace().next().unwrap_or("love")
                ),
            ),
            1 => ("/search", r#"{"query":"star wars","top_k":10}"#.to_string()),
            2 => ("/recommendations", format!(r#"{{"user_id":"{}","top_k":10}}"#, users[i % users.len()])),
            _ => (
                "/recommendations",
                format!(r#"{{"history":["{}","{}"],"top_k":10}}"#, ids[i % ids.len()], ids[(i * 13) % ids.len()]),
            ),
        })
        .collect();
    for (route, kind) in [("/search", ""), ("/recommendations", "user_id"), ("/recommendations", "history")] {
        let (mut parse, mut rank, mut total) = (0.0, 0.0, 0usize);
        for _ in 0..10 {
            for (p, b) in bodies.iter().filter(|(p, b)| *p == route && b.contains(kind)) {
                let t0 = Instant::now();
                let q = api::parse_query("POST", p, b.as_bytes()).expect("route").expect("valid");
                let key = api::cache_key(&q, &state);
                let t1 = Instant::now();
                let a = api::respond(&q, &state, None, &mut scratch);
                let t2 = Instant::now();
                std::hint::black_box((key, a));
                parse += (t1 - t0).as_secs_f64();
                rank += (t2 - t1).as_secs_f64();
                total += 1;
            }
        }
        println!(
            "{route} {kind}: parse + key {:.1} µs, rank + serialize {:.1} µs per request",
            parse * 1e6 / total as f64,
            rank * 1e6 / total as f64
        );
    }
}
