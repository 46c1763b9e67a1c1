//! Operating a live bundle: `release` (publish behind the evaluation gate, versions, rollback),
//! `feedback` (shoppers' events → interactions, demotions and a report), `monitor` (request logs →
//! dashboard and alert thresholds) and `drift` (the bundle's training-time reference sketches
//! against fresh data and logs).

pub mod drift;
pub mod feedback;
pub mod monitor;
pub mod release;
