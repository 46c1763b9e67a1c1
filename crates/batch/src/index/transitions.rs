//! Next-item transitions: for each item, the items that followed it in users' time-ordered
//! training sequences — up to [`WINDOW`] steps later, the nearer weighing more, optionally decayed
//! by age — as a conditional distribution cut to the heaviest few. The bundle stores them for
//! core's next-item source (`shopai_core::recommend::next_scores`), which follows a history's
//! latest items; the same module orders each known user's stored history oldest first.

use crate::data::dataset::Row;
use std::collections::HashMap;

/// How many steps after an item still count as "followed it": weight `1 / distance`.
pub const WINDOW: usize = 3;

/// Transitions kept per item (the heaviest).
pub const KEEP: usize = 50;

/// Added to an item's total before normalizing: an item seen followed once does not claim its
/// follower with probability 1.
const SMOOTHING: f32 = 1.0;

/// How transitions are counted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TransitionConfig {
    /// Transitions kept per item.
    pub keep: usize,
    /// Age half-life in days of a transition (from the newest row), None: no decay.
    pub half_life_days: Option<f32>,
}

impl Default for TransitionConfig {
    fn default() -> Self {
        Self { keep: KEEP, half_life_days: None }
    }
}

/// Each user's row positions in time order (ties keep the order of `rows`): what
/// [`sequences_in`] and [`transitions_in`] read, computed once per build.
pub fn timelines(n_users: usize, rows: &[Row]) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&k| (rows[k].3, k));
    let mut by_user = vec![Vec::new(); n_users];
    for k in order {
        if let Some(v) = by_user.get_mut(rows[k].0 as usize) {
            v.push(k);
        }
    }
    by_user
}

/// Each user's distinct items, oldest first by their latest interaction in `rows` (a re-visited
/// item moves to the end), keeping only items `keep(user, item)` allows: what a bundle stores as
/// a known user's history and what evaluation follows as H(u)'s latest items.
pub fn sequences(n_users: usize, rows: &[Row], keep: impl Fn(u32, u32) -> bool) -> Vec<Vec<u32>> {
    sequences_in(&timelines(n_users, rows), rows, keep)
}

/// [`sequences`] over timelines already computed ([`timelines`]).
pub fn sequences_in(timelines: &[Vec<usize>], rows: &[Row], keep: impl Fn(u32, u32) -> bool) -> Vec<Vec<u32>> {
    timelines
        .iter()
        .enumerate()
        .map(|(u, timeline)| {
            let items: Vec<u32> = timeline.iter().map(|&k| rows[k].1).collect();
            let last: HashMap<u32, usize> = items.iter().enumerate().map(|(p, &i)| (i, p)).collect();
            // Each item at its last position only.
            items.iter().enumerate().filter(|&(p, &i)| last[&i] == p && keep(u as u32, i)).map(|(_, &i)| i).collect()
        })
        .collect()
}

/// Per item, `(next item, weight)` heaviest first (ties by index), at most `cfg.keep`: the sum of
/// `1 / distance` (times the age decay) over every time a user's next [`WINDOW`] distinct steps
/// reached the next item, divided by the item's total plus a smoothing constant.
pub fn transitions(n_items: usize, n_users: usize, rows: &[Row], cfg: TransitionConfig) -> Vec<Vec<(u32, f32)>> {
    transitions_in(n_items, &timelines(n_users, rows), rows, cfg)
}

/// [`transitions`] over timelines already computed ([`timelines`]).
pub fn transitions_in(
    n_items: usize,
    timelines: &[Vec<usize>],
    rows: &[Row],
    cfg: TransitionConfig,
) -> Vec<Vec<(u32, f32)>> {
    let newest = rows.iter().map(|r| r.3).max().unwrap_or(0);
    let rate = cfg.half_life_days.map_or(0.0, |h| std::f64::consts::LN_2 / (h as f64 * 86_400.0));
    let mut counts: Vec<HashMap<u32, f32>> = vec![HashMap::new(); n_items];
    for timeline in timelines {
        // A repeat of the item just seen is one step, not a transition.
        let mut steps: Vec<(u32, i64)> = Vec::with_capacity(timeline.len());
        for &k in timeline {
            let (_, i, _, t) = rows[k];
            match steps.last_mut() {
                Some(last) if last.0 == i => last.1 = t,
                _ => steps.push((i, t)),
            }
        }
        for (p, &(from, _)) in steps.iter().enumerate() {
            for (d, &(to, t)) in steps.iter().enumerate().skip(p + 1).take(WINDOW) {
                if to == from || (from as usize) >= n_items || (to as usize) >= n_items {
                    continue;
                }
                let age = (-((newest - t) as f64) * rate).exp() as f32;
                *counts[from as usize].entry(to).or_insert(0.0) += age / (d - p) as f32;
            }
        }
    }
    counts
        .into_iter()
        .map(|row| {
            // Summed in item order, not the map's: the same rows give the same bytes.
            let mut v: Vec<(u32, f32)> = row.into_iter().collect();
            v.sort_unstable_by_key(|p| p.0);
            let total: f32 = v.iter().map(|p| p.1).sum();
            v.iter_mut().for_each(|p| p.1 /= total + SMOOTHING);
            v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            v.truncate(cfg.keep);
            v
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_follow_time_order_within_the_window() {
        // u0 visits 0 → 1 → 2 → 3 → 4 (rows given out of time order); u1 visits 0 → 1 twice in a
        // row (one step) and then 2.
        let rows: Vec<Row> = vec![
            (0, 2, 1.0, 30),
            (0, 0, 1.0, 10),
            (0, 1, 1.0, 20),
            (0, 4, 1.0, 50),
            (0, 3, 1.0, 40),
            (1, 0, 1.0, 5),
            (1, 1, 1.0, 6),
            (1, 1, 1.0, 7),
            (1, 2, 1.0, 8),
        ];
        let t = transitions(5, 2, &rows, TransitionConfig::default());
        // From 0: u0 reaches 1 (d 1), 2 (d 2), 3 (d 3); u1 reaches 1 (d 1), 2 (d 2). 4 is beyond.
        // Raw: 1 → 2, 2 → 1, 3 → 1/3; total 10/3, + 1 smoothing.
        let z = 10.0 / 3.0 + 1.0;
        let want = [(1, 2.0 / z), (2, 1.0 / z), (3, (1.0 / 3.0) / z)];
        assert_eq!(t[0].len(), 3);
        for ((j, w), (wj, ww)) in t[0].iter().zip(want) {
            assert_eq!(*j, wj);
            assert!((w - ww).abs() < 1e-6, "{w} vs {ww}");
        }
        // Nothing follows the last item.
        assert!(t[4].is_empty());
        // Keep cuts to the heaviest.
        let one = transitions(5, 2, &rows, TransitionConfig { keep: 1, half_life_days: None });
        assert_eq!(one[0].iter().map(|p| p.0).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn age_decay_weighs_recent_transitions_more() {
        // 0 → 1 long ago, 0 → 2 recently: plain counts tie (1 beats 2 on index), decay prefers 2.
        let day = 86_400;
        let rows: Vec<Row> = vec![(0, 0, 1.0, 0), (0, 1, 1.0, day), (1, 0, 1.0, 400 * day), (1, 2, 1.0, 401 * day)];
        let plain = transitions(3, 2, &rows, TransitionConfig::default());
        assert_eq!(plain[0][0].0, 1);
        let decayed = transitions(3, 2, &rows, TransitionConfig { keep: 10, half_life_days: Some(30.0) });
        assert_eq!(decayed[0][0].0, 2);
        assert!(decayed[0][1].1 < 1e-3);
    }

    #[test]
    fn sequences_are_distinct_items_oldest_first_by_last_visit() {
        let rows: Vec<Row> = vec![(0, 5, 1.0, 1), (0, 7, 1.0, 2), (0, 5, 1.0, 3), (0, 9, 1.0, 2), (1, 3, 1.0, 1)];
        // u0 in time order: 5 (1), 7 (2), 9 (2, later row), 5 (3) → 7, 9, 5.
        assert_eq!(sequences(2, &rows, |_, _| true), vec![vec![7, 9, 5], vec![3]]);
        assert_eq!(sequences(2, &rows, |_, i| i != 9), vec![vec![7, 5], vec![3]]);
    }
}
