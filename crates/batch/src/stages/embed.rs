//! Item vectors from the configured provider: `hash` leaves them to the bundle's own embedder,
//! `openai` calls the endpoint (after the product-text stage has given every product a text).

use crate::config::{Config, EmbeddingsProvider};
use crate::data::dataset::{Dataset, ItemVectors};
use crate::io::{log, progress};
use crate::openai::embeddings::{EmbedConfig, EmbedStats, Embedder};
use anyhow::Result;

/// Embed every product text with the configured provider and attach the vectors to `data`
/// (L2-normalized). With the `hash` provider nothing is called and the bundle embeds itself.
pub fn attach_vectors(cfg: &Config, data: &mut Dataset, show: bool) -> Result<Option<EmbedStats>> {
    super::product_text::synthesize_texts(cfg, data, show)?;
    let e = &cfg.embeddings;
    if e.provider == EmbeddingsProvider::Hash {
        return Ok(None);
    }
    let ec = EmbedConfig::from_config(cfg);
    log::info(
        "embedding product texts",
        serde_json::json!({"model": e.model, "texts": data.texts.len(), "endpoint": cfg.openai.base_url}),
    );
    let pb = progress::bar(show, data.texts.len() as u64, "embed");
    let (vectors, stats) = Embedder::new(ec)?.embed_all(&data.texts, |done| pb.set_position(done as u64))?;
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
    data.vectors = Some(ItemVectors {
        model: e.model.clone(),
        dims,
        requested_dimensions: (e.dimensions > 0).then_some(e.dimensions),
        values: flat,
    });
    log::info("embedded", serde_json::to_value(&stats)?);
    Ok(Some(stats))
}
