/**
 * The nonparametric bootstrap (Efron & Tibshirani 1993, ch. 13, percentile interval) over logged
 * rows. A resample is a vector of multiplicities (how often each row was drawn), so it costs one
 * weighted pass of `accumulateOpeSums` and no row copies; every requested estimator is read off
 * the same pass. When the reward model was fitted on the logs it is refitted on each resample,
 * so DM's and DR's bootstrap intervals include the model's own error. All draws come from the
 * `Rng` passed in: one seed, one result, bit for bit.
 */
import type { Rng } from '../random/rng.js';
import { accumulateOpeSums, type OpeInputs, type OpeShifts, type OpeSums } from './ope-sums.js';

/** Bootstrap settings. */
export interface BootstrapOptions {
  rng: Rng;
  /** Number of resamples B (≥ 2). */
  resamples: number;
  /** Refits the reward model on a resample's multiplicities; absent when the model is held fixed. */
  refit?: (weights: Float64Array) => Float64Array;
}

/** Resample values: for each statistic of `statistics`, a Float64Array of B values. */
export function bootstrapReplicates(
  inp: OpeInputs,
  shifts: OpeShifts,
  statistics: readonly ((s: OpeSums) => number)[],
  options: BootstrapOptions,
): Float64Array[] {
  const { rng, resamples } = options;
  const n = inp.logs.n;
  const counts = new Float64Array(n);
  const out = statistics.map(() => new Float64Array(resamples));
  for (let b = 0; b < resamples; b++) {
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[rng.int(n)]! += 1;
    const pass = options.refit === undefined ? inp : { ...inp, qhat: options.refit(counts) };
    // The rows were validated on the full pass; the shifts stay those of the full sample.
    const sums = accumulateOpeSums(pass, shifts, 0, n, counts, false);
    for (let e = 0; e < statistics.length; e++) out[e]![b] = statistics[e]!(sums);
  }
  return out;
}

/** The percentile interval of `values` at `level` (quantiles by linear interpolation, Hyndman & Fan type 7). */
export function percentileInterval(values: Float64Array, level = 0.95): [number, number] {
  const sorted = Float64Array.from(values).sort();
  const tail = (1 - level) / 2;
  return [quantileSorted(sorted, tail), quantileSorted(sorted, 1 - tail)];
}

/** The sample standard deviation of `values` (the bootstrap standard error). */
export function sampleStdDev(values: Float64Array): number {
  const n = values.length;
  if (n < 2) return 0;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += values[i]!;
  mean /= n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (values[i]! - mean) ** 2;
  return Math.sqrt(ss / (n - 1));
}

function quantileSorted(sorted: Float64Array, q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}
