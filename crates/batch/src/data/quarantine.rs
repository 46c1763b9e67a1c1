//! Why a row was set aside, and the row itself: every reader quarantines instead of dropping.

use serde::Serialize;

/// Why a row was set aside. The code (snake_case) is what summaries count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The CSV reader could not read the row.
    UnreadableRow,
    /// A field is not valid UTF-8.
    InvalidUtf8,
    /// Fewer columns than the layout needs.
    MissingColumns,
    /// Empty user or product id.
    EmptyId,
    /// Rating is not a number.
    BadRating,
    /// Rating outside the configured range.
    RatingOutOfRange,
    /// Timestamp is not unix seconds, milliseconds or ISO-8601.
    BadTimestamp,
    /// A JSON line that does not parse or lacks a field.
    BadJson,
}

impl Reason {
    /// The snake_case code.
    pub fn code(self) -> &'static str {
        match self {
            Self::UnreadableRow => "unreadable_row",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::MissingColumns => "missing_columns",
            Self::EmptyId => "empty_id",
            Self::BadRating => "bad_rating",
            Self::RatingOutOfRange => "rating_out_of_range",
            Self::BadTimestamp => "bad_timestamp",
            Self::BadJson => "bad_json",
        }
    }
}

/// A row set aside.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quarantined {
    /// 1-based line number in the source.
    pub line: u64,
    /// Reason code.
    pub reason: Reason,
    /// Human detail.
    pub detail: String,
    /// The raw row (lossy UTF-8, truncated to 1 KiB).
    pub raw: String,
}

/// The raw row as text (lossy UTF-8, truncated to 1 KiB).
pub fn raw_text(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(1024)];
    String::from_utf8_lossy(cut).into_owned()
}
