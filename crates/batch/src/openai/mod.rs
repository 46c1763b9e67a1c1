//! OpenAI-compatible endpoints: one client (retries, backoff, rate limits, cache layout) used by
//! embeddings (batching, cost cap, vector cache) and chat completions (product sentences).

pub mod chat;
pub mod client;
pub mod embeddings;
