//! int8 codes with one f32 scale per row, and the dot products over them.
//!
//! [`QuantMatrix::from_f32`] (used for the ALS factors) is symmetric max-abs quantization,
//! `v ≈ code × scale`, so each component's error is at most `0.5 / 127` of the row's largest.
//! Item vectors are coded differently, by [`crate::index::encode`]: codes of `v − μ` (the
//! catalog mean, carried in [`QuantView::mean`]) with a scale chosen to keep each row's
//! projection on itself, so their error is orthogonal to `v − μ` rather than bounded as above.
//!
//! int8 · int8 products are exact integer sums (then times the scales), so every target gets the
//! same value; f32 · int8 products ([`QuantView::dot_f32_centered`]) sum in a fixed order for the
//! same reason.

/// An owned quantized matrix (what the writer takes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QuantMatrix {
    /// Row-major codes, `rows × dim`.
    pub codes: Vec<i8>,
    /// One scale per row.
    pub scales: Vec<f32>,
    /// Columns.
    pub dim: usize,
}

impl QuantMatrix {
    /// Quantize a row-major f32 matrix with `dim` columns.
    pub fn from_f32(values: &[f32], dim: usize) -> Self {
        let rows = values.len().checked_div(dim).unwrap_or(0);
        let mut codes = vec![0i8; rows * dim];
        let mut scales = vec![0f32; rows];
        for r in 0..rows {
            scales[r] = quantize_into(&values[r * dim..(r + 1) * dim], &mut codes[r * dim..(r + 1) * dim]);
        }
        Self { codes, scales, dim }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.scales.len()
    }

    /// Borrowed view.
    pub fn view(&self) -> QuantView<'_> {
        QuantView { codes: &self.codes, scales: &self.scales, dim: self.dim, mean: &[] }
    }
}

/// Quantize one vector into `out`, returning its scale (0 for an all-zero vector).
pub fn quantize_into(v: &[f32], out: &mut [i8]) -> f32 {
    let max = v.iter().fold(0f32, |m, x| if x.is_finite() { m.max(x.abs()) } else { m });
    if max == 0.0 {
        out.fill(0);
        return 0.0;
    }
    let scale = max / 127.0;
    for (o, &x) in out.iter_mut().zip(v) {
        let x = if x.is_finite() { x } else { 0.0 };
        *o = (x / scale).round().clamp(-127.0, 127.0) as i8;
    }
    scale
}

/// A borrowed quantized matrix (zero-copy from a bundle).
#[derive(Debug, Clone, Copy)]
pub struct QuantView<'a> {
    /// Row-major codes.
    pub codes: &'a [i8],
    /// One scale per row.
    pub scales: &'a [f32],
    /// Columns.
    pub dim: usize,
    /// Mean added back to every row (the codes are of `row − mean`); empty for none.
    pub mean: &'a [f32],
}

impl<'a> QuantView<'a> {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.scales.len()
    }

    /// Codes of row `i`.
    pub fn row(&self, i: usize) -> &'a [i8] {
        &self.codes[i * self.dim..(i + 1) * self.dim]
    }

    /// Dequantize row `i` into `out`.
    pub fn dequantize_into(&self, i: usize, out: &mut [f32]) {
        let s = self.scales[i];
        for (o, &c) in out.iter_mut().zip(self.row(i)) {
            *o = c as f32 * s;
        }
        out.iter_mut().zip(self.mean).for_each(|(o, m)| *o += m);
    }

    /// `acc += weight · row i dequantized`, element by element with [`Self::dequantize_into`]'s
    /// roundings and then the multiply and the add: the same bits as dequantizing into a buffer
    /// and adding that, in one pass.
    pub fn add_weighted_row(&self, i: usize, weight: f32, acc: &mut [f32]) {
        let s = self.scales[i];
        let row = self.row(i);
        if self.mean.is_empty() {
            acc.iter_mut().zip(row).for_each(|(a, &c)| *a += weight * (c as f32 * s));
        } else {
            for ((a, &c), &m) in acc.iter_mut().zip(row).zip(self.mean) {
                *a += weight * (c as f32 * s + m);
            }
        }
    }

    /// `row(i) · q` where `q` is already quantized, as f32 (without the query's scale).
    #[inline]
    pub fn dot_i8(&self, i: usize, q: &[i8]) -> f32 {
        dot_i8(self.row(i), q) as f32 * self.scales[i]
    }

    /// `row(i) · x` for an f32 vector `x`, including the mean term.
    #[inline]
    pub fn dot_f32(&self, i: usize, x: &[f32]) -> f32 {
        let mean: f32 = self.mean.iter().zip(x).map(|(m, v)| m * v).sum();
        self.dot_f32_centered(i, x) + mean
    }

    /// `(row(i) − mean) · x`: the hot-path form; add `mean · x` once per query.
    #[inline]
    pub fn dot_f32_centered(&self, i: usize, x: &[f32]) -> f32 {
        centered_dot(self.row(i), x) * self.scales[i]
    }

    /// `out[i] ≈ dot_f32_centered(i, x) + add` for every row: the whole-catalog scan of a
    /// recommendation. `x` is coded once as int16 ([`quantize_i16`], a relative error of at most
    /// `0.5 / bound` of its largest entry, [`scan_bound`]: 1/65,534 up to 516 dimensions, far
    /// under the int8 rows' own) and each row's sum is exact integer arithmetic — the same bits on
    /// every machine and in the wasm build, and a third of the work of converting every code to
    /// f32: `out[i] = (row(i) · q) as f32 · q_scale · scales[i] + add`.
    pub fn scan_centered(&self, x: &[f32], add: f32, out: &mut [f32]) {
        if self.dim == 0 {
            return out.iter_mut().for_each(|o| *o = add);
        }
        let mut q = vec![0i16; self.dim];
        let q_scale = quantize_i16(&x[..self.dim], scan_bound(self.dim), &mut q);
        let dot = best_dot_i8_i16();
        for ((o, row), &scale) in out.iter_mut().zip(self.codes.chunks_exact(self.dim)).zip(self.scales) {
            *o = dot(row, &q) as f32 * q_scale * scale + add;
        }
    }
}

/// The largest int16 code [`QuantView::scan_centered`] gives a query of `dim` entries: 32,767, or
/// less where `127 · code · dim` would not fit an i32 (past 516 dimensions), so that no sum over
/// an int8 row — nor any partial sum, in any order — overflows.
pub fn scan_bound(dim: usize) -> i16 {
    (i32::MAX as usize / (127 * dim.max(1))).clamp(1, i16::MAX as usize) as i16
}

/// Code `v` as int16 with one scale (max-abs, `v ≈ code × scale`, codes within ±`bound`; NaN and
/// infinities code as 0) into `out`, returning the scale (0 for an all-zero vector).
pub fn quantize_i16(v: &[f32], bound: i16, out: &mut [i16]) -> f32 {
    let max = v.iter().fold(0f32, |m, x| if x.is_finite() { m.max(x.abs()) } else { m });
    if max == 0.0 {
        out.fill(0);
        return 0.0;
    }
    let b = bound as f32;
    let scale = max / b;
    for (o, &x) in out.iter_mut().zip(v) {
        let x = if x.is_finite() { x } else { 0.0 };
        *o = (x / scale).round().clamp(-b, b) as i16;
    }
    scale
}

/// The fastest exact int8 × int16 dot product here, as [`best_dot_i8`] chooses for int8 × int8.
fn best_dot_i8_i16() -> fn(&[i8], &[i16]) -> i32 {
    #[cfg(all(target_arch = "x86_64", not(target_feature = "avx2")))]
    {
        if std::is_x86_feature_detected!("avx2") {
            return dot_i8_i16_avx2;
        }
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        return dot_i8_i16_simd128;
    }
    #[allow(unreachable_code)]
    dot_i8_i16
}

/// Exact `a · b` for int8 `a` and int16 `b` (the caller keeps the sum within i32: [`scan_bound`]).
/// Written as chunks of 16 so LLVM vectorizes it (`pmaddwd` on x86).
#[inline(always)]
pub fn dot_i8_i16(a: &[i8], b: &[i16]) -> i32 {
    let mut acc = [0i32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..16 {
            acc[l] = acc[l].wrapping_add(x[l] as i32 * y[l] as i32);
        }
    }
    let tail = ra.iter().zip(rb).fold(0i32, |s, (&x, &y)| s.wrapping_add(x as i32 * y as i32));
    acc.iter().fold(tail, |s, &x| s.wrapping_add(x))
}

#[cfg(all(target_arch = "x86_64", not(target_feature = "avx2")))]
fn dot_i8_i16_avx2(a: &[i8], b: &[i16]) -> i32 {
    #[target_feature(enable = "avx2")]
    unsafe fn inner(a: &[i8], b: &[i16]) -> i32 {
        dot_i8_i16(a, b)
    }
    // SAFETY: only handed out by `best_dot_i8_i16` after `is_x86_feature_detected!("avx2")`.
    unsafe { inner(a, b) }
}

/// [`dot_i8_i16`] with wasm SIMD: eight codes sign-extended to i16 in the load, then
/// `i32x4.dot_i16x8_s` against eight query codes. Not inlined, like [`dot_i8_simd128`], so
/// Cranelift keeps the accumulator in a register.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(never)]
fn dot_i8_i16_simd128(a: &[i8], b: &[i16]) -> i32 {
    use core::arch::wasm32::*;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    let mut acc = i32x4_splat(0);
    for (x, y) in ca.zip(cb) {
        // SAFETY: `x` holds 8 codes and `y` 8 int16 (chunks_exact); wasm loads need no alignment.
        let (x, y) = unsafe { (i16x8_load_extend_i8x8(x.as_ptr()), v128_load(y.as_ptr() as *const v128)) };
        acc = i32x4_add(acc, i32x4_dot_i16x8(x, y));
    }
    let lanes = [
        i32x4_extract_lane::<0>(acc),
        i32x4_extract_lane::<1>(acc),
        i32x4_extract_lane::<2>(acc),
        i32x4_extract_lane::<3>(acc),
    ];
    let tail = ra.iter().zip(rb).fold(0i32, |s, (&x, &y)| s.wrapping_add(x as i32 * y as i32));
    lanes.iter().fold(tail, |s, &x| s.wrapping_add(x))
}

/// `row · x` over eight independent lanes summed in index order, then the tail: chunked slices
/// (no index arithmetic, no bounds checks) so LLVM turns the lanes into SIMD (SSE or AVX natively,
/// simd128 on wasm) without reordering any sum.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn centered_dot(row: &[i8], x: &[f32]) -> f32 {
    let x = &x[..row.len()];
    let (rc, xc) = (row.chunks_exact(8), x.chunks_exact(8));
    let (rt, xt) = (rc.remainder(), xc.remainder());
    let mut acc = [0f32; 8];
    for (r, v) in rc.zip(xc) {
        for l in 0..8 {
            acc[l] += r[l] as f32 * v[l];
        }
    }
    let mut tail = 0f32;
    for (&r, &v) in rt.iter().zip(xt) {
        tail += r as f32 * v;
    }
    acc.iter().sum::<f32>() + tail
}

/// [`centered_dot`] with wasm SIMD, which LLVM does not vectorize from the portable loop on its
/// own (it stays scalar, a third of native speed): lanes 0–3 and 4–7 of the portable loop's
/// eight accumulators are two `f32x4`, each step the same multiply then add (no fused
/// multiply-add), summed at the end in the same order — the same bits as the portable loop.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn centered_dot(row: &[i8], x: &[f32]) -> f32 {
    use core::arch::wasm32::*;
    let x = &x[..row.len()];
    let (rc, xc) = (row.chunks_exact(8), x.chunks_exact(8));
    let (rt, xt) = (rc.remainder(), xc.remainder());
    let (mut lo, mut hi) = (f32x4_splat(0.0), f32x4_splat(0.0));
    for (r, v) in rc.zip(xc) {
        // SAFETY: `r` holds 8 codes and `v` 8 floats (chunks_exact); wasm loads need no alignment.
        let (codes, v0, v1) = unsafe {
            (
                i16x8_load_extend_i8x8(r.as_ptr()),
                v128_load(v.as_ptr() as *const v128),
                v128_load(v.as_ptr().add(4) as *const v128),
            )
        };
        let r0 = f32x4_convert_i32x4(i32x4_extend_low_i16x8(codes));
        let r1 = f32x4_convert_i32x4(i32x4_extend_high_i16x8(codes));
        lo = f32x4_add(lo, f32x4_mul(r0, v0));
        hi = f32x4_add(hi, f32x4_mul(r1, v1));
    }
    let acc = [
        f32x4_extract_lane::<0>(lo),
        f32x4_extract_lane::<1>(lo),
        f32x4_extract_lane::<2>(lo),
        f32x4_extract_lane::<3>(lo),
        f32x4_extract_lane::<0>(hi),
        f32x4_extract_lane::<1>(hi),
        f32x4_extract_lane::<2>(hi),
        f32x4_extract_lane::<3>(hi),
    ];
    let mut tail = 0f32;
    for (&r, &v) in rt.iter().zip(xt) {
        tail += r as f32 * v;
    }
    acc.iter().sum::<f32>() + tail
}

/// The fastest exact int8 dot product this CPU supports (chosen once per call site, e.g. once per
/// query): AVX2 on x86-64 when available (detected at run time, so one binary serves every
/// machine), the portable version elsewhere (wasm builds vectorize it with simd128). Integer sums
/// are exact, so every choice returns the same value.
pub fn best_dot_i8() -> fn(&[i8], &[i8]) -> i32 {
    #[cfg(all(target_arch = "x86_64", not(target_feature = "avx2")))]
    {
        if std::is_x86_feature_detected!("avx2") {
            return dot_i8_avx2;
        }
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        return dot_i8_simd128;
    }
    #[allow(unreachable_code)]
    dot_i8
}

/// 16 int8 pairs per step with wasm SIMD: sign-extend halves to i16x8, `i32x4.dot_i16x8_s`.
/// Not inlined: inside a search's scan loop Cranelift spilled the accumulator to the stack on
/// every step; as its own function it stays in a register (wasm `/search` 119 → 106 µs,
/// docs/BENCHMARKS.md).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(never)]
fn dot_i8_simd128(a: &[i8], b: &[i8]) -> i32 {
    use core::arch::wasm32::*;
    let n = a.len().min(b.len());
    let chunks = n / 16;
    let mut acc = i32x4_splat(0);
    for c in 0..chunks {
        // SAFETY: c * 16 + 16 <= n; v128_load has no alignment requirement.
        let (va, vb) = unsafe {
            (v128_load(a.as_ptr().add(c * 16) as *const v128), v128_load(b.as_ptr().add(c * 16) as *const v128))
        };
        acc = i32x4_add(acc, i32x4_dot_i16x8(i16x8_extend_low_i8x16(va), i16x8_extend_low_i8x16(vb)));
        acc = i32x4_add(acc, i32x4_dot_i16x8(i16x8_extend_high_i8x16(va), i16x8_extend_high_i8x16(vb)));
    }
    let mut total = i32x4_extract_lane::<0>(acc)
        + i32x4_extract_lane::<1>(acc)
        + i32x4_extract_lane::<2>(acc)
        + i32x4_extract_lane::<3>(acc);
    for k in chunks * 16..n {
        total += a[k] as i32 * b[k] as i32;
    }
    total
}

#[cfg(all(target_arch = "x86_64", not(target_feature = "avx2")))]
fn dot_i8_avx2(a: &[i8], b: &[i8]) -> i32 {
    // SAFETY: only handed out by `best_dot_i8` after `is_x86_feature_detected!("avx2")`.
    unsafe { dot_i8_avx2_inner(a, b) }
}

/// 16 int8 pairs per step: sign-extend to i16 (`vpmovsxbw`), multiply and add adjacent pairs into
/// i32 (`vpmaddwd`; 127·127·2 fits), accumulate; the tail is scalar.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_i8_avx2_inner(a: &[i8], b: &[i8]) -> i32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let chunks = n / 16;
    let mut acc = _mm256_setzero_si256();
    for c in 0..chunks {
        // SAFETY: c * 16 + 16 <= n, and loadu has no alignment requirement.
        let (va, vb) = unsafe {
            (
                _mm_loadu_si128(a.as_ptr().add(c * 16) as *const __m128i),
                _mm_loadu_si128(b.as_ptr().add(c * 16) as *const __m128i),
            )
        };
        let prod = _mm256_madd_epi16(_mm256_cvtepi8_epi16(va), _mm256_cvtepi8_epi16(vb));
        acc = _mm256_add_epi32(acc, prod);
    }
    let hi = _mm256_extracti128_si256(acc, 1);
    let sum4 = _mm_add_epi32(_mm256_castsi256_si128(acc), hi);
    let sum2 = _mm_add_epi32(sum4, _mm_shuffle_epi32(sum4, 0b01_00_11_10));
    let sum1 = _mm_add_epi32(sum2, _mm_shuffle_epi32(sum2, 0b10_11_00_01));
    let mut total = _mm_cvtsi128_si32(sum1);
    for k in chunks * 16..n {
        total += a[k] as i32 * b[k] as i32;
    }
    total
}

/// Exact integer dot product of two int8 vectors.
#[inline]
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    // Written as chunks of 16 so LLVM vectorizes it (pmaddwd on x86, i32x4.dot_i16x8 on wasm simd).
    let mut acc = [0i32; 16];
    let ca = a.chunks_exact(16);
    let cb = b.chunks_exact(16);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..16 {
            acc[l] += x[l] as i32 * y[l] as i32;
        }
    }
    let mut sum: i32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        sum += *x as i32 * *y as i32;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn roundtrip_error_is_bounded(v in proptest::collection::vec(-10f32..10f32, 1..64)) {
            let m = QuantMatrix::from_f32(&v, v.len());
            let mut back = vec![0f32; v.len()];
            m.view().dequantize_into(0, &mut back);
            let max = v.iter().fold(0f32, |a, x| a.max(x.abs()));
            for (a, b) in v.iter().zip(&back) {
                prop_assert!((a - b).abs() <= max / 127.0 * 0.5 + 1e-6);
            }
        }

        #[test]
        fn int_dot_matches_f32(a in proptest::collection::vec(-127i8..=127, 0..70)) {
            let b: Vec<i8> = a.iter().rev().copied().collect();
            let want: i32 = a.iter().zip(&b).map(|(x, y)| *x as i32 * *y as i32).sum();
            prop_assert_eq!(dot_i8(&a, &b), want);
        }
    }

    #[test]
    fn a_weighted_row_adds_as_dequantizing_then_adding() {
        // Same bits as the two-pass form, with and without a mean, for dimensions with tails.
        for dim in [1, 7, 33, 256] {
            let v: Vec<f32> = (0..3 * dim).map(|i| ((i * 7919) % 211) as f32 / 13.0 - 8.0).collect();
            let plain = QuantMatrix::from_f32(&v, dim);
            let mean: Vec<f32> = (0..dim).map(|j| (j as f32 * 0.37).sin()).collect();
            for m in [plain.view(), QuantView { mean: &mean, ..plain.view() }] {
                let (mut want, mut got, mut row) = (vec![0.1f32; dim], vec![0.1f32; dim], vec![0f32; dim]);
                for (i, w) in [(2, 0.7f32), (0, -1.3), (2, 1e-3)] {
                    m.dequantize_into(i, &mut row);
                    want.iter_mut().zip(&row).for_each(|(a, r)| *a += w * r);
                    m.add_weighted_row(i, w, &mut got);
                }
                let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "dim {dim}, mean {}", !m.mean.is_empty());
            }
        }
    }

    #[test]
    fn dispatched_dot_equals_portable() {
        let a: Vec<i8> = (0..300).map(|i| ((i * 37) % 255 - 127) as i8).collect();
        let b: Vec<i8> = (0..300).map(|i| ((i * 91) % 255 - 127) as i8).collect();
        for len in [0, 1, 15, 16, 17, 255, 300] {
            assert_eq!(best_dot_i8()(&a[..len], &b[..len]), dot_i8(&a[..len], &b[..len]));
        }
    }

    #[test]
    fn centered_dot_sums_in_the_documented_order() {
        // Served scores must not change when the loop is rewritten: eight lanes summed in index
        // order, lanes added left to right, then the tail, then the scale — bit for bit.
        let reference = |row: &[i8], x: &[f32], scale: f32| {
            let mut acc = [0f32; 8];
            let chunks = row.len() / 8;
            for c in 0..chunks {
                for l in 0..8 {
                    acc[l] += row[c * 8 + l] as f32 * x[c * 8 + l];
                }
            }
            let mut tail = 0f32;
            for j in chunks * 8..row.len() {
                tail += row[j] as f32 * x[j];
            }
            (acc.iter().sum::<f32>() + tail) * scale
        };
        for dim in [1, 7, 8, 9, 64, 100, 384] {
            let v: Vec<f32> = (0..3 * dim).map(|i| ((i * 7919) % 1000) as f32 / 37.0 - 13.0).collect();
            let m = QuantMatrix::from_f32(&v, dim);
            let x: Vec<f32> = (0..dim).map(|i| ((i * 104729) % 997) as f32 / 101.0 - 4.9).collect();
            let view = m.view();
            for r in 0..3 {
                let want = reference(view.row(r), &x, view.scales[r]);
                assert_eq!(view.dot_f32_centered(r, &x).to_bits(), want.to_bits(), "dim {dim} row {r}");
            }
        }
    }

    #[test]
    fn the_scan_is_the_exact_integer_sum_against_the_int16_query() {
        // Against a reference in i64: the same bits on every machine (AVX2 where the CPU has
        // it, simd128 in the wasm test run), and within the query's coding error of the f32 sum.
        for dim in [1, 7, 8, 9, 15, 16, 17, 64, 100, 384, 600, 1536] {
            let v: Vec<f32> = (0..5 * dim).map(|i| ((i * 7919) % 1000) as f32 / 37.0 - 13.0).collect();
            let m = QuantMatrix::from_f32(&v, dim);
            let view = m.view();
            let x: Vec<f32> = (0..dim).map(|i| ((i * 104729) % 997) as f32 / 101.0 - 4.9).collect();
            let mut scan = vec![0f32; 5];
            view.scan_centered(&x, 0.25, &mut scan);
            let mut q = vec![0i16; dim];
            let q_scale = quantize_i16(&x, scan_bound(dim), &mut q);
            for (r, scanned) in scan.iter().enumerate() {
                let exact: i64 = view.row(r).iter().zip(&q).map(|(&c, &y)| c as i64 * y as i64).sum();
                let want = i32::try_from(exact).expect("fits i32") as f32 * q_scale * view.scales[r] + 0.25;
                assert_eq!(scanned.to_bits(), want.to_bits(), "dim {dim} row {r}");
                let f32_sum = view.dot_f32_centered(r, &x) + 0.25;
                let magnitude: f32 = view.row(r).iter().zip(&x).map(|(&c, &y)| (c as f32 * y).abs()).sum();
                let tolerance = magnitude * view.scales[r] / scan_bound(dim) as f32 + 1e-4;
                assert!((scanned - f32_sum).abs() <= tolerance, "dim {dim} row {r}: {scanned} vs {f32_sum}");
            }
        }
        // The largest sum a row can make does not overflow: every code 127, the query at its bound.
        for dim in [516, 517, 1536, 4096] {
            let m = QuantMatrix::from_f32(&vec![1.0; dim], dim);
            let mut scan = [0f32];
            m.view().scan_centered(&vec![2.0; dim], 0.0, &mut scan);
            let exact = 127i64 * scan_bound(dim) as i64 * dim as i64;
            assert!(exact <= i32::MAX as i64, "dim {dim}");
            assert!((scan[0] - 2.0 * dim as f32).abs() <= 1e-3 * dim as f32, "dim {dim}: {}", scan[0]);
        }
    }

    #[test]
    fn zero_vector_has_zero_scale() {
        let m = QuantMatrix::from_f32(&[0.0, 0.0, 0.0], 3);
        assert_eq!(m.scales, vec![0.0]);
        assert_eq!(m.codes, vec![0, 0, 0]);
    }
}
