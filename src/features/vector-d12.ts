/**
 * The v2 layout (D=12) written out by hand: what `writeVector('v2', …)` runs. The component list
 * in vectors.ts stays the definition; this computes exactly the same doubles, bit for bit
 * (test/features/vector-d12.test.ts checks that against the list on generated inputs, -0, NaN
 * and out-of-range values included), so change both together.
 *
 * Two things make it fast: no per-component closure calls (twelve different closures behind one
 * call site is a megamorphic call each), and no transcendental calls for the inputs that occur in
 * practice: sin/cos of an integer hour, cos of an integer hour difference and log1p of a small
 * non-negative integer are read from tables filled with the very expressions the components
 * evaluate, so a looked-up value is the computed one. Other inputs fall back to the expression.
 * The simulator writes a vector per decision (bench:sim; figures in BENCHMARKS.md).
 */
import type { VectorInput } from './vectors.js';

const TWO_PI = 2 * Math.PI;
const MAX_DWELL_SEC = 600;
/** log1p(n) is tabulated for integers 0 ≤ n < LOG1P_TABLE_SIZE (task counts, tip volumes). */
const LOG1P_TABLE_SIZE = 4096;

const HOUR_SIN = Float64Array.from({ length: 24 }, (_, h) => Math.sin((TWO_PI * h) / 24));
const HOUR_COS = Float64Array.from({ length: 24 }, (_, h) => Math.cos((TWO_PI * h) / 24));
/** cos(2π·d/24) for the hour differences d = −23 … 23, at index d + 23. */
const ALIGNMENT_COS = Float64Array.from({ length: 47 }, (_, i) => Math.cos((TWO_PI * (i - 23)) / 24));
const LOG1P = Float64Array.from({ length: LOG1P_TABLE_SIZE }, (_, n) => Math.log1p(n));

/** log1p(max(0, n)), from the table when max(0, n) is a small integer (max turns −0 into +0). */
function log1pNonNegative(n: number): number {
  const v = Math.max(0, n);
  return v < LOG1P_TABLE_SIZE && (v | 0) === v ? LOG1P[v]! : Math.log1p(v);
}

/** Writes the v2 vector of `input` into `out` at `offset`; equal bit for bit to the component list. */
export function writeVectorD12(input: VectorInput, out: Float64Array, offset: number): Float64Array {
  const h = input.hourOfDay;
  const p = input.profile;
  out[offset] = 1;
  // An integer hour 0…23 reads the tables; −0 must not (sin(−0) is −0), nor anything else.
  if ((h | 0) === h && h >= 0 && h < 24 && (h !== 0 || 1 / h > 0)) {
    out[offset + 1] = HOUR_SIN[h]!;
    out[offset + 2] = HOUR_COS[h]!;
  } else {
    out[offset + 1] = Math.sin((TWO_PI * h) / 24);
    out[offset + 2] = Math.cos((TWO_PI * h) / 24);
  }
  out[offset + 3] = input.dayOfWeek >= 5 ? 1 : 0;
  out[offset + 4] = log1pNonNegative(input.openTasks);
  out[offset + 5] = log1pNonNegative(input.overdueTasks);
  out[offset + 6] = input.hasProfile ? 1 : 0;
  out[offset + 7] = p.completion_rate ?? 0;
  out[offset + 8] = p.dismiss_rate ?? 0;
  out[offset + 9] = Math.min(Math.max(p.mean_dwell_sec ?? 0, 0), MAX_DWELL_SEC) / MAX_DWELL_SEC;
  const preferred = p.preferred_hour;
  if (preferred === null) {
    out[offset + 10] = 0;
  } else {
    // cos is even, so d = −0 may use the table's cos(0).
    const d = h - preferred;
    out[offset + 10] = (d | 0) === d && d >= -23 && d <= 23 ? ALIGNMENT_COS[d + 23]! : Math.cos((TWO_PI * d) / 24);
  }
  out[offset + 11] = log1pNonNegative(p.tip_volume ?? 0);
  return out;
}
