//! A deterministic hashing embedder: no model, no IO, identical on every target.
//!
//! It gives lexical-overlap semantics only (shared words and word pieces), which is what unit
//! tests and offline demos need; real semantics come from the OpenAI-compatible embedders in batch.

/// Name recorded in the manifest for vectors made by [`HashEmbedder`].
pub const HASH_MODEL: &str = "hash-v1";

/// Feature-hashing text embedder: word unigrams plus character trigrams, signed buckets, L2-normalized.
#[derive(Debug, Clone, Copy)]
pub struct HashEmbedder {
    dim: usize,
}

impl HashEmbedder {
    /// An embedder producing `dim`-dimensional vectors (`dim` ≥ 1).
    pub fn new(dim: usize) -> Self {
        Self { dim: dim.max(1) }
    }

    /// Dimensions of the output.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Embed `text` into `out` (length `dim`).
    pub fn embed_into(&self, text: &str, out: &mut [f32]) {
        out.fill(0.0);
        for word in tokenize(text) {
            self.add(word.as_bytes(), 1.0, out);
            let padded: Vec<u8> = [b"<".as_slice(), word.as_bytes(), b">"].concat();
            if padded.len() > 3 {
                for tri in padded.windows(3) {
                    self.add(tri, 0.35, out);
                }
            }
        }
        let norm = out.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            out.iter_mut().for_each(|x| *x /= norm);
        }
    }

    /// Embed `text` into a new vector.
    pub fn embed(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0f32; self.dim];
        self.embed_into(text, &mut v);
        v
    }

    fn add(&self, token: &[u8], weight: f32, out: &mut [f32]) {
        let h = fnv1a(token);
        let bucket = (h % self.dim as u64) as usize;
        let sign = if (h >> 63) == 1 { -1.0 } else { 1.0 };
        out[bucket] += sign * weight;
    }
}

/// Lowercased alphanumeric words.
pub fn tokenize(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase)
}

/// 64-bit FNV-1a.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_words_are_closer_than_unrelated_text() {
        let e = HashEmbedder::new(256);
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        let q = e.embed("toy story");
        let near = e.embed("Toy Story (1995)");
        let far = e.embed("Heat (1995) crime thriller");
        assert!(dot(&q, &near) > dot(&q, &far) + 0.3);
        assert!((dot(&near, &near) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn empty_text_is_zero() {
        assert!(HashEmbedder::new(8).embed("  ,. ").iter().all(|&x| x == 0.0));
    }
}
