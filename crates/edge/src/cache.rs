//! Per-instance caches, both least-recently-used (`lru`): query embeddings (text → vector) and
//! whole answers (bundle version + normalized request → response body). An instance serves one
//! bundle, but the answer key still starts with its version, so no answer ever outlives it.

use lru::LruCache;
use std::num::NonZeroUsize;
use std::rc::Rc;

/// Query text → embedding, bounded by entries.
#[derive(Debug)]
pub struct EmbeddingCache {
    map: Option<LruCache<String, Rc<[f32]>>>,
}

impl EmbeddingCache {
    /// A cache of at most `entries` vectors (0 disables it).
    pub fn new(entries: usize) -> Self {
        Self { map: NonZeroUsize::new(entries).map(LruCache::new) }
    }

    /// The cached vector of `text`, marking it recently used.
    pub fn get(&mut self, text: &str) -> Option<Rc<[f32]>> {
        self.map.as_mut()?.get(text).cloned()
    }

    /// Remember `text`'s vector (evicting the least recently used when full).
    pub fn put(&mut self, text: &str, v: Rc<[f32]>) {
        if let Some(m) = self.map.as_mut() {
            m.put(text.to_string(), v);
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.as_ref().map_or(0, LruCache::len)
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A cached answer: the body (without `took_ms`) and what the log line says about it.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedAnswer {
    /// The JSON body as first computed.
    pub body: Rc<[u8]>,
    /// Number of results.
    pub results: Option<usize>,
    /// Score of the first result.
    pub top_score: Option<f64>,
}

impl CachedAnswer {
    fn cost(&self, key: &str) -> usize {
        key.len() + self.body.len() + 64
    }
}

/// Whole answers, bounded by entries and by bytes (keys + bodies).
#[derive(Debug)]
pub struct AnswerCache {
    map: Option<LruCache<String, CachedAnswer>>,
    bytes: usize,
    max_bytes: usize,
}

impl AnswerCache {
    /// At most `entries` answers and `max_bytes` bytes (either 0 disables the cache).
    pub fn new(entries: usize, max_bytes: usize) -> Self {
        let map = if max_bytes == 0 { None } else { NonZeroUsize::new(entries).map(LruCache::new) };
        Self { map, bytes: 0, max_bytes }
    }

    /// Whether the cache is on.
    pub fn enabled(&self) -> bool {
        self.map.is_some()
    }

    /// The answer for `key`, marking it recently used.
    pub fn get(&mut self, key: &str) -> Option<CachedAnswer> {
        self.map.as_mut()?.get(key).cloned()
    }

    /// Remember an answer; one larger than an eighth of the byte budget is not kept (it would
    /// evict many popular ones).
    pub fn put(&mut self, key: String, answer: CachedAnswer) {
        let Some(map) = self.map.as_mut() else { return };
        let cost = answer.cost(&key);
        if cost > self.max_bytes / 8 {
            return;
        }
        if let Some((k, old)) = map.push(key, answer) {
            // `push` returns the replaced entry for an existing key, or the evicted LRU entry.
            self.bytes -= old.cost(&k);
        }
        self.bytes += cost;
        while self.bytes > self.max_bytes {
            match map.pop_lru() {
                Some((k, old)) => self.bytes -= old.cost(&k),
                None => break,
            }
        }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.as_ref().map_or(0, LruCache::len)
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held (keys, bodies and a fixed overhead per entry).
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(n: usize) -> CachedAnswer {
        CachedAnswer { body: vec![b'x'; n].into(), results: Some(1), top_score: Some(0.5) }
    }

    #[test]
    fn embeddings_evict_the_least_recently_used() {
        let mut c = EmbeddingCache::new(2);
        c.put("a", vec![1.0].into());
        c.put("b", vec![2.0].into());
        assert!(c.get("a").is_some(), "a is now the most recent");
        c.put("c", vec![3.0].into());
        assert!(c.get("b").is_none(), "b was least recently used");
        assert_eq!(c.get("a").as_deref(), Some(&[1.0][..]));
        assert_eq!(c.len(), 2);
        let mut off = EmbeddingCache::new(0);
        off.put("a", vec![1.0].into());
        assert!(off.get("a").is_none());
    }

    #[test]
    fn answers_are_bounded_by_entries_and_bytes() {
        let mut c = AnswerCache::new(3, 10_000);
        for k in ["a", "b", "c", "d"] {
            c.put(k.into(), answer(100));
        }
        assert_eq!(c.len(), 3);
        assert!(c.get("a").is_none());
        assert_eq!(c.bytes(), 3 * (1 + 100 + 64));
        c.put("b".into(), answer(200));
        assert_eq!(c.bytes(), 2 * (1 + 100 + 64) + (1 + 200 + 64), "replacing a key replaces its bytes");
        // Byte bound: entries of 2 + 1,100 + 64 bytes, budget 10,000 → the newest 8 (9,328 bytes).
        let mut c = AnswerCache::new(100, 10_000);
        for i in 0..20 {
            c.put(format!("{i:02}"), answer(1_100));
            assert!(c.bytes() <= 10_000);
        }
        assert_eq!(c.len(), 8);
        assert!(c.get("19").is_some() && c.get("12").is_some() && c.get("11").is_none());
        c.put("huge".into(), answer(5_000));
        assert!(c.get("huge").is_none(), "an answer over an eighth of the budget is not kept");
        assert!(!AnswerCache::new(10, 0).enabled());
    }
}
