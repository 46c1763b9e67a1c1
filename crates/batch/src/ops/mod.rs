//! Operating a live bundle: `monitor` (request logs → dashboard and alert thresholds) and `drift`
//! (the bundle's training-time reference sketches against fresh data and logs).

pub mod drift;
pub mod monitor;
