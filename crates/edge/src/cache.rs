//! Per-instance caches, both least-recently-used (`lru`): query embeddings (text → vector) and
//! whole answers (bundle version + normalized request → response body). An instance serves one
//! bundle, but the answer key still starts with its version, so no answer ever outlives it.
//!
//! Instances are short-lived (128 requests each under Spin and `wasmtime serve`), so each would
//! start cold and compute the popular answers again. [`AnswerCache::shared`] and
//! [`AnswerCache::warm`] hand the answers one instance saw repeated to the next through the
//! store instances share (host.rs).

use lru::LruCache;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
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
    /// How often it was answered from the cache: in this instance, plus half what the instance
    /// that shared it counted (so answers that keep repeating stay shared, and one that stops
    /// fades out within a few instances). What [`AnswerCache::shared`] ranks by.
    pub hits: u32,
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

    /// The answer for `key`, marking it recently used and counting the hit.
    pub fn get(&mut self, key: &str) -> Option<CachedAnswer> {
        let a = self.map.as_mut()?.get_mut(key)?;
        a.hits = a.hits.saturating_add(1);
        Some(a.clone())
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

    /// The answers of bundle `version` with hits ([`CachedAnswer::hits`]), most hit first, at most `max_entries` of them and [`SHARED_MAX_BYTES`]; `None` when there are
    /// none. JSON (a kept parser reads it back): `{"version", "answers": [{key, body, …}]}`.
    pub fn shared(&self, version: &str, max_entries: usize) -> Option<Vec<u8>> {
        let prefix = format!("{version}\n");
        let mut hot: Vec<(&String, &CachedAnswer)> =
            self.map.as_ref()?.iter().filter(|(k, a)| a.hits > 0 && k.starts_with(&prefix)).collect();
        hot.sort_by(|a, b| b.1.hits.cmp(&a.1.hits).then_with(|| a.0.cmp(b.0)));
        let mut bytes = 0;
        let answers: Vec<SharedAnswer> = hot
            .into_iter()
            .take(max_entries)
            .take_while(|(k, a)| {
                bytes += a.cost(k);
                bytes <= SHARED_MAX_BYTES
            })
            .filter_map(|(k, a)| {
                Some(SharedAnswer {
                    key: Cow::Borrowed(k),
                    body: Cow::Borrowed(std::str::from_utf8(&a.body).ok()?),
                    results: a.results,
                    top_score: a.top_score,
                    hits: a.hits,
                })
            })
            .collect();
        if answers.is_empty() {
            return None;
        }
        serde_json::to_vec(&SharedAnswers { version: Cow::Borrowed(version), answers }).ok()
    }

    /// Take in what [`AnswerCache::shared`] wrote, when it is for bundle `version`: each answer
    /// not already held is added, with half the hits it was shared with. Bytes that do not parse,
    /// or are for another version, add nothing. How many were added.
    pub fn warm(&mut self, bytes: &[u8], version: &str) -> usize {
        let Ok(set) = serde_json::from_slice::<SharedAnswers>(bytes) else { return 0 };
        if set.version != version || !self.enabled() {
            return 0;
        }
        let prefix = format!("{version}\n");
        let mut added = 0;
        for a in set.answers {
            let held = self.map.as_ref().is_some_and(|m| m.contains(a.key.as_ref()));
            if held || !a.key.starts_with(&prefix) {
                continue;
            }
            let body: Rc<[u8]> = a.body.as_bytes().into();
            self.put(
                a.key.into_owned(),
                CachedAnswer { body, results: a.results, top_score: a.top_score, hits: a.hits / 2 },
            );
            added += 1;
        }
        added
    }
}

/// The most [`AnswerCache::shared`] writes, in bytes (keys, bodies and overheads).
pub const SHARED_MAX_BYTES: usize = 1 << 20;

#[derive(Serialize, Deserialize)]
struct SharedAnswers<'a> {
    #[serde(borrow)]
    version: Cow<'a, str>,
    #[serde(borrow)]
    answers: Vec<SharedAnswer<'a>>,
}

#[derive(Serialize, Deserialize)]
struct SharedAnswer<'a> {
    #[serde(borrow)]
    key: Cow<'a, str>,
    #[serde(borrow)]
    body: Cow<'a, str>,
    results: Option<usize>,
    top_score: Option<f64>,
    hits: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(n: usize) -> CachedAnswer {
        CachedAnswer { body: vec![b'x'; n].into(), results: Some(1), top_score: Some(0.5), hits: 0 }
    }

    fn body(text: &str) -> CachedAnswer {
        CachedAnswer { body: text.as_bytes().into(), results: Some(2), top_score: Some(0.25), hits: 0 }
    }

    #[test]
    fn the_answers_one_instance_repeated_warm_the_next() {
        let mut one = AnswerCache::new(100, 1 << 20);
        one.put("v1\nsearch\nshoe".into(), body(r#"{"results":["a \"quoted\" shoe"]}"#));
        one.put("v1\nsearch\nlamp".into(), body(r#"{"results":["lamp"]}"#));
        one.put("v1\nsearch\nonce".into(), body(r#"{"results":[]}"#));
        one.put("v0\nsearch\nshoe".into(), body(r#"{"old":true}"#));
        for _ in 0..3 {
            one.get("v1\nsearch\nshoe");
        }
        one.get("v1\nsearch\nlamp");
        one.get("v0\nsearch\nshoe");
        assert!(AnswerCache::new(100, 1 << 20).shared("v1", 8).is_none(), "nothing repeated, nothing shared");
        let shared = one.shared("v1", 8).expect("two answers were repeated");

        let mut next = AnswerCache::new(100, 1 << 20);
        assert_eq!(next.warm(&shared, "v1"), 2, "the repeated answers of this version only");
        let shoe = next.get("v1\nsearch\nshoe").expect("warmed");
        assert_eq!(&*shoe.body, br#"{"results":["a \"quoted\" shoe"]}"#, "byte for byte");
        assert_eq!((shoe.results, shoe.top_score), (Some(2), Some(0.25)));
        assert!(next.get("v1\nsearch\nonce").is_none(), "never hit in the first instance");
        assert!(next.get("v0\nsearch\nshoe").is_none(), "another version's answer");
        assert_eq!(AnswerCache::new(100, 1 << 20).warm(&shared, "v2"), 0, "a set for another version adds nothing");
        assert_eq!(AnswerCache::new(100, 1 << 20).warm(b"{not json", "v1"), 0);
        assert_eq!(AnswerCache::new(100, 0).warm(&shared, "v1"), 0, "cache off");

        // Hits carry over at half: shoe was hit 3 times (→ 1 in `next`), lamp once (→ 0).
        assert_eq!(next.get("v1\nsearch\nlamp").map(|a| a.hits), Some(1), "no carried hits + this one");
        let again = next.shared("v1", 8).expect("both repeated, counting the carried hits");
        let mut third = AnswerCache::new(100, 1 << 20);
        assert_eq!(third.warm(&again, "v1"), 2);
        let unhit = AnswerCache::new(100, 1 << 20);
        let mut faded = AnswerCache::new(100, 1 << 20);
        faded.warm(&one.shared("v1", 8).unwrap(), "v1");
        assert!(
            faded.shared("v1", 8).is_some_and(|b| b.len() < again.len()),
            "lamp (hits 1 → 0) is not passed on unhit"
        );
        assert!(unhit.shared("v1", 8).is_none());

        let top1 = one.shared("v1", 1).expect("one");
        let mut n = AnswerCache::new(100, 1 << 20);
        assert_eq!(n.warm(&top1, "v1"), 1);
        assert!(n.get("v1\nsearch\nshoe").is_some(), "the most hit comes first");
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
