//! Product catalogs: CSV/TSV with a header, or JSON lines (Amazon metadata), gzip handled by the
//! caller. Every line is kept, merged into an earlier product with the same id, or quarantined.

use super::format::{column_key, delimiter_of, find_col, is_json_lines, json_field, json_text};
use super::html::clean_html;
use super::quarantine::{raw_text, Quarantined, Reason};
use anyhow::{Context, Result};
use std::collections::HashMap;

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
}
