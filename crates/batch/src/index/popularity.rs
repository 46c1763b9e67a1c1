//! Item popularity: training interaction counts, optionally decayed by age (a "trending" signal).

use crate::data::dataset::{collapse, Row};

/// Popularity of each item over `rows`: plain counts, or counts decayed by age relative to the
/// newest row with the given half-life (a "trending" signal). A repeated (user, item) pair counts
/// once (its latest row), as in the protocol's binary matrix.
pub fn popularity(n_items: usize, rows: &[Row], half_life_days: Option<f32>) -> Vec<f32> {
    let rows = &collapse(rows)[..];
    let mut p = vec![0f32; n_items];
    match half_life_days {
        None => rows.iter().for_each(|&(_, i, _, _)| p[i as usize] += 1.0),
        Some(h) => {
            let newest = rows.iter().map(|r| r.3).max().unwrap_or(0);
            let rate = std::f64::consts::LN_2 / (h as f64 * 86_400.0);
            rows.iter().for_each(|&(_, i, _, t)| p[i as usize] += (-(newest - t) as f64 * rate).exp() as f32);
        }
    }
    p
}
