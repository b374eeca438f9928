/**
 * Dense linear algebra on flat Float64Arrays for the linear policies: an n×n matrix is n² doubles
 * in row-major order starting at an offset, so the k per-arm matrices of a policy live in one
 * array. Nothing here allocates; callers pass output and scratch buffers.
 *
 * The matrices these functions see are symmetric positive definite (ridge-regression inverses
 * A⁻¹ = (λI + Σ x xᵀ)⁻¹), and two functions exploit it: `symmetricQuadraticForm` reads the upper
 * triangle only (n(n+1)/2 products instead of n²), and `shermanMorrisonUpdate` computes each
 * (i, j) entry once and writes it to (j, i) as well, so symmetry holds exactly, bit for bit, for
 * as long as the matrix is only changed through it; no periodic re-symmetrisation is needed.
 * Plain textbook versions live in the tests, which check these against them; unrolled-d12.ts
 * repeats the same operations for d = 12.
 */

/** Fills the n×n block at `off` with s·I. */
export function setScaledIdentity(m: Float64Array, off: number, n: number, s: number): void {
  m.fill(0, off, off + n * n);
  for (let i = 0; i < n; i++) m[off + i * n + i] = s;
}

/** Dot product of a[aOff..aOff+n) and b[bOff..bOff+n). */
export function dot(a: Float64Array, aOff: number, b: Float64Array, bOff: number, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += a[aOff + i]! * b[bOff + i]!;
  return s;
}

/** out[outOff..outOff+n) = M x, with M the n×n block at `mOff` and x at `xOff`. */
export function matVec(
  m: Float64Array,
  mOff: number,
  n: number,
  x: Float64Array,
  xOff: number,
  out: Float64Array,
  outOff: number,
): void {
  for (let i = 0; i < n; i++) {
    const row = mOff + i * n;
    let s = 0;
    for (let j = 0; j < n; j++) s += m[row + j]! * x[xOff + j]!;
    out[outOff + i] = s;
  }
}

/** xᵀ M x for a symmetric n×n block at `mOff`, reading its upper triangle only. */
export function symmetricQuadraticForm(m: Float64Array, mOff: number, n: number, x: Float64Array): number {
  // xᵀMx = Σ_i x_i (M_ii x_i + 2 Σ_{j>i} M_ij x_j).
  let q = 0;
  for (let i = 0; i < n; i++) {
    const row = mOff + i * n;
    const xi = x[i]!;
    let s = 0;
    for (let j = i + 1; j < n; j++) s += m[row + j]! * x[j]!;
    q += xi * (m[row + i]! * xi + 2 * s);
  }
  return q;
}

/**
 * Sherman–Morrison rank-one update of an inverse: given M = A⁻¹ (symmetric positive definite)
 * at `mOff`, overwrites it with (A + x xᵀ)⁻¹ = M − (Mx)(Mx)ᵀ / (1 + xᵀMx) and leaves u = Mx in
 * `u[0..n)`. Returns 1/(1 + xᵀMx), so (A + x xᵀ)⁻¹x = u times the returned value.
 *
 * Guard: in exact arithmetic xᵀMx ≥ 0, so the denominator is ≥ 1. Rounding can make the
 * computed form slightly negative once M is very ill-conditioned, and a denominator near 0
 * would blow the matrix up; it is clamped to ≥ 1, which keeps the update a contraction (M only
 * ever loses a positive semi-definite term no larger than the exact one).
 */
export function shermanMorrisonUpdate(m: Float64Array, mOff: number, n: number, x: Float64Array, u: Float64Array): number {
  matVec(m, mOff, n, x, 0, u, 0);
  const q = dot(x, 0, u, 0, n);
  // `q > 0` is false for NaN too, which only a non-finite x (rejected by callers) can produce.
  const inv = 1 / (q > 0 ? 1 + q : 1);
  for (let i = 0; i < n; i++) {
    const ui = u[i]! * inv;
    const row = mOff + i * n;
    for (let j = i; j < n; j++) {
      const v = m[row + j]! - ui * u[j]!;
      m[row + j] = v;
      m[mOff + j * n + i] = v;
    }
  }
  return inv;
}
