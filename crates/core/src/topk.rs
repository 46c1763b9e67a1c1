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
        let a = if self.score.is_nan() { f32::NEG_INFINITY } else { self.score };
        let b = if other.score.is_nan() { f32::NEG_INFINITY } else { other.score };
        b.total_cmp(&a).then(self.item.cmp(&other.item))
    }
}

// In the heap, the greatest element is the one that ranks worst, so it is evicted first.
#[derive(Debug, Clone, Copy)]
struct Worst(Scored);
impl PartialEq for Worst {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Worst {}
impl PartialOrd for Worst {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Worst {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.rank_cmp(&o.0)
    }
}

/// Keeps the best `k` of everything pushed. Reusable: [`TopK::reset`] keeps the allocation.
#[derive(Debug, Default)]
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Worst>,
    /// Once full: the worst kept score (NaN as −∞). A push strictly below it cannot enter, and is
    /// refused on one comparison instead of a heap peek and a full ordering (most pushes of a
    /// scan over a catalog).
    floor: f32,
}

/// A score as [`Scored::rank_cmp`] orders it (NaN ranks last).
#[inline]
fn rank_key(score: f32) -> f32 {
    if score.is_nan() {
        f32::NEG_INFINITY
    } else {
        score
    }
}

impl TopK {
    /// A selector for the best `k`.
    pub fn new(k: usize) -> Self {
        Self { k, heap: BinaryHeap::with_capacity(k + 1), floor: f32::NEG_INFINITY }
    }

    /// Clear and set a new `k`.
    pub fn reset(&mut self, k: usize) {
        self.k = k;
        self.heap.clear();
        self.floor = f32::NEG_INFINITY;
    }

    /// Score below which a push is a no-op once full (for early exits).
    #[inline]
    pub fn threshold(&self) -> Option<Scored> {
        if self.heap.len() < self.k {
            None
        } else {
            self.heap.peek().map(|w| w.0)
        }
    }

    /// Offer an item.
    #[inline]
    pub fn push(&mut self, item: u32, score: f32) {
        if self.k == 0 {
            return;
        }
        if rank_key(score) < self.floor {
            return;
        }
        let s = Scored { item, score };
        if self.heap.len() < self.k {
            self.heap.push(Worst(s));
        } else if let Some(mut worst) = self.heap.peek_mut() {
            // Replaced in place: one sift down when the guard drops, not a pop and a push.
            if s.rank_cmp(&worst.0) == Ordering::Less {
                *worst = Worst(s);
            } else {
                return;
            }
        }
        if self.heap.len() == self.k {
            self.floor = self.heap.peek().map_or(f32::NEG_INFINITY, |w| rank_key(w.0.score));
        }
    }

    /// The kept items, best first.
    pub fn drain_sorted(&mut self) -> Vec<Scored> {
        let mut v: Vec<Scored> = self.heap.drain().map(|w| w.0).collect();
        self.floor = f32::NEG_INFINITY;
        v.sort_by(Scored::rank_cmp);
        v
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
                let want: Vec<u32> = all.iter().take(k).map(|s| s.item).collect();
                scores.iter().enumerate().for_each(|(i, &s)| t.push(i as u32, s));
                let got: Vec<u32> = t.drain_sorted().iter().map(|s| s.item).collect();
                proptest::prop_assert_eq!(&got, &want, "round {}", round);
            }
        }
    }
}
