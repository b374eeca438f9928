/**
 * Plain textbook linear algebra for the differential tests: full matrices as arrays of rows, no
 * symmetry tricks, no incremental updates. Slow and obviously right.
 */

/** A d×d matrix as rows. */
export type Matrix = number[][];

/** λ·I. */
export function scaledIdentity(d: number, lambda: number): Matrix {
  return Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j) => (i === j ? lambda : 0)));
}

/** M += x xᵀ in place. */
export function addOuter(m: Matrix, x: ArrayLike<number>): void {
  for (let i = 0; i < m.length; i++) for (let j = 0; j < m.length; j++) m[i]![j]! += x[i]! * x[j]!;
}

/** Inverse by Gauss–Jordan elimination with partial pivoting. */
export function invert(m: Matrix): Matrix {
  const d = m.length;
  const a = m.map((row, i) => [...row, ...Array.from({ length: d }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < d; c++) {
    let p = c;
    for (let r = c + 1; r < d; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[p]![c]!)) p = r;
    [a[c], a[p]] = [a[p]!, a[c]!];
    const pivot = a[c]![c]!;
    for (let j = 0; j < 2 * d; j++) a[c]![j]! /= pivot;
    for (let r = 0; r < d; r++) {
      if (r === c) continue;
      const f = a[r]![c]!;
      if (f !== 0) for (let j = 0; j < 2 * d; j++) a[r]![j]! -= f * a[c]![j]!;
    }
  }
  return a.map((row) => row.slice(d));
}

/** Solves M y = v by Gaussian elimination with partial pivoting. */
export function solve(m: Matrix, v: ArrayLike<number>): number[] {
  const d = m.length;
  const a = m.map((row, i) => [...row, v[i]!]);
  for (let c = 0; c < d; c++) {
    let p = c;
    for (let r = c + 1; r < d; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[p]![c]!)) p = r;
    [a[c], a[p]] = [a[p]!, a[c]!];
    for (let r = c + 1; r < d; r++) {
      const f = a[r]![c]! / a[c]![c]!;
      for (let j = c; j <= d; j++) a[r]![j]! -= f * a[c]![j]!;
    }
  }
  const y = new Array<number>(d).fill(0);
  for (let r = d - 1; r >= 0; r--) {
    let s = a[r]![d]!;
    for (let j = r + 1; j < d; j++) s -= a[r]![j]! * y[j]!;
    y[r] = s / a[r]![r]!;
  }
  return y;
}

/** M x. */
export function multiply(m: Matrix, x: ArrayLike<number>): number[] {
  return m.map((row) => row.reduce((s, v, j) => s + v * x[j]!, 0));
}

/** xᵀ M x with the full matrix. */
export function quadraticForm(m: Matrix, x: ArrayLike<number>): number {
  return multiply(m, x).reduce((s, v, i) => s + v * x[i]!, 0);
}

/** Block `arm` of a flat row-major k·d·d array as rows. */
export function block(flat: Float64Array, arm: number, d: number): Matrix {
  return Array.from({ length: d }, (_, i) => Array.from(flat.subarray(arm * d * d + i * d, arm * d * d + (i + 1) * d)));
}

/** Largest |a − b| over two equally long sequences (treats +0 and −0 as equal). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Largest |entry| (for relative tolerances). */
export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}
