//! Benchmarks run by `scripts/bench-*.sh`: vector search throughput and recall through a real
//! bundle, ALS training time and the latency of one recommendation.

pub mod als;
pub mod recommend;
pub mod search;
