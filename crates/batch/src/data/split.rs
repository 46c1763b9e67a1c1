//! The splits of the evaluation protocol. Temporal (the default, EVAL_PROTOCOL.md): rows sorted
//! by (timestamp, source line) — a stable sort on time — then the first 70% train, the next 15%
//! validation, the last 15% test. Leave-last-out (the published protocol of sequential
//! recommenders such as SASRec and UniSRec): each user's last row is the test, the one before
//! it the validation, the rest train.

use super::dataset::Row;
use serde::{Deserialize, Serialize};

/// Which split an evaluation uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// 70/15/15 of all rows in time order (EVAL_PROTOCOL.md).
    #[default]
    Temporal,
    /// Per user, in time order: the last row test, the one before validation, the rest train.
    LeaveLastOut,
}

impl Protocol {
    /// One line for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Protocol::Temporal => "temporal 70/15/15 of all rows",
            Protocol::LeaveLastOut => {
                "leave-last-out: each shopper's last interaction is the test, the one before it validation"
            }
        }
    }

    /// Split rows of `users` (one user index per row) by this protocol.
    pub fn split(self, users: &[u32], timestamps: &[i64], order_key: &[u64]) -> Split {
        match self {
            Protocol::Temporal => temporal_split(timestamps, order_key, 0.70, 0.15),
            Protocol::LeaveLastOut => leave_last_out(users, timestamps, order_key),
        }
    }
}

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

/// Leave-last-out: each user's rows in time order (ties by `order_key`), the last to test, the
/// one before to validation, the rest to train; a user with one row keeps it in train, with two
/// the first in train and the last in test. Each part is in time order.
pub fn leave_last_out(users: &[u32], timestamps: &[i64], order_key: &[u64]) -> Split {
    let mut idx: Vec<usize> = (0..users.len()).collect();
    idx.sort_by_key(|&k| (users[k], timestamps[k], order_key[k]));
    let mut s = Split::default();
    for run in idx.chunk_by(|&a, &b| users[a] == users[b]) {
        let n = run.len();
        let (head, tail) = run.split_at(n.saturating_sub(if n >= 3 { 2 } else { n - 1 }));
        s.train.extend_from_slice(head);
        match tail {
            [v, t] => {
                s.val.push(*v);
                s.test.push(*t);
            }
            [t] => s.test.push(*t),
            _ => {}
        }
    }
    for part in [&mut s.train, &mut s.val, &mut s.test] {
        part.sort_by_key(|&k| (timestamps[k], order_key[k]));
    }
    s
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

    #[test]
    fn leave_last_out_holds_out_each_users_last_two_rows() {
        // user 0: rows 0, 2, 4, 6 at times 3, 1, 2, 9; user 1: rows 1, 3 (times 5, 5: line order);
        // user 2: row 5 alone; user 3: rows 7, 8, 9 at times 0, 0, 1.
        let users = [0, 1, 0, 1, 0, 2, 0, 3, 3, 3];
        let ts = [3, 5, 1, 5, 2, 7, 9, 0, 0, 1];
        let line: Vec<u64> = (0..10).collect();
        let s = leave_last_out(&users, &ts, &line);
        // user 0 in time order: 2, 4, 0, 6 → train 2, 4; val 0; test 6. user 1: train 1, test 3.
        // user 2: train 5. user 3: 7, 8, 9 → train 7; val 8; test 9. Parts in time order.
        assert_eq!(s.train, vec![7, 2, 4, 1, 5]);
        assert_eq!(s.val, vec![8, 0]);
        assert_eq!(s.test, vec![9, 3, 6]);
        assert_eq!(Protocol::LeaveLastOut.split(&users, &ts, &line), s);
        assert_eq!(Protocol::Temporal.split(&users, &ts, &line), temporal_split(&ts, &line, 0.7, 0.15));
    }
}
