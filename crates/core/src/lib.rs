//! ShopAI core: the bundle format, quantized vector search, ALS (training, fold-in, scoring),
//! fusion, filters and metrics.
//!
//! Core does no IO, spawns no threads (unless the `parallel` feature is on, for batch training),
//! reads no clock or environment: it takes bytes and returns results, so the same code answers
//! natively, in the browser (wasm32-unknown-unknown) and at the edge (wasm32-wasip2).
//!
//! ```
//! use shopai_core::{Bundle, BundleParts, QuantMatrix, HashEmbedder, service};
//!
//! let embed = HashEmbedder::new(16);
//! let titles = ["red running shoe", "blue denim jacket", "trail running shoe"];
//! let vectors: Vec<f32> = titles.iter().flat_map(|t| embed.embed(t)).collect();
//! let parts = BundleParts {
//!     item_ids: vec!["a".into(), "b".into(), "c".into()],
//!     titles: titles.iter().map(|t| t.to_string()).collect(),
//!     item_categories: vec![vec![]; 3],
//!     vectors: QuantMatrix::from_f32(&vectors, 16),
//!     factors: QuantMatrix::from_f32(&[0.1, 0.2, 0.3], 1),
//!     gram: vec![1.0],
//!     popularity: vec![3.0, 1.0, 2.0],
//!     ..BundleParts::default()
//! };
//! let mut parts = parts;
//! parts.manifest.embedding.model = shopai_core::HASH_MODEL.into();
//! let bytes = parts.to_bytes()?;
//! let bundle = Bundle::load(&bytes)?;
//! let req = service::SearchRequest { query: Some("running shoe".into()), ..Default::default() };
//! let res = service::answer_search(&bundle.view(), &req, None, &mut service::Scratch::default())?;
//! assert!(res.results[0].title.contains("running shoe"));
//! # Ok::<(), shopai_core::Error>(())
//! ```
#![deny(missing_docs)]

pub mod als;
pub mod bundle;
pub mod demote;
pub mod embed;
mod error;
pub mod index;
pub mod lexical;
pub mod math;
pub mod metrics;
pub mod quant;
pub mod recommend;
pub mod search;
pub mod service;
#[cfg(test)]
mod testutil;
pub mod topk;

pub use bundle::{
    AlignedBytes, Bundle, BundleParts, BundleView, FusionSegment, FusionWeights, Manifest, SearchMode, SearchWeights,
};
pub use embed::{HashEmbedder, HASH_MODEL};
pub use error::{Error, Result};
pub use quant::QuantMatrix;
