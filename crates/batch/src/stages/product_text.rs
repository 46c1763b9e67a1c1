//! Text for products that have neither a title nor a description.
//!
//! Such a product still has to be embedded and found. Its text comes from one of two places:
//! - **generated**: an OpenAI-compatible `POST /chat/completions` call (any model, set with
//!   `[embeddings] describe_model`) turns the fields present into a one-sentence summary, cached
//!   on disk (see [`crate::openai::chat`]);
//! - **template**: with no model configured, or when the call keeps failing, a sentence built
//!   from the fields present (id, categories, brand, price; [`crate::data::text::template_text`]).
//!
//! The stage writes `product_texts.csv` (id, source, text) for every product that got one, and
//! logs the counts.

use crate::config::Config;
use crate::data::dataset::Dataset;
use crate::data::text::TextSource;
use crate::io::fs::write_atomic;
use crate::io::{log, progress};
use crate::openai::chat::{DescribeConfig, DescribeStats, Describer};
use crate::openai::embeddings::EmbedConfig;
use anyhow::Result;
use std::path::PathBuf;

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
    pub describe: Option<DescribeStats>,
}

/// Give products without title and description a text: the chat model's summary when
/// `embeddings.describe_model` is set (cached), else (or when it fails) the template the dataset
/// already holds. Writes `<out_dir>/product_texts.csv` (id, source, text) and logs the counts.
pub fn synthesize_texts(cfg: &Config, data: &mut Dataset, show: bool) -> Result<TextSummary> {
    let missing: Vec<usize> = (0..data.texts.len()).filter(|&i| data.text_sources[i] != TextSource::Catalog).collect();
    let mut summary = TextSummary { catalog: data.texts.len() - missing.len(), ..Default::default() };
    if missing.is_empty() {
        return Ok(summary);
    }
    let e = &cfg.embeddings;
    if !e.describe_model.is_empty() {
        // The same endpoint, key, cache folder, retries, timeout and rate limits as the embeddings client.
        let ec = EmbedConfig::from_config(cfg);
        let mut d = Describer::new(DescribeConfig {
            client: ec.client,
            model: e.describe_model.clone(),
            cache_dir: ec.cache_dir,
        })?;
        let pb = progress::bar(show, missing.len() as u64, "describe");
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
    write_atomic(&path, &w.into_inner().map_err(|e| anyhow::anyhow!("writing CSV: {e}"))?)?;
    summary.file = Some(path);
    log::info("product texts", serde_json::to_value(&summary)?);
    Ok(summary)
}
