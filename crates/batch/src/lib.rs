//! ShopAI batch: ingest, validate, version, explore, split, train, embed and bundle.
//! The `shopai` binary (`main.rs`) parses arguments and calls these stages.
#![deny(missing_docs)]

pub mod ann;
pub mod benchsearch;
pub mod build;
pub mod config;
pub mod dataset;
pub mod describe;
pub mod ease;
pub mod eda;
pub mod edges;
pub mod eval;
pub mod evaluate;
pub mod heartbeat;
pub mod ingest;
pub mod local_model;
pub mod log;
pub mod openai;
pub mod parquet_io;
pub mod pipeline;
pub mod query;
pub mod searcheval;
pub mod serve;
pub mod split;
pub mod storage;
pub mod synth;
