//! The temporal split of the evaluation protocol: rows sorted by (timestamp, source line) — a
//! stable sort on time — then the first 70% train, the next 15% validation, the last 15% test.

use super::dataset::Row;

/// Row indices of each part, in time order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Split {
    /// First ⌊0.70·n⌋ rows.
    pub train: Vec<usize>,
    /// Next ⌊0.85·n⌋ − ⌊0.70·n⌋ rows.
    pub val: Vec<usize>,
    /// The rest.
    pub test: Vec<usize>,
}

/// Split rows by time. `order_key[k]` breaks timestamp ties (the source line number).
pub fn temporal_split(timestamps: &[i64], order_key: &[u64], train_frac: f64, val_frac: f64) -> Split {
    let n = timestamps.len();
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by_key(|&k| (timestamps[k], order_key[k]));
    let n_train = (train_frac * n as f64).floor() as usize;
    let n_trainval = ((train_frac + val_frac) * n as f64).floor() as usize;
    let test = idx.split_off(n_trainval);
    let val = idx.split_off(n_train);
    Split { train: idx, val, test }
}

/// The rows at `idx`.
pub fn take(rows: &[Row], idx: &[usize]) -> Vec<Row> {
    idx.iter().map(|&k| rows[k]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_break_by_line_and_sizes_follow_the_protocol() {
        let ts = [5, 1, 5, 3, 2, 4, 5, 1, 9, 0];
        let line: Vec<u64> = (0..10).collect();
        let s = temporal_split(&ts, &line, 0.7, 0.15);
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (7, 1, 2));
        assert_eq!(s.train, vec![9, 1, 7, 4, 3, 5, 0]);
        assert_eq!(s.val, vec![2]);
        assert_eq!(s.test, vec![6, 8]);
    }
}
