/**
 * Intervals over independent replications (simulation seeds): the mean with a Student-t 95%
 * interval, since K is small (5–30) and the normal quantile would be too narrow. The quantile
 * comes from stdlib's t distribution.
 */
import tQuantile from '@stdlib/stats-base-dists-t-quantile';

/** A sample mean with its spread and 95% interval. */
export interface MeanInterval {
  n: number;
  mean: number;
  sd: number;
  stdErr: number;
  ci95: [number, number];
}

/**
 * Mean and two-sided 95% t-interval of `xs` (n ≥ 2; with n = 1 the interval is the point). With
 * `bounds`, where the quantity is known to lie (a rate in [0, 1]), the interval is cut there: it
 * loses no coverage (the true value is inside the bounds), and with few replications the t
 * interval otherwise reaches values that cannot be.
 */
export function meanInterval(xs: ArrayLike<number>, bounds: readonly [number, number] = [-Infinity, Infinity]): MeanInterval {
  const n = xs.length;
  if (n === 0) return { n: 0, mean: NaN, sd: NaN, stdErr: NaN, ci95: [NaN, NaN] };
  let sum = 0;
  for (let i = 0; i < n; i++) sum += xs[i]!;
  const mean = sum / n;
  if (n === 1) return { n, mean, sd: 0, stdErr: 0, ci95: [mean, mean] };
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (xs[i]! - mean) ** 2;
  const sd = Math.sqrt(ss / (n - 1));
  const stdErr = sd / Math.sqrt(n);
  const half = tQuantile(0.975, n - 1) * stdErr;
  return { n, mean, sd, stdErr, ci95: [Math.max(bounds[0], mean - half), Math.min(bounds[1], mean + half)] };
}
