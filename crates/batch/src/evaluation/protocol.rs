//! Offline evaluation exactly as `EVAL_PROTOCOL.md` defines it: history H and evaluated part E,
//! users with ≥1 item in H and ≥1 relevant item in E, relevant = E(u) \ H(u) (variant "all") or
//! only ratings ≥ 4 (variant "pos"), rank every catalog item not in H(u) by score descending with
//! ties by item index, macro-averaged P/R/NDCG@K and coverage@K.

use crate::data::dataset::Row;
use rayon::prelude::*;
use serde::Serialize;
use shopai_core::metrics::{coverage_at, ndcg_at, precision_at, recall_at};
use shopai_core::recommend::latest_first;
use shopai_core::topk::TopK;
use std::collections::{BTreeMap, HashSet};

/// Which relevant items count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// Any rating.
    All,
    /// Rating ≥ 4.
    Pos,
}

/// Users to evaluate, with their history and relevant items.
#[derive(Debug, Clone)]
pub struct EvalSet {
    /// Evaluated user indices.
    pub users: Vec<u32>,
    /// H(u) per evaluated user (sorted item indices).
    pub history: Vec<Vec<u32>>,
    /// H(u)'s distinct items per evaluated user, latest visit first
    /// (`shopai_core::recommend::latest_first` of the time-ordered H rows): what orders the
    /// next-item source and the recency weights.
    pub latest: Vec<Vec<u32>>,
    /// Relevant items per evaluated user.
    pub relevant: Vec<HashSet<u32>>,
    /// Catalog size.
    pub n_items: usize,
}

impl EvalSet {
    /// The users at `positions` (in that order), for scoring a segment of them.
    pub fn subset(&self, positions: &[usize]) -> EvalSet {
        EvalSet {
            users: positions.iter().map(|&p| self.users[p]).collect(),
            history: positions.iter().map(|&p| self.history[p].clone()).collect(),
            latest: positions.iter().map(|&p| self.latest[p].clone()).collect(),
            relevant: positions.iter().map(|&p| self.relevant[p].clone()).collect(),
            n_items: self.n_items,
        }
    }
}

/// Build the evaluated users from history rows H and evaluated rows E.
pub fn eval_set(n_users: usize, n_items: usize, h: &[Row], e: &[Row], variant: Variant) -> EvalSet {
    let sequences = crate::index::transitions::sequences(n_users, h, |_, _| true);
    let mut latest: Vec<Vec<u32>> = sequences.iter().map(|s| latest_first(s, n_items)).collect();
    let mut hist = sequences;
    hist.iter_mut().for_each(|v| v.sort_unstable());
    let mut rel: Vec<HashSet<u32>> = vec![HashSet::new(); n_users];
    for &(u, i, r, _) in e {
        if (variant == Variant::All || r >= 4.0) && hist[u as usize].binary_search(&i).is_err() {
            rel[u as usize].insert(i);
        }
    }
    let users: Vec<u32> =
        (0..n_users as u32).filter(|&u| !hist[u as usize].is_empty() && !rel[u as usize].is_empty()).collect();
    EvalSet {
        history: users.iter().map(|&u| std::mem::take(&mut hist[u as usize])).collect(),
        latest: users.iter().map(|&u| std::mem::take(&mut latest[u as usize])).collect(),
        relevant: users.iter().map(|&u| std::mem::take(&mut rel[u as usize])).collect(),
        users,
        n_items,
    }
}

/// Metrics at one cut-off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct AtK {
    /// Precision@K.
    pub precision: f64,
    /// Recall@K.
    pub recall: f64,
    /// NDCG@K.
    pub ndcg: f64,
    /// Coverage@K.
    pub coverage: f64,
}

/// Metrics for several cut-offs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// Evaluated users.
    pub users: usize,
    /// Metrics per K.
    pub at: BTreeMap<usize, AtK>,
}

impl Report {
    /// NDCG@k (0 when k was not computed).
    pub fn ndcg(&self, k: usize) -> f64 {
        self.at.get(&k).map_or(0.0, |m| m.ndcg)
    }
}

/// The top-`k` list of every evaluated user, ranked by `score(user_position, history,
/// scores_out)` (one slot per item) descending, ties by item index, items in H(u) skipped.
pub fn rankings(set: &EvalSet, k: usize, mut score: impl FnMut(usize, &[u32], &mut [f32])) -> Vec<Vec<u32>> {
    let mut scores = vec![0f32; set.n_items];
    let mut top = TopK::new(k);
    let mut lists: Vec<Vec<u32>> = Vec::with_capacity(set.users.len());
    for (pos, hist) in set.history.iter().enumerate() {
        score(pos, hist, &mut scores);
        lists.push(top_unseen(&scores, hist, k, &mut top));
    }
    lists
}

/// [`rankings`] for a `score` that needs no state of its own (a [`super::offline::SourceMatrix`]
/// read, a fixed vector), users scored in parallel: the same lists, in the same order. What the
/// tuner's fusion grid runs for every weight combination.
pub fn rankings_par(set: &EvalSet, k: usize, score: impl Fn(usize, &[u32], &mut [f32]) + Sync) -> Vec<Vec<u32>> {
    set.history
        .par_iter()
        .enumerate()
        .map_init(
            || (vec![0f32; set.n_items], TopK::new(k)),
            |(scores, top), (pos, hist)| {
                score(pos, hist, scores);
                top_unseen(scores, hist, k, top)
            },
        )
        .collect()
}

/// The best `k` of `scores` outside `hist` (sorted ascending, as [`eval_set`] makes it).
fn top_unseen(scores: &[f32], hist: &[u32], k: usize, top: &mut TopK) -> Vec<u32> {
    top.reset(k);
    let mut seen = hist.iter().copied().peekable();
    for (i, &s) in scores.iter().enumerate() {
        let i = i as u32;
        while seen.next_if(|&h| h < i).is_some() {}
        if seen.peek() == Some(&i) {
            continue;
        }
        top.push(i, s);
    }
    top.drain_sorted().into_iter().map(|s| s.item).collect()
}

/// The metrics at each K in `ks` of per-user ranked lists.
fn metrics(set: &EvalSet, ks: &[usize], lists: &[Vec<u32>]) -> Report {
    let n = set.users.len().max(1) as f64;
    let mut report = Report { users: set.users.len(), at: BTreeMap::new() };
    for &k in ks {
        let mut m = AtK::default();
        for (list, rel) in lists.iter().zip(&set.relevant) {
            m.precision += precision_at(list, rel, k) / n;
            m.recall += recall_at(list, rel, k) / n;
            m.ndcg += ndcg_at(list, rel, k) / n;
        }
        m.coverage = coverage_at(lists.iter().map(Vec::as_slice), k, set.n_items);
        report.at.insert(k, m);
    }
    report
}

/// Rank for every evaluated user with `score(user_position, history, scores_out)` ([`rankings`])
/// and compute the metrics at each K in `ks`.
pub fn evaluate(set: &EvalSet, ks: &[usize], score: impl FnMut(usize, &[u32], &mut [f32])) -> Report {
    let kmax = ks.iter().copied().max().unwrap_or(10);
    metrics(set, ks, &rankings(set, kmax, score))
}

/// [`evaluate`] with users scored in parallel ([`rankings_par`]): the same report.
pub fn evaluate_par(set: &EvalSet, ks: &[usize], score: impl Fn(usize, &[u32], &mut [f32]) + Sync) -> Report {
    let kmax = ks.iter().copied().max().unwrap_or(10);
    metrics(set, ks, &rankings_par(set, kmax, score))
}

/// The protocol's popularity scores: interaction count of each item in `h`.
pub fn popularity_scores(n_items: usize, h: &[Row]) -> Vec<f32> {
    crate::index::popularity::popularity(n_items, h, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eval_set_and_metrics_follow_the_protocol() {
        // u0: H {0}, E {1 (r5), 2 (r3), 0 (again)}; u1: H {} → not evaluated; u2: H {1}, E {} → not evaluated.
        let h = vec![(0, 0, 5.0, 1), (2, 1, 4.0, 1)];
        let e = vec![(0, 1, 5.0, 2), (0, 2, 3.0, 2), (0, 0, 5.0, 2), (1, 3, 5.0, 2)];
        let all = eval_set(3, 4, &h, &e, Variant::All);
        assert_eq!(all.users, vec![0]);
        assert_eq!(all.relevant[0], [1, 2].into_iter().collect());
        let pos = eval_set(3, 4, &h, &e, Variant::Pos);
        assert_eq!(pos.relevant[0], [1].into_iter().collect());
        // Scores put item 2 first, then ties 1 and 3 broken by index; item 0 (in H) is skipped.
        let r = evaluate(&all, &[1, 2], |_, _, s| s.copy_from_slice(&[9.0, 1.0, 2.0, 1.0]));
        assert_eq!(r.at[&1].precision, 1.0);
        assert_eq!(r.at[&2].recall, 1.0);
        assert!((r.at[&2].coverage - 0.5).abs() < 1e-12);
    }

    #[test]
    fn parallel_rankings_equal_the_sequential_ones() {
        // 300 users, 200 items, histories of up to 30, scores with many ties.
        let mut h = Vec::new();
        let mut e = Vec::new();
        for u in 0..300u32 {
            for j in 0..(u % 30) {
                h.push((u, (u * 7 + j * 13) % 200, 4.0, 1));
            }
            e.push((u, (u * 11 + 5) % 200, 5.0, 2));
        }
        let set = eval_set(300, 200, &h, &e, Variant::All);
        assert!(set.users.len() > 250);
        let score = |pos: usize, hist: &[u32], out: &mut [f32]| {
            for (i, o) in out.iter_mut().enumerate() {
                *o = ((i * 31 + pos * 17 + hist.len()) % 23) as f32;
            }
        };
        assert_eq!(rankings_par(&set, 20, score), rankings(&set, 20, score));
        let (a, b) = (evaluate_par(&set, &[5, 10, 20], score), evaluate(&set, &[5, 10, 20], score));
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        // And no list holds an item of its user's history.
        for (list, hist) in rankings_par(&set, 20, score).iter().zip(&set.history) {
            assert!(list.iter().all(|i| hist.binary_search(i).is_err()));
            assert_eq!(list.len(), 20);
        }
    }
}
