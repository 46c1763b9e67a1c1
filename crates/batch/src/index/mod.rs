//! What a bundle indexes beyond the raw data: the vector index (int8 codes, sign bits, int4
//! residual, an HNSW graph built with instant-distance), EASE item-to-item neighbours, next-item
//! transitions and item popularity.

pub mod ease;
pub mod popularity;
pub mod transitions;
pub mod vectors;
