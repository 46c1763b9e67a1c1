//! Bytes in and out: files (atomic writes, content hashes, gzip), S3-API storage, progress bars
//! and log lines. Nothing here knows about ratings, models or bundles.

pub mod fs;
pub mod log;
pub mod progress;
pub mod storage;
