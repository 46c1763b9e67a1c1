//! Benchmarks run by `scripts/bench-*.sh`: vector search throughput and recall through a real
//! bundle, and ALS training time.

pub mod als;
pub mod search;
