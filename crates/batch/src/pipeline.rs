//! The data stages: `ingest` (raw → validated, versioned parquet, mirrored to S3), `eda`, `split`.
//! Each stage is a function from typed input to typed output; `main.rs` only wires arguments.

use crate::build::write_atomic;
use crate::config::Config;
use crate::dataset::Dataset;
use crate::eval::{eval_set, evaluate, popularity_scores, Variant};
use crate::ingest::{self, CatalogRead, Interactions, Product, RatingsOptions};
use crate::log;
use crate::parquet_io;
use crate::split::{take, temporal_split};
use crate::storage::{Location, Storage};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What `ingest` reports (and stores as `summary.json`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IngestSummary {
    /// Version id of the processed data (`v-` + 16 hex of the content hash).
    pub version: String,
    /// Where the processed files are.
    pub dir: String,
    /// Ratings source.
    pub ratings_source: String,
    /// Catalog source.
    pub catalog_source: Option<String>,
    /// Detected ratings format.
    pub format: String,
    /// Data rows read.
    pub input_rows: u64,
    /// Rows kept.
    pub kept: u64,
    /// Rows merged as duplicates.
    pub duplicates: u64,
    /// Rows quarantined.
    pub quarantined: u64,
    /// Quarantine counts per reason.
    pub quarantine_reasons: BTreeMap<String, u64>,
    /// Distinct users and products.
    pub users: u64,
    /// Distinct products with interactions.
    pub items: u64,
    /// Catalog: lines read, products, merged duplicates, quarantined lines.
    pub catalog: Option<CatalogCounts>,
    /// Duplicate policy used.
    pub duplicate_policy: String,
    /// S3 prefix the data was mirrored to, if any.
    pub published: Option<String>,
    /// True when the input was unchanged and nothing was redone.
    #[serde(default)]
    pub skipped: bool,
    /// Seconds spent.
    #[serde(default)]
    pub seconds: f64,
}

/// Catalog ledger.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CatalogCounts {
    /// Data lines read.
    pub input_rows: u64,
    /// Distinct products kept.
    pub products: u64,
    /// Lines merged into an earlier product.
    pub merged: u64,
    /// Lines quarantined.
    pub quarantined: u64,
}

/// Inputs of `ingest`.
#[derive(Debug, Clone)]
pub struct IngestInput {
    /// Ratings location.
    pub ratings: Location,
    /// Catalog location.
    pub catalog: Option<Location>,
    /// Redo even if unchanged.
    pub force: bool,
    /// Progress bars.
    pub progress: bool,
}

/// Revision of the processed files' layout (parquet schemas, summary fields).
pub const PROCESSED_LAYOUT: u32 = 3;

/// `<data_dir>/processed`.
pub fn processed_root(cfg: &Config) -> PathBuf {
    cfg.paths.data_dir.join("processed")
}

/// The processed folder a stage should read: `explicit`, or the one `LATEST` names.
pub fn resolve_processed(cfg: &Config, explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let latest = processed_root(cfg).join("LATEST");
    let v = std::fs::read_to_string(&latest)
        .with_context(|| format!("no processed data yet ({} missing): run `shopai ingest` first", latest.display()))?;
    Ok(processed_root(cfg).join(v.trim()))
}

fn s3_prefix(cfg: &Config) -> Option<(String, String)> {
    if cfg.s3.bucket.is_empty() {
        return None;
    }
    let p = cfg.s3.prefix.trim_matches('/');
    Some((cfg.s3.bucket.clone(), if p.is_empty() { "processed".into() } else { format!("{p}/processed") }))
}

/// Validate, clean and version the inputs. Unchanged inputs (same bytes, same ingest settings)
/// are not processed again.
pub fn ingest(cfg: &Config, input: &IngestInput) -> Result<IngestSummary> {
    let started = Instant::now();
    let storage = Storage::new(&cfg.s3)?;
    log::info("reading ratings", serde_json::json!({"source": input.ratings.to_string()}));
    let raw = storage.read(&input.ratings, input.progress)?;
    let raw_catalog = match &input.catalog {
        Some(loc) => {
            log::info("reading catalog", serde_json::json!({"source": loc.to_string()}));
            Some(storage.read(loc, input.progress)?)
        }
        None => None,
    };
    // The processed-data layout is part of the version: a new layout re-processes unchanged input.
    let settings = serde_json::to_vec(&(PROCESSED_LAYOUT, &cfg.ingest))?;
    let mut h = Sha256::new();
    for part in [&raw[..], raw_catalog.as_deref().unwrap_or(&[]), &settings[..]] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    let version = format!("v-{}", &hex::encode(h.finalize())[..16]);
    let dir = processed_root(cfg).join(&version);
    let summary_path = dir.join("summary.json");
    if !input.force {
        if let Ok(text) = std::fs::read_to_string(&summary_path) {
            if let Ok(mut s) = serde_json::from_str::<IngestSummary>(&text) {
                log::info("input unchanged; reusing processed data", serde_json::json!({"version": version}));
                s.published = publish(cfg, &storage, &dir, &version)?;
                write_atomic(&processed_root(cfg).join("LATEST"), version.as_bytes())?;
                s.skipped = true;
                s.seconds = started.elapsed().as_secs_f64();
                return Ok(s);
            }
        }
    }

    let opts = RatingsOptions::from_config(&cfg.ingest)?;
    let read = ingest::read_ratings(&ingest::maybe_gunzip(raw)?, &opts)
        .with_context(|| format!("parsing {}", input.ratings))?;
    anyhow::ensure!(read.ledger_balances(), "internal error: the row ledger does not balance");
    let catalog: Option<CatalogRead> = match raw_catalog {
        Some(b) => Some(ingest::read_catalog(&ingest::maybe_gunzip(b)?).context("parsing the catalog")?),
        None => None,
    };
    log::info(
        "validated",
        serde_json::json!({"input_rows": read.input_rows, "kept": read.table.len(), "duplicates": read.duplicates, "quarantined": read.quarantined.len()}),
    );

    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    write_atomic(&dir.join("ratings.parquet"), &parquet_io::write_ratings(&read.table)?)?;
    if let Some(all) = &read.all_rows {
        // The evaluation splits every input row, whatever the duplicate policy kept.
        write_atomic(&dir.join(ALL_ROWS_FILE), &parquet_io::write_ratings(all)?)?;
    }
    let mut quarantine = String::new();
    for q in &read.quarantined {
        quarantine.push_str(&serde_json::to_string(&serde_json::json!({"file": "ratings", "line": q.line, "reason": q.reason, "detail": q.detail, "raw": q.raw}))?);
        quarantine.push('\n');
    }
    if let Some(c) = &catalog {
        write_atomic(&dir.join("catalog.parquet"), &parquet_io::write_catalog(&c.products)?)?;
        for q in &c.quarantined {
            quarantine.push_str(&serde_json::to_string(&serde_json::json!({"file": "catalog", "line": q.line, "reason": q.reason, "detail": q.detail, "raw": q.raw}))?);
            quarantine.push('\n');
        }
    }
    write_atomic(&dir.join("quarantine.jsonl"), quarantine.as_bytes())?;
    let mut summary = IngestSummary {
        version: version.clone(),
        dir: dir.display().to_string(),
        ratings_source: input.ratings.to_string(),
        catalog_source: input.catalog.as_ref().map(ToString::to_string),
        format: read.format.into(),
        input_rows: read.input_rows,
        kept: read.table.len() as u64,
        duplicates: read.duplicates,
        quarantined: read.quarantined.len() as u64,
        quarantine_reasons: read.reason_counts().into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        users: read.table.users.len() as u64,
        items: read.table.items.len() as u64,
        catalog: catalog.as_ref().map(|c| CatalogCounts {
            input_rows: c.input_rows,
            products: c.products.len() as u64,
            merged: c.merged,
            quarantined: c.quarantined.len() as u64,
        }),
        duplicate_policy: cfg.ingest.duplicates.clone(),
        published: None,
        skipped: false,
        seconds: 0.0,
    };
    write_atomic(&summary_path, serde_json::to_string_pretty(&summary)?.as_bytes())?;
    summary.published = publish(cfg, &storage, &dir, &version)?;
    write_atomic(&processed_root(cfg).join("LATEST"), version.as_bytes())?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Mirror a processed version to S3 under an immutable prefix, then point `LATEST` at it.
fn publish(cfg: &Config, storage: &Storage, dir: &Path, version: &str) -> Result<Option<String>> {
    let Some((bucket, prefix)) = s3_prefix(cfg) else { return Ok(None) };
    for name in ["ratings.parquet", ALL_ROWS_FILE, "catalog.parquet", "quarantine.jsonl", "summary.json"] {
        let path = dir.join(name);
        if !path.exists() {
            continue;
        }
        let loc = Location::S3 { bucket: bucket.clone(), key: format!("{prefix}/{version}/{name}") };
        let bytes = std::fs::read(&path)?;
        if storage.write_once(&loc, &bytes)? {
            log::info("published", serde_json::json!({"to": loc.to_string(), "bytes": bytes.len()}));
        }
    }
    storage.write(&Location::S3 { bucket: bucket.clone(), key: format!("{prefix}/LATEST") }, version.as_bytes())?;
    Ok(Some(format!("s3://{bucket}/{prefix}/{version}/")))
}

/// Every valid input row, before the duplicate policy: written when the policy removed rows.
pub const ALL_ROWS_FILE: &str = "ratings-all-rows.parquet";

/// Processed data loaded back from parquet.
pub struct Processed {
    /// Ratings.
    pub table: Interactions,
    /// Every valid input row when the duplicate policy removed some (`None`: `table` has them all).
    pub all_rows: Option<Interactions>,
    /// Catalog (empty if none was ingested).
    pub catalog: Vec<Product>,
}

/// Load a processed folder.
pub fn load_processed(dir: &Path) -> Result<Processed> {
    let ratings = dir.join("ratings.parquet");
    let table =
        parquet_io::read_ratings(std::fs::read(&ratings).with_context(|| format!("reading {}", ratings.display()))?)
            .with_context(|| format!("reading {}", ratings.display()))?;
    let cat = dir.join("catalog.parquet");
    let catalog = if cat.exists() { parquet_io::read_catalog(std::fs::read(&cat)?)? } else { Vec::new() };
    let all = dir.join(ALL_ROWS_FILE);
    let all_rows = if all.exists() {
        Some(parquet_io::read_ratings(std::fs::read(&all)?).with_context(|| format!("reading {}", all.display()))?)
    } else {
        None
    };
    Ok(Processed { table, all_rows, catalog })
}

impl Processed {
    /// The rows the evaluation protocol splits: every valid input row, duplicates included.
    pub fn protocol_rows(&self) -> &Interactions {
        self.all_rows.as_ref().unwrap_or(&self.table)
    }
}

/// What `split` reports.
#[derive(Debug, Clone, Serialize)]
pub struct SplitSummary {
    /// Folder with train/val/test parquet and the reports.
    pub dir: String,
    /// Rows per part.
    pub rows: BTreeMap<String, usize>,
    /// First and last timestamp per part.
    pub time_bounds: BTreeMap<String, (i64, i64)>,
    /// Popularity baseline per protocol split and variant (history = train for val, train+val for test).
    pub popularity_baseline: BTreeMap<String, crate::eval::Report>,
}

/// Temporal 70/15/15 split, user and product tables with counts, popularity baselines.
pub fn split(dir: &Path) -> Result<SplitSummary> {
    let p = load_processed(dir)?;
    let t = p.protocol_rows();
    let s = temporal_split(&t.timestamp, &t.line, 0.70, 0.15);
    let out = dir.join("split");
    std::fs::create_dir_all(&out)?;
    let mut rows = BTreeMap::new();
    let mut time_bounds = BTreeMap::new();
    for (name, idx) in [("train", &s.train), ("val", &s.val), ("test", &s.test)] {
        let part = Interactions::from_rows(
            idx.iter()
                .map(|&k| (t.users.name(t.user[k]), t.items.name(t.item[k]), t.rating[k], t.timestamp[k], t.line[k])),
        );
        write_atomic(&out.join(format!("{name}.parquet")), &parquet_io::write_ratings(&part)?)?;
        rows.insert(name.to_string(), idx.len());
        if let (Some(&a), Some(&b)) = (idx.first(), idx.last()) {
            time_bounds.insert(name.to_string(), (t.timestamp[a], t.timestamp[b]));
        }
    }
    let d = Dataset::new(t, &p.catalog);
    let all = &d.interactions;
    let (train, val, test) = (take(all, &s.train), take(all, &s.val), take(all, &s.test));

    // Users and products with their interaction counts per part.
    let mut users = String::from("user_id,train,val,test\n");
    let mut ucount = vec![[0u64; 3]; d.user_ids.len()];
    let mut icount = vec![[0u64; 3]; d.item_ids.len()];
    for (k, part) in [&train, &val, &test].iter().enumerate() {
        for &(u, i, _, _) in part.iter() {
            ucount[u as usize][k] += 1;
            icount[i as usize][k] += 1;
        }
    }
    let csv_field =
        |s: &str| if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() };
    for (u, c) in d.user_ids.iter().zip(&ucount) {
        users.push_str(&format!("{},{},{},{}\n", csv_field(u), c[0], c[1], c[2]));
    }
    let mut products = String::from("product_id,title,train,val,test\n");
    for ((id, title), c) in d.item_ids.iter().zip(&d.titles).zip(&icount) {
        products.push_str(&format!("{},{},{},{},{}\n", csv_field(id), csv_field(title), c[0], c[1], c[2]));
    }
    write_atomic(&out.join("users.csv"), users.as_bytes())?;
    write_atomic(&out.join("products.csv"), products.as_bytes())?;

    // Popularity baselines: global counts in H; per user, counts re-weighted by the user's category mix.
    let trainval: Vec<_> = train.iter().chain(&val).copied().collect();
    let mut popularity_baseline = BTreeMap::new();
    let n_items = d.item_ids.len();
    for (split_name, h, e) in [("val", &train, &val), ("test", &trainval, &test)] {
        let pop = popularity_scores(n_items, h);
        for variant in [Variant::All, Variant::Pos] {
            let set = eval_set(d.user_ids.len(), n_items, h, e, variant);
            let r = evaluate(&set, &[5, 10, 20], |_, _, s| s.copy_from_slice(&pop));
            let v = if variant == Variant::All { "all" } else { "pos" };
            popularity_baseline.insert(format!("{split_name}/{v}/global"), r);
            let ncat = d.category_names.len();
            if ncat > 0 {
                let r = evaluate(&set, &[5, 10, 20], |_, hist, s| {
                    let mut mix = vec![0f32; ncat];
                    for &i in hist {
                        for &c in &d.item_categories[i as usize] {
                            mix[c as usize] += 1.0 / hist.len() as f32;
                        }
                    }
                    for (i, out) in s.iter_mut().enumerate() {
                        let affinity: f32 = d.item_categories[i].iter().map(|&c| mix[c as usize]).sum();
                        *out = pop[i] * (1.0 + affinity);
                    }
                });
                popularity_baseline.insert(format!("{split_name}/{v}/per_user_category"), r);
            }
        }
    }
    let mut global = String::from("product_id,train_interactions\n");
    let pop = popularity_scores(n_items, &train);
    let mut order: Vec<usize> = (0..n_items).collect();
    order.sort_by(|&a, &b| pop[b].total_cmp(&pop[a]).then(a.cmp(&b)));
    for i in order.into_iter().take(1000) {
        global.push_str(&format!("{},{}\n", csv_field(&d.item_ids[i]), pop[i]));
    }
    write_atomic(&out.join("popularity.csv"), global.as_bytes())?;
    let summary = SplitSummary { dir: out.display().to_string(), rows, time_bounds, popularity_baseline };
    write_atomic(&out.join("split.json"), serde_json::to_string_pretty(&summary)?.as_bytes())?;
    Ok(summary)
}

/// Write `eda.json` and `eda.html` for a processed folder; returns the report.
pub fn eda(dir: &Path, out: &Path) -> Result<crate::eda::Eda> {
    let p = load_processed(dir)?;
    let e = crate::eda::compute(&p.table, &p.catalog);
    std::fs::create_dir_all(out)?;
    write_atomic(&out.join("eda.json"), serde_json::to_string_pretty(&e)?.as_bytes())?;
    write_atomic(&out.join("eda.html"), crate::eda::html(&e, &dir.display().to_string()).as_bytes())?;
    Ok(e)
}

/// Embed every product text with the configured provider and attach the vectors to `data`
/// (L2-normalized). With the `hash` provider nothing is called and the bundle embeds itself.
pub fn attach_vectors(cfg: &Config, data: &mut Dataset, show: bool) -> Result<Option<crate::openai::EmbedStats>> {
    synthesize_texts(cfg, data, show)?;
    let e = &cfg.embeddings;
    if e.provider == "hash" {
        return Ok(None);
    }
    let ec = embed_config(cfg);
    log::info(
        "embedding product texts",
        serde_json::json!({"model": e.model, "texts": data.texts.len(), "endpoint": cfg.openai.base_url}),
    );
    let pb = crate::build::progress(show, data.texts.len() as u64, "embed");
    let (vectors, stats) =
        crate::openai::Embedder::new(ec)?.embed_all(&data.texts, |done| pb.set_position(done as u64))?;
    pb.finish_and_clear();
    let dims = vectors.first().map_or(0, Vec::len);
    anyhow::ensure!(
        dims > 0 && vectors.iter().all(|v| v.len() == dims),
        "the embedder returned vectors of different sizes"
    );
    let mut flat = Vec::with_capacity(dims * vectors.len());
    for mut v in vectors {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        }
        flat.extend_from_slice(&v);
    }
    data.vectors = Some((e.model.clone(), dims, flat));
    log::info("embedded", serde_json::to_value(&stats)?);
    Ok(Some(stats))
}

/// The embeddings client's settings from the configuration.
pub fn embed_config(cfg: &Config) -> crate::openai::EmbedConfig {
    let e = &cfg.embeddings;
    let mut ec = crate::openai::EmbedConfig::new(
        &cfg.openai.base_url,
        cfg.openai.api_key.clone(),
        &e.model,
        e.cache_dir.clone().unwrap_or_else(|| cfg.paths.data_dir.join("embeddings-cache")),
    );
    ec.dimensions = (e.dimensions > 0).then_some(e.dimensions);
    ec.batch_size = e.batch_size;
    ec.max_retries = e.max_retries;
    ec.backoff = std::time::Duration::from_millis(e.backoff_ms);
    ec.timeout = std::time::Duration::from_secs_f64(e.timeout_s.max(0.1));
    ec.requests_per_minute = e.requests_per_minute;
    ec.tokens_per_minute = e.tokens_per_minute;
    ec.usd_per_million_tokens = e.usd_per_million_tokens;
    ec.cost_cap_usd = e.cost_cap_usd;
    ec
}

/// Counts of [`synthesize_texts`].
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TextSummary {
    /// Products with their own title or description.
    pub catalog: usize,
    /// Products whose text was written by the chat model.
    pub generated: usize,
    /// Products whose text is the template (no model configured, or it kept failing).
    pub template: usize,
    /// The file listing every product that got a text, with its source.
    pub file: Option<PathBuf>,
    /// The chat client's counters, when one was used.
    pub describe: Option<crate::describe::DescribeStats>,
}

/// Give products without title and description a text: the chat model's summary when
/// `embeddings.describe_model` is set (cached), else (or when it fails) the template the dataset
/// already holds. Writes `<out_dir>/product_texts.csv` (id, source, text) and logs the counts.
pub fn synthesize_texts(cfg: &Config, data: &mut Dataset, show: bool) -> Result<TextSummary> {
    use crate::describe::TextSource;
    let missing: Vec<usize> = (0..data.texts.len()).filter(|&i| data.text_sources[i] != TextSource::Catalog).collect();
    let mut summary = TextSummary { catalog: data.texts.len() - missing.len(), ..Default::default() };
    if missing.is_empty() {
        return Ok(summary);
    }
    let e = &cfg.embeddings;
    if !e.describe_model.is_empty() {
        // The same endpoint, key, cache folder, retries and timeout as the embeddings client.
        let ec = embed_config(cfg);
        let mut d = crate::describe::Describer::new(crate::describe::DescribeConfig {
            base_url: ec.base_url,
            api_key: ec.api_key,
            model: e.describe_model.clone(),
            cache_dir: ec.cache_dir,
            max_retries: ec.max_retries,
            backoff: ec.backoff,
            timeout: ec.timeout,
        })?;
        let pb = crate::build::progress(show, missing.len() as u64, "describe");
        for &i in &missing {
            if let Some(text) = d.describe(&data.texts[i]) {
                data.texts[i] = text;
                data.text_sources[i] = TextSource::Generated;
            }
            pb.inc(1);
        }
        pb.finish_and_clear();
        if d.stats.failed > 0 {
            log::warn(
                "product text generation failed for some products; they use the template",
                serde_json::json!({"failed": d.stats.failed, "last_error": d.stats.last_error}),
            );
        }
        summary.describe = Some(d.stats);
    }
    summary.generated = missing.iter().filter(|&&i| data.text_sources[i] == TextSource::Generated).count();
    summary.template = missing.len() - summary.generated;
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["product_id", "source", "text"])?;
    for &i in &missing {
        let source = match data.text_sources[i] {
            TextSource::Generated => "generated",
            _ => "template",
        };
        w.write_record([data.item_ids[i].as_str(), source, data.texts[i].as_str()])?;
    }
    let path = cfg.paths.out_dir.join("product_texts.csv");
    crate::build::write_atomic(&path, &w.into_inner().map_err(|e| anyhow::anyhow!("writing CSV: {e}"))?)?;
    summary.file = Some(path);
    log::info("product texts", serde_json::to_value(&summary)?);
    Ok(summary)
}
