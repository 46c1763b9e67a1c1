//! all-MiniLM-L6-v2 run locally with candle, and `shopai serve-embeddings`, which puts it behind
//! an OpenAI-compatible `POST /v1/embeddings` so everything that speaks to OpenAI works offline.

pub mod model;
pub mod server;
