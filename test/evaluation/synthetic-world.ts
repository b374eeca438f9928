/**
 * A contextual bandit whose values are known by construction, for coverage and bias tests.
 * Six contexts x ∈ [0,1]² drawn uniformly; K = 4 arms with Bernoulli rewards of mean
 * μ(x, a) = α_a + β_a·x (linear, so the ridge reward model is well specified); a logging policy
 * 0.05 + 0.8·softmax(4·s(x)) that mostly avoids the best arm (propensities in [0.05, 0.85],
 * importance weights up to ~12); a target that puts 0.7 on the best arm and 0.1 on each other. The target's value Σ_x P(x) Σ_a π(a|x) μ(x, a) is exact.
 */
import type { LoggedBandit } from '../../src/evaluation/logged-bandit.js';
import { weightedIndex, type Rng } from '../../src/random/rng.js';

export const K = 4;
export const D = 2;
const CONTEXTS = [
  [0, 0],
  [1, 0],
  [0, 1],
  [1, 1],
  [0.5, 0.5],
  [0.2, 0.8],
] as const;
const M = CONTEXTS.length;
const ALPHA = [0.2, 0.3, 0.5, 0.4];
const BETA = [
  [0.5, 0.1],
  [0.1, 0.5],
  [-0.3, 0.2],
  [0.2, -0.3],
];

/** μ(x_m, a). */
export const MU: number[][] = CONTEXTS.map(([x1, x2]) => ALPHA.map((al, a) => al + BETA[a]![0]! * x1 + BETA[a]![1]! * x2));

/** Logging distribution per context. */
export const LOGGING: number[][] = CONTEXTS.map(([x1, x2]) => {
  const s = [x2, 0.2 * x1, 1 - x2, 0.8].map((v) => Math.exp(4 * v));
  const z = s.reduce((acc, v) => acc + v, 0);
  return s.map((v) => 0.05 + (0.8 * v) / z);
});

/** Target distribution per context: 0.7 on argmax μ, 0.1 elsewhere. */
export const TARGET: number[][] = MU.map((mu) => {
  const best = mu.indexOf(Math.max(...mu));
  return mu.map((_, a) => (a === best ? 0.7 : 0.1));
});

const valueOf = (policy: number[][]): number =>
  policy.reduce((acc, pi, m) => acc + pi.reduce((s, p, a) => s + p * MU[m]![a]!, 0) / M, 0);

/** The target policy's true value. */
export const TRUE_TARGET_VALUE = valueOf(TARGET);
/** The logging policy's true value. */
export const TRUE_LOGGING_VALUE = valueOf(LOGGING);

/** n logged rows, the target distribution on them, and the true means q(x_i, a). */
export function sampleWorld(n: number, rng: Rng): { logs: LoggedBandit; target: Float64Array; trueQ: Float64Array } {
  const arm = new Int32Array(n);
  const reward = new Float64Array(n);
  const propensity = new Float64Array(n);
  const x = new Float64Array(n * D);
  const target = new Float64Array(n * K);
  const trueQ = new Float64Array(n * K);
  for (let i = 0; i < n; i++) {
    const m = rng.int(M);
    const a = weightedIndex(rng, LOGGING[m]!);
    arm[i] = a;
    propensity[i] = LOGGING[m]![a]!;
    reward[i] = rng.next() < MU[m]![a]! ? 1 : 0;
    x[i * D] = CONTEXTS[m]![0];
    x[i * D + 1] = CONTEXTS[m]![1];
    target.set(TARGET[m]!, i * K);
    trueQ.set(MU[m]!, i * K);
  }
  return { logs: { n, k: K, arm, reward, propensity, x, d: D }, target, trueQ };
}
