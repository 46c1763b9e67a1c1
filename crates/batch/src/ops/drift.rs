//! Drift: reference sketches recorded in the bundle at build time, and `shopai drift`, which
//! compares fresh interactions (and request logs) with them.
//!
//! The sketches ([`Reference`], stored as the manifest's optional `reference` field) are small
//! binned distributions, so drift can be measured wherever the bundle is:
//! - **item popularity**: share of interactions falling on the bundle's top 1%, 1–5%, 5–20%,
//!   20–50%, 50–100% of items by stored popularity, or on products the bundle does not know;
//! - **categories**: share of interactions per category;
//! - **ratings**: share per (rounded) rating;
//! - **interactions per user** within the newest W interactions, for W = 64, 128, … (fresh data
//!   is compared at the largest W it has, so a short window is not mistaken for lighter users);
//! - **answer scores**: deciles of the top-10 recommendation scores the bundle gives users whose
//!   history is their newest five interactions;
//! - **queries** (when request logs were given to `shopai refresh`): result counts, top scores,
//!   query length and the share of query terms outside the bundle's vocabulary.
//!
//! Each signal's population stability index (PSI, with empty bins smoothed to 10⁻⁴) and
//! Jensen–Shannon divergence (base 2) are reported; PSI above the threshold (0.25, the usual
//! "significant shift") flags drift. The protocol's NDCG@10 of the bundle on the fresh
//! interactions of users it knows (history = the bundle's stored history) is compared with the
//! test value recorded at build time; a relative drop beyond `--ndcg-drop` flags drift too.

use crate::config::Config;
use crate::data::dataset::{Dataset, Row};
use crate::evaluation::protocol::{evaluate, EvalSet};
use crate::io::storage::{Location, Storage};
use crate::ops::monitor::{self, Entry};
use crate::report::esc;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use shopai_core::recommend::{fuse, latest_first, recommend, source_scores, History, RecScratch};
use shopai_core::search::Filter;
use shopai_core::{Bundle, BundleView};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write;
use std::path::PathBuf;

/// `shopai drift` arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The live bundle.
    #[arg(long)]
    pub bundle: PathBuf,
    /// Fresh interactions (path or s3://bucket/key; any format `ingest` reads).
    #[arg(long)]
    pub interactions: String,
    /// Request logs (as `shopai monitor` reads them) for the query-side signals.
    #[arg(long)]
    pub logs: Vec<String>,
    /// Folder for `drift.html` and `drift.json`.
    #[arg(long, default_value = "out/drift")]
    pub out: PathBuf,
    /// PSI above which a signal counts as drifted.
    #[arg(long, default_value_t = 0.25)]
    pub psi: f64,
    /// Relative NDCG@10 drop (vs the recorded test value) that counts as drift.
    #[arg(long, default_value_t = 0.25)]
    pub ndcg_drop: f64,
    /// Fewest fresh observations for a signal to be judged.
    #[arg(long, default_value_t = 50)]
    pub min_count: u64,
}

/// A binned distribution: `(label, count)` in display order.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Sketch {
    /// Bins.
    pub bins: Vec<(String, f64)>,
}

impl Sketch {
    fn from_counts(labels: &[String], counts: &[f64]) -> Self {
        Self { bins: labels.iter().cloned().zip(counts.iter().copied()).collect() }
    }
    fn total(&self) -> f64 {
        self.bins.iter().map(|b| b.1).sum()
    }
}

/// Quantile bins: interior edges and the counts that fall between them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Quantiles {
    /// Ascending interior edges (a value `v` falls in the first bin whose edge is ≥ v).
    pub edges: Vec<f64>,
    /// Counts per bin (`edges.len() + 1` bins).
    pub sketch: Sketch,
}

impl Quantiles {
    /// Deciles of `values`.
    fn fit(values: &[f64]) -> Option<Self> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.len() < 20 {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let mut edges: Vec<f64> = (1..10).map(|k| monitor::percentile(&v, k as f64 / 10.0)).collect();
        edges.dedup();
        let mut q = Self { edges, sketch: Sketch::default() };
        q.sketch = q.bin(&v);
        Some(q)
    }

    /// Bin `values` with these edges.
    fn bin(&self, values: &[f64]) -> Sketch {
        let mut counts = vec![0f64; self.edges.len() + 1];
        for &x in values.iter().filter(|x| x.is_finite()) {
            counts[self.edges.partition_point(|&e| e < x)] += 1.0;
        }
        let e = &self.edges;
        let labels: Vec<String> = (0..counts.len())
            .map(|k| match (k.checked_sub(1).map(|j| e[j]), e.get(k)) {
                (None, Some(hi)) => format!("≤{hi:.3}"),
                (Some(lo), None) => format!(">{lo:.3}"),
                (Some(lo), Some(hi)) => format!("{lo:.3}–{hi:.3}"),
                (None, None) => "all".into(),
            })
            .collect();
        Sketch::from_counts(&labels, &counts)
    }
}

/// Query-side reference from request logs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct QueryReference {
    /// Search lines it was computed from.
    pub requests: u64,
    /// Result counts: 0, 1–4, 5–9, 10+.
    pub results: Sketch,
    /// Deciles of the top score.
    pub top_score: Option<Quantiles>,
    /// Terms per query: 1, 2, 3, 4, 5+ (plain-text queries only).
    pub terms: Sketch,
    /// Share of a query's terms outside the bundle's vocabulary: none, some, most (> half).
    pub unknown_terms: Sketch,
}

/// The reference sketches a bundle carries.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Reference {
    /// Sketch format.
    pub format: u32,
    /// Interactions the sketches were computed from.
    pub interactions: u64,
    /// Popularity-rank bands.
    pub item_popularity: Sketch,
    /// Category mix.
    pub categories: Sketch,
    /// Rating histogram.
    pub ratings: Sketch,
    /// Interactions per user within the newest W interactions, per W.
    pub per_user: Vec<(u64, Sketch)>,
    /// Top-10 answer scores.
    pub answer_scores: Option<Quantiles>,
    /// Query side, when logs were given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queries: Option<QueryReference>,
}

/// One observed interaction: user (dense, local), bundle item (None: not in the bundle), rating, time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Obs {
    /// User (dense index local to the data set).
    pub user: u32,
    /// Bundle item index.
    pub item: Option<u32>,
    /// Rating.
    pub rating: f32,
    /// Unix seconds.
    pub ts: i64,
}

const BANDS: [(&str, f64); 5] = [("top 1%", 0.01), ("1–5%", 0.05), ("5–20%", 0.20), ("20–50%", 0.50), ("50–100%", 1.0)];
const UNKNOWN_ITEM: &str = "not in bundle";
const USER_BINS: [&str; 6] = ["1", "2–3", "4–7", "8–15", "16–31", "32+"];
const SESSION: usize = 5;
const SCORE_USERS: usize = 300;

/// Popularity band of every bundle item (rank by stored popularity, ties by index).
fn item_bands(view: &BundleView<'_>) -> Vec<u8> {
    let n = view.n_items();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| view.popularity[b].total_cmp(&view.popularity[a]).then(a.cmp(&b)));
    let mut band = vec![0u8; n];
    for (rank, &i) in order.iter().enumerate() {
        let frac = (rank + 1) as f64 / n.max(1) as f64;
        band[i] = BANDS.iter().position(|b| frac <= b.1 + 1e-12).unwrap_or(BANDS.len() - 1) as u8;
    }
    band
}

fn popularity_sketch(view: &BundleView<'_>, obs: &[Obs]) -> Sketch {
    let bands = item_bands(view);
    let mut counts = vec![0f64; BANDS.len() + 1];
    for o in obs {
        counts[o.item.map_or(BANDS.len(), |i| bands[i as usize] as usize)] += 1.0;
    }
    let labels: Vec<String> = BANDS.iter().map(|b| b.0.to_string()).chain([UNKNOWN_ITEM.to_string()]).collect();
    Sketch::from_counts(&labels, &counts)
}

fn category_sketch(view: &BundleView<'_>, obs: &[Obs]) -> Sketch {
    let mut counts: BTreeMap<String, f64> = BTreeMap::new();
    for o in obs {
        let cats: Vec<&str> = o.item.map(|i| view.categories_of(i as usize).collect()).unwrap_or_default();
        if cats.is_empty() {
            *counts.entry(if o.item.is_some() { "(none)" } else { UNKNOWN_ITEM }.into()).or_default() += 1.0;
        }
        for c in &cats {
            *counts.entry(c.to_string()).or_default() += 1.0 / cats.len() as f64;
        }
    }
    Sketch { bins: counts.into_iter().collect() }
}

fn rating_sketch(obs: &[Obs]) -> Sketch {
    let mut counts: BTreeMap<i64, f64> = BTreeMap::new();
    for o in obs {
        *counts.entry(o.rating.round() as i64).or_default() += 1.0;
    }
    Sketch { bins: counts.into_iter().map(|(k, v)| (k.to_string(), v)).collect() }
}

fn user_bin(n: u64) -> usize {
    match n {
        0 | 1 => 0,
        2..=3 => 1,
        4..=7 => 2,
        8..=15 => 3,
        16..=31 => 4,
        _ => 5,
    }
}

/// Interactions per user among the newest `w` of `obs` (which is in time order).
fn per_user_sketch(obs: &[Obs], w: usize) -> Sketch {
    let mut per: HashMap<u32, u64> = HashMap::new();
    for o in &obs[obs.len().saturating_sub(w)..] {
        *per.entry(o.user).or_default() += 1;
    }
    let mut counts = vec![0f64; USER_BINS.len()];
    for n in per.into_values() {
        counts[user_bin(n)] += 1.0;
    }
    Sketch::from_counts(&USER_BINS.map(String::from), &counts)
}

fn windows(n: usize) -> Vec<u64> {
    (6..40).map(|k| 1u64 << k).take_while(|&w| w as usize <= n).collect()
}

/// Top-10 recommendation scores for up to [`SCORE_USERS`] users (evenly spaced over those with
/// at least two known items), each with their newest [`SESSION`] items as the history.
fn answer_scores(view: &BundleView<'_>, obs: &[Obs]) -> Result<Vec<f64>> {
    let mut sessions: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for o in obs {
        if let Some(i) = o.item {
            sessions.entry(o.user).or_default().push(i);
        }
    }
    let users: Vec<Vec<u32>> = sessions.into_values().filter(|s| s.len() >= 2).collect();
    let step = users.len().div_ceil(SCORE_USERS).max(1);
    let mut scratch = RecScratch::default();
    let mut out = Vec::new();
    for s in users.iter().step_by(step) {
        let hist = &s[s.len().saturating_sub(SESSION)..];
        let filter = Filter::default().with_exclude(hist.iter().copied());
        let (recs, _) = recommend(view, hist, 10, None, &filter, &mut scratch)?;
        out.extend(recs.iter().map(|r| r.score as f64));
    }
    Ok(out)
}

/// Observations of a dataset's rows (bundle item index = dataset item index), in time order.
pub fn observations(rows: &[Row]) -> Vec<Obs> {
    let mut obs: Vec<Obs> = rows.iter().map(|&(u, i, r, t)| Obs { user: u, item: Some(i), rating: r, ts: t }).collect();
    obs.sort_by_key(|o| o.ts);
    obs
}

/// The reference sketches of a built bundle and the interactions it was trained on.
pub fn reference(view: &BundleView<'_>, obs: &[Obs]) -> Result<Reference> {
    Ok(Reference {
        format: 1,
        interactions: obs.len() as u64,
        item_popularity: popularity_sketch(view, obs),
        categories: category_sketch(view, obs),
        ratings: rating_sketch(obs),
        per_user: windows(obs.len()).into_iter().map(|w| (w, per_user_sketch(obs, w as usize))).collect(),
        answer_scores: Quantiles::fit(&answer_scores(view, obs)?),
        queries: None,
    })
}

/// Record reference sketches (and, when given, a query-side reference) in a built bundle.
pub fn attach_reference(bytes: Vec<u8>, data: &Dataset, queries: Option<&[Entry]>) -> Result<Vec<u8>> {
    let bundle = Bundle::load(&bytes)?;
    let view = bundle.view();
    let mut r = reference(&view, &observations(&data.interactions))?;
    r.queries = queries.map(|q| query_reference(&view, q));
    let mut manifest = view.manifest.clone();
    manifest.reference = Some(serde_json::to_value(&r)?);
    Ok(shopai_core::bundle::replace_manifest(&bytes, &manifest)?)
}

fn query_values(view: &BundleView<'_>, lines: &[Entry]) -> (Vec<f64>, QueryReference) {
    let search: Vec<&Entry> =
        lines.iter().filter(|e| e.line.route == "/search" && (200..300).contains(&e.line.status)).collect();
    let mut results = [0f64; 4];
    let mut terms = [0f64; 5];
    let mut unknown = [0f64; 3];
    let mut scores = Vec::new();
    for e in &search {
        if let Some(n) = e.line.results {
            results[match n {
                0 => 0,
                1..=4 => 1,
                5..=9 => 2,
                _ => 3,
            }] += 1.0;
        }
        if let Some(s) = e.line.top_score {
            scores.push(s);
        }
        if let Some(q) = e.line.query.as_deref().filter(|q| !q.starts_with("sha256:")) {
            let t: Vec<String> = shopai_core::lexical::terms(q).collect();
            if t.is_empty() {
                continue;
            }
            terms[t.len().min(5) - 1] += 1.0;
            if let Some(lex) = &view.lexical {
                let missing = t.iter().filter(|x| lex.term_index(x).is_none()).count();
                unknown[if missing == 0 {
                    0
                } else if missing * 2 <= t.len() {
                    1
                } else {
                    2
                }] += 1.0;
            }
        }
    }
    let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let q = QueryReference {
        requests: search.len() as u64,
        results: Sketch::from_counts(&l(&["0", "1–4", "5–9", "10+"]), &results),
        top_score: None,
        terms: Sketch::from_counts(&l(&["1", "2", "3", "4", "5+"]), &terms),
        unknown_terms: Sketch::from_counts(&l(&["none", "some", "most"]), &unknown),
    };
    (scores, q)
}

/// Query-side reference from request log lines.
pub fn query_reference(view: &BundleView<'_>, lines: &[Entry]) -> QueryReference {
    let (scores, mut q) = query_values(view, lines);
    q.top_score = Quantiles::fit(&scores);
    q
}

const EPS: f64 = 1e-4;

/// Population stability index and Jensen–Shannon divergence (base 2) of `current` against
/// `reference`, over the union of their labels.
pub fn divergence(reference: &Sketch, current: &Sketch) -> (f64, f64) {
    let mut labels: Vec<&str> = reference.bins.iter().map(|b| b.0.as_str()).collect();
    for b in &current.bins {
        if !labels.contains(&b.0.as_str()) {
            labels.push(&b.0);
        }
    }
    let share = |s: &Sketch, l: &str| {
        let t = s.total();
        if t <= 0.0 {
            return 0.0;
        }
        s.bins.iter().find(|b| b.0 == l).map_or(0.0, |b| b.1 / t)
    };
    let (mut psi, mut js) = (0.0, 0.0);
    for l in labels {
        let (p, q) = (share(reference, l), share(current, l));
        let (ps, qs) = (p.max(EPS), q.max(EPS));
        psi += (qs - ps) * (qs / ps).ln();
        let m = (p + q) / 2.0;
        if p > 0.0 {
            js += 0.5 * p * (p / m).log2();
        }
        if q > 0.0 {
            js += 0.5 * q * (q / m).log2();
        }
    }
    (psi, js)
}

/// One compared signal.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Signal {
    /// Name.
    pub name: String,
    /// Population stability index.
    pub psi: f64,
    /// Jensen–Shannon divergence (base 2, 0…1).
    pub js: f64,
    /// Observations behind the reference.
    pub reference_n: f64,
    /// Fresh observations.
    pub current_n: f64,
    /// `drifted`, `stable`, or `too few observations`.
    pub verdict: String,
    /// Reference and current sketches.
    pub reference: Sketch,
    /// Current sketch.
    pub current: Sketch,
}

/// The NDCG@10 comparison.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NdcgCheck {
    /// Test NDCG@10 recorded in the manifest (fusion), if any.
    pub recorded: Option<f64>,
    /// NDCG@10 on the fresh interactions.
    pub live: f64,
    /// Users evaluated (known to the bundle, with a new item in the fresh data).
    pub users: usize,
    /// `drifted`, `stable`, `no recorded value` or `too few users`.
    pub verdict: String,
}

/// The drift report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DriftReport {
    /// Bundle version.
    pub bundle_version: String,
    /// Whether the bundle carries reference sketches.
    pub has_reference: bool,
    /// Fresh interactions read (rows kept by the reader).
    pub interactions: u64,
    /// Fresh interactions on products the bundle does not know.
    pub unknown_items: u64,
    /// PSI threshold.
    pub psi_threshold: f64,
    /// Relative NDCG drop threshold.
    pub ndcg_drop_threshold: f64,
    /// Per-signal comparisons.
    pub signals: Vec<Signal>,
    /// Query-side figures from the logs when the bundle has no query reference.
    pub queries_without_reference: Option<QueryReference>,
    /// NDCG@10 check.
    pub ndcg: NdcgCheck,
    /// Names of the signals that crossed their thresholds.
    pub drifted: Vec<String>,
}

/// NDCG@10 of the bundle on fresh interactions: users it knows, H = their stored history,
/// relevant = fresh items not in H; every item scored through the served fusion.
pub fn live_ndcg(view: &BundleView<'_>, users: &[String], obs: &[Obs]) -> (f64, usize) {
    let mut rel: BTreeMap<u32, HashSet<u32>> = BTreeMap::new();
    for o in obs {
        if let (Some(i), Some(u)) = (o.item, view.user_index(&users[o.user as usize])) {
            rel.entry(u).or_default().insert(i);
        }
    }
    let mut set = EvalSet {
        users: Vec::new(),
        history: Vec::new(),
        latest: Vec::new(),
        relevant: Vec::new(),
        n_items: view.n_items(),
    };
    for (u, mut items) in rel {
        let stored = view.user_history.row(u as usize);
        let mut h = stored.to_vec();
        h.sort_unstable();
        h.dedup();
        items.retain(|i| h.binary_search(i).is_err());
        if h.is_empty() || items.is_empty() {
            continue;
        }
        set.users.push(u);
        set.history.push(h);
        set.latest.push(latest_first(stored, view.n_items()));
        set.relevant.push(items);
    }
    let mut scratch = RecScratch::default();
    let report = evaluate(&set, &[10], |pos, hist, out| {
        let w = view.manifest.fusion_for(hist.len());
        let history = History::from_latest_first(&set.latest[pos], view.manifest.history_half_life);
        if source_scores(view, &history, &mut scratch).is_err() {
            out.fill(0.0);
            return;
        }
        for (k, o) in out.iter_mut().enumerate() {
            *o = fuse(&w, &scratch.parts(k));
        }
    });
    (report.ndcg(10), report.users)
}

/// Compare fresh interactions (and log lines) with the bundle's reference.
pub fn compare(
    view: &BundleView<'_>,
    users: &[String],
    obs: &[Obs],
    logs: Option<&[Entry]>,
    args: &Args,
) -> Result<DriftReport> {
    let reference: Option<Reference> = view
        .manifest
        .reference
        .as_ref()
        .map(|v| serde_json::from_value(v.clone()))
        .transpose()
        .context("the bundle's reference sketches do not parse")?;
    let mut signals = Vec::new();
    let mut judge = |name: &str, r: &Sketch, c: Sketch| {
        let (psi, js) = divergence(r, &c);
        let verdict = if c.total() < args.min_count as f64 {
            "too few observations"
        } else if psi > args.psi {
            "drifted"
        } else {
            "stable"
        };
        signals.push(Signal {
            name: name.into(),
            psi,
            js,
            reference_n: r.total(),
            current_n: c.total(),
            verdict: verdict.into(),
            reference: r.clone(),
            current: c,
        });
    };
    let mut queries_without_reference = None;
    if let Some(r) = &reference {
        judge("item popularity", &r.item_popularity, popularity_sketch(view, obs));
        judge("category mix", &r.categories, category_sketch(view, obs));
        judge("ratings", &r.ratings, rating_sketch(obs));
        if let Some((w, s)) = r.per_user.iter().rev().find(|(w, _)| *w as usize <= obs.len()) {
            judge(&format!("interactions per user (newest {w})"), s, per_user_sketch(obs, *w as usize));
        }
        if let Some(q) = &r.answer_scores {
            judge("answer scores (top 10)", &q.sketch, q.bin(&answer_scores(view, obs)?));
        }
    }
    if let Some(lines) = logs {
        let (scores, current) = query_values(view, lines);
        match reference.as_ref().and_then(|r| r.queries.as_ref()) {
            Some(q) => {
                judge("query result counts", &q.results, current.results);
                judge("query length", &q.terms, current.terms);
                judge("query terms outside the vocabulary", &q.unknown_terms, current.unknown_terms);
                if let Some(t) = &q.top_score {
                    judge("query top score", &t.sketch, t.bin(&scores));
                }
            }
            None => queries_without_reference = Some(QueryReference { top_score: Quantiles::fit(&scores), ..current }),
        }
    }
    let (live, n) = live_ndcg(view, users, obs);
    let recorded = view.manifest.eval.as_ref().and_then(|e| e["metrics"]["fusion"]["ndcg"].as_f64());
    let verdict = match recorded {
        _ if n < 10 => "too few users",
        None => "no recorded value",
        Some(r) if live < r * (1.0 - args.ndcg_drop) => "drifted",
        Some(_) => "stable",
    };
    let ndcg = NdcgCheck { recorded, live, users: n, verdict: verdict.into() };
    let mut drifted: Vec<String> = signals.iter().filter(|s| s.verdict == "drifted").map(|s| s.name.clone()).collect();
    if ndcg.verdict == "drifted" {
        drifted.push("NDCG@10".into());
    }
    Ok(DriftReport {
        bundle_version: view.manifest.version.clone(),
        has_reference: reference.is_some(),
        interactions: obs.len() as u64,
        unknown_items: obs.iter().filter(|o| o.item.is_none()).count() as u64,
        psi_threshold: args.psi,
        ndcg_drop_threshold: args.ndcg_drop,
        signals,
        queries_without_reference,
        ndcg,
        drifted,
    })
}

/// Reference and current shares side by side as an inline SVG bar chart (the EDA report's
/// approach).
fn paired_bars(title: &str, r: &Sketch, c: &Sketch) -> String {
    let (w, h, pad) = (640.0, 200.0, 36.0);
    let mut labels: Vec<&str> = r.bins.iter().map(|b| b.0.as_str()).collect();
    for b in &c.bins {
        if !labels.contains(&b.0.as_str()) {
            labels.push(&b.0);
        }
    }
    let share = |s: &Sketch, l: &str| {
        let t = s.total().max(1e-12);
        s.bins.iter().find(|b| b.0 == l).map_or(0.0, |b| b.1 / t)
    };
    let max = labels.iter().flat_map(|l| [share(r, l), share(c, l)]).fold(1e-9, f64::max);
    let bw = (w - 2.0 * pad) / labels.len().max(1) as f64;
    let mut s = format!(
        "<figure><figcaption>{}</figcaption><svg viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\">",
        esc(title),
        esc(title)
    );
    for (k, l) in labels.iter().enumerate() {
        for (j, (v, color)) in [(share(r, l), "#14213d"), (share(c, l), "#fca311")].into_iter().enumerate() {
            let bh = (h - 2.0 * pad) * v / max;
            let _ = write!(
                s,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{color}\"><title>{}: {:.1}%</title></rect>",
                pad + k as f64 * bw + j as f64 * bw * 0.42,
                h - pad - bh,
                (bw * 0.4).max(0.5),
                esc(l),
                v * 100.0
            );
        }
        if labels.len() <= 12 || k % (labels.len() / 12).max(1) == 0 {
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"9\" text-anchor=\"middle\">{}</text>",
                pad + (k as f64 + 0.42) * bw,
                h - pad + 13.0,
                esc(l)
            );
        }
    }
    let _ = write!(s, "<rect x=\"{pad}\" y=\"6\" width=\"10\" height=\"10\" fill=\"#14213d\"/><text x=\"{:.1}\" y=\"15\" font-size=\"10\">reference (build)</text><rect x=\"{:.1}\" y=\"6\" width=\"10\" height=\"10\" fill=\"#fca311\"/><text x=\"{:.1}\" y=\"15\" font-size=\"10\">current</text><text x=\"4\" y=\"{:.1}\" font-size=\"10\">max {:.1}%</text></svg></figure>",
        pad + 14.0, pad + 130.0, pad + 144.0, h - 4.0, max * 100.0);
    s
}

/// The report as one self-contained HTML page.
pub fn html(d: &DriftReport, source: &str) -> String {
    let mut s = String::new();
    let _ = write!(s, "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>ShopAI drift — {v}</title><style>body{{font-family:system-ui,sans-serif;max-width:1000px;margin:2rem auto;color:#1d232a}}table{{border-collapse:collapse;margin:.5rem 0 1rem}}td,th{{padding:.2rem .6rem;border-bottom:1px solid #ddd;text-align:left}}td.n{{text-align:right;font-variant-numeric:tabular-nums}}figure{{margin:1rem 0}}figcaption{{font-weight:600}}svg{{width:100%;max-width:640px;background:#fafafa}}.alert{{background:#fde2e1;border-left:4px solid #e63946;padding:.5rem 1rem}}.okay{{background:#e3f4ea;border-left:4px solid #2a9d8f;padding:.5rem 1rem}}.drifted{{color:#e63946;font-weight:600}}</style><h1>Drift report</h1><p>Bundle <code>{v}</code> against <code>{src}</code>: {n} interactions ({u} on products the bundle does not know).</p>",
        v = esc(&d.bundle_version), src = esc(source), n = d.interactions, u = d.unknown_items);
    if d.drifted.is_empty() {
        s.push_str("<div class=okay>No signal crossed its threshold.</div>");
    } else {
        let _ = write!(s, "<div class=alert><strong>Drift:</strong> {}</div>", esc(&d.drifted.join(", ")));
    }
    if !d.has_reference {
        s.push_str("<p>This bundle carries no reference sketches (built before they were recorded): rebuild it to compare distributions.</p>");
    }
    let n = &d.ndcg;
    let _ = write!(s, "<h2>Quality</h2><table><tr><th>NDCG@10 recorded at build (test)</th><td class=n>{}</td></tr><tr><th>NDCG@10 on the fresh interactions</th><td class=n>{:.4}</td></tr><tr><th>users evaluated</th><td class=n>{}</td></tr><tr><th>verdict (drop threshold {:.0}%)</th><td class=\"{}\">{}</td></tr></table>",
        n.recorded.map_or("–".into(), |r| format!("{r:.4}")), n.live, n.users, d.ndcg_drop_threshold * 100.0,
        if n.verdict == "drifted" { "drifted" } else { "" }, esc(&n.verdict));
    let _ = write!(
        s,
        "<h2>Distributions</h2><table><tr><th>signal</th><th>PSI</th><th>Jensen–Shannon</th><th>reference n</th><th>current n</th><th>verdict (PSI &gt; {})</th></tr>",
        d.psi_threshold
    );
    for g in &d.signals {
        let _ = write!(s, "<tr><td>{}</td><td class=n>{:.4}</td><td class=n>{:.4}</td><td class=n>{:.0}</td><td class=n>{:.0}</td><td class=\"{}\">{}</td></tr>",
            esc(&g.name), g.psi, g.js, g.reference_n, g.current_n, if g.verdict == "drifted" { "drifted" } else { "" }, esc(&g.verdict));
    }
    s.push_str("</table>");
    for g in &d.signals {
        s.push_str(&paired_bars(&format!("{} — PSI {:.3}", g.name, g.psi), &g.reference, &g.current));
    }
    if let Some(q) = &d.queries_without_reference {
        let _ = write!(s, "<h2>Queries (no reference in this bundle)</h2><p>{} search requests in the logs; record a query reference with <code>shopai refresh --logs</code>.</p>", q.requests);
        let empty = Sketch::default();
        s.push_str(&paired_bars("Result counts", &empty, &q.results));
        s.push_str(&paired_bars("Terms per query", &empty, &q.terms));
    }
    s.push_str("</html>\n");
    s
}

/// Fresh interactions as observations against the bundle, with their user id table.
pub fn read_fresh(cfg: &Config, loc: &str, view: &BundleView<'_>) -> Result<(Vec<String>, Vec<Obs>)> {
    let storage = Storage::new(&cfg.s3)?;
    let bytes = crate::io::fs::maybe_gunzip(storage.read(&Location::parse(loc)?, false)?)?;
    let read =
        crate::data::ratings::read_ratings(&bytes, &crate::data::ratings::RatingsOptions::from_config(&cfg.ingest)?)
            .with_context(|| format!("parsing {loc}"))?;
    if !read.quarantined.is_empty() {
        crate::io::log::warn(
            "rows set aside",
            serde_json::json!({"source": loc, "quarantined": read.quarantined.len()}),
        );
    }
    let t = &read.table;
    let users: Vec<String> = t.users.names().iter().map(|s| s.to_string()).collect();
    let items: Vec<Option<u32>> = t.items.names().iter().map(|id| view.item_index(id)).collect();
    let mut order: Vec<usize> = (0..t.len()).collect();
    order.sort_by_key(|&k| (t.timestamp[k], t.line[k]));
    let obs = order
        .into_iter()
        .map(|k| Obs { user: t.user[k], item: items[t.item[k] as usize], rating: t.rating[k], ts: t.timestamp[k] })
        .collect();
    Ok((users, obs))
}

/// `shopai drift`: write `drift.html` and `drift.json`, print the summary; fail when drifted.
pub fn run(args: Args, cfg: &Config) -> Result<()> {
    let bytes = std::fs::read(&args.bundle).with_context(|| format!("reading {}", args.bundle.display()))?;
    let bundle = Bundle::load(&bytes).with_context(|| format!("loading {}", args.bundle.display()))?;
    let view = bundle.view();
    let (users, obs) = read_fresh(cfg, &args.interactions, &view)?;
    let logs = if args.logs.is_empty() {
        None
    } else {
        let mut counts = monitor::LineCounts::default();
        let mut entries = Vec::new();
        for (name, text) in monitor::read_sources(&args.logs, cfg)? {
            monitor::parse_into(&text, &name, &mut counts, &mut entries);
        }
        Some(entries)
    };
    let report = compare(&view, &users, &obs, logs.as_deref(), &args)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let (html_path, json_path) = (args.out.join("drift.html"), args.out.join("drift.json"));
    crate::io::fs::write_atomic(&json_path, serde_json::to_string_pretty(&report)?.as_bytes())?;
    crate::io::fs::write_atomic(&html_path, html(&report, &args.interactions).as_bytes())?;
    let signals: BTreeMap<&str, serde_json::Value> = report
        .signals
        .iter()
        .map(|s| (s.name.as_str(), serde_json::json!({"psi": s.psi, "js": s.js, "verdict": s.verdict})))
        .collect();
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "bundle": report.bundle_version, "interactions": report.interactions, "signals": signals,
            "ndcg": report.ndcg, "drifted": report.drifted, "html": html_path, "json": json_path,
        }))?
    );
    if !report.has_reference {
        crate::io::log::warn("the bundle has no reference sketches; only NDCG@10 was checked", serde_json::json!({}));
    }
    anyhow::ensure!(report.drifted.is_empty(), "drift: {}", report.drifted.join(", "));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sketch(v: &[(&str, f64)]) -> Sketch {
        Sketch { bins: v.iter().map(|(l, c)| (l.to_string(), *c)).collect() }
    }

    #[test]
    fn divergences_match_hand_computed_values() {
        let a = sketch(&[("x", 50.0), ("y", 50.0)]);
        assert_eq!(divergence(&a, &a), (0.0, 0.0));
        // p = (0.5, 0.5), q = (0.9, 0.1): PSI = 0.4 ln 1.8 + (−0.4) ln 0.2
        let b = sketch(&[("x", 90.0), ("y", 10.0)]);
        let (psi, js) = divergence(&a, &b);
        assert!((psi - (0.4 * 1.8f64.ln() - 0.4 * 0.2f64.ln())).abs() < 1e-12);
        let m = [0.7f64, 0.3];
        let want = 0.5 * (0.5 * (0.5 / m[0]).log2() + 0.5 * (0.5 / m[1]).log2())
            + 0.5 * (0.9 * (0.9 / m[0]).log2() + 0.1 * (0.1 / m[1]).log2());
        assert!((js - want).abs() < 1e-12);
        // Disjoint supports: JS is exactly 1 bit; a new label counts.
        let c = sketch(&[("z", 5.0)]);
        assert!((divergence(&a, &c).1 - 1.0).abs() < 1e-12);
        assert!(divergence(&a, &c).0 > 5.0);
    }

    #[test]
    fn quantile_bins_split_the_reference_evenly() {
        let v: Vec<f64> = (0..1000).map(|k| k as f64 / 10.0).collect();
        let q = Quantiles::fit(&v).expect("enough values");
        assert_eq!(q.edges.len(), 9);
        assert!(q.sketch.bins.iter().all(|b| b.1 == 100.0), "{:?}", q.sketch);
        assert!(divergence(&q.sketch, &q.bin(&v)).0.abs() < 1e-12);
        let shifted: Vec<f64> = v.iter().map(|x| x + 30.0).collect();
        assert!(divergence(&q.sketch, &q.bin(&shifted)).0 > 0.25);
        assert!(Quantiles::fit(&v[..5]).is_none());
    }

    #[test]
    fn per_user_windows_and_bins() {
        let obs: Vec<Obs> =
            (0..200).map(|k| Obs { user: (k % 10) as u32, item: Some(0), rating: 4.0, ts: k as i64 }).collect();
        assert_eq!(windows(obs.len()), vec![64, 128]);
        // Newest 64 rows over 10 users: 6 or 7 each → all in the 4–7 bin.
        let s = per_user_sketch(&obs, 64);
        assert_eq!(s.bins[2], ("4–7".to_string(), 10.0));
        assert_eq!(s.total(), 10.0);
    }
}
