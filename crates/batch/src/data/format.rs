//! Format sniffing the readers share: delimiter, JSON lines, header names and JSON fields; any
//! flat parquet file as delimited text.

use anyhow::{Context, Result};

/// The delimiter a first line suggests: tab, semicolon (without commas) or comma.
pub fn delimiter_of(first_line: &[u8]) -> u8 {
    if first_line.contains(&b'\t') {
        b'\t'
    } else if first_line.contains(&b';') && !first_line.contains(&b',') {
        b';'
    } else {
        b','
    }
}

/// Whether the first non-blank byte opens a JSON object.
pub fn is_json_lines(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// Normalize a header name: lowercase, no RecBole type suffix, no separators (`user_id:token` → `userid`).
pub fn column_key(name: &str) -> String {
    name.split(':').next().unwrap_or("").trim().trim_matches('"').to_lowercase().replace(['_', ' ', '-'], "")
}

/// Position of the first header whose normalized name is in `names`.
pub fn find_col(header: &[String], names: &[&str]) -> Option<usize> {
    header.iter().position(|h| names.contains(&h.as_str()))
}

/// The value of the first key of `obj` whose normalized name is in `keys`.
pub fn json_field<'a>(
    obj: &'a serde_json::Map<String, serde_json::Value>,
    keys: &[&str],
) -> Option<&'a serde_json::Value> {
    obj.iter().find(|(k, _)| keys.contains(&column_key(k).as_str())).map(|(_, v)| v)
}

/// A JSON string or number as text.
pub fn json_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Whether `bytes` look like a parquet file (the `PAR1` magic at both ends).
pub fn is_parquet(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1")
}

/// Any parquet file with flat columns as tab-separated text with a header (the column names), so
/// the interaction reader applies the same column synonyms and validation as to CSV. Strings and
/// numbers are written as they are, timestamps and dates as unix seconds, nulls as empty fields
/// (which the reader quarantines where a value is required); nested columns are left empty.
pub fn to_tsv(bytes: &[u8]) -> Result<Vec<u8>> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{
        Date32Type, Float32Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType, TimestampMillisecondType,
        TimestampNanosecondType, TimestampSecondType, UInt32Type, UInt64Type,
    };
    use arrow_array::{Array, ArrayRef};
    use arrow_schema::{DataType, TimeUnit};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::copy_from_slice(bytes))
        .context("reading parquet")?
        .with_batch_size(1 << 16)
        .build()?;
    let mut w = csv::WriterBuilder::new().delimiter(b'\t').from_writer(Vec::new());
    let mut header = false;
    for batch in reader {
        let b = batch.context("reading parquet")?;
        if !header {
            w.write_record(b.schema().fields().iter().map(|f| f.name().as_str()))?;
            header = true;
        }
        let cell = |c: &ArrayRef, k: usize| -> String {
            if c.is_null(k) {
                return String::new();
            }
            match c.data_type() {
                DataType::Utf8 => c.as_string::<i32>().value(k).to_string(),
                DataType::LargeUtf8 => c.as_string::<i64>().value(k).to_string(),
                DataType::Utf8View => c.as_string_view().value(k).to_string(),
                DataType::Int32 => c.as_primitive::<Int32Type>().value(k).to_string(),
                DataType::Int64 => c.as_primitive::<Int64Type>().value(k).to_string(),
                DataType::UInt32 => c.as_primitive::<UInt32Type>().value(k).to_string(),
                DataType::UInt64 => c.as_primitive::<UInt64Type>().value(k).to_string(),
                DataType::Float32 => c.as_primitive::<Float32Type>().value(k).to_string(),
                DataType::Float64 => c.as_primitive::<Float64Type>().value(k).to_string(),
                DataType::Boolean => c.as_boolean().value(k).to_string(),
                DataType::Date32 => (c.as_primitive::<Date32Type>().value(k) as i64 * 86_400).to_string(),
                DataType::Timestamp(TimeUnit::Second, _) => {
                    c.as_primitive::<TimestampSecondType>().value(k).to_string()
                }
                DataType::Timestamp(TimeUnit::Millisecond, _) => {
                    c.as_primitive::<TimestampMillisecondType>().value(k).div_euclid(1000).to_string()
                }
                DataType::Timestamp(TimeUnit::Microsecond, _) => {
                    c.as_primitive::<TimestampMicrosecondType>().value(k).div_euclid(1_000_000).to_string()
                }
                DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                    c.as_primitive::<TimestampNanosecondType>().value(k).div_euclid(1_000_000_000).to_string()
                }
                _ => String::new(),
            }
        };
        for k in 0..b.num_rows() {
            w.write_record(b.columns().iter().map(|c| cell(c, k)))?;
        }
    }
    w.into_inner().context("writing the parquet rows as text")
}
