//! Ranking metrics for offline evaluation (binary relevance), as in the evaluation protocol.

use std::collections::HashSet;

/// Precision@k: hits in the first k, divided by k (always k, even if fewer are ranked).
pub fn precision_at(ranked: &[u32], relevant: &HashSet<u32>, k: usize) -> f64 {
    hits(ranked, relevant, k) as f64 / k as f64
}

/// Recall@k: hits in the first k, divided by the number of relevant items.
pub fn recall_at(ranked: &[u32], relevant: &HashSet<u32>, k: usize) -> f64 {
    if relevant.is_empty() {
        return 0.0;
    }
    hits(ranked, relevant, k) as f64 / relevant.len() as f64
}

/// NDCG@k with binary gains, `log2(rank + 1)` discount and ideal DCG over `min(|relevant|, k)`.
pub fn ndcg_at(ranked: &[u32], relevant: &HashSet<u32>, k: usize) -> f64 {
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .filter(|(_, i)| relevant.contains(i))
        .map(|(r, _)| 1.0 / ((r + 2) as f64).log2())
        .sum();
    let ideal: f64 = (0..relevant.len().min(k)).map(|r| 1.0 / ((r + 2) as f64).log2()).sum();
    if ideal == 0.0 {
        0.0
    } else {
        dcg / ideal
    }
}

fn hits(ranked: &[u32], relevant: &HashSet<u32>, k: usize) -> usize {
    ranked.iter().take(k).filter(|i| relevant.contains(i)).count()
}

/// Coverage@k: distinct items over all top-k lists, divided by the catalog size.
pub fn coverage_at<'a>(lists: impl IntoIterator<Item = &'a [u32]>, k: usize, catalog: usize) -> f64 {
    let mut seen = HashSet::new();
    for l in lists {
        seen.extend(l.iter().take(k).copied());
    }
    seen.len() as f64 / catalog as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_check_case() {
        let ranked: Vec<u32> = (0..10).collect();
        let relevant: HashSet<u32> = [1, 15].into_iter().collect();
        assert!((precision_at(&ranked, &relevant, 10) - 0.1).abs() < 1e-12);
        assert!((recall_at(&ranked, &relevant, 10) - 0.5).abs() < 1e-12);
        assert!((ndcg_at(&ranked, &relevant, 10) - 0.386853).abs() < 1e-6);
        assert!((coverage_at([&ranked[..], &[3, 20][..]], 10, 100) - 0.11).abs() < 1e-12);
    }
}
