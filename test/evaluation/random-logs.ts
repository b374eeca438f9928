/** Small random logs and targets for property and differential tests (seeded). */
import type { LoggedBandit } from '../../src/evaluation/logged-bandit.js';
import { weightedIndex, type Rng } from '../../src/random/rng.js';

/** A random distribution over k arms with every entry ≥ floor / k. */
export function randomDistribution(rng: Rng, k: number, out: Float64Array, offset: number, floor = 0.2): void {
  let s = 0;
  for (let a = 0; a < k; a++) s += out[offset + a] = floor / k + rng.next();
  for (let a = 0; a < k; a++) out[offset + a]! /= s;
}

/** Logs drawn from a random stochastic logging policy, a random target, and features. */
export function randomLogs(rng: Rng, n: number, k: number, d: number): { logs: LoggedBandit; logging: Float64Array; target: Float64Array } {
  const logging = new Float64Array(n * k);
  const target = new Float64Array(n * k);
  const arm = new Int32Array(n);
  const propensity = new Float64Array(n);
  const reward = new Float64Array(n);
  const x = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    randomDistribution(rng, k, logging, i * k);
    randomDistribution(rng, k, target, i * k, 0.05);
    for (let j = 0; j < d; j++) x[i * d + j] = rng.normal();
    const a = weightedIndex(rng, logging.subarray(i * k, i * k + k));
    arm[i] = a;
    propensity[i] = logging[i * k + a]!;
    reward[i] = rng.next() < 0.3 + 0.1 * (a % 3) + 0.1 * Math.tanh(x[i * d] ?? 0) ? 1 : 0;
  }
  return { logs: { n, k, arm, reward, propensity, x, d }, logging, target };
}
