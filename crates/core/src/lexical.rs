//! BM25 over product text (title, categories, description), stored in the bundle as a sorted
//! vocabulary with postings, so every runtime scores the same words the same way.

use crate::embed::tokenize;

/// BM25 term-frequency saturation.
pub const K1: f32 = 1.2;
/// BM25 length normalization.
pub const B: f32 = 0.75;

/// Normalize a token for indexing and querying: lowercase (already), and a light plural strip
/// (`boots` → `boot`, not `glass` → `glas`), so "boot" finds "Boots".
pub fn normalize(token: &str) -> String {
    if token.len() > 3 && token.ends_with('s') && !token.ends_with("ss") && !token.ends_with("us") {
        token[..token.len() - 1].to_string()
    } else {
        token.to_string()
    }
}

/// Index terms of a text, in order.
pub fn terms(text: &str) -> impl Iterator<Item = String> + '_ {
    tokenize(text).map(|t| normalize(&t))
}

/// An inverted index in owned form (what the bundle writer takes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LexicalIndex {
    /// Terms, sorted.
    pub terms: Vec<String>,
    /// Per term: items containing it (ascending) with term frequency.
    pub postings: Vec<Vec<(u32, u32)>>,
    /// Terms per item.
    pub doc_len: Vec<u32>,
    /// Mean of `doc_len`.
    pub avg_doc_len: f32,
}

impl LexicalIndex {
    /// Index one text per item.
    pub fn build<S: AsRef<str>>(texts: &[S]) -> Self {
        let mut map: std::collections::BTreeMap<String, Vec<(u32, u32)>> = std::collections::BTreeMap::new();
        let mut doc_len = Vec::with_capacity(texts.len());
        for (i, t) in texts.iter().enumerate() {
            let mut n = 0;
            for term in terms(t.as_ref()) {
                n += 1;
                let p = map.entry(term).or_default();
                match p.last_mut() {
                    Some((item, tf)) if *item == i as u32 => *tf += 1,
                    _ => p.push((i as u32, 1)),
                }
            }
            doc_len.push(n);
        }
        let avg = doc_len.iter().map(|&d| d as f64).sum::<f64>() / doc_len.len().max(1) as f64;
        let (terms, postings) = map.into_iter().unzip();
        Self { terms, postings, doc_len, avg_doc_len: avg as f32 }
    }
}

/// BM25 inverse document frequency (the Lucene form, never negative).
pub fn idf(n_items: usize, doc_freq: usize) -> f32 {
    (1.0 + (n_items as f32 - doc_freq as f32 + 0.5) / (doc_freq as f32 + 0.5)).ln()
}

/// BM25 weight of one posting.
#[inline]
pub fn weight(idf: f32, tf: u32, doc_len: u32, avg_doc_len: f32) -> f32 {
    let tf = tf as f32;
    let norm = 1.0 - B + B * doc_len as f32 / avg_doc_len.max(1e-6);
    idf * tf * (K1 + 1.0) / (tf + K1 * norm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_counts_terms_and_plurals_fold() {
        let idx = LexicalIndex::build(&["Red Boots, red!", "Glass boot", "blue"]);
        let at = |t: &str| idx.terms.binary_search(&t.to_string()).map(|k| idx.postings[k].clone()).unwrap_or_default();
        assert_eq!(at("red"), vec![(0, 2)]);
        assert_eq!(at("boot"), vec![(0, 1), (1, 1)]);
        assert_eq!(at("glass"), vec![(1, 1)]);
        assert_eq!(idx.doc_len, vec![3, 2, 1]);
        assert!((idx.avg_doc_len - 2.0).abs() < 1e-6);
        assert!(idf(3, 1) > idf(3, 2));
        assert!(weight(1.0, 2, 3, 2.0) > weight(1.0, 1, 3, 2.0));
    }
}
