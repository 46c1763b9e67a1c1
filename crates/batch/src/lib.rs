//! ShopAI batch: ingest, validate, version, explore, split, train, embed, evaluate and bundle.
//!
//! Layers, each importing only those below it (the `shopai` binary's `cli` sits on top):
//! - `stages`, `bench`: one function per pipeline stage (and the scheduled `refresh`) or benchmark;
//! - `ops`: `monitor` (request logs → dashboard, alert thresholds) and `drift` (reference sketches);
//! - `evaluation`: the recommendation protocol, tuning, the offline and search reports;
//! - `assemble`: train, embed and index a dataset into a bundle's bytes;
//! - `index`, `openai`, `local_model`, `query`: vector index/EASE/popularity, the OpenAI client,
//!   the local embedding model and its server, native answers from a bundle;
//! - `data`: readers, processed folders, the dataset, split, synthetic data;
//! - `io`, `report`: files, S3, progress, logs; HTML/SVG helpers;
//! - `config`: the typed configuration (imports nothing from the crate).
#![deny(missing_docs)]

pub mod assemble;
pub mod bench;
pub mod config;
pub mod data;
pub mod evaluation;
pub mod index;
pub mod io;
pub mod local_model;
pub mod openai;
pub mod ops;
pub mod query;
pub mod report;
pub mod stages;
