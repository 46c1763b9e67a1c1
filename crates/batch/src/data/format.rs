//! Format sniffing the readers share: delimiter, JSON lines, header names and JSON fields.

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
