/**
 * Seeded randomness for pure code. Policies, the simulator, synthetic data and bootstrap
 * resampling take an `Rng` argument and never touch Math.random, so one seed gives one result,
 * bit for bit. The generator is pure-rand's xoroshiro128+ (53-bit uniform doubles); streams for
 * independent units (a user, a replication) come from `deriveSeed`, so the order in which units
 * are generated never changes their draws.
 */
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';
import type { JumpableRandomGenerator } from 'pure-rand/types/JumpableRandomGenerator';

/** A seeded source of randomness. Mutable: every draw advances it. */
export interface Rng {
  /** Uniform double in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Standard normal draw (Box–Muller, two uniforms per draw, no cached spare). */
  normal(): number;
  /** The generator's state; `rngFromState(state)` resumes exactly here. */
  state(): readonly number[];
}

function wrap(g: JumpableRandomGenerator): Rng {
  const next = (): number => uniformFloat64(g);
  return {
    next,
    int: (n: number): number => Math.floor(next() * n),
    normal: (): number => {
      // 1 - u keeps the log argument in (0, 1].
      const u = 1 - next();
      const v = next();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
    state: () => g.getState(),
  };
}

/**
 * A generator seeded with a 32-bit integer seed. pure-rand's `xoroshiro128plus(seed)` puts the
 * seed into the state almost verbatim ((-1, ~seed, seed, 0)), so neighbouring small seeds start
 * with near-identical draws (the first double is ≈ 1 for every seed 0…199). The four state words
 * are therefore filled from a splitmix32 sequence of the seed instead (Steele et al., "Fast
 * splittable pseudorandom number generators", 2014), as xoroshiro's authors recommend.
 */
export function createRng(seed: number): Rng {
  let x = seed | 0;
  const next = (): number => {
    x = (x + 0x9e3779b9) | 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) | 0;
  };
  const state = [next(), next(), next(), next()];
  // xoroshiro's state must not be all zero.
  if (!state.some((w) => w !== 0)) state[3] = 1;
  return wrap(xoroshiro128plusFromState(state));
}

/** Resumes a generator from `Rng.state()`. */
export function rngFromState(state: readonly number[]): Rng {
  return wrap(xoroshiro128plusFromState(state));
}

/**
 * A 32-bit seed for a sub-stream identified by integer keys (user index, replication…), mixing
 * with the murmur3 finaliser so neighbouring keys give unrelated streams.
 */
export function deriveSeed(seed: number, ...keys: number[]): number {
  let h = seed | 0;
  for (const k of keys) {
    h = Math.imul(h ^ (k | 0), 0x9e3779b1);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h | 0;
}

/** A Poisson draw with mean `lambda` (Knuth's product method; fine for the small means used). */
export function poisson(rng: Rng, lambda: number): number {
  if (lambda <= 0) return 0;
  const limit = Math.exp(-lambda);
  let k = 0;
  let p = rng.next();
  while (p > limit) {
    k++;
    p *= rng.next();
  }
  return k;
}

/** Index drawn from unnormalised non-negative `weights`. */
export function weightedIndex(rng: Rng, weights: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < weights.length; i++) total += weights[i]!;
  let u = rng.next() * total;
  for (let i = 0; i < weights.length; i++) {
    u -= weights[i]!;
    if (u < 0) return i;
  }
  return weights.length - 1;
}
