//! EASE (Steck 2019) item-to-item weights, kept as the top neighbours of each item so the bundle
//! stays small and the runtimes score a session with a few sparse row reads (no fold-in).
//!
//! `B = I − P·diag(1/diag(P))`, `P = (XᵀX + λI)⁻¹`, `diag(B) = 0`; the score of item `j` for a
//! history `H` is `Σ_{i∈H} B[i, j]`. The inverse is dense (`n²` f64), so catalogs above
//! [`MAX_ITEMS`] skip this source.

use rayon::prelude::*;
use shopai_core::als::CsrMatrix;

/// Largest catalog for which EASE is computed (the dense inverse needs `8·n²` bytes twice).
pub const MAX_ITEMS: usize = 6000;

/// Dense `XᵀX + λI` from a binary user × item matrix.
fn gram(x: &CsrMatrix, lambda: f64) -> Vec<f64> {
    let n = x.cols;
    let mut g = vec![0f64; n * n];
    for u in 0..x.rows() {
        let (items, _) = x.row(u);
        for &a in items {
            let row = &mut g[a as usize * n..(a as usize + 1) * n];
            for &b in items {
                row[b as usize] += 1.0;
            }
        }
    }
    for i in 0..n {
        g[i * n + i] += lambda;
    }
    g
}

/// In-place Cholesky of a row-major SPD matrix into its lower triangle. Returns false if not SPD.
fn cholesky(a: &mut [f64], n: usize) -> bool {
    for j in 0..n {
        let (head, tail) = a.split_at_mut(j * n);
        let row_j = &mut tail[..n];
        let d = row_j[j] - row_j[..j].iter().map(|v| v * v).sum::<f64>();
        if d <= 0.0 || !d.is_finite() {
            return false;
        }
        row_j[j] = d.sqrt();
        let _ = head;
        let (upto, rest) = a.split_at_mut((j + 1) * n);
        let rj = &upto[j * n..j * n + j + 1];
        let ljj = rj[j];
        rest.par_chunks_mut(n).for_each(|ri| {
            let s: f64 = ri[..j].iter().zip(&rj[..j]).map(|(x, y)| x * y).sum();
            ri[j] = (ri[j] - s) / ljj;
        });
    }
    true
}

/// The `k` outgoing EASE weights of every item with the largest magnitude (negative weights carry
/// as much signal as positive ones in EASE), ordered by weight.
/// `None` when the catalog is too large or the Gram matrix is not positive definite.
pub fn neighbors(x: &CsrMatrix, lambda: f32, k: usize) -> Option<Vec<Vec<(u32, f32)>>> {
    let n = x.cols;
    if n == 0 || n > MAX_ITEMS {
        return None;
    }
    let mut l = gram(x, lambda as f64);
    if !cholesky(&mut l, n) {
        return None;
    }
    // M = L⁻¹ column by column (forward substitution on unit vectors); store column j as row j of mt.
    let mut mt = vec![0f64; n * n];
    mt.par_chunks_mut(n).enumerate().for_each(|(j, col)| {
        col[j] = 1.0 / l[j * n + j];
        for i in j + 1..n {
            let li = &l[i * n..i * n + i];
            let s: f64 = li[j..i].iter().zip(&col[j..i]).map(|(a, b)| a * b).sum();
            col[i] = -s / l[i * n + i];
        }
    });
    drop(l);
    // P = Mᵀ M: P[a][b] = Σ_{k ≥ max(a,b)} M[k][a] M[k][b] = dot of mt rows a and b from max(a,b).
    let diag: Vec<f64> = (0..n).map(|a| mt[a * n + a..(a + 1) * n].iter().map(|v| v * v).sum()).collect();
    let out: Vec<Vec<(u32, f32)>> = (0..n)
        .into_par_iter()
        .map(|a| {
            let ra = &mt[a * n..(a + 1) * n];
            let mut row: Vec<(u32, f32)> = (0..n)
                .filter(|&b| b != a)
                .filter_map(|b| {
                    let from = a.max(b);
                    let rb = &mt[b * n..(b + 1) * n];
                    let p: f64 = ra[from..].iter().zip(&rb[from..]).map(|(x, y)| x * y).sum();
                    let w = -p / diag[b];
                    (w != 0.0).then_some((b as u32, w as f32))
                })
                .collect();
            row.sort_by(|x, y| y.1.abs().total_cmp(&x.1.abs()).then(x.0.cmp(&y.0)));
            row.truncate(k);
            row.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
            row
        })
        .collect();
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_direct_inverse_on_a_small_matrix() {
        // 5 users × 4 items; compare B against Gauss-Jordan in f64.
        let t: Vec<(u32, u32, f32)> =
            [(0, 0), (0, 1), (1, 1), (1, 2), (2, 0), (2, 2), (3, 3), (3, 0), (4, 1), (4, 3), (4, 0)]
                .iter()
                .map(|&(u, i)| (u, i, 1.0))
                .collect();
        let x = CsrMatrix::from_triplets(5, 4, &t);
        let lambda = 0.5;
        let n = 4;
        let mut a = gram(&x, lambda);
        let mut inv = vec![0f64; n * n];
        (0..n).for_each(|i| inv[i * n + i] = 1.0);
        for c in 0..n {
            let p = a[c * n + c];
            for j in 0..n {
                a[c * n + j] /= p;
                inv[c * n + j] /= p;
            }
            for r in 0..n {
                if r != c {
                    let f = a[r * n + c];
                    for j in 0..n {
                        a[r * n + j] -= f * a[c * n + j];
                        inv[r * n + j] -= f * inv[c * n + j];
                    }
                }
            }
        }
        let got = neighbors(&x, lambda as f32, 10).expect("spd");
        for (i, row) in got.iter().enumerate() {
            for &(j, w) in row {
                let want = -inv[i * n + j as usize] / inv[j as usize * n + j as usize];
                assert!((w as f64 - want).abs() < 1e-6, "B[{i}][{j}] = {w}, want {want}");
            }
            let nonzero = (0..n).filter(|&j| j != i && inv[i * n + j] != 0.0).count();
            assert_eq!(row.len(), nonzero);
        }
    }
}
