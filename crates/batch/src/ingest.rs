//! Readers for interaction logs and product catalogs: delimited text with or without a header,
//! gzip-transparent. Every input row ends up kept, merged as a duplicate, or quarantined with
//! its line number and a reason — never silently dropped.

use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::io::Read;

/// One valid interaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Interaction {
    /// User id as in the source.
    pub user: String,
    /// Product id as in the source.
    pub item: String,
    /// Rating (1.0 when the source has none).
    pub rating: f32,
    /// Unix seconds, UTC.
    pub timestamp: i64,
    /// 1-based line number in the source.
    pub line: u64,
}

/// A row set aside, with why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Quarantined {
    /// 1-based line number in the source.
    pub line: u64,
    /// Why it was set aside.
    pub reason: String,
    /// The raw row (lossy UTF-8).
    pub raw: String,
}

/// What reading an interaction log produced. `input_rows = rows + duplicates + quarantined`.
#[derive(Debug, Default)]
pub struct RatingsRead {
    /// Kept rows, in source order.
    pub rows: Vec<Interaction>,
    /// Rows set aside.
    pub quarantined: Vec<Quarantined>,
    /// Rows merged into a later row for the same (user, item).
    pub duplicates: u64,
    /// Data rows read (header excluded).
    pub input_rows: u64,
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

/// Normalize a header name: lowercase, without a RecBole type suffix (`user_id:token` → `user_id`).
fn column_key(name: &str) -> String {
    name.split(':').next().unwrap_or("").trim().trim_matches('"').to_lowercase().replace(['_', ' ', '-'], "")
}

fn find_col(header: &[String], names: &[&str]) -> Option<usize> {
    header.iter().position(|h| names.contains(&h.as_str()))
}

/// Parse a timestamp: unix seconds, unix milliseconds (≥ 10¹¹), fractional seconds, or ISO-8601.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(v) = s.parse::<f64>() {
        if !v.is_finite() || v < 0.0 {
            return None;
        }
        let secs = if v >= 1e11 { v / 1000.0 } else { v };
        return Some(secs.floor() as i64);
    }
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(dt.and_utc().timestamp());
        }
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(|d| d.and_hms_opt(0, 0, 0).map_or(0, |t| t.and_utc().timestamp()))
}

/// Options for reading interactions.
#[derive(Debug, Clone)]
pub struct RatingsOptions {
    /// Inclusive rating range; rows outside are quarantined.
    pub rating_range: (f32, f32),
}

impl Default for RatingsOptions {
    fn default() -> Self {
        Self { rating_range: (0.0, 5.0) }
    }
}

/// Read an interaction log (CSV/TSV, header optional; headerless files are
/// `userId,productId,rating,timestamp`). Duplicate (user, item) pairs keep the latest row.
pub fn read_ratings(bytes: &[u8], opts: &RatingsOptions) -> Result<RatingsRead> {
    let first_line = bytes.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let delim = delimiter_of(first_line);
    let mut rdr = csv::ReaderBuilder::new().delimiter(delim).has_headers(false).flexible(true).from_reader(bytes);
    let mut out = RatingsRead::default();
    let mut cols = [0usize, 1, 2, 3];
    let mut has_rating = true;
    let mut first = true;
    let mut record = csv::ByteRecord::new();
    loop {
        let line = match rdr.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => record.position().map_or(0, |p| p.line()),
            Err(e) => {
                let line_no = e.position().map_or(0, |p| p.line());
                out.input_rows += 1;
                out.quarantined.push(Quarantined {
                    line: line_no,
                    reason: format!("unreadable row: {e}"),
                    raw: String::new(),
                });
                continue;
            }
        };
        let raw = || String::from_utf8_lossy(record.as_slice()).into_owned();
        if first {
            first = false;
            let header: Vec<String> = record.iter().map(|f| column_key(&String::from_utf8_lossy(f))).collect();
            let user = find_col(&header, &["userid", "user", "reviewerid", "customerid", "visitorid"]);
            let item = find_col(&header, &["itemid", "productid", "item", "asin", "product", "parentasin"]);
            if let (Some(u), Some(i)) = (user, item) {
                let rating = find_col(&header, &["rating", "overall", "score", "stars"]);
                let ts = find_col(&header, &["timestamp", "time", "unixreviewtime", "ts", "date"]);
                let Some(ts) = ts else {
                    bail!("header names no timestamp column (looked for timestamp, time, unixReviewTime, ts, date)")
                };
                has_rating = rating.is_some();
                cols = [u, i, rating.unwrap_or(usize::MAX), ts];
                continue;
            }
        }
        out.input_rows += 1;
        let field = |c: usize| record.get(c).map(std::str::from_utf8);
        let mut quarantine = |reason: String| out.quarantined.push(Quarantined { line, reason, raw: raw() });
        let (Some(u), Some(i), Some(t)) = (field(cols[0]), field(cols[1]), field(cols[3])) else {
            quarantine(format!(
                "expected at least {} columns, found {}",
                cols.iter().filter(|&&c| c != usize::MAX).max().unwrap_or(&0) + 1,
                record.len()
            ));
            continue;
        };
        let (Ok(u), Ok(i), Ok(t)) = (u, i, t) else {
            quarantine("invalid UTF-8".into());
            continue;
        };
        let (u, i) = (u.trim(), i.trim());
        if u.is_empty() || i.is_empty() {
            quarantine("empty user or product id".into());
            continue;
        }
        let rating = if has_rating {
            match field(cols[2]) {
                Some(Ok(r)) => match r.trim().parse::<f32>() {
                    Ok(r) if r.is_finite() => r,
                    _ => {
                        quarantine(format!("rating {:?} is not a number", r.trim()));
                        continue;
                    }
                },
                _ => {
                    quarantine("missing rating".into());
                    continue;
                }
            }
        } else {
            1.0
        };
        if rating < opts.rating_range.0 || rating > opts.rating_range.1 {
            quarantine(format!("rating {rating} outside [{}, {}]", opts.rating_range.0, opts.rating_range.1));
            continue;
        }
        let Some(ts) = parse_timestamp(t) else {
            quarantine(format!("timestamp {:?} is not unix seconds, milliseconds or ISO-8601", t.trim()));
            continue;
        };
        out.rows.push(Interaction { user: u.to_string(), item: i.to_string(), rating, timestamp: ts, line });
    }
    dedupe_keep_latest(&mut out);
    Ok(out)
}

/// Keep, for each (user, item), the row with the latest timestamp (later line on ties).
fn dedupe_keep_latest(read: &mut RatingsRead) {
    let mut best: HashMap<(&str, &str), usize> = HashMap::with_capacity(read.rows.len());
    let mut keep = vec![true; read.rows.len()];
    for (idx, r) in read.rows.iter().enumerate() {
        match best.insert((r.user.as_str(), r.item.as_str()), idx) {
            None => {}
            Some(prev) => {
                let p = &read.rows[prev];
                if (p.timestamp, p.line) > (r.timestamp, r.line) {
                    best.insert((p.user.as_str(), p.item.as_str()), prev);
                    keep[idx] = false;
                } else {
                    keep[prev] = false;
                }
            }
        }
    }
    let before = read.rows.len();
    let mut k = keep.into_iter();
    read.rows.retain(|_| k.next().unwrap_or(true));
    read.duplicates += (before - read.rows.len()) as u64;
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
    /// Free text description.
    pub description: String,
}

/// Read a catalog: delimited text with a header naming at least an id column.
/// Recognized columns: id (`item_id`, `productId`, `asin`, `id`), title (`title`, `movie_title`,
/// `name`), year (`release_year`, appended to the title), categories (`category`, `categories`,
/// `class`, `genres`; split on `|`, `;`, or whitespace for RecBole `token_seq` columns),
/// description. Duplicate ids are merged (first non-empty field wins).
pub fn read_catalog(bytes: &[u8]) -> Result<Vec<Product>> {
    let first_line = bytes.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let delim = delimiter_of(first_line);
    let mut rdr = csv::ReaderBuilder::new().delimiter(delim).has_headers(true).flexible(true).from_reader(bytes);
    let raw_header: Vec<String> = rdr.headers().context("reading catalog header")?.iter().map(str::to_string).collect();
    let header: Vec<String> = raw_header.iter().map(|h| column_key(h)).collect();
    let id = find_col(&header, &["itemid", "productid", "asin", "id", "item", "product"])
        .context("catalog header names no id column (item_id, productId, asin, id)")?;
    let title = find_col(&header, &["title", "movietitle", "name", "productname"]);
    let year = find_col(&header, &["releaseyear", "year"]);
    let cat = find_col(&header, &["category", "categories", "class", "genres", "genre"]);
    let cat_is_token_seq = cat.is_some_and(|c| raw_header[c].ends_with(":token_seq"));
    let desc = find_col(&header, &["description", "desc", "summary"]);
    let mut products: Vec<Product> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for rec in rdr.records() {
        let Ok(rec) = rec else { continue };
        let get = |c: Option<usize>| c.and_then(|c| rec.get(c)).map(str::trim).unwrap_or("");
        let pid = get(Some(id));
        if pid.is_empty() {
            continue;
        }
        let mut t = get(title).to_string();
        if !get(year).is_empty() && !t.is_empty() {
            t = format!("{t} ({})", get(year));
        }
        let cats: Vec<String> = {
            let c = get(cat);
            let parts: Vec<&str> = if c.contains('|') || c.contains(';') {
                c.split(['|', ';']).collect()
            } else if cat_is_token_seq {
                c.split_whitespace().collect()
            } else {
                vec![c]
            };
            parts.into_iter().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
        };
        let p = Product { id: pid.to_string(), title: t, categories: cats, description: get(desc).to_string() };
        match index.get(pid) {
            Some(&at) => {
                let q = &mut products[at];
                if q.title.is_empty() {
                    q.title = p.title;
                }
                if q.description.is_empty() {
                    q.description = p.description;
                }
                for c in p.categories {
                    if !q.categories.contains(&c) {
                        q.categories.push(c);
                    }
                }
            }
            None => {
                index.insert(pid.to_string(), products.len());
                products.push(p);
            }
        }
    }
    Ok(products)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headerless_and_headed_files_read_the_same() {
        let a = read_ratings(b"u1,p1,5,1000\nu2,p1,3,2000\n", &RatingsOptions::default()).expect("read");
        let b = read_ratings(
            b"timestamp,rating,productId,userId\n1000,5,p1,u1\n2000,3,p1,u2\n",
            &RatingsOptions::default(),
        )
        .expect("read");
        let key = |r: &RatingsRead| {
            r.rows.iter().map(|x| (x.user.clone(), x.item.clone(), x.rating, x.timestamp)).collect::<Vec<_>>()
        };
        assert_eq!(key(&a), key(&b));
        assert_eq!(a.input_rows, 2);
    }

    #[test]
    fn bad_rows_are_quarantined_and_ledger_balances() {
        let data = b"user_id:token\titem_id:token\trating:float\ttimestamp:float\n\
u1\tp1\t4\t881250949\nu1\tp1\t5\t881250950\nu2\tp2\tnine\t1\nu3\tp3\t7\t1\nu4\n\tp5\t1\t1\nu6\tp6\t2\tyesterday\nu7\tp7\t3\t1700000000000\nu8\tp8\t1\t2024-01-02T03:04:05Z\n";
        let r = read_ratings(data, &RatingsOptions::default()).expect("read");
        assert_eq!(r.input_rows, 9);
        assert_eq!(r.duplicates, 1);
        assert_eq!(r.quarantined.len(), 5);
        assert_eq!(r.rows.len() as u64 + r.duplicates + r.quarantined.len() as u64, r.input_rows);
        assert_eq!(r.rows[0].rating, 5.0, "latest duplicate wins");
        assert_eq!(r.rows[1].timestamp, 1_700_000_000, "milliseconds normalized");
        assert_eq!(r.rows[2].timestamp, 1_704_164_645);
        assert!(r.quarantined.iter().any(|q| q.line == 4 && q.reason.contains("not a number")));
    }

    #[test]
    fn recbole_catalog_reads_titles_years_and_genres() {
        let data = "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n1\tToy Story\t1995\tAnimation Children's Comedy\n";
        let p = read_catalog(data.as_bytes()).expect("read");
        assert_eq!(p[0].title, "Toy Story (1995)");
        assert_eq!(p[0].categories, vec!["Animation", "Children's", "Comedy"]);
    }
}
