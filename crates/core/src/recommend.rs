//! Hybrid recommendations from five sources: ALS fold-in (collaborative), content similarity to
//! the history's vector centroid, item-to-item neighbour weights (EASE, when the bundle stores
//! them), next-item transitions from the history's latest items (when the bundle stores them)
//! and popularity. Each source is standardized (z-score over the catalog) by
//! [`source_scores`] and combined by [`fuse`] with the bundle's fusion weights; offline evaluation
//! (`shopai evaluate`/`tune`) calls the same two functions, so what is measured is what is served.

use crate::als::solve_row_exact;
use crate::bundle::{BundleView, FusionWeights};
use crate::error::Result;
use crate::search::Filter;
use crate::topk::{Scored, TopK};

/// The standardized score of each source for one item.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct ScoreParts {
    /// Content similarity to the history (z-score).
    pub vector: f32,
    /// ALS score (z-score).
    pub collab: f32,
    /// Popularity (z-score of log(1 + count)).
    pub popularity: f32,
    /// Item-to-item neighbour score (z-score).
    pub item: f32,
    /// Next-item score (z-score): how often the item followed the history's latest items.
    pub next: f32,
    /// Content similarity for items with few interactions: `vector × cold_factor(interactions)`.
    pub cold: f32,
}

/// How much of its content score an item with `interactions` training interactions (the
/// bundle's popularity counts) keeps in the cold source: `1 / (1 + interactions)` — all of it
/// for an item no one has touched, half for one, a tenth for nine. Evaluation scales by the same
/// function, so tuned and served scores agree bit for bit.
#[inline]
pub fn cold_factor(interactions: f32) -> f32 {
    1.0 / (1.0 + interactions.max(0.0))
}

/// How many of the history's latest distinct items the next-item source follows.
pub const RECENT: usize = 3;

/// Weight of the `k`-th latest item (0 = the latest) in the next-item score: 1, ½, ¼.
const RECENT_DECAY: [f32; RECENT] = [1.0, 0.5, 0.25];

/// The latest [`RECENT`] distinct items of a history given oldest first, latest first; indices
/// `>= n_items` are skipped. The next-item source follows these; evaluation builds them from the
/// time-ordered training rows with this same function.
pub fn recent_items(history_oldest_first: &[u32], n_items: usize) -> Vec<u32> {
    let mut recent = latest_first(history_oldest_first, n_items);
    recent.truncate(RECENT);
    recent
}

/// A history's distinct catalog items (indices `< n_items`), latest visit first.
pub fn latest_first(history_oldest_first: &[u32], n_items: usize) -> Vec<u32> {
    // A bit per catalog item (no hashing, no sort: both cost the npm `.wasm` kilobytes).
    let mut seen = vec![0u64; n_items.div_ceil(64)];
    let mut latest = Vec::new();
    for &i in history_oldest_first.iter().rev() {
        let (word, bit) = (i as usize / 64, 1u64 << (i % 64));
        if (i as usize) < n_items && seen[word] & bit == 0 {
            seen[word] |= bit;
            latest.push(i);
        }
    }
    latest
}

/// The weight of the history item `rank` places back from the latest (0 = the latest) under a
/// half-life of `half_life` items: `0.5^(rank / half_life)`; 1 for every item when `half_life`
/// is 0 (no recency weighting).
pub fn recency_weight(rank: usize, half_life: f32) -> f32 {
    if half_life > 0.0 {
        0.5f32.powf(rank as f32 / half_life)
    } else {
        1.0
    }
}

/// A history ready for [`source_scores`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Distinct catalog items, ascending.
    pub items: Vec<u32>,
    /// Each of `items`' weight in the ALS fold-in (its confidence is α × weight), the content
    /// centroid and the item-to-item sum ([`recency_weight`] of its rank from the latest).
    pub weights: Vec<f32>,
    /// The latest [`RECENT`] items, latest first (the next-item source follows them).
    pub recent: Vec<u32>,
}

impl History {
    /// From item indices oldest first (indices `>= n_items` are skipped).
    pub fn new(oldest_first: &[u32], n_items: usize, half_life: f32) -> Self {
        Self::from_latest_first(&latest_first(oldest_first, n_items), half_life)
    }

    /// From distinct items latest first ([`latest_first`]).
    pub fn from_latest_first(latest: &[u32], half_life: f32) -> Self {
        let mut items = latest.to_vec();
        items.sort_unstable();
        let mut weights = vec![1.0; items.len()];
        if half_life > 0.0 {
            for (rank, i) in latest.iter().enumerate() {
                if let Ok(pos) = items.binary_search(i) {
                    weights[pos] = recency_weight(rank, half_life);
                }
            }
        }
        Self { items, weights, recent: latest.iter().take(RECENT).copied().collect() }
    }
}

/// One recommended item.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    /// Item index.
    pub item: u32,
    /// Fused score.
    pub score: f32,
    /// Score per source, before weighting (0 for the content, cold and ALS sources when the
    /// weights give them 0: they are not computed then).
    pub parts: ScoreParts,
    /// History items that contributed most ("because you liked …"), best first.
    pub because: Vec<u32>,
}

/// Which sources produced the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Fused ALS + content + item-to-item + popularity.
    Hybrid,
    /// No usable history: popularity only.
    Popularity,
}

/// Reusable buffers for [`recommend`].
#[derive(Debug, Default)]
pub struct RecScratch {
    collab: Vec<f32>,
    vector: Vec<f32>,
    popularity: Vec<f32>,
    /// The counts `popularity` was standardized from: the same counts (a bundle's popularity does
    /// not change between requests) skip the `log1p` per item and the standardization.
    popularity_of: Vec<f32>,
    item: Vec<f32>,
    next: Vec<f32>,
    cold: Vec<f32>,
    fused: Vec<f32>,
    top: TopK,
}

impl RecScratch {
    /// Standardized ALS scores from the last [`source_scores`] call.
    pub fn collab(&self) -> &[f32] {
        &self.collab
    }
    /// Standardized content scores from the last [`source_scores`] call.
    pub fn vector(&self) -> &[f32] {
        &self.vector
    }
    /// Standardized popularity from the last [`source_scores`] call.
    pub fn popularity(&self) -> &[f32] {
        &self.popularity
    }
    /// Standardized item-to-item scores from the last [`source_scores`] call.
    pub fn item(&self) -> &[f32] {
        &self.item
    }
    /// Standardized next-item scores from the last [`source_scores`] call.
    pub fn next(&self) -> &[f32] {
        &self.next
    }
    /// Cold-item content scores from the last [`source_scores`] call.
    pub fn cold(&self) -> &[f32] {
        &self.cold
    }
    /// Every source's standardized score of item `i` from the last [`source_scores`] call.
    pub fn parts(&self, i: usize) -> ScoreParts {
        ScoreParts {
            vector: self.vector[i],
            collab: self.collab[i],
            popularity: self.popularity[i],
            item: self.item[i],
            next: self.next[i],
            cold: self.cold[i],
        }
    }
}

/// Scores of every item from each source, standardized (read them back with
/// [`RecScratch::parts`]); exposed for evaluation and tuning. Each history item counts with its
/// [`History::weights`] entry in the fold-in, the centroid and the item-to-item sum; the
/// next-item source follows [`History::recent`].
pub fn source_scores(view: &BundleView<'_>, history: &History, scratch: &mut RecScratch) -> Result<()> {
    let every = FusionWeights { vector: 1.0, collab: 1.0, popularity: 1.0, item: 1.0, next: 1.0, cold: 1.0 };
    weighed_source_scores(view, history, &every, scratch)
}

/// [`source_scores`] for the sources `w` weighs: the two whole-catalog scans (the ALS fold-in
/// and the content centroid, which the cold source scales), the item-to-item and the next-item
/// sums are skipped, their scores left at 0, when `w` weighs them 0 — their terms in [`fuse`]
/// are 0 either way, so the ranking is the same, at a fraction of the cost.
fn weighed_source_scores(
    view: &BundleView<'_>,
    history: &History,
    w: &FusionWeights,
    scratch: &mut RecScratch,
) -> Result<()> {
    let n = view.n_items();
    let k = view.factors.dim;
    scratch.collab.resize(n, 0.0);
    scratch.vector.resize(n, 0.0);
    scratch.item.resize(n, 0.0);
    scratch.next.resize(n, 0.0);
    scratch.cold.resize(n, 0.0);
    if !same_bits(&scratch.popularity_of, view.popularity) {
        popularity_source(view.popularity, &mut scratch.popularity);
        scratch.popularity_of.clear();
        scratch.popularity_of.extend_from_slice(view.popularity);
    }
    scratch.item.fill(0.0);
    if w.next != 0.0 {
        next_scores(&history.recent, |i| view.next_of(i), &mut scratch.next);
    } else {
        scratch.next.fill(0.0);
    }
    scratch.collab.fill(0.0);
    scratch.vector.fill(0.0);
    scratch.cold.fill(0.0);
    if history.items.is_empty() {
        return Ok(());
    }
    let weighted = || history.items.iter().copied().zip(history.weights.iter().copied());
    // Item-to-item: weighted sum of the history items' outgoing neighbour weights (EASE-style).
    if w.item != 0.0 {
        for (h, hw) in weighted() {
            for (j, w) in view.neighbors_of(h as usize) {
                if let Some(s) = scratch.item.get_mut(j as usize) {
                    *s += hw * w;
                }
            }
        }
        standardize(&mut scratch.item);
    }
    if w.collab != 0.0 {
        let items: Vec<(u32, f32)> = weighted().collect();
        let user = solve_row_exact(view.gram, k, view.manifest.als.alpha, &items, |i, out| {
            view.factors.dequantize_into(i, out)
        })?;
        // `mean · x` is the same for every item: once per request, added exactly as `dot_f32` adds it.
        let fmean: f32 = view.factors.mean.iter().zip(&user).map(|(m, v)| m * v).sum();
        view.factors.scan_centered(&user, fmean, &mut scratch.collab);
        standardize(&mut scratch.collab);
    }
    if w.vector != 0.0 || w.cold != 0.0 {
        let dim = view.vectors.dim;
        let mut centroid = vec![0f32; dim];
        for (h, hw) in weighted() {
            view.vectors.add_weighted_row(h as usize, hw, &mut centroid);
        }
        let vmean: f32 = view.vectors.mean.iter().zip(&centroid).map(|(m, v)| m * v).sum();
        view.vectors.scan_centered(&centroid, vmean, &mut scratch.vector);
        standardize(&mut scratch.vector);
        if w.cold != 0.0 {
            let scaled = scratch.vector.iter().zip(view.popularity).map(|(&v, &c)| v * cold_factor(c));
            scratch.cold.iter_mut().zip(scaled).for_each(|(o, x)| *o = x);
        }
    }
    Ok(())
}

/// Whether two slices hold the same floats, bit for bit.
fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// The next-item source: for each item, the sum over the `recent` items (latest first) of the
/// weight with which it followed them (`next_of`), the latest weighing 1, then ½, ¼;
/// standardized. [`source_scores`] reads the transitions from the bundle; evaluation may pass
/// other transitions to try variants.
pub fn next_scores<I: Iterator<Item = (u32, f32)>>(recent: &[u32], next_of: impl Fn(usize) -> I, out: &mut [f32]) {
    out.fill(0.0);
    for (&r, decay) in recent.iter().zip(RECENT_DECAY) {
        for (j, w) in next_of(r as usize) {
            if let Some(s) = out.get_mut(j as usize) {
                *s += decay * w;
            }
        }
    }
    standardize(out);
}

/// The popularity source from raw counts (or time-decayed counts): `log(1 + max(count, 0))`,
/// standardized. Evaluation uses it to try other popularity variants than the bundle's.
pub fn popularity_source(counts: &[f32], out: &mut Vec<f32>) {
    out.clear();
    // (`c > 0` rather than `f32::max`, a libcall per item on wasm; a NaN count still gives 0.)
    out.extend(counts.iter().map(|&c| if c > 0.0 { c } else { 0.0 }.ln_1p()));
    standardize(out);
}

/// The fused score of one item: each standardized source times its weight, summed in this
/// order. The one place the formula lives; [`recommend`] and offline evaluation both call it.
#[inline]
pub fn fuse(w: &FusionWeights, parts: &ScoreParts) -> f32 {
    w.vector * parts.vector
        + w.collab * parts.collab
        + w.popularity * parts.popularity
        + w.item * parts.item
        + w.next * parts.next
        + w.cold * parts.cold
}

/// [`fuse`] for every item at once, into `scratch.fused`: the same products added in the same
/// order per item, as one pass over the six sources (SIMD where the target has it), not a
/// gather of six values per item.
fn fuse_all(w: &FusionWeights, scratch: &mut RecScratch) {
    let RecScratch { collab, vector, popularity, item, next, cold, fused, .. } = scratch;
    fused.clear();
    fused.extend(
        vector.iter().zip(collab.iter()).zip(popularity.iter()).zip(item.iter()).zip(next.iter()).zip(cold.iter()).map(
            |(((((&v, &c), &p), &it), &nx), &cd)| {
                w.vector * v + w.collab * c + w.popularity * p + w.item * it + w.next * nx + w.cold * cd
            },
        ),
    );
}

/// Subtract the mean and divide by the standard deviation (a constant source becomes all zeros).
pub fn standardize(v: &mut [f32]) {
    if v.is_empty() {
        return;
    }
    let n = v.len() as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    let sd = var.sqrt();
    for x in v.iter_mut() {
        *x = if sd > 1e-12 { ((*x as f64 - mean) / sd) as f32 } else { 0.0 };
    }
}

/// Recommend `top_k` items for a history of item indices, oldest first (its latest items drive
/// the next-item source, and weigh most when the bundle sets a history half-life): [`source_scores`], then [`fuse`] over the items `filter` allows, best
/// first (ties by item index), with `weights`, or, for `None`, the bundle's weights for the
/// history's length ([`crate::Manifest::fusion_for`]). An empty history ranks by popularity alone.
pub fn recommend(
    view: &BundleView<'_>,
    history: &[u32],
    top_k: usize,
    weights: Option<FusionWeights>,
    filter: &Filter,
    scratch: &mut RecScratch,
) -> Result<(Vec<Recommendation>, Source)> {
    let history = History::new(history, view.n_items(), view.manifest.history_half_life);
    let (w, source) = if history.items.is_empty() {
        (
            FusionWeights { vector: 0.0, collab: 0.0, popularity: 1.0, item: 0.0, next: 0.0, cold: 0.0 },
            Source::Popularity,
        )
    } else {
        (weights.unwrap_or_else(|| view.manifest.fusion_for(history.items.len())), Source::Hybrid)
    };
    weighed_source_scores(view, &history, &w, scratch)?;
    let hist = history.items;
    fuse_all(&w, scratch);
    scratch.top.reset(top_k);
    for i in filter.admitted(view, scratch.fused.len()) {
        scratch.top.push(i, scratch.fused[i as usize]);
    }
    let top: Vec<Scored> = scratch.top.drain_sorted();
    let items: Vec<u32> = top.iter().map(|s| s.item).collect();
    let because = explain_all(view, &hist, &items, w);
    let recs = top
        .into_iter()
        .zip(because)
        .map(|(s, because)| Recommendation {
            item: s.item,
            score: s.score,
            parts: scratch.parts(s.item as usize),
            because,
        })
        .collect();
    Ok((recs, source))
}

/// An exact int8 dot product ([`crate::quant::best_dot_i8`]: SIMD where the machine has it).
type DotI8 = fn(&[i8], &[i8]) -> i32;

/// An item's code norms (`√(row · row)`) in the content and collaborative matrices.
struct Norms {
    vector: f32,
    collab: f32,
}

impl Norms {
    fn of(view: &BundleView<'_>, dot: DotI8, i: u32) -> Self {
        let norm = |m: &crate::quant::QuantView<'_>| {
            let r = m.row(i as usize);
            (dot(r, r) as f32).sqrt()
        };
        Self { vector: norm(&view.vectors), collab: norm(&view.factors) }
    }
}

/// For each of `items`, the (up to two) history items most similar to it, weighing factor and
/// content similarity, neighbour and next-item weights as the fusion weighs those sources (best
/// first, ties by history order): [`explain`] for each item, with each history item's norms
/// computed once and its neighbour and next-item lists read once for all the items rather than
/// searched once per (item, history item) pair.
fn explain_all(view: &BundleView<'_>, history: &[u32], items: &[u32], w: FusionWeights) -> Vec<Vec<u32>> {
    if history.is_empty() {
        return vec![Vec::new(); items.len()];
    }
    let dot = crate::quant::best_dot_i8();
    let norms: Vec<Norms> = history.iter().map(|&h| Norms::of(view, dot, h)).collect();
    let item = GraphWeights::gather(w.item, &view.item_neighbors, history, items);
    let next = GraphWeights::gather(w.next, &view.item_next, history, items);
    items
        .iter()
        .enumerate()
        .map(|(slot, &i)| {
            explain_with(
                view,
                dot,
                history,
                &norms,
                i,
                w,
                |h| item.term(w.item, h, slot),
                |h| next.term(w.next, h, slot),
                true,
            )
        })
        .collect()
}

/// The weight each history item's list (neighbours or next items) gives each of a request's
/// result items: the first entry naming the item, floored at 0; 0 when the list does not name it
/// or the source is weighed 0 (then no list is read).
struct GraphWeights {
    items: usize,
    /// `weights[h * items + slot]`, NaN for "not named".
    weights: Vec<f32>,
}

impl GraphWeights {
    fn gather(weight: f32, lists: &crate::bundle::Weighted<'_>, history: &[u32], items: &[u32]) -> Self {
        if weight == 0.0 {
            return Self { items: items.len(), weights: Vec::new() };
        }
        let mut slots: Vec<(u32, usize)> = items.iter().copied().zip(0..).collect();
        slots.sort_unstable();
        let mut weights = vec![f32::NAN; history.len() * items.len()];
        for (h, &hi) in history.iter().enumerate() {
            let row = &mut weights[h * items.len()..(h + 1) * items.len()];
            for (j, x) in lists.row(hi as usize) {
                let first = slots.partition_point(|&(item, _)| item < j);
                for &(_, slot) in slots[first..].iter().take_while(|&&(item, _)| item == j) {
                    if row[slot].is_nan() {
                        row[slot] = x.max(0.0);
                    }
                }
            }
        }
        Self { items: items.len(), weights }
    }

    /// The source's term for the `h`-th history item and the item in `slot`: `weight` times its
    /// weight, or 0 when the source is weighed 0 (as the per-item form adds it).
    fn term(&self, weight: f32, h: usize, slot: usize) -> f32 {
        match self.weights.get(h * self.items + slot) {
            _ if weight == 0.0 => 0.0,
            Some(&x) if !x.is_nan() => weight * x,
            _ => weight * 0.0,
        }
    }
}

/// The (up to two) history items most similar to `item`: content and factor cosines weighed as
/// the fusion weighs those sources, plus `item_term(h)` and `next_term(h)` for the `h`-th history
/// item (its neighbour and next-item weights to `item`, already weighed; 0 where the source is
/// weighed 0). `norms[h]` belongs to `history[h]`.
///
/// With `prune`, the content cosine (256 codes a pair; the rest are cheap) is computed only for
/// history items that can still make the top two: a cosine is at most 1 in size, so an item whose
/// other terms plus the content weight stay below the second-best score found so far cannot.
/// Same answer, same bits.
#[allow(clippy::too_many_arguments)]
fn explain_with(
    view: &BundleView<'_>,
    dot: DotI8,
    history: &[u32],
    norms: &[Norms],
    item: u32,
    w: FusionWeights,
    item_term: impl Fn(usize) -> f32,
    next_term: impl Fn(usize) -> f32,
    prune: bool,
) -> Vec<u32> {
    // (Not computed for a source weighed 0: its term is 0 either way.)
    let cos = |m: &crate::quant::QuantView<'_>, a: u32, na: f32, b: u32, nb: f32, weight: f32| {
        if weight != 0.0 && na > 0.0 && nb > 0.0 {
            dot(m.row(a as usize), m.row(b as usize)) as f32 / (na * nb)
        } else {
            0.0
        }
    };
    let it = Norms::of(view, dot, item);
    // Content counts with the cold source's share for this item too.
    let content = w.vector + w.cold * view.popularity.get(item as usize).map_or(0.0, |&c| cold_factor(c));
    let prune = prune && content != 0.0;
    let mut top = TopK::new(2);
    for (h, (&hi, hn)) in history.iter().zip(norms).enumerate() {
        let (c, i, n) =
            (w.collab * cos(&view.factors, hi, hn.collab, item, it.collab, w.collab), item_term(h), next_term(h));
        if prune {
            // The content term is at most |content|; the room added covers the f32 roundings of
            // the cosine and the sums (a few ulps of the terms' magnitudes) a thousand times.
            let magnitude = content.abs() + c.abs() + i.abs() + n.abs();
            let bound = c + i + n + content.abs() + 1e-4 * magnitude + 1e-6;
            if top.worst_kept().is_some_and(|worst| bound < worst) {
                continue;
            }
        }
        top.push(hi, content * cos(&view.vectors, hi, hn.vector, item, it.vector, content) + c + i + n);
    }
    top.drain_sorted().into_iter().map(|s| s.item).collect()
}

/// The reference [`explain_all`] is checked against: one item at a time, each history item's
/// lists searched for the item.
#[cfg(test)]
fn explain(
    view: &BundleView<'_>,
    dot: DotI8,
    history: &[u32],
    norms: &[Norms],
    item: u32,
    w: FusionWeights,
) -> Vec<u32> {
    if history.is_empty() {
        return Vec::new();
    }
    let term = |weight: f32, lists: &crate::bundle::Weighted<'_>, h: usize| {
        if weight != 0.0 {
            weight * weight_to(lists.row(history[h] as usize), item)
        } else {
            0.0
        }
    };
    let (neighbours, next) = (&view.item_neighbors, &view.item_next);
    explain_with(view, dot, history, norms, item, w, |h| term(w.item, neighbours, h), |h| term(w.next, next, h), false)
}

/// The (non-negative) weight `row` gives `item`; 0 when it does not list it.
#[cfg(test)]
fn weight_to(mut row: impl Iterator<Item = (u32, f32)>, item: u32) -> f32 {
    row.find(|&(j, _)| j == item).map_or(0.0, |(_, x)| x.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::fixture_bundle;

    #[test]
    fn recommends_unseen_items_deterministically() {
        let (bytes, _, _) = fixture_bundle(200, 16, 9);
        let b = crate::Bundle::load(&bytes).expect("load");
        let view = b.view();
        let history = [3u32, 7, 11];
        let filter = Filter::default().with_exclude(history);
        let mut scratch = RecScratch::default();
        let (a, src) = recommend(&view, &history, 10, None, &filter, &mut scratch).expect("rec");
        let (b2, _) = recommend(&view, &history, 10, None, &filter, &mut scratch).expect("rec");
        assert_eq!(src, Source::Hybrid);
        assert_eq!(a, b2);
        assert_eq!(a.len(), 10);
        assert!(a.iter().all(|r| !history.contains(&r.item)));
        assert!(a.iter().all(|r| !r.because.is_empty() && r.because.iter().all(|h| history.contains(h))));
        assert!(a.windows(2).all(|w| w[0].score >= w[1].score));
        // With only the item-to-item source, the top results are the history's neighbours.
        let w = FusionWeights { vector: 0.0, collab: 0.0, popularity: 0.0, item: 1.0, next: 0.0, cold: 0.0 };
        let (n, _) = recommend(&view, &history, 3, Some(w), &filter, &mut scratch).expect("rec");
        let neighbours: Vec<u32> = history.iter().flat_map(|&h| view.neighbors_of(h as usize).map(|p| p.0)).collect();
        assert!(n.iter().all(|r| neighbours.contains(&r.item)), "{n:?}");
    }

    #[test]
    fn the_cold_source_is_content_scaled_by_how_few_shoppers_an_item_has() {
        let (bytes, _, _) = fixture_bundle(200, 16, 9);
        let b = crate::Bundle::load(&bytes).expect("load");
        let view = b.view();
        let history = [3u32, 7, 11];
        let mut scratch = RecScratch::default();
        source_scores(&view, &History::new(&history, 200, 0.0), &mut scratch).expect("scores");
        // Reference by hand: the content z-score over 1 + the item's interactions.
        let want: Vec<f32> = scratch.vector().iter().zip(view.popularity).map(|(v, c)| v / (1.0 + c)).collect();
        assert!(view.popularity.contains(&0.0) && view.popularity.iter().any(|&c| c > 3.0));
        for (got, want) in scratch.cold().iter().zip(&want) {
            assert!((got - want).abs() <= 1e-6 * want.abs().max(1.0), "{got} vs {want}");
        }
        // Served with the cold weight alone: the best unseen items by those scores, in order.
        let cold = scratch.cold().to_vec();
        let w = FusionWeights { vector: 0.0, collab: 0.0, popularity: 0.0, item: 0.0, next: 0.0, cold: 1.0 };
        let filter = Filter::default().with_exclude(history);
        let (r, _) = recommend(&view, &history, 5, Some(w), &filter, &mut scratch).expect("rec");
        let mut order: Vec<u32> = (0..200).filter(|i| !history.contains(i)).collect();
        order.sort_by(|&a, &b| cold[b as usize].total_cmp(&cold[a as usize]).then(a.cmp(&b)));
        assert_eq!(r.iter().map(|r| r.item).collect::<Vec<_>>(), order[..5]);
        // Weighed 0, the ALS fold-in is not computed: its part reads 0.
        assert!(r.iter().all(|r| r.parts.cold == cold[r.item as usize] && r.parts.collab == 0.0));
    }

    #[test]
    fn a_scratch_reused_across_bundles_answers_as_a_fresh_one() {
        // The standardized popularity is kept between requests: a scratch that served another
        // bundle (same catalog size, other counts) must not answer with the old bundle's.
        let (a, _, _) = fixture_bundle(200, 16, 9);
        let (b, _, _) = fixture_bundle(200, 16, 10);
        let (a, b) = (crate::Bundle::load(&a).expect("a"), crate::Bundle::load(&b).expect("b"));
        assert_ne!(a.view().popularity, b.view().popularity);
        let mut reused = RecScratch::default();
        for view in [a.view(), b.view(), a.view(), b.view()] {
            for history in [&[][..], &[3u32, 7][..]] {
                let filter = Filter::default().with_exclude(history.iter().copied());
                let got = recommend(&view, history, 10, None, &filter, &mut reused).expect("rec");
                let fresh = recommend(&view, history, 10, None, &filter, &mut RecScratch::default()).expect("rec");
                assert_eq!(got, fresh);
            }
        }
    }

    #[test]
    fn explanations_for_a_whole_answer_equal_the_per_item_reference() {
        let (bytes, _, _) = fixture_bundle(200, 16, 9);
        let b = crate::Bundle::load(&bytes).expect("load");
        let view = b.view();
        assert!(view.item_neighbors.is_present() && view.item_next.is_present());
        let dot = crate::quant::best_dot_i8();
        let every = FusionWeights { vector: 0.3, collab: 0.5, popularity: 0.1, item: 0.7, next: 0.4, cold: 0.2 };
        let graph_only = FusionWeights { vector: 0.0, collab: 0.0, popularity: 0.0, item: 1.0, next: 0.5, cold: 0.0 };
        let no_graph = FusionWeights { item: 0.0, next: 0.0, ..every };
        // Histories whose neighbours and successors include some of the items explained.
        let histories: [&[u32]; 3] = [&[5], &[3, 4, 5, 6, 40, 41, 120], &(0..60).collect::<Vec<u32>>()];
        let items: Vec<u32> = (0..200).step_by(7).chain([6, 7, 42, 43, 121]).collect();
        for history in histories {
            let norms: Vec<Norms> = history.iter().map(|&h| Norms::of(&view, dot, h)).collect();
            for w in [every, graph_only, no_graph] {
                let want: Vec<Vec<u32>> = items.iter().map(|&i| explain(&view, dot, history, &norms, i, w)).collect();
                assert_eq!(explain_all(&view, history, &items, w), want, "{history:?} {w:?}");
            }
        }
        assert_eq!(explain_all(&view, &[], &items, every), vec![Vec::<u32>::new(); items.len()]);
    }

    #[test]
    fn recent_items_are_the_latest_distinct_ones() {
        assert_eq!(recent_items(&[1, 2, 3, 2, 9, 4], 9), vec![4, 2, 3]);
        assert_eq!(recent_items(&[5, 5], 9), vec![5]);
        assert!(recent_items(&[], 9).is_empty());
    }

    #[test]
    fn next_item_source_follows_the_latest_items_against_a_reference() {
        // The fixture's transitions: i → i+1 (0.7), i → i+2 (0.3).
        let (bytes, _, _) = fixture_bundle(200, 16, 9);
        let b = crate::Bundle::load(&bytes).expect("load");
        let view = b.view();
        assert!(view.item_next.is_present());
        assert_eq!(view.next_of(5).collect::<Vec<_>>(), vec![(6, 0.7), (7, 0.3)]);
        let w = FusionWeights { vector: 0.0, collab: 0.0, popularity: 0.0, item: 0.0, next: 1.0, cold: 0.0 };
        let mut scratch = RecScratch::default();
        let top = |history: &[u32], scratch: &mut RecScratch| -> Vec<u32> {
            let filter = Filter::default().with_exclude(history.iter().copied());
            let (r, _) = recommend(&view, history, 4, Some(w), &filter, scratch).expect("rec");
            r.into_iter().map(|r| r.item).collect()
        };
        // Reference by hand: latest 50 weighs 1, the one before (20) ½:
        // 51: 0.7, 52: 0.3, 21: 0.35, 22: 0.15.
        assert_eq!(top(&[20, 50], &mut scratch), vec![51, 21, 52, 22]);
        // The same items in the other order: 20 is now the latest.
        assert_eq!(top(&[50, 20], &mut scratch), vec![21, 51, 22, 52]);
        // The score is the standardized weighted sum, exactly.
        let mut raw = vec![0f32; 200];
        for (i, x) in [(51, 0.7f32), (52, 0.3), (21, 0.5 * 0.7), (22, 0.5 * 0.3)] {
            raw[i] = x;
        }
        standardize(&mut raw);
        source_scores(&view, &History::new(&[20, 50], 200, 0.0), &mut scratch).expect("scores");
        assert_eq!(scratch.next(), &raw[..]);
        // The because-list names the item it followed.
        let filter = Filter::default().with_exclude([20, 50]);
        let (r, _) = recommend(&view, &[20, 50], 1, Some(w), &filter, &mut scratch).expect("rec");
        assert_eq!(r[0].because[0], 50);
    }

    #[test]
    fn a_history_weighs_its_items_by_recency() {
        assert_eq!(latest_first(&[1, 2, 3, 2, 9, 4, 70], 10), vec![4, 9, 2, 3, 1]);
        let h = History::new(&[1, 2, 3, 2, 9, 4], 10, 1.0);
        assert_eq!(h.items, vec![1, 2, 3, 4, 9]);
        // Ranks from the latest: 4 → 0, 9 → 1, 2 → 2, 3 → 3, 1 → 4; halving per place.
        assert_eq!(h.weights, vec![0.0625, 0.25, 0.125, 1.0, 0.5]);
        assert_eq!(h.recent, vec![4, 9, 2]);
        let flat = History::new(&[1, 2, 3, 2, 9, 4], 10, 0.0);
        assert_eq!(flat.weights, vec![1.0; 5]);
        assert_eq!(recency_weight(4, 2.0), 0.25);
    }

    #[test]
    fn recency_weighted_sources_match_a_weighted_reference() {
        let (mut parts, _) = crate::testutil::fixture_parts(120, 16, 5);
        parts.manifest.als.alpha = 2.0;
        let b = crate::Bundle::load(&parts.to_bytes().expect("bytes")).expect("load");
        let view = b.view();
        let n = view.n_items();
        let history = History::new(&[40, 3, 77, 12, 3, 95], n, 2.0);
        let mut scratch = RecScratch::default();
        source_scores(&view, &history, &mut scratch).expect("scores");
        let z = |raw: Vec<f64>| -> Vec<f64> {
            let m = raw.iter().sum::<f64>() / raw.len() as f64;
            let sd = (raw.iter().map(|x| (x - m).powi(2)).sum::<f64>() / raw.len() as f64).sqrt();
            raw.iter().map(|x| (x - m) / sd).collect()
        };
        let close = |got: &[f32], want: &[f64], tol: f64, what: &str| {
            for (i, (g, w)) in got.iter().zip(want).enumerate() {
                assert!((*g as f64 - w).abs() < tol, "{what} item {i}: {g} vs {w}");
            }
        };
        let weighted: Vec<(usize, f64)> =
            history.items.iter().zip(&history.weights).map(|(&i, &w)| (i as usize, w as f64)).collect();
        // Item-to-item: Σ weight(h) · S[h, ·].
        let mut item = vec![0f64; n];
        for &(h, hw) in &weighted {
            for (j, w) in view.neighbors_of(h) {
                item[j as usize] += hw * w as f64;
            }
        }
        close(scratch.item(), &z(item), 1e-4, "item-to-item");
        // Content: the weighted centroid's inner product with every item.
        let (dim, row) = (view.vectors.dim, |m: &crate::quant::QuantView<'_>, i: usize| {
            let mut r = vec![0f32; m.dim];
            m.dequantize_into(i, &mut r);
            r.into_iter().map(f64::from).collect::<Vec<f64>>()
        });
        let mut centroid = vec![0f64; dim];
        for &(h, hw) in &weighted {
            centroid.iter_mut().zip(row(&view.vectors, h)).for_each(|(c, r)| *c += hw * r);
        }
        let content: Vec<f64> =
            (0..n).map(|i| row(&view.vectors, i).iter().zip(&centroid).map(|(a, b)| a * b).sum()).collect();
        close(scratch.vector(), &z(content), 1e-3, "content");
        // Fold-in: solve (YᵀY + λI + Σ (α·w − 1) y yᵀ) x = Σ α·w y by Gaussian elimination in f64.
        let k = view.factors.dim;
        let alpha = view.manifest.als.alpha as f64;
        let mut a: Vec<f64> = view.gram.iter().map(|&g| g as f64).collect();
        let mut rhs = vec![0f64; k];
        for &(h, hw) in &weighted {
            let y = row(&view.factors, h);
            for p in 0..k {
                rhs[p] += alpha * hw * y[p];
                for q in 0..k {
                    a[p * k + q] += (alpha * hw - 1.0) * y[p] * y[q];
                }
            }
        }
        for c in 0..k {
            for r in c + 1..k {
                let f = a[r * k + c] / a[c * k + c];
                for q in c..k {
                    a[r * k + q] -= f * a[c * k + q];
                }
                rhs[r] -= f * rhs[c];
            }
        }
        let mut x = vec![0f64; k];
        for r in (0..k).rev() {
            let s: f64 = (r + 1..k).map(|q| a[r * k + q] * x[q]).sum();
            x[r] = (rhs[r] - s) / a[r * k + r];
        }
        let collab: Vec<f64> = (0..n).map(|i| row(&view.factors, i).iter().zip(&x).map(|(a, b)| a * b).sum()).collect();
        close(scratch.collab(), &z(collab), 1e-3, "fold-in");
        // And the weighting matters: unweighted scores differ.
        let flat = History::new(&[40, 3, 77, 12, 3, 95], n, 0.0);
        let mut other = RecScratch::default();
        source_scores(&view, &flat, &mut other).expect("scores");
        assert_ne!(other.item(), scratch.item());
        assert_ne!(other.collab(), scratch.collab());
    }

    #[test]
    fn the_bundle_half_life_reaches_recommend() {
        let (mut parts, _) = crate::testutil::fixture_parts(120, 16, 5);
        let w = FusionWeights { vector: 0.0, collab: 0.0, popularity: 0.0, item: 1.0, next: 0.0, cold: 0.0 };
        let history = [10u32, 20, 30, 40, 50, 60];
        let filter = Filter::default().with_exclude(history);
        let top = |b: &crate::Bundle<crate::bundle::AlignedBytes>| {
            let (r, _) = recommend(&b.view(), &history, 3, Some(w), &filter, &mut RecScratch::default()).expect("rec");
            r.into_iter().map(|r| r.item).collect::<Vec<_>>()
        };
        let flat = top(&crate::Bundle::load(&parts.to_bytes().expect("bytes")).expect("load"));
        parts.manifest.history_half_life = 0.5;
        // The latest item (60) now dominates: its strongest neighbour (60 + 7) comes first.
        let recent = top(&crate::Bundle::load(&parts.to_bytes().expect("bytes")).expect("load"));
        assert_eq!(recent[0], 67, "{recent:?}");
        assert_ne!(flat, recent);
    }

    #[test]
    fn empty_history_falls_back_to_popularity() {
        let (bytes, _, _) = fixture_bundle(50, 8, 1);
        let b = crate::Bundle::load(&bytes).expect("load");
        let view = b.view();
        let (recs, src) = recommend(&view, &[], 5, None, &Filter::default(), &mut RecScratch::default()).expect("rec");
        assert_eq!(src, Source::Popularity);
        let mut by_pop: Vec<u32> = (0..50).collect();
        by_pop.sort_by(|&a, &b| view.popularity[b as usize].total_cmp(&view.popularity[a as usize]).then(a.cmp(&b)));
        assert_eq!(recs.iter().map(|r| r.item).collect::<Vec<_>>(), by_pop[..5].to_vec());
    }
}
