/**
 * Intervals when few rewarded rows carry weight. With rewards in [0, 1] and a target that puts
 * weight on few rewarded rows (rare clicks, a greedy target on many arms), the CLT interval of
 * IPS-type estimates rests on a handful of terms and collapses to [0, 0] when none of them has
 * a reward, so it covers the truth far less often than it claims.
 *
 * The count that matters is the effective number of positive-weight rewards,
 *   m = (Σ wᵢrᵢ)² / Σ (wᵢrᵢ)²,
 * the number of rewarded rows when the weights are equal. Below MIN_EFFECTIVE_REWARDS the IPS
 * terms wᵢrᵢ ∈ [0, W] (W the largest weight) are read as W times a proportion and given
 * Wilson's score interval, which is not degenerate at 0 and is conservative for any variable in
 * [0, 1] (its variance is at most μ(1 − μ)); exact in kind when the weights are equal and the
 * rewards binary. SNIPS takes the same interval divided by the mean weight, and DR its own value
 * moved by the IPS score interval's distances (the reward model cannot know more than the
 * rewards it saw). The widened interval is cut to [0, 1], where the value of any policy lies when
 * every reward does: moved by the unclipped score interval's distances, a clipped estimator's
 * (or SNIPS's, divided by a small mean weight) reached far outside it. Each estimate keeps the
 * union of that interval and its own, and says so.
 * Coverage is checked by test/evaluation/rare-rewards.test.ts (rare clicks on many arms).
 */
import type { Estimate } from './estimate.js';
import { wilsonInterval } from './proportion-intervals.js';
import type { OpeSums } from './ope-sums.js';

/** Below this many effective positive-weight rewards the CLT interval is not trusted alone. */
export const MIN_EFFECTIVE_REWARDS = 10;

/** The effective number of positive-weight rewards m = (Σ w r)² / Σ (w r)² (0 when none). */
export function effectiveRewards(s: OpeSums): number {
  const { sum, shift, s2 } = s.ips;
  // Σ t² from the shifted sum of squares: Σ (t − K)² + 2K Σ t − n K².
  const sumSq = s2 + 2 * shift * sum - s.n * shift * shift;
  return sumSq > 0 ? (sum * sum) / sumSq : 0;
}

/** The IPS value's score interval: W times Wilson's interval of the mean of wᵢrᵢ / W. */
export function ipsScoreInterval(s: OpeSums): [number, number] {
  const w = s.maxW;
  if (!(w > 0)) return [0, 0];
  const successes = s.ips.sum / w;
  const [low, high] = wilsonInterval(successes, s.n);
  return [w * low, w * high];
}

/** Widens `e`'s interval to include `widened` (cut to [0, 1]), naming the score interval in its method when that moved it, and adds `note`. */
function widen(e: Estimate, widened: [number, number], note: string): void {
  const [low, high] = inUnit(widened);
  const ci: [number, number] = [Math.min(e.ci95[0], low), Math.max(e.ci95[1], high)];
  if ((ci[0] !== e.ci95[0] || ci[1] !== e.ci95[1]) && !e.intervalMethod.endsWith('+score')) e.intervalMethod = `${e.intervalMethod as 'analytic' | 'bootstrap'}+score`;
  e.ci95 = ci;
  e.notes.push(note);
}

/** `i` cut to [0, 1], the range of a policy's value when rewards lie in [0, 1]. */
const inUnit = (i: [number, number]): [number, number] => [Math.min(1, Math.max(0, i[0])), Math.max(0, Math.min(1, i[1]))];

/**
 * The effective number of positive-weight misses, as `effectiveRewards` counts rewards, over the
 * terms wᵢ(1 − rᵢ) (exact for 0/1 rewards, whose squares are the terms: Σ w²(1 − r) = Σ w² − Σ (w r)²).
 */
function effectiveMisses(s: OpeSums): number {
  const { sum, shift, s2 } = s.ips;
  const sum1 = s.sumW - sum;
  const sumSq = s.sumW2 - (s2 + 2 * shift * sum - s.n * shift * shift);
  return sumSq > 0 ? (sum1 * sum1) / sumSq : 0;
}

/**
 * Rare misses, the mirror of rare rewards: with 0/1 rewards and the target's weight on very few
 * unrewarded rows (every reward 1), the CLT interval collapses to [1, 1]. The IPS value is then
 * read through its misses, mean(w) − mean(w(1 − r)), and the misses given Wilson's interval as
 * rewards are. The mean weight is taken as observed: with unequal weights whose mean is under 1,
 * the widened IPS interval may end below the truth, which the CLT interval kept beside it covers.
 */
function guardRareMisses(estimates: Estimate[], s: OpeSums): string | null {
  const m = effectiveMisses(s);
  if (m >= MIN_EFFECTIVE_REWARDS || s.n === 0 || !(s.maxW > 0)) return null;
  const meanW = s.sumW / s.n;
  const misses = (s.sumW - s.ips.sum) / s.maxW;
  const [low, high] = wilsonInterval(Math.max(0, misses), s.n);
  const ipsValue = s.ips.sum / s.n;
  const score: [number, number] = [meanW - s.maxW * high, meanW - s.maxW * low];
  const note = `only ${m.toFixed(1)} effective positive-weight misses (under ${MIN_EFFECTIVE_REWARDS}): the interval is widened to a score interval for rare misses (Wilson), which stays below 1 when every reward is 1`;
  for (const e of estimates) {
    let widened: [number, number] | null = null;
    if (e.estimator === 'ips') widened = score;
    else if (e.estimator === 'snips' && meanW > 0) widened = [1 - (s.maxW * high) / meanW, 1 - (s.maxW * low) / meanW];
    else if (e.estimator === 'dr' || e.estimator === 'dr-clip' || e.estimator === 'switch-dr' || e.estimator === 'dr-os' || e.estimator === 'sndr') widened = [e.value - (ipsValue - score[0]), e.value + (score[1] - ipsValue)];
    if (widened !== null) widen(e, widened, note);
  }
  return note;
}

/**
 * Widens the IPS, SNIPS and DR family intervals of `estimates` (in place) when the rewards lie
 * in [0, 1] and the effective number of positive-weight rewards (or of misses: every reward 1)
 * is under MIN_EFFECTIVE_REWARDS, and says so in each estimate's notes. Returns the note, or null
 * when nothing was done.
 */
export function guardRareRewards(estimates: Estimate[], s: OpeSums, rewardsInUnit: boolean, rewardsBinary = false): string | null {
  const m = effectiveRewards(s);
  // The misses are counted from the sums exactly for 0/1 rewards only.
  if (rewardsBinary && m >= MIN_EFFECTIVE_REWARDS) return guardRareMisses(estimates, s);
  if (m >= MIN_EFFECTIVE_REWARDS || s.n === 0) return null;
  const what = `${m.toFixed(1)} effective positive-weight rewards (under ${MIN_EFFECTIVE_REWARDS})`;
  if (!rewardsInUnit) {
    const note = `only ${what}: the intervals rest on very few rows and may not cover the truth`;
    for (const e of estimates) if (e.estimator !== 'dm') e.notes.push(note);
    return note;
  }
  const ipsValue = s.ips.sum / s.n;
  const score = ipsScoreInterval(s);
  const meanW = s.sumW / s.n;
  const note = `only ${what}: the interval is widened to a score interval for rare rewards (Wilson), which stays above 0 when none is seen`;
  for (const e of estimates) {
    let widened: [number, number] | null = null;
    if (e.estimator === 'ips') widened = score;
    else if (e.estimator === 'snips' && meanW > 0) widened = [score[0] / meanW, score[1] / meanW];
    else if (e.estimator === 'dr' || e.estimator === 'dr-clip' || e.estimator === 'switch-dr' || e.estimator === 'dr-os' || e.estimator === 'sndr') widened = [e.value - (ipsValue - score[0]), e.value + (score[1] - ipsValue)];
    if (widened !== null) widen(e, widened, note);
  }
  return note;
}
