//! Shoppers' feedback back into the next build: `shopai ingest-feedback` and
//! `shopai feedback-report`.
//!
//! The edge appends accepted `POST /feedback` events as JSON lines under
//! `feedback/<yyyy>/<mm>/<dd>/<instance>-<seq>.jsonl`. Ingest reads them (an S3 prefix, a folder
//! or a file), validates every line and accounts for it in a ledger
//! (`input_lines = kept + duplicates + quarantined`, quarantined lines with a reason), and
//! writes, for the next `shopai build`:
//! - positive events (`click`, `add_to_cart`, `purchase`) as interactions with configurable
//!   weights, the strongest per (user or session, product) (weights stay in the ingest's rating range) — appended to a base ratings CSV when one is
//!   given (`ratings.csv`), and alone in `feedback_interactions.csv`;
//! - `not_relevant` events as demotions (`demotions.json`, for `shopai build --demotions`): the
//!   product is left out of that query's search results, or that user's recommendations.
//!
//! `impression` events (optional: one per answer the storefront showed) make click-through rates
//! exact; the report says when there are none.

use crate::config::Config;
use crate::io::storage::{Location, Storage};
use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{json, Value};
use shopai_core::demote::{normalize_query, Demotion};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Event kinds the edge accepts.
pub const EVENTS: [&str; 5] = ["impression", "click", "add_to_cart", "purchase", "not_relevant"];

/// `shopai ingest-feedback`.
#[derive(clap::Args, Debug, Clone)]
pub struct IngestArgs {
    /// Feedback: `s3://bucket/prefix/feedback/`, a folder of .jsonl files, or one file.
    #[arg(long)]
    pub from: String,
    /// Base ratings CSV (with a header naming user, product, rating and timestamp columns) to
    /// append the feedback interactions to.
    #[arg(long)]
    pub ratings: Option<PathBuf>,
    /// Only keep events for products in this bundle (the live one); others are quarantined.
    #[arg(long)]
    pub bundle: Option<PathBuf>,
    /// Output folder.
    #[arg(long, default_value = "out/feedback")]
    pub out: PathBuf,
    /// Interaction weight per positive event, e.g. `click=1,add_to_cart=3,purchase=5`.
    #[arg(long, value_delimiter = ',', default_value = "click=1,add_to_cart=3,purchase=5")]
    pub weights: Vec<String>,
}

/// `shopai feedback-report`.
#[derive(clap::Args, Debug, Clone)]
pub struct ReportArgs {
    /// Feedback: `s3://bucket/prefix/feedback/`, a folder of .jsonl files, or one file.
    #[arg(long)]
    pub from: String,
}

/// One validated event.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// `user:<id>` or `session:<id>`.
    pub who: String,
    /// Product.
    pub product_id: String,
    /// Event kind.
    pub event: String,
    /// Normalized query, for search feedback.
    pub query: Option<String>,
    /// Bundle version that answered.
    pub version: String,
    /// `search` or `recommendations`.
    pub surface: String,
    /// Unix seconds.
    pub timestamp: i64,
}

/// Row accounting.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Ledger {
    /// Lines read (non-blank).
    pub input_lines: usize,
    /// Valid, first-seen events.
    pub kept: usize,
    /// Events seen before (same event id, or the same event field for field).
    pub duplicates: usize,
    /// Lines that could not be used.
    pub quarantined: usize,
    /// Quarantined lines per reason.
    pub by_reason: BTreeMap<String, usize>,
    /// Objects or files read.
    pub sources: usize,
}

fn str_field<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

fn parse_time(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_f64().map(|f| if f > 1e11 { (f / 1000.0) as i64 } else { f as i64 }),
        Value::String(s) => chrono::DateTime::parse_from_rfc3339(s).ok().map(|d| d.timestamp()),
        _ => None,
    }
}

/// Validate one line; `Err(reason)` quarantines it.
pub fn parse_line(
    line: &str,
    products: Option<&HashSet<String>>,
) -> std::result::Result<(String, Event), &'static str> {
    let v: Value = serde_json::from_str(line).map_err(|_| "bad_json")?;
    if !v.is_object() {
        return Err("bad_json");
    }
    let product_id = str_field(&v, "product_id").ok_or("missing_product")?.to_string();
    let event = str_field(&v, "event").ok_or("unknown_event")?;
    if !EVENTS.contains(&event) {
        return Err("unknown_event");
    }
    let who = match (str_field(&v, "user_id"), str_field(&v, "session_id")) {
        (Some(u), _) => format!("user:{u}"),
        (None, Some(s)) => format!("session:{s}"),
        (None, None) => return Err("no_user_or_session"),
    };
    let version = str_field(&v, "version").ok_or("missing_version")?.to_string();
    let timestamp = match v.get("timestamp").filter(|t| !t.is_null()) {
        Some(t) => parse_time(t).ok_or("bad_timestamp")?,
        None => v.get("received_at").and_then(parse_time).ok_or("bad_timestamp")?,
    };
    if products.is_some_and(|p| !p.contains(&product_id)) {
        return Err("unknown_product");
    }
    let query = str_field(&v, "query").map(normalize_query);
    let surface = str_field(&v, "surface")
        .map(str::to_string)
        .unwrap_or_else(|| if query.is_some() { "search" } else { "recommendations" }.to_string());
    let e = Event { who, product_id, event: event.to_string(), query, version, surface, timestamp };
    let key = match str_field(&v, "event_id") {
        Some(id) => format!("id:{id}"),
        None => serde_json::to_string(&e).unwrap_or_default(),
    };
    Ok((key, e))
}

/// One line of a feedback object: (object, line number, text).
type SourcedLine = (String, usize, String);

/// Every line of every feedback object under `from`, with where it came from, and the number of objects.
fn read_all(cfg: &Config, from: &str) -> Result<(Vec<SourcedLine>, usize)> {
    let storage = Storage::new(&cfg.s3)?;
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    if let Some(rest) = from.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let mut keys = storage.list_s3(bucket, prefix)?;
        keys.sort();
        for k in keys.into_iter().filter(|k| k.ends_with(".jsonl")) {
            let loc = Location::S3 { bucket: bucket.into(), key: k.clone() };
            files.push((loc.to_string(), storage.read(&loc, false)?));
        }
    } else {
        let p = Path::new(from);
        let mut paths = Vec::new();
        if p.is_dir() {
            let mut stack = vec![p.to_path_buf()];
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
                    let e = e?.path();
                    if e.is_dir() {
                        stack.push(e);
                    } else if e.extension().is_some_and(|x| x == "jsonl") {
                        paths.push(e);
                    }
                }
            }
            paths.sort();
        } else {
            paths.push(p.to_path_buf());
        }
        for p in paths {
            files.push((
                p.display().to_string(),
                std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?,
            ));
        }
    }
    let n = files.len();
    let mut lines = Vec::new();
    for (src, bytes) in files {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        for (i, l) in text.lines().enumerate() {
            if !l.trim().is_empty() {
                lines.push((src.clone(), i + 1, l.to_string()));
            }
        }
    }
    Ok((lines, n))
}

/// Validate and deduplicate; quarantined lines are returned with their reason.
pub fn collect(
    lines: &[(String, usize, String)],
    products: Option<&HashSet<String>>,
) -> (Vec<Event>, Ledger, Vec<Value>) {
    let mut ledger = Ledger { input_lines: lines.len(), ..Ledger::default() };
    let mut seen = HashSet::new();
    let mut kept = Vec::new();
    let mut quarantine = Vec::new();
    for (src, n, line) in lines {
        match parse_line(line, products) {
            Ok((key, e)) => {
                if seen.insert(key) {
                    kept.push(e);
                } else {
                    ledger.duplicates += 1;
                }
            }
            Err(reason) => {
                *ledger.by_reason.entry(reason.to_string()).or_default() += 1;
                quarantine.push(json!({"source": src, "line": n, "reason": reason, "raw": line}));
            }
        }
    }
    ledger.kept = kept.len();
    ledger.quarantined = quarantine.len();
    (kept, ledger, quarantine)
}

fn weights(spec: &[String]) -> Result<HashMap<String, f64>> {
    let mut w = HashMap::new();
    for s in spec {
        let (k, v) = s.split_once('=').with_context(|| format!("--weights entry {s:?} is not event=weight"))?;
        anyhow::ensure!(["click", "add_to_cart", "purchase"].contains(&k), "--weights: {k:?} is not a positive event");
        let v: f64 = v.parse().with_context(|| format!("--weights: {v:?} is not a number"))?;
        anyhow::ensure!(v >= 0.0 && v.is_finite(), "--weights: {k} must be ≥ 0");
        w.insert(k.to_string(), v);
    }
    Ok(w)
}

/// Read a `demotions.json` written by `shopai ingest-feedback`.
pub fn read_demotions(path: &Path) -> Result<Vec<Demotion>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("parsing {} (write it with `shopai ingest-feedback`)", path.display()))
}

/// Column index of the first header that matches one of `names` (case-insensitive).
fn column(header: &[String], names: &[&str]) -> Option<usize> {
    header.iter().position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
}

/// `shopai ingest-feedback`.
pub fn ingest(cfg: &Config, a: &IngestArgs) -> Result<Value> {
    let w = weights(&a.weights)?;
    let products: Option<HashSet<String>> = match &a.bundle {
        Some(b) => {
            let bytes = std::fs::read(b).with_context(|| format!("reading {}", b.display()))?;
            let bundle = shopai_core::Bundle::load(&bytes)?;
            let v = bundle.view();
            Some((0..v.item_ids.len()).map(|i| v.item_ids.get(i).to_string()).collect())
        }
        None => None,
    };
    let (lines, sources) = read_all(cfg, &a.from)?;
    let (events, mut ledger, quarantine) = collect(&lines, products.as_ref());
    ledger.sources = sources;

    // Positive events → one interaction per (who, product): the strongest weight, latest time.
    let mut inter: BTreeMap<(String, String), (f64, i64)> = BTreeMap::new();
    let mut demotions = BTreeSet::new();
    for e in &events {
        if let Some(weight) = w.get(&e.event).copied().filter(|w| *w > 0.0) {
            let x = inter.entry((e.who.clone(), e.product_id.clone())).or_insert((0.0, e.timestamp));
            x.0 = x.0.max(weight);
            x.1 = x.1.max(e.timestamp);
        } else if e.event == "not_relevant" {
            let user_id = e.who.strip_prefix("user:").map(str::to_string);
            if e.query.is_some() || user_id.is_some() {
                demotions.insert(Demotion {
                    product_id: e.product_id.clone(),
                    query: e.query.clone(),
                    user_id: if e.query.is_some() { None } else { user_id },
                });
            }
        }
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let mut fb = csv::Writer::from_writer(Vec::new());
    fb.write_record(["user_id", "product_id", "rating", "timestamp"])?;
    for ((who, p), (r, t)) in &inter {
        fb.write_record([who.as_str(), p.as_str(), r.to_string().as_str(), t.to_string().as_str()])?;
    }
    crate::io::fs::write_atomic(&a.out.join("feedback_interactions.csv"), &fb.into_inner()?)?;
    let merged = match &a.ratings {
        Some(base) => {
            let mut rd = csv::ReaderBuilder::new()
                .flexible(true)
                .from_path(base)
                .with_context(|| format!("reading {}", base.display()))?;
            let header: Vec<String> = rd.headers()?.iter().map(str::to_string).collect();
            let cols = [
                column(&header, &["user_id", "userid", "user", "user_id:token", "reviewerid"]),
                column(
                    &header,
                    &["product_id", "productid", "itemid", "item_id", "item", "product", "item_id:token", "asin"],
                ),
                column(&header, &["rating", "rating:float", "overall", "value"]),
                column(&header, &["timestamp", "timestamp:float", "ts", "time", "unixreviewtime"]),
            ];
            let [Some(u), Some(p), r, t] = cols else {
                anyhow::bail!("{}: the header must name user and product columns (got {header:?})", base.display());
            };
            let mut out = csv::Writer::from_writer(Vec::new());
            out.write_record(&header)?;
            for rec in rd.records() {
                out.write_record(&rec?)?;
            }
            for ((who, prod), (rating, ts)) in &inter {
                let mut row = vec![String::new(); header.len()];
                row[u] = who.clone();
                row[p] = prod.clone();
                if let Some(r) = r {
                    row[r] = rating.to_string();
                }
                if let Some(t) = t {
                    row[t] = ts.to_string();
                }
                out.write_record(&row)?;
            }
            let path = a.out.join("ratings.csv");
            crate::io::fs::write_atomic(&path, &out.into_inner()?)?;
            Some(path)
        }
        None => None,
    };
    let demotions: Vec<Demotion> = demotions.into_iter().collect();
    crate::io::fs::write_atomic(&a.out.join("demotions.json"), &serde_json::to_vec_pretty(&demotions)?)?;
    let mut q = String::new();
    for l in &quarantine {
        q.push_str(&l.to_string());
        q.push('\n');
    }
    crate::io::fs::write_atomic(&a.out.join("quarantine.jsonl"), q.as_bytes())?;
    let summary = json!({
        "ledger": ledger,
        "balances": ledger.input_lines == ledger.kept + ledger.duplicates + ledger.quarantined,
        "interactions": inter.len(),
        "demotions": demotions.len(),
        "ratings": merged,
        "feedback_interactions": a.out.join("feedback_interactions.csv"),
        "demotions_file": a.out.join("demotions.json"),
        "quarantine_file": a.out.join("quarantine.jsonl"),
    });
    crate::io::fs::write_atomic(&a.out.join("ledger.json"), &serde_json::to_vec_pretty(&summary)?)?;
    Ok(summary)
}

/// Per version and surface: event counts, click-through and purchase rates.
pub fn report_of(events: &[Event]) -> Value {
    let mut by: BTreeMap<(String, String), BTreeMap<String, usize>> = BTreeMap::new();
    for e in events {
        *by.entry((e.version.clone(), e.surface.clone())).or_default().entry(e.event.clone()).or_default() += 1;
    }
    let mut versions: BTreeMap<String, Value> = BTreeMap::new();
    for ((v, surface), counts) in by {
        let n = |k: &str| counts.get(k).copied().unwrap_or(0) as f64;
        let rate = |a: f64, b: f64| if b > 0.0 { json!(a / b) } else { Value::Null };
        let row = json!({
            "events": &counts,
            "click_through_rate": rate(n("click"), n("impression")),
            "purchase_rate": rate(n("purchase"), n("impression")),
            "purchases_per_click": rate(n("purchase"), n("click")),
            "not_relevant_share": rate(n("not_relevant"), n("click") + n("not_relevant")),
        });
        versions.entry(v).or_insert_with(|| json!({}))[surface] = row;
    }
    json!({
        "versions": versions,
        "note": "rates per impression are null for a version/surface without impression events",
    })
}

/// `shopai feedback-report`.
pub fn report(cfg: &Config, a: &ReportArgs) -> Result<Value> {
    let (lines, sources) = read_all(cfg, &a.from)?;
    let (events, mut ledger, _) = collect(&lines, None);
    ledger.sources = sources;
    let mut r = report_of(&events);
    r["ledger"] = serde_json::to_value(&ledger)?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(ls: &[&str]) -> Vec<(String, usize, String)> {
        ls.iter().enumerate().map(|(i, l)| ("t".to_string(), i + 1, l.to_string())).collect()
    }

    #[test]
    fn every_line_is_kept_duplicate_or_quarantined_with_a_reason() {
        let products: HashSet<String> = ["P1".to_string(), "P2".to_string()].into();
        let ls = lines(&[
            r#"{"user_id":"u","product_id":"P1","event":"click","version":"v1","timestamp":1700000000,"event_id":"a"}"#,
            r#"{"user_id":"u","product_id":"P1","event":"click","version":"v1","timestamp":1700000000,"event_id":"a"}"#,
            r#"{"session_id":"s","product_id":"P2","event":"purchase","version":"v1","timestamp":"2026-01-01T00:00:00Z"}"#,
            r#"{"session_id":"s","product_id":"P2","event":"purchase","version":"v1","timestamp":"2026-01-01T00:00:00Z"}"#,
            r#"{"user_id":"u","product_id":"P9","event":"click","version":"v1","timestamp":1}"#,
            r#"{"user_id":"u","product_id":"P1","event":"like","version":"v1","timestamp":1}"#,
            r#"{"product_id":"P1","event":"click","version":"v1","timestamp":1}"#,
            r#"{"user_id":"u","product_id":"P1","event":"click","timestamp":1}"#,
            r#"{"user_id":"u","product_id":"P1","event":"click","version":"v1","timestamp":"yesterday"}"#,
            "{not json",
        ]);
        let (kept, l, q) = collect(&ls, Some(&products));
        assert_eq!((l.input_lines, l.kept, l.duplicates, l.quarantined), (10, 2, 2, 6));
        assert_eq!(l.input_lines, l.kept + l.duplicates + l.quarantined);
        let reasons: Vec<&str> = q.iter().map(|x| x["reason"].as_str().unwrap_or("")).collect();
        assert_eq!(
            reasons,
            ["unknown_product", "unknown_event", "no_user_or_session", "missing_version", "bad_timestamp", "bad_json"]
        );
        assert_eq!(kept[1].timestamp, 1_767_225_600);
        assert_eq!(kept[1].surface, "recommendations");
    }

    #[test]
    fn report_gives_rates_per_version_and_surface() {
        let ls = lines(&[
            r#"{"session_id":"s","product_id":"P1","event":"impression","version":"v1","query":"x","timestamp":1}"#,
            r#"{"session_id":"s","product_id":"P2","event":"impression","version":"v1","query":"x","timestamp":2}"#,
            r#"{"session_id":"s","product_id":"P1","event":"click","version":"v1","query":"x","timestamp":3}"#,
            r#"{"session_id":"s","product_id":"P1","event":"purchase","version":"v2","timestamp":4}"#,
        ]);
        let (events, _, _) = collect(&ls, None);
        let r = report_of(&events);
        assert_eq!(r["versions"]["v1"]["search"]["click_through_rate"], json!(0.5));
        assert_eq!(r["versions"]["v2"]["recommendations"]["events"]["purchase"], json!(1));
        assert!(r["versions"]["v2"]["recommendations"]["purchase_rate"].is_null());
    }
}
