/**
 * Intervals for proportions (reward rates): Wilson's score interval, which stays inside [0, 1]
 * and keeps its coverage for small counts and rates near 0 or 1 where the Wald interval fails
 * (Wilson 1927; Newcombe 1998, Statistics in Medicine 17:857), and Newcombe's hybrid score
 * interval for the difference of two independent proportions (Newcombe 1998, method 10).
 */
import { Z95 } from './estimate.js';

/** A proportion's Wilson score interval: [low, high]. */
export function wilsonInterval(successes: number, n: number, z = Z95): [number, number] {
  if (n <= 0) return [Number.NaN, Number.NaN];
  const p = successes / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  // At 0/n and n/n the bounds are exactly 0 and 1; the formula gets there only up to rounding.
  return [successes <= 0 ? 0 : Math.max(0, center - half), successes >= n ? 1 : Math.min(1, center + half)];
}

/** Difference p1 − p2 of two independent proportions with Newcombe's hybrid score interval. */
export function newcombeDifference(k1: number, n1: number, k2: number, n2: number, z = Z95): { diff: number; ci95: [number, number] } {
  const p1 = k1 / n1;
  const p2 = k2 / n2;
  const [l1, u1] = wilsonInterval(k1, n1, z);
  const [l2, u2] = wilsonInterval(k2, n2, z);
  const diff = p1 - p2;
  return {
    diff,
    ci95: [diff - Math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), diff + Math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)],
  };
}
