//! The crate's one error type.

/// Everything that can go wrong in shopai-core.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    /// The bytes do not start with the bundle magic.
    #[error("not a ShopAI bundle (bad magic bytes)")]
    NotABundle,
    /// The bundle was written by a format this build cannot read.
    #[error("bundle format version {found} is not supported (this build reads {min}..={max})")]
    IncompatibleFormat {
        /// Version found in the file.
        found: u32,
        /// Oldest supported version.
        min: u32,
        /// Newest supported version.
        max: u32,
    },
    /// The file is shorter than its header says.
    #[error("bundle is truncated: expected {expected} bytes, got {actual}")]
    Truncated {
        /// Length recorded in the header.
        expected: u64,
        /// Length of the bytes handed in.
        actual: u64,
    },
    /// A checksum or structural check failed.
    #[error("bundle is corrupt: {what}")]
    Corrupt {
        /// Which part failed and how.
        what: String,
    },
    /// A required section is absent.
    #[error("bundle has no {0} section")]
    MissingSection(&'static str),
    /// The slice handed in is not aligned for zero-copy access.
    #[error("bundle bytes must be {required}-byte aligned for zero-copy loading; use Bundle::load, which copies into aligned storage")]
    Misaligned {
        /// Required alignment in bytes.
        required: usize,
    },
    /// A vector's length does not match the bundle's dimensions.
    #[error("dimension mismatch: expected {expected}, got {actual}")]
    DimensionMismatch {
        /// Dimensions of the bundle.
        expected: usize,
        /// Dimensions of the input.
        actual: usize,
    },
    /// The caller's embedder is not the one the catalog was embedded with.
    #[error("embedding model mismatch: bundle was built with {expected}, query uses {actual}")]
    EmbedderMismatch {
        /// Model named in the manifest.
        expected: String,
        /// Model the caller used.
        actual: String,
    },
    /// An argument is out of range.
    #[error("invalid {field}: {reason}")]
    InvalidArgument {
        /// Argument name.
        field: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// Training diverged.
    #[error("ALS produced non-finite factors at iteration {iteration}")]
    NonFinite {
        /// Iteration at which NaN/inf appeared.
        iteration: usize,
    },
    /// A matrix that should be positive definite is not.
    #[error("matrix is not positive definite")]
    NotPositiveDefinite,
}

/// Crate result type.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn corrupt(what: impl Into<String>) -> Error {
    Error::Corrupt { what: what.into() }
}
