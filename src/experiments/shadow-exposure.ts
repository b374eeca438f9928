/**
 * What a shadow's time in production shows, from the serves it shadowed. Each shadow serve is
 * paired with the served decision it shadowed (same request): the arm the champion served with
 * its propensity p, the reward once its window closed, and the arm the shadow drew from its own
 * random stream. Because the shadow's draw s is independent of the served draw a given the
 * request, E[1{s = a}] = π_shadow(a|x), so
 *   IPS = (1/n) Σ 1{sᵢ = aᵢ} rᵢ / pᵢ   and   SNIPS = Σ 1{sᵢ = aᵢ} rᵢ / pᵢ / Σ 1{sᵢ = aᵢ} / pᵢ
 * estimate the shadow's value on the served traffic without its action distribution (a
 * noisier IPS than with π_shadow, but only from what was logged). Agreement is the share of
 * shadow serves whose arm is the served one. Pure: the caller reads the pairs (pipelines/
 * shadow-traffic.ts).
 */
import { Z95 } from '../evaluation/estimate.js';
import type { Interval } from './gate.js';

/** One shadow serve and the served decision it shadowed. */
export interface ShadowPair {
  /** When the shadow decided (epoch ms). */
  ts: number;
  servedArm: string;
  /** The served decision's propensity. */
  propensity: number;
  shadowArm: string;
  /** The served decision's reward, or null while its reward window is open. */
  reward: number | null;
}

/** A shadow's exposure and what it shows. */
export interface ShadowExposure {
  /** Shadow serves seen. */
  serves: number;
  /** Hours from its first shadow serve to its last. */
  hours: number;
  /** Share of shadow serves that chose the served arm (null with none). */
  agreement: number | null;
  /** Pairs whose reward window closed: what the estimates rest on. */
  matured: number;
  /** The shadow's value on the served traffic (null with fewer than 2 matured pairs). */
  ips: Interval | null;
  snips: Interval | null;
}

/** Summarises a shadow's pairs (see the module comment). */
export function summarizeShadow(pairs: readonly ShadowPair[]): ShadowExposure {
  let first = Infinity;
  let last = -Infinity;
  let agree = 0;
  for (const p of pairs) {
    first = Math.min(first, p.ts);
    last = Math.max(last, p.ts);
    if (p.shadowArm === p.servedArm) agree++;
  }
  const matured = pairs.filter((p) => p.reward !== null);
  const n = matured.length;
  let ips: Interval | null = null;
  let snips: Interval | null = null;
  if (n >= 2) {
    const t = matured.map((p) => (p.shadowArm === p.servedArm ? p.reward! / p.propensity : 0));
    const w = matured.map((p) => (p.shadowArm === p.servedArm ? 1 / p.propensity : 0));
    const mean = t.reduce((a, b) => a + b, 0) / n;
    const se = Math.sqrt(t.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1) / n);
    // Every term is ≥ 0 (rewards in [0, 1]): so is the value, and the interval is cut there.
    ips = { value: mean, ci95: [Math.max(0, mean - Z95 * se), mean + Z95 * se] };
    const sumW = w.reduce((a, b) => a + b, 0);
    if (sumW > 0) {
      const v = t.reduce((a, b) => a + b, 0) / sumW;
      // Delta method: the linearised terms (wᵢ/w̄)(rᵢ − V) over the agreeing rows.
      const wBar = sumW / n;
      const lin = matured.map((p, i) => (w[i]! / wBar) * ((p.reward ?? 0) - v));
      const s = Math.sqrt(lin.reduce((a, b) => a + b * b, 0) / (n - 1) / n);
      // A weighted mean of rewards in [0, 1] lies there, and so does its interval.
      snips = { value: v, ci95: [Math.max(0, v - Z95 * s), Math.min(1, v + Z95 * s)] };
    }
  }
  return {
    serves: pairs.length,
    hours: pairs.length === 0 ? 0 : (last - first) / 3_600_000,
    agreement: pairs.length === 0 ? null : agree / pairs.length,
    matured: n,
    ips,
    snips,
  };
}
