//! `shopai monitor`: the per-request log lines of `docs/LOG_SCHEMA.md` (from files, folders,
//! stdin or an `s3://` prefix) → a self-contained HTML dashboard and a JSON report: requests and
//! error rate over time, p50/p95/p99 per route per time bucket, degraded and cache-hit rates,
//! zero-result rate, top queries and top zero-result queries, per bundle version. `--fail-on`
//! turns it into an alert check for a cron job: non-zero exit and one line naming the threshold.
//!
//! Definitions (the dashboard states them too): percentiles are nearest-rank over `took_ms`
//! (the ⌈q·n⌉-th smallest); `error_rate` = 5xx / requests, `client_error_rate` = 4xx / requests,
//! `degraded_rate` = lines with a `degraded` reason / requests, `zero_result_rate` = lines with
//! `results == 0` / lines with a `results` count, cache hit rates = `hit` / (`hit` + `miss`).

use crate::config::Config;
use crate::io::storage::{Location, Storage};
use crate::report::{bars, esc};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::io::Read;
use std::path::PathBuf;

/// `shopai monitor` arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Log sources: files (gzip is detected), folders (every file in them), `s3://bucket/prefix/`
    /// (every object under the prefix) or `-` for stdin (the default when none is given).
    pub inputs: Vec<String>,
    /// Folder for `monitor.html` and `monitor.json`.
    #[arg(long, default_value = "out/monitor")]
    pub out: PathBuf,
    /// Time bucket width: `auto` (about 40 buckets over the span), or e.g. `10s`, `5m`, `1h`, `1d`.
    #[arg(long, default_value = "auto")]
    pub bucket: String,
    /// Alert thresholds, comma-separated: `metric>value` (also `>=`, `<`, `<=`), optionally for one
    /// route as `/search:p99_ms>50`. Metrics: requests, error_rate, client_error_rate, p50_ms,
    /// p95_ms, p99_ms, mean_ms, max_ms, degraded_rate, zero_result_rate, embed_cache_hit_rate,
    /// answer_cache_hit_rate. Any crossed → exit status 1 and one line naming them.
    #[arg(long)]
    pub fail_on: Option<String>,
    /// Entries in the top-query tables.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
}

/// One request as the edge (and the `shopai` servers) log it. `path` is read as `route`, and a
/// boolean `degraded` (older edge builds) as a reason of `"degraded"` or none.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct LogLine {
    /// RFC 3339 UTC timestamp.
    #[serde(default)]
    pub ts: Option<String>,
    /// Who answered (`edge`, `serve-embeddings`, …).
    #[serde(default)]
    pub source: Option<String>,
    /// Route (path).
    #[serde(alias = "path")]
    pub route: String,
    /// HTTP method.
    #[serde(default)]
    pub method: Option<String>,
    /// HTTP status.
    pub status: u16,
    /// Milliseconds to answer.
    pub took_ms: f64,
    /// Bundle version that answered.
    #[serde(default)]
    pub version: Option<String>,
    /// Milliseconds spent getting the query embedding.
    #[serde(default)]
    pub embed_ms: Option<f64>,
    /// `hit` or `miss` in the query-embedding cache.
    #[serde(default)]
    pub embed_cache: Option<String>,
    /// `hit` or `miss` in the answer cache.
    #[serde(default)]
    pub answer_cache: Option<String>,
    /// Why the answer is degraded (e.g. lexical only), if it is.
    #[serde(default, deserialize_with = "degraded_reason")]
    pub degraded: Option<String>,
    /// Results returned.
    #[serde(default)]
    pub results: Option<u64>,
    /// Score of the first result.
    #[serde(default)]
    pub top_score: Option<f64>,
    /// Normalized query text, `sha256:<hex>` when hashed, absent when dropped.
    #[serde(default)]
    pub query: Option<String>,
    /// Error code, if the answer is an error.
    #[serde(default)]
    pub error: Option<String>,
}

fn degraded_reason<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s),
        serde_json::Value::Bool(true) => Some("degraded".into()),
        _ => None,
    })
}

/// A parsed request line with its time (unix milliseconds) when it has one.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The line.
    pub line: LogLine,
    /// `ts` in unix milliseconds.
    pub at_ms: Option<i64>,
}

/// How the input lines were classified. Nothing is dropped silently: every line is counted here.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LineCounts {
    /// Non-empty lines read.
    pub read: u64,
    /// Request lines kept.
    pub requests: u64,
    /// Lines that are not request lines (other log output, banners): skipped.
    pub other: u64,
    /// Request-like lines (JSON with a `status`) with a missing or mistyped field or a bad `ts`: skipped.
    pub invalid: u64,
    /// Kept lines without `ts` (counted everywhere except in the time buckets).
    pub undated: u64,
    /// The first few invalid lines: `source:line: reason`.
    pub invalid_examples: Vec<String>,
}

/// Per query text: requests, zero-result answers, and the sum and count of top scores.
#[derive(Debug, Clone, Copy, Default)]
struct QueryStats {
    count: u64,
    zero: u64,
    score_sum: f64,
    scored: u64,
}

/// A guest's line as its host captured it: `wasmtime serve` prefixes each with `stderr [N] :: `
/// (N the instance), Spin and the native servers write it bare.
fn strip_host_prefix(line: &str) -> &str {
    match line.split_once(" :: ") {
        Some((host, rest)) if host.starts_with("stderr [") || host.starts_with("stdout [") => rest,
        _ => line,
    }
}

/// Parse log text, appending request lines to `out` and counting every line in `counts`.
pub fn parse_into(text: &str, source: &str, counts: &mut LineCounts, out: &mut Vec<Entry>) {
    for (n, raw) in text.lines().enumerate() {
        let raw = strip_host_prefix(raw.trim());
        if raw.is_empty() {
            continue;
        }
        counts.read += 1;
        let value: serde_json::Value = match serde_json::from_str(raw) {
            Ok(v @ serde_json::Value::Object(_)) => v,
            _ => {
                counts.other += 1;
                continue;
            }
        };
        if value.get("status").is_none() {
            counts.other += 1;
            continue;
        }
        let mut invalid = |reason: String| {
            counts.invalid += 1;
            if counts.invalid_examples.len() < 5 {
                counts.invalid_examples.push(format!("{source}:{}: {reason}", n + 1));
            }
        };
        let line: LogLine = match serde_json::from_value(value) {
            Ok(l) => l,
            Err(e) => {
                invalid(e.to_string());
                continue;
            }
        };
        if !line.took_ms.is_finite() || line.took_ms < 0.0 {
            invalid(format!("took_ms {} is not a duration", line.took_ms));
            continue;
        }
        let at_ms = match &line.ts {
            None => None,
            Some(ts) => match chrono::DateTime::parse_from_rfc3339(ts) {
                Ok(t) => Some(t.timestamp_millis()),
                Err(e) => {
                    invalid(format!("ts {ts:?}: {e}"));
                    continue;
                }
            },
        };
        counts.requests += 1;
        counts.undated += u64::from(at_ms.is_none());
        out.push(Entry { line, at_ms });
    }
}

/// Nearest-rank percentile of an ascending slice (0 when empty).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn rate(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Figures over a set of request lines.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    /// Requests.
    pub requests: u64,
    /// 2xx answers.
    pub ok: u64,
    /// 4xx answers.
    pub client_errors: u64,
    /// 5xx answers.
    pub server_errors: u64,
    /// 5xx / requests.
    pub error_rate: f64,
    /// 4xx / requests.
    pub client_error_rate: f64,
    /// Median `took_ms` (nearest rank).
    pub p50_ms: f64,
    /// 95th percentile `took_ms`.
    pub p95_ms: f64,
    /// 99th percentile `took_ms`.
    pub p99_ms: f64,
    /// Mean `took_ms`.
    pub mean_ms: f64,
    /// Largest `took_ms`.
    pub max_ms: f64,
    /// Lines with a `degraded` reason.
    pub degraded: u64,
    /// degraded / requests.
    pub degraded_rate: f64,
    /// Lines with a `results` count.
    pub answered: u64,
    /// Lines with `results == 0`.
    pub zero_results: u64,
    /// zero_results / answered.
    pub zero_result_rate: f64,
    /// Query-embedding cache hits.
    pub embed_cache_hits: u64,
    /// Query-embedding cache lookups (hit + miss).
    pub embed_cache_lookups: u64,
    /// hits / lookups.
    pub embed_cache_hit_rate: f64,
    /// Answer cache hits.
    pub answer_cache_hits: u64,
    /// Answer cache lookups.
    pub answer_cache_lookups: u64,
    /// hits / lookups.
    pub answer_cache_hit_rate: f64,
    /// Median `embed_ms` over lines that have one.
    pub embed_p50_ms: f64,
    /// 95th percentile `embed_ms`.
    pub embed_p95_ms: f64,
    /// Count per status code.
    pub statuses: BTreeMap<String, u64>,
    /// Count per `degraded` reason.
    pub degraded_reasons: BTreeMap<String, u64>,
    /// Count per `error` code.
    pub error_codes: BTreeMap<String, u64>,
}

impl Summary {
    /// Figures over `lines`.
    pub fn of<'a>(lines: impl IntoIterator<Item = &'a LogLine>) -> Self {
        let mut s = Summary::default();
        let (mut took, mut embed) = (Vec::new(), Vec::new());
        for l in lines {
            s.requests += 1;
            match l.status {
                200..=299 => s.ok += 1,
                400..=499 => s.client_errors += 1,
                500..=599 => s.server_errors += 1,
                _ => {}
            }
            *s.statuses.entry(l.status.to_string()).or_default() += 1;
            took.push(l.took_ms);
            if let Some(r) = &l.degraded {
                s.degraded += 1;
                *s.degraded_reasons.entry(r.clone()).or_default() += 1;
            }
            if let Some(e) = &l.error {
                *s.error_codes.entry(e.clone()).or_default() += 1;
            }
            if let Some(n) = l.results {
                s.answered += 1;
                s.zero_results += u64::from(n == 0);
            }
            for (cache, hits, lookups) in [
                (&l.embed_cache, &mut s.embed_cache_hits, &mut s.embed_cache_lookups),
                (&l.answer_cache, &mut s.answer_cache_hits, &mut s.answer_cache_lookups),
            ] {
                match cache.as_deref() {
                    Some("hit") => {
                        *hits += 1;
                        *lookups += 1;
                    }
                    Some("miss") => *lookups += 1,
                    _ => {}
                }
            }
            if let Some(e) = l.embed_ms.filter(|e| e.is_finite()) {
                embed.push(e);
            }
        }
        took.sort_by(f64::total_cmp);
        embed.sort_by(f64::total_cmp);
        s.p50_ms = percentile(&took, 0.50);
        s.p95_ms = percentile(&took, 0.95);
        s.p99_ms = percentile(&took, 0.99);
        s.mean_ms = took.iter().sum::<f64>() / took.len().max(1) as f64;
        s.max_ms = took.last().copied().unwrap_or(0.0);
        s.embed_p50_ms = percentile(&embed, 0.50);
        s.embed_p95_ms = percentile(&embed, 0.95);
        s.error_rate = rate(s.server_errors, s.requests);
        s.client_error_rate = rate(s.client_errors, s.requests);
        s.degraded_rate = rate(s.degraded, s.requests);
        s.zero_result_rate = rate(s.zero_results, s.answered);
        s.embed_cache_hit_rate = rate(s.embed_cache_hits, s.embed_cache_lookups);
        s.answer_cache_hit_rate = rate(s.answer_cache_hits, s.answer_cache_lookups);
        s
    }

    /// A metric by its `--fail-on` name.
    pub fn metric(&self, name: &str) -> Option<f64> {
        Some(match name {
            "requests" => self.requests as f64,
            "error_rate" => self.error_rate,
            "client_error_rate" => self.client_error_rate,
            "p50_ms" => self.p50_ms,
            "p95_ms" => self.p95_ms,
            "p99_ms" => self.p99_ms,
            "mean_ms" => self.mean_ms,
            "max_ms" => self.max_ms,
            "degraded_rate" => self.degraded_rate,
            "zero_result_rate" => self.zero_result_rate,
            "embed_cache_hit_rate" => self.embed_cache_hit_rate,
            "answer_cache_hit_rate" => self.answer_cache_hit_rate,
            _ => return None,
        })
    }
}

/// One time bucket.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Bucket {
    /// Bucket start (RFC 3339 UTC).
    pub start: String,
    /// All routes.
    pub overall: Summary,
    /// Per route.
    pub routes: BTreeMap<String, Summary>,
}

/// A query and how often it was asked.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QueryCount {
    /// Query (normalized, or hashed).
    pub query: String,
    /// Times asked.
    pub count: u64,
    /// Mean top score where there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_top_score: Option<f64>,
}

/// One `--fail-on` threshold and its outcome.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Check {
    /// As written, e.g. `p99_ms>50`.
    pub threshold: String,
    /// The measured value.
    pub value: f64,
    /// Whether the threshold is crossed.
    pub crossed: bool,
}

/// The report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Dashboard {
    /// Where the lines came from.
    pub sources: Vec<String>,
    /// How every line was classified.
    pub lines: LineCounts,
    /// Bucket width in seconds.
    pub bucket_seconds: i64,
    /// First and last timestamp (RFC 3339), when any line has one.
    pub time_range: Option<(String, String)>,
    /// All requests.
    pub overall: Summary,
    /// Per route (the 20 busiest; the rest as `(other)`).
    pub routes: BTreeMap<String, Summary>,
    /// Per bundle version (`(none)` when the line has none).
    pub versions: BTreeMap<String, Summary>,
    /// Time buckets in order (dated lines only).
    pub buckets: Vec<Bucket>,
    /// Most frequent search queries.
    pub top_queries: Vec<QueryCount>,
    /// Most frequent search queries that returned nothing.
    pub top_zero_result_queries: Vec<QueryCount>,
    /// Answered queries with the lowest mean top score.
    pub low_score_queries: Vec<QueryCount>,
    /// `--fail-on` outcomes.
    pub checks: Vec<Check>,
}

const MAX_ROUTES: usize = 20;
const MAX_BUCKETS: i64 = 400;

/// Parse `10s`, `5m`, `1h`, `1d` (or a number of seconds).
pub fn parse_duration(s: &str) -> Result<i64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num.parse().with_context(|| format!("bucket {s:?}: expected e.g. 30s, 5m, 1h"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("bucket {s:?}: unit must be s, m, h or d"),
    };
    anyhow::ensure!(n > 0, "bucket {s:?} must be positive");
    Ok(n * mult)
}

fn auto_bucket(span_s: i64) -> i64 {
    const STEPS: [i64; 12] = [1, 5, 10, 30, 60, 300, 900, 1800, 3600, 6 * 3600, 86_400, 7 * 86_400];
    STEPS.iter().copied().find(|&w| span_s / w <= 40).unwrap_or(7 * 86_400)
}

/// A parsed `--fail-on` threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// As written.
    pub text: String,
    /// Route it applies to (all routes when `None`).
    pub route: Option<String>,
    /// Metric name.
    pub metric: String,
    /// `>`, `>=`, `<`, `<=`.
    pub op: String,
    /// Bound.
    pub value: f64,
}

/// Parse `p99_ms>50,error_rate>0.01,/search:p95_ms>=20`.
pub fn parse_thresholds(s: &str) -> Result<Vec<Threshold>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let at = part.find(['>', '<']).with_context(|| format!("threshold {part:?}: expected metric>value"))?;
        let (lhs, rest) = part.split_at(at);
        let (op, value) =
            if rest.len() > 1 && rest.as_bytes()[1] == b'=' { rest.split_at(2) } else { rest.split_at(1) };
        let value: f64 =
            value.trim().parse().with_context(|| format!("threshold {part:?}: {value:?} is not a number"))?;
        let (route, metric) = match lhs.trim().rsplit_once(':') {
            Some((r, m)) => (Some(r.to_string()), m.to_string()),
            None => (None, lhs.trim().to_string()),
        };
        anyhow::ensure!(
            Summary::default().metric(&metric).is_some(),
            "threshold {part:?}: unknown metric {metric:?} (requests, error_rate, client_error_rate, p50_ms, p95_ms, p99_ms, mean_ms, max_ms, degraded_rate, zero_result_rate, embed_cache_hit_rate, answer_cache_hit_rate)"
        );
        out.push(Threshold { text: part.to_string(), route, metric, op: op.to_string(), value });
    }
    Ok(out)
}

fn rfc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// Aggregate parsed lines into the report (thresholds evaluated on the result).
pub fn aggregate(
    entries: &[Entry],
    lines: LineCounts,
    sources: Vec<String>,
    bucket: Option<i64>,
    top: usize,
    thresholds: &[Threshold],
) -> Dashboard {
    let dated: Vec<i64> = entries.iter().filter_map(|e| e.at_ms).collect();
    let (first, last) = (dated.iter().min().copied(), dated.iter().max().copied());
    let span_s = match (first, last) {
        (Some(a), Some(b)) => (b - a) / 1000 + 1,
        _ => 1,
    };
    let mut bucket_s = bucket.unwrap_or_else(|| auto_bucket(span_s));
    while span_s / bucket_s > MAX_BUCKETS {
        bucket_s *= 2;
    }

    // Routes: the busiest keep their name; the long tail (e.g. 404 probes) is pooled.
    let mut route_counts: HashMap<&str, u64> = HashMap::new();
    for e in entries {
        *route_counts.entry(e.line.route.as_str()).or_default() += 1;
    }
    let mut busiest: Vec<(&str, u64)> = route_counts.into_iter().collect();
    busiest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let named: std::collections::HashSet<&str> = busiest.iter().take(MAX_ROUTES).map(|r| r.0).collect();
    let route_of = |l: &LogLine| {
        if named.contains(l.route.as_str()) {
            l.route.clone()
        } else {
            "(other)".to_string()
        }
    };
    let group = |key: &dyn Fn(&Entry) -> Option<String>, subset: &[&Entry]| {
        let mut g: BTreeMap<String, Vec<&LogLine>> = BTreeMap::new();
        for e in subset {
            if let Some(k) = key(e) {
                g.entry(k).or_default().push(&e.line);
            }
        }
        g.into_iter().map(|(k, v)| (k, Summary::of(v))).collect::<BTreeMap<_, _>>()
    };
    let all: Vec<&Entry> = entries.iter().collect();
    let routes = group(&|e| Some(route_of(&e.line)), &all);
    let versions = group(&|e| Some(e.line.version.clone().unwrap_or_else(|| "(none)".into())), &all);

    let mut by_bucket: BTreeMap<i64, Vec<&Entry>> = BTreeMap::new();
    let width_ms = bucket_s * 1000;
    for e in entries {
        if let Some(t) = e.at_ms {
            by_bucket.entry(t.div_euclid(width_ms)).or_default().push(e);
        }
    }
    let buckets = match (by_bucket.keys().next().copied(), by_bucket.keys().last().copied()) {
        (Some(a), Some(b)) => (a..=b)
            .map(|k| {
                let members = by_bucket.get(&k).map(Vec::as_slice).unwrap_or(&[]);
                Bucket {
                    start: rfc(k * width_ms),
                    overall: Summary::of(members.iter().map(|e| &e.line)),
                    routes: group(&|e| Some(route_of(&e.line)), members),
                }
            })
            .collect(),
        _ => Vec::new(),
    };

    // Queries: search lines that carry one.
    let mut queries: HashMap<&str, QueryStats> = HashMap::new();
    for e in entries {
        if let Some(q) = e.line.query.as_deref().filter(|q| !q.is_empty()) {
            let c = queries.entry(q).or_default();
            c.count += 1;
            c.zero += u64::from(e.line.results == Some(0));
            if let Some(s) = e.line.top_score.filter(|s| s.is_finite()) {
                c.score_sum += s;
                c.scored += 1;
            }
        }
    }
    let mean = |c: &QueryStats| (c.scored > 0).then(|| c.score_sum / c.scored as f64);
    let mut q: Vec<(&str, QueryStats)> = queries.into_iter().collect();
    q.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
    let top_queries = q
        .iter()
        .take(top)
        .map(|(k, c)| QueryCount { query: k.to_string(), count: c.count, mean_top_score: mean(c) })
        .collect();
    let mut zero: Vec<&(&str, QueryStats)> = q.iter().filter(|x| x.1.zero > 0).collect();
    zero.sort_by(|a, b| b.1.zero.cmp(&a.1.zero).then(a.0.cmp(b.0)));
    let top_zero_result_queries = zero
        .iter()
        .take(top)
        .map(|(k, c)| QueryCount { query: k.to_string(), count: c.zero, mean_top_score: None })
        .collect();
    let mut low: Vec<(&str, u64, f64)> = q.iter().filter_map(|(k, c)| mean(c).map(|m| (*k, c.count, m))).collect();
    low.sort_by(|a, b| a.2.total_cmp(&b.2).then(a.0.cmp(b.0)));
    let low_score_queries = low
        .into_iter()
        .take(top)
        .map(|(k, n, m)| QueryCount { query: k.to_string(), count: n, mean_top_score: Some(m) })
        .collect();

    let overall = Summary::of(entries.iter().map(|e| &e.line));
    let checks = thresholds
        .iter()
        .map(|t| {
            let s = match &t.route {
                Some(r) => routes.get(r).cloned().unwrap_or_default(),
                None => overall.clone(),
            };
            let value = s.metric(&t.metric).unwrap_or(0.0);
            let crossed = match t.op.as_str() {
                ">" => value > t.value,
                ">=" => value >= t.value,
                "<" => value < t.value,
                _ => value <= t.value,
            };
            Check { threshold: t.text.clone(), value, crossed }
        })
        .collect();
    Dashboard {
        sources,
        lines,
        bucket_seconds: bucket_s,
        time_range: first.zip(last).map(|(a, b)| (rfc(a), rfc(b))),
        overall,
        routes,
        versions,
        buckets,
        top_queries,
        top_zero_result_queries,
        low_score_queries,
        checks,
    }
}

/// Several series over the same x positions as one inline SVG line chart (the EDA report's
/// approach: a `<figure>` with an SVG drawn from the data, no script).
pub(crate) fn lines_chart(title: &str, x_labels: &[String], series: &[(String, Vec<f64>)], unit: &str) -> String {
    const COLORS: [&str; 6] = ["#14213d", "#fca311", "#e63946", "#2a9d8f", "#6a4c93", "#8d99ae"];
    let (w, h, pad) = (640.0, 220.0, 36.0);
    let n = x_labels.len().max(1);
    let max = series.iter().flat_map(|s| s.1.iter().copied()).filter(|v| v.is_finite()).fold(0.0f64, f64::max);
    let max = if max > 0.0 { max } else { 1.0 };
    let x = |k: usize| pad + (w - 2.0 * pad) * if n > 1 { k as f64 / (n - 1) as f64 } else { 0.5 };
    let y = |v: f64| h - pad - (h - 2.0 * pad) * (v / max);
    let mut s = format!(
        "<figure><figcaption>{}</figcaption><svg viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\">",
        esc(title),
        esc(title)
    );
    let _ = write!(
        s,
        "<line x1=\"{pad}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#ccc\"/>",
        h - pad,
        w - pad,
        h - pad
    );
    for (c, (name, values)) in series.iter().enumerate() {
        let color = COLORS[c % COLORS.len()];
        let pts: Vec<String> = values.iter().enumerate().map(|(k, &v)| format!("{:.1},{:.1}", x(k), y(v))).collect();
        let _ = write!(
            s,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"><title>{}</title></polyline>",
            pts.join(" "),
            esc(name)
        );
        if values.len() == 1 {
            let _ = write!(s, "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{color}\"/>", x(0), y(values[0]));
        }
        let _ = write!(
            s,
            "<rect x=\"{:.1}\" y=\"6\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"15\" font-size=\"10\">{}</text>",
            pad + 110.0 * c as f64 + 60.0,
            pad + 110.0 * c as f64 + 74.0,
            esc(name)
        );
    }
    let every = (n / 6).max(1);
    for (k, label) in x_labels.iter().enumerate().filter(|(k, _)| k % every == 0) {
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"9\" text-anchor=\"middle\">{}</text>",
            x(k),
            h - pad + 14.0,
            esc(label)
        );
    }
    let _ = write!(s, "<text x=\"4\" y=\"{pad}\" font-size=\"10\">max {max:.2} {}</text></svg></figure>", esc(unit));
    s
}

fn short_time(rfc3339: &str) -> String {
    // "2026-11-30T08:12:05.000Z" → "08:12:05"; a date for day-wide buckets.
    rfc3339.get(11..19).filter(|t| *t != "00:00:00").or_else(|| rfc3339.get(..10)).unwrap_or(rfc3339).to_string()
}

/// The dashboard as one self-contained HTML page.
pub fn html(d: &Dashboard) -> String {
    let mut s = String::new();
    let _ = write!(s, "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>ShopAI monitor</title><style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2rem auto;color:#1d232a}}table{{border-collapse:collapse;margin:.5rem 0 1rem}}td,th{{padding:.2rem .6rem;border-bottom:1px solid #ddd;text-align:left}}td.n{{text-align:right;font-variant-numeric:tabular-nums}}figure{{margin:1rem 0}}figcaption{{font-weight:600}}svg{{width:100%;max-width:640px;background:#fafafa}}.grid{{display:grid;grid-template-columns:1fr 1fr;gap:1rem}}.alert{{background:#fde2e1;border-left:4px solid #e63946;padding:.5rem 1rem}}.okay{{background:#e3f4ea;border-left:4px solid #2a9d8f;padding:.5rem 1rem}}small{{color:#666}}</style><h1>ShopAI monitor</h1>");
    let range = d.time_range.as_ref().map(|(a, b)| format!("{a} … {b}")).unwrap_or_else(|| "no timestamps".into());
    let _ = write!(
        s,
        "<p>{} request lines from <code>{}</code>; {range}; buckets of {} s. Lines skipped: {} other, {} invalid.</p>",
        d.lines.requests,
        esc(&d.sources.join(", ")),
        d.bucket_seconds,
        d.lines.other,
        d.lines.invalid
    );
    if !d.checks.is_empty() {
        let crossed: Vec<&Check> = d.checks.iter().filter(|c| c.crossed).collect();
        let class = if crossed.is_empty() { "okay" } else { "alert" };
        let _ = write!(s, "<div class={class}><strong>Thresholds:</strong> ");
        for c in &d.checks {
            let _ = write!(
                s,
                "{} <code>{}</code> (value {:.4}); ",
                if c.crossed { "✗ crossed" } else { "✓" },
                esc(&c.threshold),
                c.value
            );
        }
        s.push_str("</div>");
    }
    let head = "<tr><th></th><th>requests</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th><th>5xx rate</th><th>4xx rate</th><th>degraded</th><th>zero results</th><th>embed cache hits</th><th>answer cache hits</th></tr>";
    let row = |name: &str, m: &Summary| {
        format!("<tr><th>{}</th><td class=n>{}</td><td class=n>{:.2}</td><td class=n>{:.2}</td><td class=n>{:.2}</td><td class=n>{:.2}</td><td class=n>{:.2}%</td><td class=n>{:.2}%</td><td class=n>{:.2}%</td><td class=n>{:.2}%</td><td class=n>{:.1}%</td><td class=n>{:.1}%</td></tr>",
            esc(name), m.requests, m.p50_ms, m.p95_ms, m.p99_ms, m.max_ms, m.error_rate * 100.0, m.client_error_rate * 100.0,
            m.degraded_rate * 100.0, m.zero_result_rate * 100.0, m.embed_cache_hit_rate * 100.0, m.answer_cache_hit_rate * 100.0)
    };
    let _ = write!(s, "<h2>Overall and per route</h2><table>{head}{}", row("all", &d.overall));
    for (r, m) in &d.routes {
        s.push_str(&row(r, m));
    }
    s.push_str("</table>");

    let labels: Vec<String> = d.buckets.iter().map(|b| short_time(&b.start)).collect();
    let req: Vec<(String, u64)> = d.buckets.iter().map(|b| (short_time(&b.start), b.overall.requests)).collect();
    s.push_str("<div class=grid><div>");
    s.push_str(&bars(&format!("Requests per {} s", d.bucket_seconds), &req));
    s.push_str("</div><div>");
    s.push_str(&lines_chart(
        "Error rates per bucket",
        &labels,
        &[
            ("5xx %".into(), d.buckets.iter().map(|b| b.overall.error_rate * 100.0).collect()),
            ("4xx %".into(), d.buckets.iter().map(|b| b.overall.client_error_rate * 100.0).collect()),
            ("degraded %".into(), d.buckets.iter().map(|b| b.overall.degraded_rate * 100.0).collect()),
        ],
        "%",
    ));
    s.push_str("</div></div><h2>Latency per route</h2><div class=grid>");
    for route in d.routes.keys() {
        let get = |b: &Bucket, f: fn(&Summary) -> f64| b.routes.get(route).map_or(0.0, f);
        s.push_str("<div>");
        s.push_str(&lines_chart(
            &format!("{route}: took_ms per bucket"),
            &labels,
            &[
                ("p50".into(), d.buckets.iter().map(|b| get(b, |m| m.p50_ms)).collect()),
                ("p95".into(), d.buckets.iter().map(|b| get(b, |m| m.p95_ms)).collect()),
                ("p99".into(), d.buckets.iter().map(|b| get(b, |m| m.p99_ms)).collect()),
            ],
            "ms",
        ));
        s.push_str("</div>");
    }
    s.push_str("</div>");
    let _ = write!(s, "<h2>Per bundle version</h2><table>{head}");
    for (v, m) in &d.versions {
        s.push_str(&row(v, m));
    }
    s.push_str("</table>");
    let why =
        |m: &BTreeMap<String, u64>| m.iter().map(|(k, v)| format!("{} × {v}", esc(k))).collect::<Vec<_>>().join("; ");
    let _ = write!(
        s,
        "<p>Statuses: {}. Error codes: {}. Degraded: {}.</p>",
        why(&d.overall.statuses),
        if d.overall.error_codes.is_empty() { "none".into() } else { why(&d.overall.error_codes) },
        if d.overall.degraded_reasons.is_empty() { "never".into() } else { why(&d.overall.degraded_reasons) }
    );
    let table = |title: &str, rows: &[QueryCount], with_score: bool| {
        let mut t = format!(
            "<div><h2>{}</h2><table><tr><th>query</th><th>count</th>{}</tr>",
            esc(title),
            if with_score { "<th>mean top score</th>" } else { "" }
        );
        for q in rows {
            let _ = write!(t, "<tr><td>{}</td><td class=n>{}</td>", esc(&q.query), q.count);
            if with_score {
                let _ = write!(t, "<td class=n>{}</td>", q.mean_top_score.map_or("–".into(), |m| format!("{m:.3}")));
            }
            t.push_str("</tr>");
        }
        if rows.is_empty() {
            t.push_str("<tr><td colspan=3><small>none</small></td></tr>");
        }
        t.push_str("</table></div>");
        t
    };
    s.push_str("<div class=grid>");
    s.push_str(&table("Top queries", &d.top_queries, true));
    s.push_str(&table("Top zero-result queries", &d.top_zero_result_queries, false));
    s.push_str(&table("Lowest-scoring queries", &d.low_score_queries, true));
    s.push_str("</div><p><small>Percentiles are nearest-rank over took_ms. 5xx/4xx/degraded rates are over all requests; zero-result rate over answers that carry a result count; cache hit rates over hit + miss. Schema: docs/LOG_SCHEMA.md.</small></p></html>\n");
    s
}

/// Read every source's text. Folders give their files (sorted); `s3://bucket/prefix` every
/// object under the prefix (sorted by key); `-` stdin. Gzip is detected.
pub fn read_sources(inputs: &[String], cfg: &Config) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let storage = if inputs.iter().any(|i| i.starts_with("s3://")) { Some(Storage::new(&cfg.s3)?) } else { None };
    let default = ["-".to_string()];
    for input in if inputs.is_empty() { &default[..] } else { inputs } {
        if input == "-" {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).context("reading stdin")?;
            out.push(("stdin".into(), text(buf)?));
        } else if let Some(rest) = input.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            anyhow::ensure!(!bucket.is_empty(), "{input:?} is not of the form s3://bucket/prefix");
            let st = storage.as_ref().context("S3 storage")?;
            for key in list_s3(st, bucket, prefix)? {
                let loc = Location::S3 { bucket: bucket.to_string(), key };
                out.push((loc.to_string(), text(st.read(&loc, false)?)?));
            }
        } else {
            let path = PathBuf::from(input);
            if path.is_dir() {
                let mut files: Vec<PathBuf> = std::fs::read_dir(&path)
                    .with_context(|| format!("listing {}", path.display()))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_file())
                    .collect();
                files.sort();
                for f in files {
                    let bytes = std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?;
                    out.push((f.display().to_string(), text(bytes)?));
                }
            } else {
                let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                out.push((input.clone(), text(bytes)?));
            }
        }
    }
    Ok(out)
}

fn text(bytes: Vec<u8>) -> Result<String> {
    // Invalid UTF-8 stays readable (replacement characters) and is then an `other` line.
    Ok(String::from_utf8_lossy(&crate::io::fs::maybe_gunzip(bytes)?).into_owned())
}

/// Keys under `prefix`, sorted.
fn list_s3(storage: &Storage, bucket: &str, prefix: &str) -> Result<Vec<String>> {
    use futures::TryStreamExt;
    use object_store::ObjectStore;
    let client = storage.client(bucket)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let prefix = object_store::path::Path::from(prefix.trim_end_matches('/'));
    let metas: Vec<object_store::ObjectMeta> = rt
        .block_on(client.list(Some(&prefix)).try_collect())
        .with_context(|| format!("listing s3://{bucket}/{prefix}"))?;
    let mut keys: Vec<String> = metas.into_iter().map(|m| m.location.to_string()).collect();
    keys.sort();
    Ok(keys)
}

/// Read, aggregate, write `monitor.html` and `monitor.json`, print a summary; fail when a
/// `--fail-on` threshold is crossed.
pub fn run(args: Args, cfg: &Config) -> Result<()> {
    let thresholds = parse_thresholds(args.fail_on.as_deref().unwrap_or(""))?;
    let bucket = if args.bucket == "auto" { None } else { Some(parse_duration(&args.bucket)?) };
    let sources = read_sources(&args.inputs, cfg)?;
    let mut counts = LineCounts::default();
    let mut entries = Vec::new();
    for (name, text) in &sources {
        parse_into(text, name, &mut counts, &mut entries);
    }
    let names = sources.into_iter().map(|s| s.0).collect();
    let d = aggregate(&entries, counts, names, bucket, args.top, &thresholds);
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let (html_path, json_path) = (args.out.join("monitor.html"), args.out.join("monitor.json"));
    crate::io::fs::write_atomic(&json_path, serde_json::to_string_pretty(&d)?.as_bytes())?;
    crate::io::fs::write_atomic(&html_path, html(&d).as_bytes())?;
    let o = &d.overall;
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "requests": o.requests, "error_rate": o.error_rate, "p50_ms": o.p50_ms, "p95_ms": o.p95_ms, "p99_ms": o.p99_ms,
            "degraded_rate": o.degraded_rate, "zero_result_rate": o.zero_result_rate, "lines": d.lines,
            "checks": d.checks, "html": html_path, "json": json_path,
        }))?
    );
    let crossed: Vec<String> = d
        .checks
        .iter()
        .filter(|c| c.crossed)
        .map(|c| format!("{} (measured {})", c.threshold, (c.value * 10_000.0).round() / 10_000.0))
        .collect();
    if !crossed.is_empty() {
        bail!("threshold crossed: {}", crossed.join("; "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(ts: &str, route: &str, status: u16, took: f64) -> String {
        serde_json::json!({"ts": ts, "source": "edge", "route": route, "method": "POST", "status": status, "took_ms": took,
            "version": "v1", "embed_ms": null, "embed_cache": null, "answer_cache": null, "degraded": null,
            "results": if status == 200 { serde_json::json!(3) } else { serde_json::Value::Null }, "top_score": null,
            "error": if status >= 400 { serde_json::json!("bad_json") } else { serde_json::Value::Null }})
        .to_string()
    }

    #[test]
    fn lines_captured_from_wasmtime_serve_are_read_past_its_prefix() {
        let line = r#"{"ts":"2026-11-30T12:00:00.000Z","source":"edge","route":"/search","method":"POST","status":200,"took_ms":1.5}"#;
        let (mut counts, mut out) = (LineCounts::default(), Vec::new());
        parse_into(&format!("stderr [3] :: {line}\n{line}\nstderr [1] :: not json\n"), "t", &mut counts, &mut out);
        assert_eq!((out.len(), counts.other, counts.invalid), (2, 1, 0));
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!((percentile(&v, 0.5), percentile(&v, 0.95), percentile(&v, 0.99)), (50.0, 95.0, 99.0));
        assert_eq!(percentile(&[7.0], 0.99), 7.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 0.5), 2.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn every_line_is_classified_and_figures_match_by_hand() {
        let mut text = String::from("Serving HTTP on http://127.0.0.1:1/\n\n{\"level\":\"info\",\"msg\":\"x\"}\n");
        for k in 0..10 {
            text += &line(&format!("2026-11-30T08:00:0{k}.000Z"), "/search", 200, 1.0 + k as f64);
            text.push('\n');
        }
        text += &line("2026-11-30T08:00:10.500Z", "/search", 503, 40.0);
        text.push('\n');
        text += &line("2026-11-30T08:01:00.000Z", "/recommendations", 400, 0.5);
        text.push('\n');
        text += "{\"status\": 200, \"route\": \"/search\"}\n"; // no took_ms
        text += &line("yesterday", "/search", 200, 1.0);
        text.push('\n');
        // Degraded, with query and cache fields; an old-style line (`path`, boolean `degraded`).
        text += r#"{"ts":"2026-11-30T08:00:05.000Z","source":"edge","route":"/search","method":"POST","status":200,"took_ms":2.0,"version":"v2","embed_ms":null,"embed_cache":"miss","answer_cache":null,"degraded":"lexical only: timeout","results":0,"top_score":null,"query":"red boots","error":null}"#;
        text.push('\n');
        text += r#"{"method":"GET","path":"/health","status":200,"took_ms":0.1,"degraded":false}"#;
        text.push('\n');
        let mut counts = LineCounts::default();
        let mut entries = Vec::new();
        parse_into(&text, "t.log", &mut counts, &mut entries);
        assert_eq!((counts.read, counts.requests, counts.other, counts.invalid, counts.undated), (18, 14, 2, 2, 1));
        assert_eq!(counts.invalid_examples.len(), 2);
        let th = parse_thresholds("p99_ms>30, error_rate>0.5,/search:p50_ms>=5").expect("thresholds");
        let d = aggregate(&entries, counts, vec!["t.log".into()], Some(10), 5, &th);
        let s = &d.routes["/search"];
        assert_eq!((s.requests, s.server_errors, s.degraded, s.zero_results, s.answered), (12, 1, 1, 1, 11));
        // took_ms of /search sorted: 1..10, 2, 40 → 12 values; nearest rank.
        assert_eq!((s.p50_ms, s.p95_ms, s.p99_ms), (5.0, 40.0, 40.0));
        assert_eq!(d.overall.requests, 14);
        assert!((d.overall.error_rate - 1.0 / 14.0).abs() < 1e-12);
        assert_eq!(d.routes["/health"].degraded, 0);
        assert_eq!(d.versions["v2"].requests, 1);
        assert_eq!(d.versions["(none)"].requests, 1);
        assert_eq!(d.top_zero_result_queries[0].query, "red boots");
        assert_eq!(d.overall.embed_cache_lookups, 1);
        // Buckets of 10 s from 08:00:00 to 08:01:00: 7 buckets, the empty ones present.
        assert_eq!(d.buckets.len(), 7);
        assert_eq!(d.buckets.iter().map(|b| b.overall.requests).sum::<u64>(), 13);
        assert_eq!(d.buckets[1].overall.server_errors, 1);
        assert_eq!(d.checks.iter().map(|c| c.crossed).collect::<Vec<_>>(), vec![true, false, true]);
        let page = html(&d);
        assert!(page.contains("<svg") && page.contains("red boots") && !page.contains("<script"));
    }

    #[test]
    fn thresholds_and_durations_are_validated() {
        assert!(parse_thresholds("p98_ms>1").is_err());
        assert!(parse_thresholds("p99_ms=1").is_err());
        assert!(parse_thresholds("p99_ms>abc").is_err());
        let t = parse_thresholds("/search:p99_ms<=2.5").expect("ok");
        assert_eq!((t[0].route.as_deref(), t[0].op.as_str(), t[0].value), (Some("/search"), "<=", 2.5));
        assert_eq!(parse_duration("5m").expect("5m"), 300);
        assert!(parse_duration("5w").is_err() && parse_duration("0s").is_err());
    }
}
