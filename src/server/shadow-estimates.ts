/**
 * What each shadow policy would have earned on the traffic this replica served, estimated by
 * inverse propensity scoring on the served decisions. For serve i, the served arm A_i was drawn
 * with propensity p_i, and the shadow chose S_i on the same request from its own random stream.
 * x_i = 1[S_i = A_i] · r_i / p_i is unbiased for the shadow's reward per decision, whether the
 * shadow is deterministic (LinUCB) or randomised (Thompson sampling), since E[1[S_i = A_i] | x] =
 * π_shadow(A_i | x) and the two draws are independent given the request. So
 *
 *   IPS   = Σ x_i / n                       (n: the shadow's decisions; a serve with no reward yet counts 0)
 *   SNIPS = Σ x_i / Σ 1[S_i = A_i] / p_i    (self-normalised: lower variance, slightly biased)
 *
 * with a normal 95 % interval on IPS from the running sum of squares, given once the rewards it
 * rests on are enough for one: at least MIN_EFFECTIVE_REWARDS effective rewards (Σ x)² / Σ x², as
 * offline (evaluation/rare-rewards.ts). With fewer, the normal interval collapses towards the few
 * terms it saw (to [0, 0] with none) and reads as certainty where there is no information; the
 * live view has no largest weight to widen it by, so it gives none. These compare with the
 * served rows' reward rate in /stats, counted the same way (rewards of this replica's serves,
 * since it started).
 *
 * A reward reaches the fold long after its serve; a serve's propensity and which shadows chose
 * its arm wait for it in a ring of this replica's latest serves, addressed by the serve counter
 * (serve ids are dense: serve-id.ts). A reward for a serve the ring no longer holds is counted
 * `late` and left out of every sum, so a horizon too short for the traffic shows. A reward that
 * reaches the fold before a shadow decided (shadows decide after the reply) is kept in the ring
 * and credited when the decision comes. Memory: 28 bytes per slot, allocated on the first
 * shadow decision. Each shadow (policy and version) holds a bit of a serve's agreement mask
 * while it decides; past MAX_SHADOWS in a process's life (reloads bring new versions), a new
 * one takes the bit of the one that decided least recently.
 *
 * The promotion gate computes the same estimators offline from the event log, over serves whose
 * reward window closed (experiments/shadow-exposure.ts); this is the live view of them.
 *
 * Pure: no clock, no I/O; the caller says which serve and which reward.
 */
import { Z95 } from '../evaluation/estimate.js';
import { MIN_EFFECTIVE_REWARDS } from '../evaluation/rare-rewards.js';
import type { ShadowEstimate } from './schemas.js';

export type { ShadowEstimate };

/** Shadows estimated at once (one bit each in a serve's agreement mask). */
export const MAX_SHADOWS = 32;

/** The running sums behind one shadow's estimate, which replicas add up (x_i = 1[S_i = A_i] · r_i / p_i): its /stats fields but the derived ones. */
export type ShadowSums = Omit<ShadowEstimate, 'ips' | 'ips_ci95' | 'snips'>;

/** One shadow's running sums with the policy version they belong to (what /metrics exports). */
export interface ShadowRowSums {
  policy: string;
  modelVersion: string | null;
  sums: ShadowSums;
}

/** The sums an estimate was computed from. */
export function sumsOf(e: ShadowEstimate): ShadowSums {
  return { decisions: e.decisions, rewarded: e.rewarded, weighted_rewards: e.weighted_rewards, weighted_squares: e.weighted_squares, weights: e.weights, late: e.late };
}

/** `a` + `b`, field by field: the sums of several replicas. */
export function addShadowSums(a: ShadowSums, b: ShadowSums): ShadowSums {
  return {
    decisions: a.decisions + b.decisions,
    rewarded: a.rewarded + b.rewarded,
    weighted_rewards: a.weighted_rewards + b.weighted_rewards,
    weighted_squares: a.weighted_squares + b.weighted_squares,
    weights: a.weights + b.weights,
    late: a.late + b.late,
  };
}

/** The estimate `sums` give (null before a decision); also how sums added over replicas are read. */
export function shadowEstimateOf(sums: ShadowSums): ShadowEstimate | null {
  const n = sums.decisions;
  if (!(n > 0)) return null;
  const ips = sums.weighted_rewards / n;
  // The sample variance of the x_i, as the promotion gate's offline estimate takes it (experiments/shadow-exposure.ts).
  const variance = n < 2 ? 0 : Math.max(0, (sums.weighted_squares - n * ips * ips) / (n - 1));
  const half = Z95 * Math.sqrt(variance / n);
  // m ≤ n (Cauchy–Schwarz), so m ≥ 10 also means n ≥ 10.
  const enough = sums.weighted_squares > 0 && (sums.weighted_rewards * sums.weighted_rewards) / sums.weighted_squares >= MIN_EFFECTIVE_REWARDS;
  return {
    ...sums,
    ips,
    // Not cut at 0 as offline: with m ≥ 10 effective rewards (so n ≥ 10) the half-width is below
    // 0.66 of the value, and the lower bound above 0.
    ips_ci95: enough ? { low: ips - half, high: ips + half } : null,
    snips: sums.weights > 0 ? sums.weighted_rewards / sums.weights : null,
  };
}

/** One shadow's sums (`late` is the ring's, shared by every shadow), its bit in the ring's slots, and the last serve it decided on. */
interface Row extends Omit<ShadowSums, 'late'> {
  /** Its bit in each slot's agreement mask, -1 while it has none. */
  bit: number;
  lastServe: number;
}

/** The running estimates of every shadow over a ring of `capacity` serves. */
export class ShadowEstimates {
  private readonly rows: Row[] = [];
  /** The row holding each bit of the agreement masks. */
  private readonly bits: Row[] = [];
  private seqs: Float64Array | null = null;
  private propensities: Float64Array | null = null;
  private agreed: Uint32Array | null = null;
  private rewards: Float64Array | null = null;
  private lateRewards = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`the ring's capacity must be a positive integer, got ${capacity}`);
  }

  /** A new shadow's row index. */
  addRow(): number {
    this.rows.push({ decisions: 0, rewarded: 0, weighted_rewards: 0, weighted_squares: 0, weights: 0, bit: -1, lastServe: -1 });
    return this.rows.length - 1;
  }

  /** Shadow `row` decided on this replica's serve number `serveSeq`, served with `propensity`; `agreed`: it chose the served arm. */
  decision(row: number, serveSeq: number, propensity: number, agreed: boolean): void {
    const r = this.rows[row];
    if (r === undefined) return;
    const slot = this.slotOf(serveSeq);
    if (slot < 0) return;
    if (r.bit < 0) this.giveBit(r);
    r.lastServe = Math.max(r.lastServe, serveSeq);
    const propensities = this.propensities!;
    propensities[slot] = propensity;
    r.decisions++;
    if (!agreed) return;
    r.weights += 1 / propensity;
    this.agreed![slot]! |= 1 << r.bit;
    const value = this.rewards![slot]!;
    if (!Number.isNaN(value)) this.credit(r, value / propensity);
  }

  /** The reward of this replica's serve number `serveSeq` (once per serve): credits each shadow that chose the served arm. */
  reward(serveSeq: number, value: number): void {
    // No shadow: nothing to credit, and no ring to allocate.
    if (this.rows.length === 0) return;
    const slot = this.slotOf(serveSeq);
    if (slot < 0) {
      this.lateRewards++;
      return;
    }
    const rewards = this.rewards!;
    if (!Number.isNaN(rewards[slot]!)) return;
    rewards[slot] = value;
    const mask = this.agreed![slot]!;
    if (mask === 0) return;
    const weighted = value / this.propensities![slot]!;
    for (let bit = 0; bit < this.bits.length; bit++) if ((mask & (1 << bit)) !== 0) this.credit(this.bits[bit]!, weighted);
  }

  /** Row `row`'s running sums, or null when there is no such row. */
  sums(row: number): ShadowSums | null {
    const r = this.rows[row];
    if (r === undefined) return null;
    return { decisions: r.decisions, rewarded: r.rewarded, weighted_rewards: r.weighted_rewards, weighted_squares: r.weighted_squares, weights: r.weights, late: this.lateRewards };
  }

  /** Row `row`'s estimate, or null before its first decision. */
  estimate(row: number): ShadowEstimate | null {
    const sums = this.sums(row);
    return sums === null ? null : shadowEstimateOf(sums);
  }

  /**
   * Gives `r` a bit of the agreement masks: a free one, else the one of the shadow that decided
   * least recently (a reload replaced it, most likely), cleared from every slot first so no
   * reward of that shadow's serves is credited to `r`. The shadow it was taken from keeps its
   * sums, which stop growing; should it decide again, it takes a bit in turn.
   */
  private giveBit(r: Row): void {
    if (this.bits.length < MAX_SHADOWS) {
      r.bit = this.bits.push(r) - 1;
      return;
    }
    let oldest = this.bits[0]!;
    for (const b of this.bits) if (b.lastServe < oldest.lastServe) oldest = b;
    const bit = oldest.bit;
    const keep = ~(1 << bit);
    const agreed = this.agreed!;
    for (let i = 0; i < agreed.length; i++) agreed[i]! &= keep;
    oldest.bit = -1;
    this.bits[bit] = r;
    r.bit = bit;
  }

  private credit(r: Row, x: number): void {
    r.weighted_rewards += x;
    r.weighted_squares += x * x;
    r.rewarded++;
  }

  /**
   * The ring slot of serve `serveSeq`, claimed for it when an older serve held it; -1 when a
   * newer serve holds it (the ring has moved past this one).
   */
  private slotOf(serveSeq: number): number {
    if (this.seqs === null) {
      this.seqs = new Float64Array(this.capacity).fill(-1);
      this.propensities = new Float64Array(this.capacity).fill(NaN);
      this.agreed = new Uint32Array(this.capacity);
      this.rewards = new Float64Array(this.capacity).fill(NaN);
    }
    const slot = serveSeq % this.capacity;
    const held = this.seqs[slot]!;
    if (held === serveSeq) return slot;
    if (held > serveSeq) return -1;
    this.seqs[slot] = serveSeq;
    this.propensities![slot] = NaN;
    this.agreed![slot] = 0;
    this.rewards![slot] = NaN;
    return slot;
  }
}
