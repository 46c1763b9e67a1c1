//! Readers for interaction logs and product catalogs: CSV/TSV with or without a header, JSON lines
//! (Amazon reviews and metadata), gzip-transparent. Every input row ends up kept, merged as a
//! duplicate, or quarantined with its line number and a reason — never silently dropped:
//! `input_rows = kept + duplicates + quarantined`. No input bytes make these functions panic.

use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;

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

/// String ids ↔ dense indices.
#[derive(Debug, Clone, Default)]
pub struct Interner {
    map: HashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

impl Interner {
    /// Index of `s`, adding it if new.
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.map.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.into());
        self.map.insert(s.into(), i);
        i
    }
    /// Index of `s`, if known.
    pub fn get(&self, s: &str) -> Option<u32> {
        self.map.get(s).copied()
    }
    /// Name of index `i`.
    pub fn name(&self, i: u32) -> &str {
        &self.names[i as usize]
    }
    /// All names, in index order.
    pub fn names(&self) -> &[Box<str>] {
        &self.names
    }
    /// Number of distinct names.
    pub fn len(&self) -> usize {
        self.names.len()
    }
    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Kept interactions, columnar; user and item ids are interned.
#[derive(Debug, Clone, Default)]
pub struct Interactions {
    /// User ids.
    pub users: Interner,
    /// Product ids.
    pub items: Interner,
    /// User index per row.
    pub user: Vec<u32>,
    /// Item index per row.
    pub item: Vec<u32>,
    /// Rating per row (1.0 when the source has none).
    pub rating: Vec<f32>,
    /// Unix seconds, UTC.
    pub timestamp: Vec<i64>,
    /// 1-based source line.
    pub line: Vec<u64>,
}

impl Interactions {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.user.len()
    }
    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.user.is_empty()
    }
    /// Append one row.
    pub fn push(&mut self, user: &str, item: &str, rating: f32, ts: i64, line: u64) {
        let u = self.users.intern(user);
        let i = self.items.intern(item);
        self.user.push(u);
        self.item.push(i);
        self.rating.push(rating);
        self.timestamp.push(ts);
        self.line.push(line);
    }
    fn retain(&mut self, keep: &[bool]) {
        fn by<T>(v: &mut Vec<T>, keep: &[bool]) {
            let mut k = keep.iter();
            v.retain(|_| *k.next().unwrap_or(&true));
        }
        by(&mut self.user, keep);
        by(&mut self.item, keep);
        by(&mut self.rating, keep);
        by(&mut self.timestamp, keep);
        by(&mut self.line, keep);
    }

    /// Build from rows of `(user, item, rating, timestamp, line)`.
    pub fn from_rows<'a>(rows: impl IntoIterator<Item = (&'a str, &'a str, f32, i64, u64)>) -> Self {
        let mut t = Self::default();
        for (u, i, r, ts, l) in rows {
            t.push(u, i, r, ts, l);
        }
        t
    }
}

/// What reading an interaction log produced.
#[derive(Debug, Default)]
pub struct RatingsRead {
    /// Kept rows, in source order.
    pub table: Interactions,
    /// Rows set aside.
    pub quarantined: Vec<Quarantined>,
    /// Rows merged into another row for the same (user, item).
    pub duplicates: u64,
    /// Data rows read (header and blank lines excluded).
    pub input_rows: u64,
    /// Source format detected.
    pub format: &'static str,
    /// Every valid row before duplicates were resolved, when the policy removed some: the
    /// evaluation protocol splits these (see `EVAL_PROTOCOL.md`, repeated pairs).
    pub all_rows: Option<Interactions>,
}

impl RatingsRead {
    /// Quarantine counts per reason code.
    pub fn reason_counts(&self) -> BTreeMap<&'static str, u64> {
        let mut m = BTreeMap::new();
        for q in &self.quarantined {
            *m.entry(q.reason.code()).or_insert(0) += 1;
        }
        m
    }
    /// Whether `input_rows = kept + duplicates + quarantined`.
    pub fn ledger_balances(&self) -> bool {
        self.input_rows == self.table.len() as u64 + self.duplicates + self.quarantined.len() as u64
    }
}

/// What to do with several rows for the same (user, item).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DupPolicy {
    /// Keep the row with the latest timestamp (later line on ties).
    #[default]
    KeepLatest,
    /// Keep the earliest row.
    KeepFirst,
    /// Keep the highest rating (latest on ties).
    KeepMaxRating,
    /// Keep every row (re-purchases stay; the training matrix still counts a pair once).
    KeepAll,
}

impl DupPolicy {
    /// Parse `keep-latest`, `keep-first`, `keep-max-rating` or `keep-all`.
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "keep-latest" => Self::KeepLatest,
            "keep-first" => Self::KeepFirst,
            "keep-max-rating" => Self::KeepMaxRating,
            "keep-all" => Self::KeepAll,
            _ => bail!("unknown duplicate policy {s:?} (use keep-latest, keep-first, keep-max-rating or keep-all)"),
        })
    }
}

/// Column roles for headerless files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    /// User id.
    User,
    /// Product id.
    Item,
    /// Rating.
    Rating,
    /// Timestamp.
    Timestamp,
    /// A column to skip.
    Ignore,
}

/// Parse a column order like `["item", "user", "rating", "timestamp"]`.
pub fn column_order(names: &[String]) -> Result<Vec<Col>> {
    let cols: Vec<Col> = names
        .iter()
        .map(|n| {
            Ok(match n.to_lowercase().as_str() {
                "user" | "userid" | "user_id" => Col::User,
                "item" | "itemid" | "item_id" | "product" | "productid" | "product_id" => Col::Item,
                "rating" => Col::Rating,
                "timestamp" | "time" => Col::Timestamp,
                "ignore" | "_" | "" => Col::Ignore,
                other => bail!("unknown column {other:?} (use user, item, rating, timestamp, ignore)"),
            })
        })
        .collect::<Result<_>>()?;
    for need in [Col::User, Col::Item, Col::Timestamp] {
        if !cols.contains(&need) {
            bail!("column order {names:?} lacks {need:?}");
        }
    }
    Ok(cols)
}

/// Options for reading interactions.
#[derive(Debug, Clone)]
pub struct RatingsOptions {
    /// Inclusive rating range; rows outside are quarantined.
    pub rating_range: (f32, f32),
    /// Column order of headerless files.
    pub columns: Vec<Col>,
    /// Duplicate policy.
    pub duplicates: DupPolicy,
}

impl Default for RatingsOptions {
    fn default() -> Self {
        Self {
            rating_range: (0.0, 5.0),
            columns: vec![Col::User, Col::Item, Col::Rating, Col::Timestamp],
            duplicates: DupPolicy::KeepLatest,
        }
    }
}

impl RatingsOptions {
    /// From the typed config.
    pub fn from_config(c: &crate::config::IngestConfig) -> Result<Self> {
        Ok(Self {
            rating_range: (c.rating_min, c.rating_max),
            columns: column_order(&c.columns)?,
            duplicates: DupPolicy::parse(&c.duplicates)?,
        })
    }
}

/// Decompress if gzip (by magic bytes), else return as is.
pub fn maybe_gunzip(bytes: Vec<u8>) -> Result<Vec<u8>> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_end(&mut out).context("decompressing gzip input")?;
        Ok(out)
    } else {
        Ok(bytes)
    }
}

fn delimiter_of(first_line: &[u8]) -> u8 {
    if first_line.contains(&b'\t') {
        b'\t'
    } else if first_line.contains(&b';') && !first_line.contains(&b',') {
        b';'
    } else {
        b','
    }
}

fn is_json_lines(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// Normalize a header name: lowercase, no RecBole type suffix, no separators (`user_id:token` → `userid`).
fn column_key(name: &str) -> String {
    name.split(':').next().unwrap_or("").trim().trim_matches('"').to_lowercase().replace(['_', ' ', '-'], "")
}

fn find_col(header: &[String], names: &[&str]) -> Option<usize> {
    header.iter().position(|h| names.contains(&h.as_str()))
}

const USER_KEYS: &[&str] = &["userid", "user", "reviewerid", "customerid", "visitorid"];
const ITEM_KEYS: &[&str] = &["itemid", "productid", "item", "asin", "product", "parentasin"];
const RATING_KEYS: &[&str] = &["rating", "overall", "score", "stars"];
const TS_KEYS: &[&str] = &["timestamp", "time", "unixreviewtime", "ts", "date"];

/// Parse a timestamp: unix seconds, unix milliseconds (≥ 10¹¹), fractional seconds, or ISO-8601.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(v) = s.parse::<f64>() {
        if !(0.0..=1e16).contains(&v) {
            return None;
        }
        let secs = if v >= 1e11 { v / 1000.0 } else { v };
        return Some(secs.floor() as i64);
    }
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(dt.and_utc().timestamp());
        }
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp())
}

fn raw_text(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(1024)];
    String::from_utf8_lossy(cut).into_owned()
}

struct Row<'a> {
    user: &'a str,
    item: &'a str,
    rating: Option<&'a str>,
    ts: &'a str,
}

fn check_row(row: Row<'_>, opts: &RatingsOptions) -> Result<(f32, i64), (Reason, String)> {
    if row.user.trim().is_empty() || row.item.trim().is_empty() {
        return Err((Reason::EmptyId, "empty user or product id".into()));
    }
    let rating = match row.rating {
        None => 1.0,
        Some(r) => match r.trim().parse::<f32>() {
            Ok(v) if v.is_finite() => v,
            _ => return Err((Reason::BadRating, format!("rating {:?} is not a number", r.trim()))),
        },
    };
    if rating < opts.rating_range.0 || rating > opts.rating_range.1 {
        return Err((
            Reason::RatingOutOfRange,
            format!("rating {rating} outside [{}, {}]", opts.rating_range.0, opts.rating_range.1),
        ));
    }
    let ts = parse_timestamp(row.ts).ok_or_else(|| {
        (Reason::BadTimestamp, format!("timestamp {:?} is not unix seconds, milliseconds or ISO-8601", row.ts.trim()))
    })?;
    Ok((rating, ts))
}

/// Read an interaction log: CSV/TSV (header optional; without one, `opts.columns` gives the order)
/// or JSON lines (Amazon reviews: `reviewerID`, `asin`, `overall`, `unixReviewTime`; or any keys
/// from the same synonym lists as CSV headers), or parquet (read as a TSV of its flat columns, so
/// the same synonyms apply; quarantine line numbers are data row + 1).
pub fn read_ratings(bytes: &[u8], opts: &RatingsOptions) -> Result<RatingsRead> {
    if crate::parquet_io::is_parquet(bytes) {
        let mut out = read_ratings(&crate::parquet_io::to_tsv(bytes)?, opts)?;
        out.format = "parquet";
        return Ok(out);
    }
    let mut out =
        if is_json_lines(bytes) { read_ratings_jsonl(bytes, opts) } else { read_ratings_delimited(bytes, opts)? };
    let all = (opts.duplicates != DupPolicy::KeepAll).then(|| out.table.clone());
    dedupe(&mut out, opts.duplicates);
    if out.duplicates > 0 {
        out.all_rows = all;
    }
    debug_assert!(out.ledger_balances());
    Ok(out)
}

fn read_ratings_delimited(bytes: &[u8], opts: &RatingsOptions) -> Result<RatingsRead> {
    let first_line = bytes.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let delim = delimiter_of(first_line);
    let mut rdr = csv::ReaderBuilder::new().delimiter(delim).has_headers(false).flexible(true).from_reader(bytes);
    let mut out = RatingsRead { format: if delim == b'\t' { "tsv" } else { "csv" }, ..Default::default() };
    let pos = |c: Col| opts.columns.iter().position(|&x| x == c);
    let mut cols = [pos(Col::User), pos(Col::Item), pos(Col::Rating), pos(Col::Timestamp)];
    let mut first = true;
    let mut record = csv::ByteRecord::new();
    loop {
        let line = match rdr.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => record.position().map_or(0, |p| p.line()),
            Err(e) => {
                out.input_rows += 1;
                let line = e.position().map_or(0, |p| p.line());
                out.quarantined.push(Quarantined {
                    line,
                    reason: Reason::UnreadableRow,
                    detail: e.to_string(),
                    raw: String::new(),
                });
                continue;
            }
        };
        if first {
            first = false;
            let header: Vec<String> = record.iter().map(|f| column_key(&String::from_utf8_lossy(f))).collect();
            if let (Some(u), Some(i)) = (find_col(&header, USER_KEYS), find_col(&header, ITEM_KEYS)) {
                let Some(ts) = find_col(&header, TS_KEYS) else {
                    bail!("the header names no timestamp column (looked for timestamp, time, unixReviewTime, ts, date)")
                };
                cols = [Some(u), Some(i), find_col(&header, RATING_KEYS), Some(ts)];
                continue;
            }
        }
        if record.len() == 1 && record.get(0).is_some_and(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue; // blank line
        }
        out.input_rows += 1;
        let mut quarantine = |reason: Reason, detail: String| {
            out.quarantined.push(Quarantined { line, reason, detail, raw: raw_text(record.as_slice()) })
        };
        let need = cols.iter().flatten().max().copied().unwrap_or(0) + 1;
        if record.len() < need {
            quarantine(Reason::MissingColumns, format!("expected {need} columns, found {}", record.len()));
            continue;
        }
        let field = |c: Option<usize>| c.and_then(|c| record.get(c)).map(std::str::from_utf8);
        let (Some(Ok(u)), Some(Ok(i)), Some(Ok(t))) = (field(cols[0]), field(cols[1]), field(cols[3])) else {
            quarantine(Reason::InvalidUtf8, "a field is not valid UTF-8".into());
            continue;
        };
        let rating = match field(cols[2]) {
            None => None,
            Some(Ok(r)) => Some(r),
            Some(Err(_)) => {
                quarantine(Reason::InvalidUtf8, "the rating is not valid UTF-8".into());
                continue;
            }
        };
        match check_row(Row { user: u, item: i, rating, ts: t }, opts) {
            Ok((r, ts)) => out.table.push(u.trim(), i.trim(), r, ts, line),
            Err((reason, detail)) => quarantine(reason, detail),
        }
    }
    Ok(out)
}

fn json_field<'a>(obj: &'a serde_json::Map<String, serde_json::Value>, keys: &[&str]) -> Option<&'a serde_json::Value> {
    obj.iter().find(|(k, _)| keys.contains(&column_key(k).as_str())).map(|(_, v)| v)
}

fn json_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn read_ratings_jsonl(bytes: &[u8], opts: &RatingsOptions) -> RatingsRead {
    let mut out = RatingsRead { format: "jsonl", ..Default::default() };
    for (n, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = n as u64 + 1;
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        out.input_rows += 1;
        let mut quarantine = |reason: Reason, detail: String| {
            out.quarantined.push(Quarantined { line, reason, detail, raw: raw_text(raw) })
        };
        let obj = match serde_json::from_slice::<serde_json::Value>(raw) {
            Ok(serde_json::Value::Object(o)) => o,
            Ok(_) => {
                quarantine(Reason::BadJson, "not a JSON object".into());
                continue;
            }
            Err(e) if e.is_syntax() && std::str::from_utf8(raw).is_err() => {
                quarantine(Reason::InvalidUtf8, "line is not valid UTF-8".into());
                continue;
            }
            Err(e) => {
                quarantine(Reason::BadJson, format!("invalid JSON: {e}"));
                continue;
            }
        };
        let get = |keys: &[&str]| json_field(&obj, keys).and_then(json_text);
        let (Some(u), Some(i), Some(t)) = (get(USER_KEYS), get(ITEM_KEYS), get(TS_KEYS)) else {
            quarantine(Reason::BadJson, "needs user (reviewerID), product (asin) and time (unixReviewTime)".into());
            continue;
        };
        let r = json_field(&obj, RATING_KEYS).map(|v| json_text(v).unwrap_or_else(|| v.to_string()));
        match check_row(Row { user: &u, item: &i, rating: r.as_deref(), ts: &t }, opts) {
            Ok((r, ts)) => out.table.push(u.trim(), i.trim(), r, ts, line),
            Err((reason, detail)) => quarantine(reason, detail),
        }
    }
    out
}

fn dedupe(read: &mut RatingsRead, policy: DupPolicy) {
    if policy == DupPolicy::KeepAll {
        return;
    }
    let t = &read.table;
    let mut best: HashMap<(u32, u32), usize> = HashMap::with_capacity(t.len());
    let mut keep = vec![true; t.len()];
    let better = |a: usize, b: usize| -> bool {
        // Whether row a should win over row b (a comes later in the file).
        match policy {
            DupPolicy::KeepLatest => (t.timestamp[a], t.line[a]) >= (t.timestamp[b], t.line[b]),
            DupPolicy::KeepFirst => (t.timestamp[a], t.line[a]) < (t.timestamp[b], t.line[b]),
            DupPolicy::KeepMaxRating => {
                (t.rating[a], t.timestamp[a], t.line[a]) >= (t.rating[b], t.timestamp[b], t.line[b])
            }
            DupPolicy::KeepAll => true,
        }
    };
    let mut dups = 0;
    for idx in 0..t.len() {
        let key = (t.user[idx], t.item[idx]);
        match best.get(&key).copied() {
            None => {
                best.insert(key, idx);
            }
            Some(prev) => {
                dups += 1;
                if better(idx, prev) {
                    keep[prev] = false;
                    best.insert(key, idx);
                } else {
                    keep[idx] = false;
                }
            }
        }
    }
    if dups > 0 {
        read.table.retain(&keep);
    }
    read.duplicates += dups;
}

/// One catalog product.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Product {
    /// Product id.
    pub id: String,
    /// Display title.
    pub title: String,
    /// Categories.
    pub categories: Vec<String>,
    /// Free text description (HTML removed).
    pub description: String,
    /// Price, if known.
    pub price: Option<f64>,
    /// Brand.
    pub brand: String,
}

/// What reading a catalog produced.
#[derive(Debug, Default)]
pub struct CatalogRead {
    /// Distinct products, in first-seen order.
    pub products: Vec<Product>,
    /// Lines merged into an earlier line for the same id.
    pub merged: u64,
    /// Lines set aside.
    pub quarantined: Vec<Quarantined>,
    /// Data lines read.
    pub input_rows: u64,
}

/// Decode HTML entities (`&amp;`, `&#39;`, `&#x27;`, …) and drop tags.
pub fn clean_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.char_indices().peekable();
    let mut in_tag = false;
    while let Some((i, c)) = chars.next() {
        match c {
            '<' if s[i..].chars().nth(1).is_some_and(|n| n.is_ascii_alphabetic() || n == '/' || n == '!') => {
                in_tag = true
            }
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if in_tag => {}
            '&' => {
                let rest = &s[i + 1..];
                let end = rest.find(';').filter(|&e| e <= 10);
                let decoded = end.and_then(|e| {
                    let ent = &rest[..e];
                    let ch = match ent {
                        "amp" => Some('&'),
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "quot" => Some('"'),
                        "apos" => Some('\''),
                        "nbsp" => Some(' '),
                        _ if ent.starts_with("#x") || ent.starts_with("#X") => {
                            u32::from_str_radix(&ent[2..], 16).ok().and_then(char::from_u32)
                        }
                        _ if ent.starts_with('#') => ent[1..].parse().ok().and_then(char::from_u32),
                        _ => None,
                    };
                    ch.map(|c| (c, e))
                });
                match decoded {
                    Some((ch, e)) => {
                        out.push(ch);
                        for _ in 0..=e {
                            chars.next();
                        }
                    }
                    None => out.push('&'),
                }
            }
            _ => out.push(c),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn parse_price(s: &str) -> Option<f64> {
    let t: String = s.chars().filter(|c| c.is_ascii_digit() || *c == '.').collect();
    t.parse::<f64>()
        .ok()
        .filter(|p| p.is_finite() && *p >= 0.0 && s.chars().any(|c| c.is_ascii_digit()) && !s.contains('-'))
}

fn merge_into(products: &mut Vec<Product>, index: &mut HashMap<String, usize>, p: Product) -> bool {
    match index.get(&p.id) {
        Some(&at) => {
            let q = &mut products[at];
            if q.title.is_empty() {
                q.title = p.title;
            }
            if q.description.is_empty() {
                q.description = p.description;
            }
            if q.brand.is_empty() {
                q.brand = p.brand;
            }
            q.price = q.price.or(p.price);
            for c in p.categories {
                if !q.categories.contains(&c) {
                    q.categories.push(c);
                }
            }
            true
        }
        None => {
            index.insert(p.id.clone(), products.len());
            products.push(p);
            false
        }
    }
}

/// Read a catalog: JSON lines (Amazon metadata: `asin`, `title`, `description` string or list,
/// `category` list, `price` like "$25.00", `brand`) or delimited text with a header naming an id
/// column (`item_id`, `productId`, `asin`, `id`); title (`title`, `movie_title`, `name`), year
/// (`release_year`, appended to the title), categories (`category`, `categories`, `class`,
/// `genres`; split on `|` or `;`, or on whitespace for RecBole `token_seq` columns), description,
/// price, brand. HTML entities are decoded; duplicate ids are merged (first non-empty wins).
pub fn read_catalog(bytes: &[u8]) -> Result<CatalogRead> {
    if is_json_lines(bytes) {
        return Ok(read_catalog_jsonl(bytes));
    }
    let first_line = bytes.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let delim = delimiter_of(first_line);
    let mut rdr = csv::ReaderBuilder::new().delimiter(delim).has_headers(true).flexible(true).from_reader(bytes);
    let raw_header: Vec<String> = rdr.headers().context("reading catalog header")?.iter().map(str::to_string).collect();
    let header: Vec<String> = raw_header.iter().map(|h| column_key(h)).collect();
    let id = find_col(&header, &["itemid", "productid", "asin", "id", "item", "product", "parentasin"])
        .context("the catalog header names no id column (item_id, productId, asin, id)")?;
    let title = find_col(&header, &["title", "movietitle", "name", "productname"]);
    let year = find_col(&header, &["releaseyear", "year"]);
    let cat = find_col(&header, &["category", "categories", "class", "genres", "genre", "maincat"]);
    let cat_is_token_seq = cat.is_some_and(|c| raw_header[c].ends_with(":token_seq"));
    let desc = find_col(&header, &["description", "desc", "summary"]);
    let price = find_col(&header, &["price"]);
    let brand = find_col(&header, &["brand", "store", "manufacturer"]);
    let mut out = CatalogRead::default();
    let mut index = HashMap::new();
    for rec in rdr.records() {
        out.input_rows += 1;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                let reason = if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) {
                    Reason::InvalidUtf8
                } else {
                    Reason::UnreadableRow
                };
                out.quarantined.push(Quarantined { line, reason, detail: e.to_string(), raw: String::new() });
                continue;
            }
        };
        let line = rec.position().map_or(0, |p| p.line());
        let get = |c: Option<usize>| c.and_then(|c| rec.get(c)).map(str::trim).unwrap_or("");
        let pid = get(Some(id));
        if pid.is_empty() {
            out.quarantined.push(Quarantined {
                line,
                reason: Reason::EmptyId,
                detail: "empty product id".into(),
                raw: rec.iter().collect::<Vec<_>>().join(","),
            });
            continue;
        }
        let mut t = clean_html(get(title));
        if !get(year).is_empty() && !t.is_empty() {
            t = format!("{t} ({})", get(year));
        }
        let c = clean_html(get(cat));
        let parts: Vec<&str> = if c.contains('|') || c.contains(';') {
            c.split(['|', ';']).collect()
        } else if cat_is_token_seq {
            c.split_whitespace().collect()
        } else {
            vec![c.as_str()]
        };
        let p = Product {
            id: pid.to_string(),
            title: t,
            categories: parts.into_iter().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect(),
            description: clean_html(get(desc)),
            price: parse_price(get(price)),
            brand: clean_html(get(brand)),
        };
        if merge_into(&mut out.products, &mut index, p) {
            out.merged += 1;
        }
    }
    Ok(out)
}

fn read_catalog_jsonl(bytes: &[u8]) -> CatalogRead {
    let mut out = CatalogRead::default();
    let mut index = HashMap::new();
    for (n, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = n as u64 + 1;
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        out.input_rows += 1;
        let obj = match serde_json::from_slice::<serde_json::Value>(raw) {
            Ok(serde_json::Value::Object(o)) => o,
            Ok(_) | Err(_) => {
                let reason = if std::str::from_utf8(raw).is_err() { Reason::InvalidUtf8 } else { Reason::BadJson };
                out.quarantined.push(Quarantined {
                    line,
                    reason,
                    detail: "not a JSON object".into(),
                    raw: raw_text(raw),
                });
                continue;
            }
        };
        let field = |keys: &[&str]| json_field(&obj, keys);
        let text = |keys: &[&str]| -> String {
            match field(keys) {
                Some(serde_json::Value::Array(a)) => {
                    clean_html(&a.iter().filter_map(json_text).collect::<Vec<_>>().join(" "))
                }
                Some(v) => json_text(v).map(|s| clean_html(&s)).unwrap_or_default(),
                None => String::new(),
            }
        };
        let id = text(&["asin", "parentasin", "productid", "itemid", "id"]);
        if id.is_empty() {
            out.quarantined.push(Quarantined {
                line,
                reason: Reason::EmptyId,
                detail: "no asin/id".into(),
                raw: raw_text(raw),
            });
            continue;
        }
        let mut categories: Vec<String> = match field(&["category", "categories"]) {
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(json_text).map(|s| clean_html(&s)).collect(),
            Some(v) => json_text(v).map(|s| vec![clean_html(&s)]).unwrap_or_default(),
            None => Vec::new(),
        };
        categories.retain(|c| !c.is_empty());
        categories.dedup();
        let price = match field(&["price"]) {
            Some(serde_json::Value::Number(n)) => n.as_f64(),
            Some(serde_json::Value::String(s)) => parse_price(s),
            _ => None,
        };
        let p = Product {
            id,
            title: text(&["title", "name"]),
            categories,
            description: text(&["description", "desc"]),
            price,
            brand: text(&["brand", "store"]),
        };
        if merge_into(&mut out.products, &mut index, p) {
            out.merged += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(data: &[u8]) -> RatingsRead {
        read_ratings(data, &RatingsOptions::default()).expect("read")
    }

    fn rows(r: &RatingsRead) -> Vec<(String, String, f32, i64)> {
        let t = &r.table;
        (0..t.len())
            .map(|k| {
                (t.users.name(t.user[k]).to_string(), t.items.name(t.item[k]).to_string(), t.rating[k], t.timestamp[k])
            })
            .collect()
    }

    #[test]
    fn headerless_headed_and_jsonl_read_the_same() {
        let a = read(b"u1,p1,5,1000\nu2,p1,3,2000\n");
        let b = read(b"timestamp,rating,productId,userId\n1000,5,p1,u1\n2000,3,p1,u2\n");
        let c = read(b"{\"reviewerID\":\"u1\",\"asin\":\"p1\",\"overall\":5.0,\"unixReviewTime\":1000}\n{\"reviewerID\":\"u2\",\"asin\":\"p1\",\"overall\":3.0,\"unixReviewTime\":2000}\n");
        assert_eq!(rows(&a), rows(&b));
        assert_eq!(rows(&a), rows(&c));
        assert_eq!((a.format, c.format), ("csv", "jsonl"));
    }

    #[test]
    fn configured_column_order_reads_item_first_files() {
        let opts = RatingsOptions {
            columns: column_order(&["item".into(), "user".into(), "rating".into(), "timestamp".into()]).expect("cols"),
            ..Default::default()
        };
        let r = read_ratings(b"p1,u1,4,1000\n", &opts).expect("read");
        assert_eq!(rows(&r), vec![("u1".into(), "p1".into(), 4.0, 1000)]);
    }

    #[test]
    fn every_kind_of_bad_row_is_counted_by_reason() {
        let mut data = b"user_id:token\titem_id:token\trating:float\ttimestamp:float\n".to_vec();
        data.extend_from_slice(b"u1\tp1\t4\t881250949\n"); // kept, then superseded
        data.extend_from_slice(b"u1\tp1\t5\t881250950\n"); // kept (latest)
        data.extend_from_slice(b"u2\tp2\tnine\t1\n"); // bad_rating
        data.extend_from_slice(b"u3\tp3\t7\t1\n"); // rating_out_of_range
        data.extend_from_slice(b"u3b\tp3\t-1\t1\n"); // rating_out_of_range
        data.extend_from_slice(b"u4\n"); // missing_columns
        data.extend_from_slice(b"\tp5\t1\t1\n"); // empty_id
        data.extend_from_slice(b"u6\tp6\t2\tyesterday\n"); // bad_timestamp
        data.extend_from_slice(b"u6\tp6\t2\tNaN\n"); // bad_timestamp
        data.extend_from_slice(b"u7\tp7\t3\t1700000000000\n"); // kept, ms
        data.extend_from_slice(b"u8\tp8\t1\t2024-01-02T03:04:05Z\n"); // kept, ISO
        data.extend_from_slice(b"u9\t\xff\xfe\t1\t5\n"); // invalid_utf8
        data.extend_from_slice(b"\n"); // blank: not a row
        data.extend_from_slice(b"u10\tp10\t\t5\n"); // bad_rating (empty)
        let r = read(&data);
        let counts = r.reason_counts();
        let want: BTreeMap<&str, u64> = [
            ("bad_rating", 2),
            ("bad_timestamp", 2),
            ("empty_id", 1),
            ("invalid_utf8", 1),
            ("missing_columns", 1),
            ("rating_out_of_range", 2),
        ]
        .into_iter()
        .collect();
        assert_eq!(counts, want);
        assert_eq!(r.input_rows, 13);
        assert_eq!(r.duplicates, 1);
        assert_eq!(r.table.len(), 3);
        assert!(r.ledger_balances());
        let kept = rows(&r);
        assert_eq!(kept[0].2, 5.0, "latest duplicate wins");
        assert_eq!(kept[1].3, 1_700_000_000, "milliseconds normalized");
        assert_eq!(kept[2].3, 1_704_164_645, "ISO-8601 normalized to UTC");
        assert!(r.quarantined.iter().any(|q| q.line == 4 && q.reason == Reason::BadRating));
    }

    #[test]
    fn duplicate_policies() {
        let data = b"u,p,3,100\nu,p,5,50\nu,p,4,100\n";
        let pick = |p: DupPolicy| {
            let r = read_ratings(data, &RatingsOptions { duplicates: p, ..Default::default() }).expect("read");
            assert_eq!((r.table.len(), r.duplicates), (1, 2));
            r.table.rating[0]
        };
        assert_eq!(pick(DupPolicy::KeepLatest), 4.0);
        assert_eq!(pick(DupPolicy::KeepFirst), 5.0);
        assert_eq!(pick(DupPolicy::KeepMaxRating), 5.0);
        let all =
            read_ratings(data, &RatingsOptions { duplicates: DupPolicy::KeepAll, ..Default::default() }).expect("read");
        assert_eq!((all.table.len(), all.duplicates, all.all_rows.is_none()), (3, 0, true));
        assert!(all.ledger_balances());
        let latest = read_ratings(data, &RatingsOptions::default()).expect("read");
        assert_eq!(latest.all_rows.map(|t| t.rating), Some(vec![3.0, 5.0, 4.0]), "every row kept for evaluation");
    }

    #[test]
    fn bad_json_lines_are_quarantined() {
        let r = read(b"{\"reviewerID\":\"a\",\"asin\":\"p\",\"overall\":5,\"unixReviewTime\":10}\n{oops\n[1,2]\n{\"asin\":\"p\"}\n");
        assert_eq!(r.reason_counts().get("bad_json"), Some(&3));
        assert!(r.ledger_balances());
    }

    #[test]
    fn recbole_catalog_reads_titles_years_and_genres() {
        let data = "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n1\tToy Story\t1995\tAnimation Children's Comedy\n";
        let p = read_catalog(data.as_bytes()).expect("read").products;
        assert_eq!(p[0].title, "Toy Story (1995)");
        assert_eq!(p[0].categories, vec!["Animation", "Children's", "Comedy"]);
    }

    #[test]
    fn amazon_metadata_lines_merge_and_decode_html() {
        let data = br#"{"asin":"B1","title":"Tom &amp; Jerry&#39;s Card","description":["<b>Great</b> gift","for &quot;all&quot;"],"category":["Gift Cards","Gift Cards"],"price":"$25.00","brand":"Acme"}
{"asin":"B1","title":"","category":["Restaurants"],"price":""}
{"asin":"B2","title":"Plain","price":""}
not json
"#;
        let c = read_catalog(data).expect("read");
        assert_eq!(c.products.len(), 2);
        assert_eq!(c.merged, 1);
        assert_eq!(c.quarantined.len(), 1);
        let p = &c.products[0];
        assert_eq!(p.title, "Tom & Jerry's Card");
        assert_eq!(p.description, "Great gift for \"all\"");
        assert_eq!(p.categories, vec!["Gift Cards", "Restaurants"]);
        assert_eq!(p.price, Some(25.0));
        assert_eq!(c.products[1].price, None);
    }

    #[test]
    fn clean_html_leaves_plain_text_alone() {
        assert_eq!(clean_html("a < b & c > d"), "a < b & c > d");
        assert_eq!(clean_html("x &#x263A; y &bogus; z"), "x ☺ y &bogus; z");
    }
}

#[cfg(test)]
mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]
        // The cargo-fuzz targets in fuzz/ explore further; this keeps the property in every CI run.
        #[test]
        fn readers_take_any_bytes(data in proptest::collection::vec(any::<u8>(), 0..400), prefix in 0usize..4) {
            let heads: [&[u8]; 4] = [b"", b"userId,productId,rating,timestamp\n", b"{\"asin\":", b"item_id:token\ttitle\n"];
            let mut bytes = heads[prefix].to_vec();
            bytes.extend_from_slice(&data);
            if let Ok(r) = read_ratings(&bytes, &RatingsOptions::default()) {
                prop_assert!(r.ledger_balances());
            }
            let _ = read_catalog(&bytes);
        }
    }
}
