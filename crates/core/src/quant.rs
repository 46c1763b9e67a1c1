//! int8 scalar quantization with one scale per row (symmetric: `v ≈ code × scale`).
//!
//! Per-row scales keep every vector's relative error bounded by `0.5 / 127` of its largest
//! component, whatever the spread between vectors; a dot product is an exact integer sum times two
//! scales, so it gives identical results on every target.

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
        QuantView { codes: &self.codes, scales: &self.scales, dim: self.dim }
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
    }

    /// `row(i) · q` where `q` is already quantized, as f32 (without the query's scale).
    #[inline]
    pub fn dot_i8(&self, i: usize, q: &[i8]) -> f32 {
        dot_i8(self.row(i), q) as f32 * self.scales[i]
    }

    /// `row(i) · x` for an f32 vector `x`.
    #[inline]
    pub fn dot_f32(&self, i: usize, x: &[f32]) -> f32 {
        let row = self.row(i);
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
        (acc.iter().sum::<f32>() + tail) * self.scales[i]
    }
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
    fn zero_vector_has_zero_scale() {
        let m = QuantMatrix::from_f32(&[0.0, 0.0, 0.0], 3);
        assert_eq!(m.scales, vec![0.0]);
        assert_eq!(m.codes, vec![0, 0, 0]);
    }
}
