//! Bounded top-k selection with a deterministic order: score descending, then item index ascending.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A scored item.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// Item index.
    pub item: u32,
    /// Score (higher is better; NaN ranks last).
    pub score: f32,
}

impl Scored {
    /// `Less` means `self` ranks before `other`.
    pub fn rank_cmp(&self, other: &Self) -> Ordering {
        ranked(other.score).total_cmp(&ranked(self.score)).then(self.item.cmp(&other.item))
    }
}

/// A score as the ranking reads it: NaN ranks last, as −∞.
#[inline]
fn ranked(score: f32) -> f32 {
    if score.is_nan() {
        f32::NEG_INFINITY
    } else {
        score
    }
}

/// A score and its item as one integer that orders as [`Scored::rank_cmp`] does, best largest:
/// the score's total order (NaN as −∞) in the high half, the item index inverted in the low half
/// (the lower index wins a tie). The heap compares these with one integer comparison each.
#[inline]
fn rank_key(item: u32, score: f32) -> u64 {
    let bits = ranked(score).to_bits();
    // `f32::total_cmp`'s order as an unsigned integer: negatives flipped below the positives.
    let ordered = if bits >> 31 == 1 { !bits } else { bits | 1 << 31 };
    (u64::from(ordered) << 32) | u64::from(!item)
}

/// A kept item: its [`rank_key`] and its score as pushed (a NaN stays NaN).
#[derive(Debug, Clone, Copy)]
struct Kept {
    key: u64,
    score: f32,
}

// In the heap the greatest element is the one that ranks worst (the smallest key), so it is
// evicted first.
impl PartialEq for Kept {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key
    }
}
impl Eq for Kept {}
impl PartialOrd for Kept {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Kept {
    fn cmp(&self, o: &Self) -> Ordering {
        o.key.cmp(&self.key)
    }
}

/// Keeps the best `k` of everything pushed. Reusable: [`TopK::reset`] keeps the allocation.
#[derive(Debug, Default)]
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Kept>,
    /// Once full: the worst kept [`rank_key`] (0, below every key, until then). A push at or
    /// below it cannot enter, and is refused on one comparison (most pushes of a scan over a
    /// catalog).
    floor: u64,
}

impl TopK {
    /// A selector for the best `k`.
    pub fn new(k: usize) -> Self {
        Self { k, heap: BinaryHeap::with_capacity(k + 1), floor: 0 }
    }

    /// Clear and set a new `k`.
    pub fn reset(&mut self, k: usize) {
        self.k = k;
        self.heap.clear();
        self.floor = 0;
    }

    /// Once `k` items are kept, the worst kept score (NaN as −∞): a push scoring below it cannot
    /// enter. `None` before.
    pub fn worst_kept(&self) -> Option<f32> {
        match self.heap.peek() {
            Some(w) if self.heap.len() == self.k => Some(ranked(w.score)),
            _ => None,
        }
    }

    /// Offer an item.
    #[inline]
    pub fn push(&mut self, item: u32, score: f32) {
        let key = rank_key(item, score);
        if key <= self.floor || self.k == 0 {
            return;
        }
        let kept = Kept { key, score };
        if self.heap.len() < self.k {
            self.heap.push(kept);
        } else if let Some(mut worst) = self.heap.peek_mut() {
            // Replaced in place: one sift down when the guard drops, not a pop and a push. The
            // floor says `key` ranks before the worst kept.
            *worst = kept;
        }
        if self.heap.len() == self.k {
            self.floor = self.heap.peek().map_or(0, |w| w.key);
        }
    }

    /// The kept items, best first.
    pub fn drain_sorted(&mut self) -> Vec<Scored> {
        let mut kept: Vec<Kept> = self.heap.drain().collect();
        self.floor = 0;
        kept.sort_unstable_by_key(|k| std::cmp::Reverse(k.key));
        kept.into_iter().map(|k| Scored { item: !(k.key as u32), score: k.score }).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_best_with_index_tiebreak() {
        let mut t = TopK::new(3);
        for (i, s) in [0.5, 0.9, 0.9, 0.1, 0.7, f32::NAN].iter().enumerate() {
            t.push(i as u32, *s);
        }
        let got: Vec<u32> = t.drain_sorted().iter().map(|s| s.item).collect();
        assert_eq!(got, vec![1, 2, 4]);
    }

    #[test]
    fn matches_full_sort() {
        let scores: Vec<f32> = (0..500).map(|i| ((i * 7919) % 101) as f32 / 10.0).collect();
        let mut t = TopK::new(17);
        scores.iter().enumerate().for_each(|(i, &s)| t.push(i as u32, s));
        let mut all: Vec<Scored> =
            scores.iter().enumerate().map(|(i, &s)| Scored { item: i as u32, score: s }).collect();
        all.sort_by(Scored::rank_cmp);
        assert_eq!(t.drain_sorted(), all[..17].to_vec());
    }

    proptest::proptest! {
        /// The early refusal below the floor changes nothing: any scores (ties, NaN, ±0, ±∞),
        /// any k, and a selector reused after draining, against a full sort.
        #[test]
        fn equals_a_full_sort_whatever_the_scores(
            raw in proptest::collection::vec(0u8..12, 0..300),
            k in 0usize..40,
        ) {
            let pick = [0.0, -0.0, 1.0, 1.0, 2.5, -3.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 7.0, 2.5, 0.5];
            let mut t = TopK::new(k);
            // The second round's scores are all lower: nothing of the first may linger.
            for (round, shift) in [0.0f32, -100.0].into_iter().enumerate() {
                let scores: Vec<f32> = raw.iter().map(|&r| pick[r as usize] + shift).collect();
                let mut all: Vec<Scored> =
                    scores.iter().enumerate().map(|(i, &s)| Scored { item: i as u32, score: s }).collect();
                all.sort_by(Scored::rank_cmp);
                let want: Vec<(u32, u32)> = all.iter().take(k).map(|s| (s.item, s.score.to_bits())).collect();
                scores.iter().enumerate().for_each(|(i, &s)| t.push(i as u32, s));
                let got: Vec<(u32, u32)> = t.drain_sorted().iter().map(|s| (s.item, s.score.to_bits())).collect();
                proptest::prop_assert_eq!(&got, &want, "round {}", round);
            }
        }

        /// The integer key orders as `rank_cmp` for every f32 bit pattern (NaNs with payloads,
        /// subnormals, ±0) and item indices up to `u32::MAX`, and a NaN comes back as pushed.
        #[test]
        fn keys_order_as_rank_cmp_for_any_bits(
            pushed in proptest::collection::vec((proptest::num::u32::ANY, proptest::num::u32::ANY), 0..200),
            k in 1usize..30,
        ) {
            let mut seen = std::collections::HashSet::new();
            let all: Vec<Scored> = pushed
                .iter()
                .filter(|(item, _)| seen.insert(*item))
                .map(|&(item, bits)| Scored { item, score: f32::from_bits(bits) })
                .collect();
            for a in all.iter().take(20) {
                for b in all.iter().take(20) {
                    proptest::prop_assert_eq!(rank_key(b.item, b.score).cmp(&rank_key(a.item, a.score)), a.rank_cmp(b));
                }
            }
            let mut t = TopK::new(k);
            all.iter().for_each(|s| t.push(s.item, s.score));
            let mut sorted = all.clone();
            sorted.sort_by(Scored::rank_cmp);
            let want: Vec<(u32, u32)> = sorted.iter().take(k).map(|s| (s.item, s.score.to_bits())).collect();
            let got: Vec<(u32, u32)> = t.drain_sorted().iter().map(|s| (s.item, s.score.to_bits())).collect();
            proptest::prop_assert_eq!(got, want);
        }
    }
}
