//! Ranking metrics for offline evaluation: binary relevance for recommendations (the
//! evaluation protocol), graded relevance for search (`shopai evaluate-search`).

use std::collections::{HashMap, HashSet};

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

/// How a grade becomes a gain in graded nDCG.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gain {
    /// `2^grade − 1` (Burges et al.; stresses the top grades).
    #[default]
    Exponential,
    /// The grade itself (TREC-style).
    Linear,
}

impl Gain {
    /// The gain of one grade.
    pub fn of(self, grade: f64) -> f64 {
        match self {
            Self::Exponential => grade.exp2() - 1.0,
            Self::Linear => grade,
        }
    }

    /// `exponential` or `linear`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "exponential" => Some(Self::Exponential),
            "linear" => Some(Self::Linear),
            _ => None,
        }
    }
}

/// Graded nDCG@k: the grade's gain (see [`Gain`]; grades may be fractional, e.g. averaged over
/// raters), discount `log2(rank + 1)`, ideal DCG from the labels sorted by grade (0 when no label
/// has a positive grade). Items without a label have grade 0.
pub fn graded_ndcg_at(ranked: &[u32], grades: &HashMap<u32, f64>, k: usize, gain: Gain) -> f64 {
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .map(|(r, i)| gain.of(*grades.get(i).unwrap_or(&0.0)) / (r as f64 + 2.0).log2())
        .sum();
    let mut ideal: Vec<f64> = grades.values().copied().collect();
    ideal.sort_unstable_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal.iter().take(k).enumerate().map(|(r, &g)| gain.of(g) / (r as f64 + 2.0).log2()).sum();
    if idcg > 0.0 {
        dcg / idcg
    } else {
        0.0
    }
}

/// Recall@k against graded labels: items graded at least `threshold` in the first k, divided by
/// the number of such items; `None` when no label reaches the threshold (the query does not count).
pub fn graded_recall_at(ranked: &[u32], grades: &HashMap<u32, f64>, k: usize, threshold: f64) -> Option<f64> {
    let relevant = grades.values().filter(|&&g| g >= threshold).count();
    if relevant == 0 {
        return None;
    }
    let hits = ranked.iter().take(k).filter(|i| grades.get(i).is_some_and(|&g| g >= threshold)).count();
    Some(hits as f64 / relevant as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graded_ndcg_and_recall_match_hand_computed_values() {
        let grades: HashMap<u32, f64> = [(1, 3.0), (2, 1.0), (3, 2.0)].into_iter().collect();
        let e = Gain::Exponential;
        // Perfect order.
        assert!((graded_ndcg_at(&[1, 3, 2], &grades, 10, e) - 1.0).abs() < 1e-12);
        // [2, 9, 1]: gains 1, 0, 7 at ranks 1..3.
        let dcg = 1.0 + 7.0 / 4f64.log2();
        let idcg = 7.0 + 3.0 / 3f64.log2() + 1.0 / 4f64.log2();
        assert!((graded_ndcg_at(&[2, 9, 1], &grades, 10, e) - dcg / idcg).abs() < 1e-12);
        assert!((graded_recall_at(&[2, 9, 1], &grades, 10, 1.0).expect("labels") - 2.0 / 3.0).abs() < 1e-12);
        // The cut-off applies to the ranking and to the ideal: @1, [2] has gain 1 of an ideal 7.
        assert!((graded_ndcg_at(&[2, 9, 1], &grades, 1, e) - 1.0 / 7.0).abs() < 1e-12);
        assert!((graded_recall_at(&[2, 9, 1], &grades, 1, 1.0).expect("labels") - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(graded_ndcg_at(&[5], &HashMap::new(), 10, e), 0.0);
        assert_eq!(graded_recall_at(&[5], &HashMap::new(), 10, 1.0), None);
    }

    #[test]
    fn fractional_grades_linear_gains_and_a_threshold() {
        let grades: HashMap<u32, f64> = [(1, 2.33), (2, 0.5), (3, 1.67)].into_iter().collect();
        // [2, 9, 1] with linear gains: 0.5, 0, 2.33; ideal 2.33, 1.67, 0.5.
        let dcg = 0.5 + 2.33 / 4f64.log2();
        let idcg = 2.33 + 1.67 / 3f64.log2() + 0.5 / 4f64.log2();
        assert!((graded_ndcg_at(&[2, 9, 1], &grades, 10, Gain::Linear) - dcg / idcg).abs() < 1e-12);
        let e = |g: f64| g.exp2() - 1.0;
        let dcg = e(0.5) + e(2.33) / 4f64.log2();
        let idcg = e(2.33) + e(1.67) / 3f64.log2() + e(0.5) / 4f64.log2();
        assert!((graded_ndcg_at(&[2, 9, 1], &grades, 10, Gain::Exponential) - dcg / idcg).abs() < 1e-12);
        // Threshold 1: items 1 and 3 are relevant; [2, 9, 1] finds one of them.
        assert_eq!(graded_recall_at(&[2, 9, 1], &grades, 10, 1.0), Some(0.5));
        assert_eq!(graded_recall_at(&[2, 9, 1], &grades, 10, 0.1), Some(2.0 / 3.0));
        assert_eq!(graded_recall_at(&[2], &grades, 10, 3.0), None, "no label reaches 3");
        assert_eq!((Gain::parse("linear"), Gain::parse("log")), (Some(Gain::Linear), None));
    }

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
