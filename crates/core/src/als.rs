//! Implicit-feedback ALS (Hu, Koren & Volinsky 2008), solved the way `implicit`'s CPU solver does:
//! `YᵀY + λI` once per half-pass, a few warm-started conjugate-gradient steps per row, empty rows
//! zeroed, a NaN check after every iteration. An exact Cholesky solve is kept for fold-in and as
//! the test reference.
//!
//! Confidence follows `implicit`'s convention, so hyper-parameters carry over: `c = alpha × value`,
//! and a row solves `(YᵀY + λI + Σ (c−1) y yᵀ) x = Σ c y` over its non-zeros.

use crate::error::{Error, Result};
use crate::math::{dot, SplitMix64};

/// Training hyper-parameters. `AlsConfig::default()` then override what you need.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlsConfig {
    /// Latent factors.
    pub factors: usize,
    /// L2 regularization λ.
    pub regularization: f32,
    /// Confidence scaling (`c = alpha × value`).
    pub alpha: f32,
    /// Full iterations (user half-pass + item half-pass).
    pub iterations: usize,
    /// CG steps per row per half-pass.
    pub cg_steps: usize,
    /// Seed of the factor initialization.
    pub seed: u64,
}

impl Default for AlsConfig {
    fn default() -> Self {
        Self { factors: 32, regularization: 0.05, alpha: 1.0, iterations: 15, cg_steps: 3, seed: 42 }
    }
}

impl AlsConfig {
    /// Set factors.
    pub fn factors(mut self, f: usize) -> Self {
        self.factors = f;
        self
    }
    /// Set λ.
    pub fn regularization(mut self, r: f32) -> Self {
        self.regularization = r;
        self
    }
    /// Set alpha.
    pub fn alpha(mut self, a: f32) -> Self {
        self.alpha = a;
        self
    }
    /// Set iterations.
    pub fn iterations(mut self, i: usize) -> Self {
        self.iterations = i;
        self
    }
    /// Set the seed.
    pub fn seed(mut self, s: u64) -> Self {
        self.seed = s;
        self
    }
}

/// A sparse matrix in compressed sparse row form.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CsrMatrix {
    /// Row start offsets, `rows + 1` long.
    pub indptr: Vec<usize>,
    /// Column of each non-zero.
    pub indices: Vec<u32>,
    /// Value of each non-zero.
    pub values: Vec<f32>,
    /// Number of columns.
    pub cols: usize,
}

impl CsrMatrix {
    /// Build from `(row, col, value)` triplets; duplicates are summed, columns sorted per row.
    pub fn from_triplets(rows: usize, cols: usize, triplets: &[(u32, u32, f32)]) -> Self {
        let mut counts = vec![0usize; rows + 1];
        for &(r, _, _) in triplets {
            counts[r as usize + 1] += 1;
        }
        for i in 0..rows {
            counts[i + 1] += counts[i];
        }
        let mut fill = counts.clone();
        let mut entries = vec![(0u32, 0f32); triplets.len()];
        for &(r, c, v) in triplets {
            entries[fill[r as usize]] = (c, v);
            fill[r as usize] += 1;
        }
        let mut indptr = Vec::with_capacity(rows + 1);
        let mut indices = Vec::with_capacity(triplets.len());
        let mut values = Vec::with_capacity(triplets.len());
        indptr.push(0);
        for r in 0..rows {
            let row = &mut entries[counts[r]..counts[r + 1]];
            row.sort_by_key(|e| e.0);
            for &(c, v) in row.iter() {
                if indices.len() > indptr[r] && *indices.last().unwrap_or(&u32::MAX) == c {
                    *values.last_mut().expect("non-empty") += v;
                } else {
                    indices.push(c);
                    values.push(v);
                }
            }
            indptr.push(indices.len());
        }
        Self { indptr, indices, values, cols }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.indptr.len() - 1
    }

    /// Number of stored non-zeros.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Columns and values of row `r`.
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (s, e) = (self.indptr[r], self.indptr[r + 1]);
        (&self.indices[s..e], &self.values[s..e])
    }

    /// The transpose.
    pub fn transpose(&self) -> Self {
        let mut counts = vec![0usize; self.cols + 1];
        for &c in &self.indices {
            counts[c as usize + 1] += 1;
        }
        for i in 0..self.cols {
            counts[i + 1] += counts[i];
        }
        let mut fill = counts.clone();
        let mut indices = vec![0u32; self.nnz()];
        let mut values = vec![0f32; self.nnz()];
        for r in 0..self.rows() {
            let (cs, vs) = self.row(r);
            for (&c, &v) in cs.iter().zip(vs) {
                let at = fill[c as usize];
                indices[at] = r as u32;
                values[at] = v;
                fill[c as usize] += 1;
            }
        }
        Self { indptr: counts, indices, values, cols: self.rows() }
    }
}

/// Trained factors, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct AlsModel {
    /// `users × factors`.
    pub user_factors: Vec<f32>,
    /// `items × factors`.
    pub item_factors: Vec<f32>,
    /// Latent factors.
    pub factors: usize,
}

impl AlsModel {
    /// Factor row of user `u`.
    pub fn user(&self, u: usize) -> &[f32] {
        &self.user_factors[u * self.factors..(u + 1) * self.factors]
    }
    /// Factor row of item `i`.
    pub fn item(&self, i: usize) -> &[f32] {
        &self.item_factors[i * self.factors..(i + 1) * self.factors]
    }
}

#[inline]
fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}

/// `YᵀY + λI` for row-major `y` with `k` columns.
pub fn gram(y: &[f32], k: usize, regularization: f32) -> Vec<f32> {
    let mut g = vec![0f64; k * k];
    for row in y.chunks_exact(k) {
        for a in 0..k {
            let ra = row[a] as f64;
            if ra == 0.0 {
                continue;
            }
            for b in a..k {
                g[a * k + b] += ra * row[b] as f64;
            }
        }
    }
    let mut out = vec![0f32; k * k];
    for a in 0..k {
        for b in a..k {
            let v = g[a * k + b] as f32 + if a == b { regularization } else { 0.0 };
            out[a * k + b] = v;
            out[b * k + a] = v;
        }
    }
    out
}

fn matvec(m: &[f32], x: &[f32], out: &mut [f32]) {
    let k = x.len();
    for (o, row) in out.iter_mut().zip(m.chunks_exact(k)) {
        *o = dot(row, x);
    }
}

/// The fixed side of a half-pass: `YᵀY + λI` and `Y`, with the confidence scaling and CG steps.
struct RowSolver<'a> {
    yty: &'a [f32],
    y: &'a [f32],
    alpha: f32,
    steps: usize,
}

/// One row's CG update, warm-started from `x`.
fn cg_row(sys: &RowSolver<'_>, cols: &[u32], vals: &[f32], x: &mut [f32], scratch: &mut [f32]) {
    let RowSolver { yty, y, alpha, steps } = *sys;
    let k = x.len();
    if cols.is_empty() {
        x.fill(0.0);
        return;
    }
    let (r, rest) = scratch.split_at_mut(k);
    let (p, ap) = rest.split_at_mut(k);
    // r = b − A x
    matvec(yty, x, r);
    r.iter_mut().for_each(|v| *v = -*v);
    for (&c, &v) in cols.iter().zip(vals) {
        let yi = &y[c as usize * k..(c as usize + 1) * k];
        let conf = alpha * v;
        let coef = conf - (conf - 1.0) * dot(yi, x);
        axpy(coef, yi, r);
    }
    p.copy_from_slice(r);
    let mut rsold = dot(r, r);
    if rsold < 1e-20 {
        return;
    }
    for _ in 0..steps {
        matvec(yty, p, ap);
        for (&c, &v) in cols.iter().zip(vals) {
            let conf = alpha * v;
            if conf != 1.0 {
                let yi = &y[c as usize * k..(c as usize + 1) * k];
                axpy((conf - 1.0) * dot(yi, p), yi, ap);
            }
        }
        let step = rsold / dot(p, ap);
        axpy(step, p, x);
        axpy(-step, ap, r);
        let rsnew = dot(r, r);
        if rsnew < 1e-20 {
            break;
        }
        let beta = rsnew / rsold;
        for (pi, ri) in p.iter_mut().zip(r.iter()) {
            *pi = ri + beta * *pi;
        }
        rsold = rsnew;
    }
}

/// Solve `A x = b` for symmetric positive definite `A` (`k × k`, row-major) by Cholesky, in f64;
/// only the lower triangle of `A` is read.
pub fn cholesky_solve(a: &[f32], b: &[f32]) -> Result<Vec<f32>> {
    let k = b.len();
    let mut l = vec![0f64; k * k];
    for i in 0..k {
        for j in 0..=i {
            let s = a[i * k + j] as f64 - dot_f64(&l[i * k..i * k + j], &l[j * k..j * k + j]);
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return Err(Error::NotPositiveDefinite);
                }
                l[i * k + i] = s.sqrt();
            } else {
                l[i * k + j] = s / l[j * k + j];
            }
        }
    }
    let mut z = vec![0f64; k];
    for i in 0..k {
        let s = b[i] as f64 - dot_f64(&l[i * k..i * k + i], &z[..i]);
        z[i] = s / l[i * k + i];
    }
    let mut x = vec![0f64; k];
    for i in (0..k).rev() {
        let mut s = z[i];
        for p in i + 1..k {
            s -= l[p * k + i] * x[p];
        }
        x[i] = s / l[i * k + i];
    }
    Ok(x.into_iter().map(|v| v as f32).collect())
}

/// `x · y` in f64 over four interleaved lanes, added in lane order, then the tail: four
/// independent chains of adds instead of one, so a Cholesky factorization (k³/6 of these
/// products at k factors) waits on add latency a quarter as often, and a fold-in at 128 factors
/// takes a fraction of the per-user budget.
fn dot_f64(x: &[f64], y: &[f64]) -> f64 {
    let (xc, yc) = (x.chunks_exact(4), y.chunks_exact(4));
    let tail: f64 = xc.remainder().iter().zip(yc.remainder()).map(|(a, b)| a * b).sum();
    let mut acc = [0f64; 4];
    for (a, b) in xc.zip(yc) {
        for l in 0..4 {
            acc[l] += a[l] * b[l];
        }
    }
    acc[0] + acc[1] + acc[2] + acc[3] + tail
}

/// Exact solution for one row: factors for a user (or item) given the other side's factors.
///
/// `gram` is `YᵀY + λI`; `row_of(i, out)` writes item `i`'s factors; `items` are the row's
/// `(column, value)` pairs. This is fold-in: the same system the trainer solves, solved exactly.
pub fn solve_row_exact(
    gram: &[f32],
    k: usize,
    alpha: f32,
    items: &[(u32, f32)],
    mut row_of: impl FnMut(usize, &mut [f32]),
) -> Result<Vec<f32>> {
    if items.is_empty() {
        return Ok(vec![0.0; k]);
    }
    let mut a = gram.to_vec();
    let mut b = vec![0f32; k];
    let mut y = vec![0f32; k];
    for &(i, v) in items {
        row_of(i as usize, &mut y);
        let conf = alpha * v;
        axpy(conf, &y, &mut b);
        if conf != 1.0 {
            // The lower triangle only: all that `cholesky_solve` reads.
            for (p, (a_row, &yp)) in a.chunks_exact_mut(k).zip(&y).enumerate() {
                add_scaled(&mut a_row[..=p], (conf - 1.0) * yp, &y);
            }
        }
    }
    cholesky_solve(&a, &b)
}

/// `a[q] += s · y[q]` for every `q < a.len()`: one multiply, then one add, per entry.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn add_scaled(a: &mut [f32], s: f32, y: &[f32]) {
    a.iter_mut().zip(y).for_each(|(a, &yq)| *a += s * yq);
}

/// [`add_scaled`] with wasm SIMD, four entries per step (Cranelift runs the portable loop's
/// short, varying-length rows of a fold-in scalar): the same multiply and add per entry.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn add_scaled(a: &mut [f32], s: f32, y: &[f32]) {
    use core::arch::wasm32::*;
    let y = &y[..a.len()];
    let ((a4, at), (y4, yt)) = (a.as_chunks_mut::<4>(), y.as_chunks::<4>());
    let sv = f32x4_splat(s);
    for (a, y) in a4.iter_mut().zip(y4) {
        // SAFETY: `a` and `y` each hold four floats; wasm loads and stores need no alignment.
        unsafe {
            let sum =
                f32x4_add(v128_load(a.as_ptr() as *const v128), f32x4_mul(sv, v128_load(y.as_ptr() as *const v128)));
            v128_store(a.as_mut_ptr() as *mut v128, sum);
        }
    }
    at.iter_mut().zip(yt).for_each(|(a, &yq)| *a += s * yq);
}

fn half_pass(rows: &CsrMatrix, other: &[f32], k: usize, cfg: &AlsConfig, out: &mut [f32]) {
    let yty = gram(other, k, cfg.regularization);
    let sys = RowSolver { yty: &yty, y: other, alpha: cfg.alpha, steps: cfg.cg_steps };
    let solve = |r: usize, x: &mut [f32], scratch: &mut [f32]| {
        let (cols, vals) = rows.row(r);
        cg_row(&sys, cols, vals, x, scratch);
    };
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(k).enumerate().for_each_init(|| vec![0f32; 3 * k], |scratch, (r, x)| solve(r, x, scratch));
    }
    #[cfg(not(feature = "parallel"))]
    {
        let mut scratch = vec![0f32; 3 * k];
        for (r, x) in out.chunks_mut(k).enumerate() {
            solve(r, x, &mut scratch);
        }
    }
}

/// Train on a user × item matrix. `on_iteration(i)` is called after each full iteration
/// (for progress bars and timing). Errors if factors become non-finite.
pub fn train(user_items: &CsrMatrix, cfg: &AlsConfig, mut on_iteration: impl FnMut(usize)) -> Result<AlsModel> {
    let k = cfg.factors;
    if k == 0 {
        return Err(Error::InvalidArgument { field: "factors", reason: "must be at least 1".into() });
    }
    let item_users = user_items.transpose();
    let mut rng = SplitMix64::new(cfg.seed);
    let mut init = |n: usize| (0..n * k).map(|_| rng.next_f32() * 0.01).collect::<Vec<f32>>();
    let mut user_factors = init(user_items.rows());
    let mut item_factors = init(user_items.cols);
    for it in 0..cfg.iterations {
        half_pass(user_items, &item_factors, k, cfg, &mut user_factors);
        half_pass(&item_users, &user_factors, k, cfg, &mut item_factors);
        if !user_factors.iter().chain(&item_factors).all(|v| v.is_finite()) {
            return Err(Error::NonFinite { iteration: it });
        }
        on_iteration(it);
    }
    Ok(AlsModel { user_factors, item_factors, factors: k })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_spd(k: usize, seed: u64) -> Vec<f32> {
        let mut rng = SplitMix64::new(seed);
        let y: Vec<f32> = (0..k * 3 * k).map(|_| rng.next_f32() - 0.5).collect();
        gram(&y, k, 0.1)
    }

    #[test]
    fn cholesky_solves_spd_system() {
        // Sizes below, at and past the four lanes of `dot_f64`, and the served 128 factors.
        for k in [1, 3, 6, 13, 128] {
            let mut a = random_spd(k, 3);
            let x_true: Vec<f32> = (0..k).map(|i| (i % 7) as f32 - 2.5).collect();
            let mut b = vec![0f32; k];
            matvec(&a, &x_true, &mut b);
            // Only the lower triangle is read: garbage above the diagonal changes nothing.
            for i in 0..k {
                a[i * k + i + 1..(i + 1) * k].fill(f32::NAN);
            }
            let x = cholesky_solve(&a, &b).expect("spd");
            for (u, v) in x.iter().zip(&x_true) {
                assert!((u - v).abs() < 1e-3, "k {k}: {x:?}");
            }
        }
    }

    #[test]
    fn fold_in_builds_its_system_entry_by_entry_in_item_order() {
        // The served fold-in must keep its bits when its loops are rewritten: each lower-triangle
        // entry is the gram's plus (conf − 1)·y_p·y_q per item, added in item order.
        for k in [1, 3, 4, 7, 64] {
            let mut rng = SplitMix64::new(k as u64);
            let y: Vec<f32> = (0..30 * k).map(|_| rng.next_f32() - 0.5).collect();
            let gram = gram(&y, k, 0.1);
            let items: Vec<(u32, f32)> = [(2u32, 1.0f32), (9, 0.5), (17, 0.25), (29, 1.0)].to_vec();
            let alpha = 4.0;
            let mut a = gram.clone();
            let mut b = vec![0f32; k];
            for &(i, v) in &items {
                let row = &y[i as usize * k..(i as usize + 1) * k];
                let conf = alpha * v;
                axpy(conf, row, &mut b);
                for p in 0..k {
                    for q in 0..=p {
                        a[p * k + q] += ((conf - 1.0) * row[p]) * row[q];
                    }
                }
            }
            let want = cholesky_solve(&a, &b).expect("spd");
            let got = solve_row_exact(&gram, k, alpha, &items, |i, out| out.copy_from_slice(&y[i * k..(i + 1) * k]))
                .expect("solve");
            assert_eq!(
                got.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                want.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                "k {k}"
            );
        }
    }

    #[test]
    fn cg_converges_to_cholesky() {
        let seed = 11;
        println!("seed {seed}");
        let k = 8;
        let mut rng = SplitMix64::new(seed);
        let y: Vec<f32> = (0..20 * k).map(|_| rng.next_f32() - 0.5).collect();
        let yty = gram(&y, k, 0.05);
        let cols = [1u32, 4, 7, 13];
        let vals = [1.0f32, 3.0, 2.0, 1.0];
        let items: Vec<(u32, f32)> = cols.iter().copied().zip(vals.iter().copied()).collect();
        let exact =
            solve_row_exact(&yty, k, 2.0, &items, |i, out| out.copy_from_slice(&y[i * k..(i + 1) * k])).expect("solve");
        let mut x = vec![0f32; k];
        let mut scratch = vec![0f32; 3 * k];
        // k CG steps solve a k-dimensional SPD system exactly (up to rounding).
        cg_row(&RowSolver { yty: &yty, y: &y, alpha: 2.0, steps: k + 2 }, &cols, &vals, &mut x, &mut scratch);
        for (a, b) in x.iter().zip(&exact) {
            assert!((a - b).abs() < 1e-3, "cg {x:?} vs exact {exact:?}");
        }
    }

    #[test]
    fn reconstructs_small_matrix() {
        // The 7×6 case from `implicit`'s tests: a block pattern ALS must reproduce.
        let dense = [
            [1, 1, 0, 1, 0, 0],
            [0, 1, 1, 1, 0, 0],
            [1, 0, 1, 0, 0, 0],
            [1, 1, 0, 0, 0, 0],
            [0, 0, 1, 1, 0, 1],
            [0, 1, 0, 0, 0, 1],
            [0, 0, 0, 0, 1, 1],
        ];
        let mut t = Vec::new();
        for (u, row) in dense.iter().enumerate() {
            for (i, &v) in row.iter().enumerate() {
                if v == 1 {
                    t.push((u as u32, i as u32, 1.0));
                }
            }
        }
        let m = CsrMatrix::from_triplets(7, 6, &t);
        let cfg = AlsConfig::default().factors(6).regularization(0.0).alpha(2.0).iterations(50);
        let cfg = AlsConfig { cg_steps: 6, ..cfg };
        let model = train(&m, &cfg, |_| {}).expect("train");
        for (u, row) in dense.iter().enumerate() {
            for (i, &v) in row.iter().enumerate() {
                let s = dot(model.user(u), model.item(i));
                assert!((s - v as f32).abs() < 0.1, "user {u} item {i}: {s} vs {v}");
            }
        }
    }

    #[test]
    fn empty_rows_are_zero_and_transpose_roundtrips() {
        let m = CsrMatrix::from_triplets(3, 4, &[(0, 1, 1.0), (2, 3, 1.0), (2, 0, 1.0), (2, 3, 1.0)]);
        assert_eq!(m.row(2), (&[0u32, 3][..], &[1.0f32, 2.0][..]));
        assert_eq!(m.transpose().transpose(), m);
        let model = train(&m, &AlsConfig::default().factors(4).iterations(3), |_| {}).expect("train");
        assert!(model.user(1).iter().all(|&v| v == 0.0));
    }

    #[test]
    fn fold_in_matches_trained_user() {
        let seed = 5;
        println!("seed {seed}");
        let mut rng = SplitMix64::new(seed);
        let mut t = Vec::new();
        for u in 0..60u32 {
            for i in 0..40u32 {
                if (u % 4 == i % 4 && rng.next_f32() < 0.5) || rng.next_f32() < 0.05 {
                    t.push((u, i, 1.0));
                }
            }
        }
        let m = CsrMatrix::from_triplets(60, 40, &t);
        let cfg = AlsConfig { cg_steps: 10, ..AlsConfig::default().factors(8).alpha(5.0).iterations(20) };
        let model = train(&m, &cfg, |_| {}).expect("train");
        let g = gram(&model.item_factors, 8, cfg.regularization);
        for u in [0usize, 17, 42] {
            let (cols, vals) = m.row(u);
            let items: Vec<(u32, f32)> = cols.iter().copied().zip(vals.iter().copied()).collect();
            let x = solve_row_exact(&g, 8, cfg.alpha, &items, |i, out| out.copy_from_slice(model.item(i)))
                .expect("fold-in");
            let trained = model.user(u);
            let cos = dot(&x, trained) / (dot(&x, &x).sqrt() * dot(trained, trained).sqrt());
            assert!(cos > 0.99, "user {u}: cosine {cos}");
        }
    }
}
