//! Tuners that do not stop at a grid edge: when the best value of a parameter is the first or last
//! of its grid, step outward on a log scale (holding the others at their best) until the score
//! turns, a hard bound is met, or the step budget runs out; and say which values stayed on an edge.

use anyhow::Result;
use serde::{Deserialize, Serialize};

/// Steps tried beyond a grid edge per parameter (each step is one more fit or one more scoring).
pub const BUDGET: usize = 4;

/// A tunable parameter: its name and the values it may take.
#[derive(Debug, Clone, Copy)]
pub struct Axis {
    /// Name in reports (`alpha`, `ease_lambda`, `w_item` …).
    pub name: &'static str,
    /// Smallest allowed value (0 for weights: 0 switches a source off and is a bound, not an edge).
    pub min: f32,
    /// Largest allowed value.
    pub max: f32,
    /// Whole numbers only (factors).
    pub integer: bool,
}

/// What happened at one parameter's grid edge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeNote {
    /// Parameter.
    pub parameter: String,
    /// The grid's range.
    pub grid: (f32, f32),
    /// The value chosen in the end.
    pub chosen: f32,
    /// Values tried beyond the grid, in order, with their validation score (`None`: refused by
    /// the coverage guard, so not scored against the best).
    pub tried: Vec<(f32, Option<f64>)>,
    /// Whether the chosen value is still the outermost value tried (the score had not turned).
    pub on_edge: bool,
    /// Why the search stopped: `turned`, `bound`, `budget`.
    pub stopped: String,
}

/// `+1` when `best` is the largest grid value, `-1` the smallest, 0 inside (or a single value:
/// a value fixed on the command line is not searched).
pub fn edge_of(grid: &[f32], best: f32) -> i8 {
    if grid.len() < 2 {
        return 0;
    }
    let lo = grid.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = grid.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if best >= hi {
        1
    } else if best <= lo {
        -1
    } else {
        0
    }
}

/// The log-scale step: the ratio between the two grid values nearest the edge, between 2 and 4
/// (2 when the neighbour is 0).
fn ratio(grid: &[f32], dir: i8) -> f32 {
    let mut v: Vec<f32> = grid.to_vec();
    v.sort_by(f32::total_cmp);
    v.dedup();
    let (a, b) = if dir > 0 { (v[v.len() - 2], v[v.len() - 1]) } else { (v[1], v[0]) };
    let r = if a > 0.0 && b > 0.0 { (b / a).max(a / b) } else { 2.0 };
    r.clamp(2.0, 4.0)
}

/// Extend `axis` beyond its grid edge from `best` (score `best_score`) while `score(value)` rises.
/// `score` returns `None` for a value that may not be chosen (e.g. the coverage guard). Returns
/// the chosen value, its score and the note; `None` when `best` is not on an edge.
pub fn extend(
    axis: Axis,
    grid: &[f32],
    best: f32,
    best_score: f64,
    mut score: impl FnMut(f32) -> Result<Option<f64>>,
) -> Result<Option<(f32, f64, EdgeNote)>> {
    let dir = edge_of(grid, best);
    if dir == 0 || (dir < 0 && best <= axis.min) {
        return Ok(None);
    }
    let r = ratio(grid, dir);
    let (mut value, mut top) = (best, best_score);
    let mut note = EdgeNote {
        parameter: axis.name.into(),
        grid: (
            grid.iter().copied().fold(f32::INFINITY, f32::min),
            grid.iter().copied().fold(f32::NEG_INFINITY, f32::max),
        ),
        chosen: best,
        tried: Vec::new(),
        on_edge: true,
        stopped: "budget".into(),
    };
    let mut last = best;
    for _ in 0..BUDGET {
        let mut next = if dir > 0 { last * r } else { last / r };
        if axis.integer {
            next = next.round();
        }
        next = next.clamp(axis.min.max(f32::MIN_POSITIVE), axis.max);
        if next == last {
            note.stopped = "bound".into();
            break;
        }
        last = next;
        let s = score(next)?;
        note.tried.push((next, s));
        match s {
            Some(s) if s > top => {
                value = next;
                top = s;
            }
            _ => {
                note.stopped = "turned".into();
                note.on_edge = false;
                break;
            }
        }
    }
    note.chosen = value;
    if note.stopped == "bound" {
        note.on_edge = true;
    }
    Ok(Some((value, top, note)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Axis = Axis { name: "w", min: 0.0, max: 1e4, integer: false };

    #[test]
    fn extends_until_the_score_turns() {
        // Peak at 15: the grid 0.5..5 ends below it; steps ×2.5 → 12.5, 31.25 (worse) → 12.5, interior.
        let f = |x: f32| -((x.ln() - 15f32.ln()).powi(2)) as f64;
        let grid = [0.5, 1.0, 2.0, 5.0];
        let (v, s, note) = extend(W, &grid, 5.0, f(5.0), |x| Ok(Some(f(x)))).expect("ok").expect("on edge");
        assert_eq!(v, 12.5);
        assert_eq!(s, f(12.5));
        assert_eq!(note.tried.iter().map(|t| t.0).collect::<Vec<_>>(), vec![12.5, 31.25]);
        assert!(!note.on_edge);
        assert_eq!(note.stopped, "turned");
        // Downward: the peak 0.01 under a grid starting at 0.05 (ratio 4, clamped).
        let g = |x: f32| -((x.ln() - 0.01f32.ln()).powi(2)) as f64;
        let (v, _, _) = extend(W, &[0.05, 0.5, 5.0], 0.05, g(0.05), |x| Ok(Some(g(x)))).expect("ok").expect("edge");
        assert!((v - 0.0125).abs() < 1e-6, "{v}");
    }

    #[test]
    fn interior_zero_and_single_values_are_not_edges() {
        let never = |_| -> Result<Option<f64>> { panic!("not called") };
        assert!(extend(W, &[0.0, 0.1, 0.2], 0.1, 1.0, never).expect("ok").is_none());
        assert!(extend(W, &[0.0, 0.1, 0.2], 0.0, 1.0, never).expect("ok").is_none());
        assert!(extend(W, &[7.0], 7.0, 1.0, never).expect("ok").is_none());
    }

    #[test]
    fn budget_and_bounds_leave_the_value_on_the_edge() {
        let up = |x: f32| x as f64;
        let (_, _, note) = extend(W, &[1.0, 2.0], 2.0, 2.0, |x| Ok(Some(up(x)))).expect("ok").expect("edge");
        assert_eq!((note.on_edge, note.stopped.as_str(), note.tried.len()), (true, "budget", BUDGET));
        let f = Axis { name: "factors", min: 1.0, max: 512.0, integer: true };
        let (v, _, note) = extend(f, &[128.0, 256.0], 256.0, 256.0, |x| Ok(Some(up(x)))).expect("ok").expect("edge");
        assert_eq!((v, note.on_edge, note.stopped.as_str()), (512.0, true, "bound"));
        // A value the guard refuses ends the search like a worse score.
        let (v, _, note) = extend(W, &[1.0, 2.0], 2.0, 2.0, |_| Ok(None)).expect("ok").expect("edge");
        assert_eq!((v, note.on_edge), (2.0, false));
        // ...and the note says so in a form tuned.json reads back (a NaN score was written as
        // `null`, which `evaluate --tuned` then refused to parse).
        assert_eq!(note.tried, vec![(4.0, None)]);
        let json = serde_json::to_string(&note).expect("serialize");
        let back: EdgeNote = serde_json::from_str(&json).expect("read back");
        assert_eq!(back.tried, note.tried);
    }
}
