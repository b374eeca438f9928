/**
 * Seeded contexts and a synthetic linear bandit for the policy tests: contexts shaped like the
 * real layouts (a bias of 1 first, the rest in [0, 1]), and Bernoulli rewards whose probability
 * is linear in the context with a different weight vector per arm.
 */
import { createRng, type Rng } from '../../src/random/rng.js';

/** A context of dimension d: bias 1, then uniform [0, 1) values. */
export function randomContext(rng: Rng, d: number): Float64Array {
  const x = new Float64Array(d);
  x[0] = 1;
  for (let i = 1; i < d; i++) x[i] = rng.next();
  return x;
}

/** A linear bandit: P(reward = 1 | x, arm) = clamp(w_arm · x, 0, 1). */
export interface LinearBandit {
  k: number;
  d: number;
  /** Reward probability of `arm` at `x`. */
  p(x: Float64Array, arm: number): number;
}

/**
 * k arms in dimension d; arm a's probability is 0.2 + 0.5·x_(1 + a mod (d−1)) (each arm is best
 * where "its" feature is high), so the best arm depends on the context.
 */
export function createLinearBandit(k: number, d: number): LinearBandit {
  return {
    k,
    d,
    p: (x, arm) => 0.2 + 0.5 * x[1 + (arm % (d - 1))]!,
  };
}

/** n seeded (x, arm, reward) observations with uniformly random arms. */
export function randomObservations(seed: number, n: number, k: number, d: number): { x: Float64Array; arm: number; reward: number }[] {
  const rng = createRng(seed);
  return Array.from({ length: n }, () => {
    const x = randomContext(rng, d);
    return { x, arm: rng.int(k), reward: rng.next() < 0.4 ? 1 : 0 };
  });
}
