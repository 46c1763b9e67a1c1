//! The pipeline's stages, each a function from typed input to typed output: `ingest` → `eda` →
//! `split` → (`product_text` → `embed`) → `evaluate` (tune, evaluate) → `bundle`; `run` chains them.

pub mod bundle;
pub mod eda;
pub mod embed;
pub mod evaluate;
pub mod ingest;
pub mod product_text;
pub mod refresh;
pub mod run;
pub mod split;
