//! Measuring what ships: the recommendation protocol of `EVAL_PROTOCOL.md` (H/E sets, metrics),
//! the offline report of `shopai evaluate`, the grid search of `shopai tune` (and its steps past a
//! grid edge, `edges`), and the graded search evaluation of `shopai evaluate-search`.

pub mod compare;
pub mod edges;
pub mod offline;
pub mod protocol;
pub mod search;
pub mod tune;
