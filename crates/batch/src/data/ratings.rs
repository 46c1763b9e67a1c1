//! Interaction logs: CSV/TSV with or without a header, JSON lines (Amazon reviews) or parquet; gzip is
//! undone by the caller (`io::fs::maybe_gunzip`). Every input row ends up kept, merged as a
//! duplicate, or quarantined with its line number and a reason — never silently dropped:
//! `input_rows = kept + duplicates + quarantined`. No input bytes make these functions panic
//! (nor the catalog reader's, [`super::catalog`]).

use super::format::{column_key, delimiter_of, find_col, is_json_lines, is_parquet, json_field, json_text, to_tsv};
use super::quarantine::{raw_text, Quarantined, Reason};
use crate::config::{Col, DupPolicy};
use anyhow::{bail, Result};
use std::collections::{BTreeMap, HashMap};

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

impl RatingsOptions {
    /// The options the `[ingest]` configuration names.
    pub fn from_config(c: &crate::config::IngestConfig) -> Result<Self> {
        Ok(Self {
            rating_range: (c.rating_min, c.rating_max),
            columns: crate::config::column_order(&c.columns)?,
            duplicates: c.duplicates,
        })
    }
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
    if is_parquet(bytes) {
        let mut out = read_ratings(&to_tsv(bytes)?, opts)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::column_order;

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
}

#[cfg(test)]
mod never_panics {
    use super::*;
    use crate::data::catalog::read_catalog;
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
