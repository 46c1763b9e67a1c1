//! Data in memory and on disk: the ratings and catalog readers (with their quarantine reasons and
//! HTML cleaning), processed parquet folders, the indexed dataset, the protocol's temporal split
//! and the synthetic storefront.

pub mod catalog;
pub mod dataset;
pub mod factors;
pub mod format;
pub mod html;
pub mod parquet;
pub mod processed;
pub mod quarantine;
pub mod ratings;
pub mod split;
pub mod synth;
pub mod text;
