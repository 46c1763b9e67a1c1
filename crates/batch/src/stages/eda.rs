//! `shopai eda`: the figures a data engineer checks before trusting a log — rating distribution,
//! user and item activity and their long tails, sparsity, top products and users, activity over
//! time — as JSON and as one self-contained HTML page with inline SVG charts.

use crate::data::catalog::Product;
use crate::data::processed::load_processed;
use crate::data::ratings::Interactions;
use crate::io::fs::write_atomic;
use crate::report::{bars, esc, tail};
use anyhow::Result;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::path::Path;

/// Summary statistics of a count distribution.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Activity {
    /// Smallest count.
    pub min: u64,
    /// Median count.
    pub median: f64,
    /// Mean count.
    pub mean: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest count.
    pub max: u64,
    /// Share of interactions held by the top 1% (by count).
    pub top1pct_share: f64,
    /// Share of interactions held by the top 10%.
    pub top10pct_share: f64,
    /// How many have exactly one interaction.
    pub singletons: u64,
    /// Counts sorted descending (for the long-tail chart; at most 2,000 points, evenly spaced ranks).
    pub rank_curve: Vec<(u64, u64)>,
}

/// A top-N entry.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Top {
    /// Id.
    pub id: String,
    /// Title (products).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// Interactions.
    pub interactions: u64,
}

/// The whole report.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Eda {
    /// Interactions.
    pub interactions: u64,
    /// Distinct users.
    pub users: u64,
    /// Distinct products with interactions.
    pub items: u64,
    /// Products in the catalog.
    pub catalog_products: u64,
    /// Catalog products with no interaction.
    pub catalog_without_interactions: u64,
    /// Interacted products missing from the catalog.
    pub interacted_not_in_catalog: u64,
    /// 1 − interactions / (users × items).
    pub sparsity: f64,
    /// Rating value → count.
    pub ratings: BTreeMap<String, u64>,
    /// Mean rating.
    pub rating_mean: f64,
    /// Per-user activity.
    pub user_activity: Activity,
    /// Per-item popularity.
    pub item_popularity: Activity,
    /// Top products.
    pub top_products: Vec<Top>,
    /// Top users.
    pub top_users: Vec<Top>,
    /// `YYYY-MM` → interactions.
    pub per_month: BTreeMap<String, u64>,
    /// First and last timestamps (RFC 3339).
    pub time_range: (String, String),
}

fn quantile(sorted_asc: &[u64], q: f64) -> f64 {
    if sorted_asc.is_empty() {
        return 0.0;
    }
    let pos = q * (sorted_asc.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted_asc[lo] as f64 + (sorted_asc[hi] as f64 - sorted_asc[lo] as f64) * (pos - lo as f64)
}

fn activity(counts: &[u64]) -> Activity {
    let mut asc = counts.to_vec();
    asc.sort_unstable();
    let total: u64 = asc.iter().sum();
    let share = |frac: f64| {
        let n = ((asc.len() as f64 * frac).ceil() as usize).max(1).min(asc.len());
        asc.iter().rev().take(n).sum::<u64>() as f64 / total.max(1) as f64
    };
    let step = (asc.len() / 2000).max(1);
    let rank_curve =
        asc.iter().rev().enumerate().filter(|(r, _)| r % step == 0).map(|(r, &c)| (r as u64 + 1, c)).collect();
    Activity {
        min: asc.first().copied().unwrap_or(0),
        median: quantile(&asc, 0.5),
        mean: total as f64 / asc.len().max(1) as f64,
        p90: quantile(&asc, 0.9),
        p99: quantile(&asc, 0.99),
        max: asc.last().copied().unwrap_or(0),
        top1pct_share: share(0.01),
        top10pct_share: share(0.10),
        singletons: asc.iter().filter(|&&c| c == 1).count() as u64,
        rank_curve,
    }
}

fn month(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0).map(|d| d.format("%Y-%m").to_string()).unwrap_or_else(|| "invalid".into())
}

/// Compute the report.
pub fn compute(t: &Interactions, catalog: &[Product]) -> Eda {
    let mut user_counts = vec![0u64; t.users.len()];
    let mut item_counts = vec![0u64; t.items.len()];
    let mut ratings: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_month: BTreeMap<String, u64> = BTreeMap::new();
    let mut rating_sum = 0f64;
    for k in 0..t.len() {
        user_counts[t.user[k] as usize] += 1;
        item_counts[t.item[k] as usize] += 1;
        *ratings.entry(format!("{}", t.rating[k])).or_insert(0) += 1;
        rating_sum += t.rating[k] as f64;
    }
    for &ts in &t.timestamp {
        *per_month.entry(month(ts)).or_insert(0) += 1;
    }
    let in_catalog: HashMap<&str, &Product> = catalog.iter().map(|p| (p.id.as_str(), p)).collect();
    let top = |counts: &[u64], names: &[Box<str>], with_title: bool| {
        let mut idx: Vec<usize> = (0..counts.len()).collect();
        idx.sort_by(|&a, &b| counts[b].cmp(&counts[a]).then(names[a].cmp(&names[b])));
        idx.into_iter()
            .take(10)
            .map(|i| Top {
                id: names[i].to_string(),
                title: if with_title {
                    in_catalog.get(&*names[i]).map(|p| p.title.clone()).unwrap_or_default()
                } else {
                    String::new()
                },
                interactions: counts[i],
            })
            .collect()
    };
    let n = t.len() as u64;
    let (users, items) = (t.users.len() as u64, t.items.len() as u64);
    let (tmin, tmax) = (t.timestamp.iter().min().copied().unwrap_or(0), t.timestamp.iter().max().copied().unwrap_or(0));
    let rfc = |ts: i64| chrono::DateTime::from_timestamp(ts, 0).map(|d| d.to_rfc3339()).unwrap_or_default();
    Eda {
        interactions: n,
        users,
        items,
        catalog_products: catalog.len() as u64,
        catalog_without_interactions: catalog.iter().filter(|p| t.items.get(&p.id).is_none()).count() as u64,
        interacted_not_in_catalog: if catalog.is_empty() {
            0
        } else {
            t.items.names().iter().filter(|i| !in_catalog.contains_key(&***i)).count() as u64
        },
        sparsity: if users * items == 0 { 1.0 } else { 1.0 - n as f64 / (users as f64 * items as f64) },
        ratings,
        rating_mean: rating_sum / n.max(1) as f64,
        user_activity: activity(&user_counts),
        item_popularity: activity(&item_counts),
        top_products: top(&item_counts, t.items.names(), true),
        top_users: top(&user_counts, t.users.names(), false),
        per_month,
        time_range: (rfc(tmin), rfc(tmax)),
    }
}

/// Write `eda.json` and `eda.html` for a processed folder; returns the report.
pub fn run(dir: &Path, out: &Path) -> Result<Eda> {
    let p = load_processed(dir)?;
    let e = compute(&p.table, &p.catalog);
    std::fs::create_dir_all(out)?;
    write_atomic(&out.join("eda.json"), serde_json::to_string_pretty(&e)?.as_bytes())?;
    write_atomic(&out.join("eda.html"), html(&e, &dir.display().to_string()).as_bytes())?;
    Ok(e)
}

/// The report as one self-contained HTML page.
pub fn html(e: &Eda, source: &str) -> String {
    let mut s = String::new();
    let _ = write!(s, "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>ShopAI EDA — {src}</title><style>body{{font-family:system-ui,sans-serif;max-width:980px;margin:2rem auto;color:#1d232a}}table{{border-collapse:collapse}}td,th{{padding:.2rem .6rem;border-bottom:1px solid #ddd;text-align:left}}td.n{{text-align:right}}figure{{margin:1rem 0}}figcaption{{font-weight:600}}svg{{width:100%;max-width:640px;background:#fafafa}}.grid{{display:grid;grid-template-columns:1fr 1fr;gap:1rem}}</style><h1>Exploratory data analysis</h1><p>Source: <code>{src}</code></p>", src = esc(source));
    let row = |k: &str, v: String| format!("<tr><th>{}</th><td class=n>{}</td></tr>", esc(k), esc(&v));
    let _ = write!(
        s,
        "<h2>Overview</h2><table>{}{}{}{}{}{}{}{}</table>",
        row("interactions", e.interactions.to_string()),
        row("users", e.users.to_string()),
        row("products with interactions", e.items.to_string()),
        row("catalog products", e.catalog_products.to_string()),
        row("catalog products never interacted with", e.catalog_without_interactions.to_string()),
        row("interacted products missing from the catalog", e.interacted_not_in_catalog.to_string()),
        row("sparsity", format!("{:.5}", e.sparsity)),
        row("time range", format!("{} … {}", e.time_range.0, e.time_range.1))
    );
    let rd: Vec<(String, u64)> = e.ratings.iter().map(|(k, v)| (k.clone(), *v)).collect();
    s.push_str(&bars(&format!("Rating distribution (mean {:.2})", e.rating_mean), &rd));
    for (name, a) in [("User activity", &e.user_activity), ("Product popularity", &e.item_popularity)] {
        let _ = write!(
            s,
            "<h2>{name}</h2><table>{}{}{}{}{}</table>",
            row("min / median / mean / max", format!("{} / {:.1} / {:.2} / {}", a.min, a.median, a.mean, a.max)),
            row("p90 / p99", format!("{:.1} / {:.1}", a.p90, a.p99)),
            row("share of interactions, top 1%", format!("{:.1}%", a.top1pct_share * 100.0)),
            row("share of interactions, top 10%", format!("{:.1}%", a.top10pct_share * 100.0)),
            row("with exactly one interaction", a.singletons.to_string())
        );
        s.push_str(&tail(&format!("{name}: long tail (rank vs count, log-log)"), &a.rank_curve));
    }
    let pm: Vec<(String, u64)> = e.per_month.iter().map(|(k, v)| (k.clone(), *v)).collect();
    s.push_str(&bars("Interactions per month", &pm));
    s.push_str(
        "<div class=grid><div><h2>Top products</h2><table><tr><th>product</th><th>title</th><th>interactions</th></tr>",
    );
    for t in &e.top_products {
        let _ =
            write!(s, "<tr><td>{}</td><td>{}</td><td class=n>{}</td></tr>", esc(&t.id), esc(&t.title), t.interactions);
    }
    s.push_str("</table></div><div><h2>Top users</h2><table><tr><th>user</th><th>interactions</th></tr>");
    for t in &e.top_users {
        let _ = write!(s, "<tr><td>{}</td><td class=n>{}</td></tr>", esc(&t.id), t.interactions);
    }
    s.push_str("</table></div></div></html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_right_on_a_small_log() {
        let t = Interactions::from_rows([
            ("u1", "a", 5.0, 0, 1),
            ("u1", "b", 4.0, 86_400 * 40, 2),
            ("u2", "a", 5.0, 86_400 * 40, 3),
            ("u3", "a", 1.0, 86_400 * 70, 4),
        ]);
        let catalog = vec![
            Product { id: "a".into(), title: "Apple".into(), ..Default::default() },
            Product { id: "z".into(), ..Default::default() },
        ];
        let e = compute(&t, &catalog);
        assert_eq!((e.interactions, e.users, e.items), (4, 3, 2));
        assert!((e.sparsity - (1.0 - 4.0 / 6.0)).abs() < 1e-12);
        assert_eq!(e.ratings.get("5"), Some(&2));
        assert_eq!(e.top_products[0], Top { id: "a".into(), title: "Apple".into(), interactions: 3 });
        assert_eq!(e.catalog_without_interactions, 1);
        assert_eq!(e.interacted_not_in_catalog, 1);
        assert_eq!(e.per_month.values().sum::<u64>(), 4);
        assert_eq!(e.user_activity.max, 2);
        let page = html(&e, "x.csv");
        assert!(page.contains("<svg") && page.contains("Apple") && !page.contains("<script"));
    }
}
