/**
 * The one pass behind every estimator. Each estimator here is a mean of a per-row term (or, for
 * SNIPS, a ratio of two means), so a single sweep over the columns that accumulates, per term,
 * its plain sum (for the value) and its shifted sum of squares (for the variance) feeds
 * all of them at once: IPS, SNIPS, DM, DR and the variance-reduced DRs cost one read of each
 * target row, not one read per estimator. The same pass validates every target row, so nothing
 * is read twice. Row weights (bootstrap multiplicities) make a resample a pass too, without
 * copying rows.
 *
 * Variances use the shifted-data algorithm (Chan, Golub & LeVeque 1983, "Algorithms for
 * computing the sample variance"): Σ(t−K)² − (Σ(t−K))²/n with K near the mean avoids the
 * cancellation of Σt² − (Σt)²/n; K comes from a pilot pass over the first rows.
 */
import { invalidInput } from '../errors.js';
import type { LoggedBandit } from './logged-bandit.js';

/** A target row may miss 1 by this much (float noise from softmax and friends). */
export const TARGET_SUM_TOLERANCE = 1e-6;

/** Rows of the pilot pass that picks the variance shifts. */
const PILOT_ROWS = 256;

/**
 * Rows per call of the hot loop. A pass is still one pass, in blocks: V8 then optimises the loop
 * as a whole function after a few blocks instead of running one huge call in on-stack-replaced
 * code, which a single deoptimisation would send back to the interpreter for the rest of the
 * pass.
 */
const BLOCK_ROWS = 1 << 16;

/** Sums of one per-row term t over the weighted rows. */
export interface TermSums {
  /** Σ c·t in row order, so the mean is exactly sum / n (bit for bit the plain running mean when
   *  c ≡ 1: blocks carry the running sums over). */
  sum: number;
  /** The shift K of the sum of squares below. */
  shift: number;
  /** Σ c·(t − K)². */
  s2: number;
}

/** Everything the estimators need from one pass. */
export interface OpeSums {
  /** Σ c (the row count when unweighted). */
  n: number;
  /** Σ c·w and Σ c·w², with w = π(a_i|x_i) / p_i. */
  sumW: number;
  sumW2: number;
  maxW: number;
  /** Σ c over rows where π(a_i|x_i) = 0. */
  zeroMass: number;
  /** Σ c·π(unlogged arms | x_i). */
  unloggedMass: number;
  /** The observed reward r (the logging policy's on-policy value). */
  reward: TermSums;
  /** w·r (IPS). */
  ips: TermSums;
  /** SNIPS linearisation: shift K ≈ the SNIPS value, Σ c·w²(r−K) and Σ c·w²(r−K)². */
  snips: { shift: number; w2u: number; w2u2: number };
  /** Σ_a π(a|x_i)·q̂(x_i, a) (DM); null without a reward model. */
  dm: TermSums | null;
  /** DM term + w·(r − q̂(x_i, a_i)) (DR). */
  dr: TermSums | null;
  /** DM term + min(w, clip)·(r − q̂) (clipped DR); `clipped` = Σ c over rows with w > clip. */
  drClip: TermSums | null;
  clipped: number;
  /** DM term + 1{w ≤ τ}·w·(r − q̂) (switch-DR); `switched` = Σ c over rows with w > τ. */
  switchDr: TermSums | null;
  switched: number;
  /** DM term + λw/(w² + λ)·(r − q̂) (DR with optimistic shrinkage); null unless asked. */
  drOs: TermSums | null;
  /** Sums for the reward model's share of the variance (see model-variance.ts); null unless asked. */
  model: ModelSums | null;
}

/** The model-based terms: each is Σ_a π(a|x_i) q̂(x_i, a) + ω_i (r_i − q̂(x_i, a_i)) for a weight ω_i. */
export type ModelTerm = 'dm' | 'dr' | 'drClip' | 'switchDr' | 'drOs';

/** Per model-based term, sums over the logged arm's z_i = [1, x_i] (k × p each, p = d + 1). */
export interface ModelTermSums {
  /** Σ c·ω_i·z_i. */
  weightZ: Float64Array;
  /** Σ c·(t_i − K)·e_i·z_i, with t_i the term, K its shift, e_i = r_i − q̂(x_i, a_i). */
  termResidualZ: Float64Array;
}

/** What the delta method over a linear reward model q̂(x, a) = z·θ_a needs from the pass. */
export interface ModelSums {
  /** Coefficients per arm (d + 1). */
  p: number;
  /** Σ c·π(a|x_i)·z_i for every arm a. */
  targetZ: Float64Array;
  /** Σ c·e_i·z_i at the logged arm. */
  residualZ: Float64Array;
  terms: Record<ModelTerm, ModelTermSums | null>;
}

/** What one pass reads. */
export interface OpeInputs {
  logs: LoggedBandit;
  /** π(a|x_i), row-major n × k. */
  target: Float64Array;
  /** q̂(x_i, a), row-major n × k; null when no model-based estimator is requested. */
  qhat: Float64Array | null;
  /** Weight cap of clipped DR; null when not requested. */
  clip: number | null;
  /** Threshold of switch-DR; null when not requested. */
  tau: number | null;
  /** Shrinkage λ of DR-os; null when not requested. */
  osLambda: number | null;
  /** Arms with no logged row (their target mass is reported, not weighted). */
  unloggedArms: readonly number[];
  /**
   * Feature width of the linear reward model q̂(x, a) = z·θ_a with z = [1, x_0..x_{dim-1}] of
   * `logs.x`, to accumulate `model` sums for its variance share; null to skip them.
   */
  modelDim: number | null;
}

/** Variance shifts, one per term. */
export interface OpeShifts {
  reward: number;
  ips: number;
  snips: number;
  dm: number;
  dr: number;
  drClip: number;
  switchDr: number;
  drOs: number;
}

const NO_SHIFTS: OpeShifts = { reward: 0, ips: 0, snips: 0, dm: 0, dr: 0, drClip: 0, switchDr: 0, drOs: 0 };

/** The mean of a term. */
export function termMean(t: TermSums, n: number): number {
  return t.sum / n;
}

/** The standard error of a term's mean: √(s²/n) with the unbiased sample variance s². */
export function termStdErr(t: TermSums, n: number): number {
  if (n <= 1) return 0;
  // Σ c(t − K) = sum − K·n is small when K is near the mean, so forming it from `sum` loses
  // nothing that matters; only Σ c(t − K)² needs its own accumulator.
  const s1 = t.sum - t.shift * n;
  const variance = Math.max(0, (t.s2 - (s1 * s1) / n) / (n - 1));
  return Math.sqrt(variance / n);
}

/** Shifts from a pilot pass over the first rows: each term's mean there (0 where undefined). */
export function pilotShifts(inp: OpeInputs): OpeShifts {
  const s = accumulateOpeSums(inp, NO_SHIFTS, 0, Math.min(inp.logs.n, PILOT_ROWS), null, true);
  const mean = (t: TermSums | null): number => (t === null ? 0 : t.sum / s.n);
  return {
    reward: mean(s.reward),
    ips: mean(s.ips),
    snips: s.sumW > 0 ? s.ips.sum / s.sumW : 0,
    dm: mean(s.dm),
    dr: mean(s.dr),
    drClip: mean(s.drClip),
    switchDr: mean(s.switchDr),
    drOs: mean(s.drOs),
  };
}

/** Validates every target row and accumulates all sums over the logs: pilot, then one full pass. */
export function computeOpeSums(inp: OpeInputs): { sums: OpeSums; shifts: OpeShifts } {
  const shifts = pilotShifts(inp);
  return { sums: accumulateOpeSums(inp, shifts, 0, inp.logs.n, null, true), shifts };
}

/**
 * One pass over rows [from, to): every sum of `OpeSums`, with row i counted `weights[i]` times
 * (1 when `weights` is null). With `validate`, a target row that is negative, NaN, or does not
 * sum to 1 (±1e-6), or a non-finite q̂, throws `invalid_input` naming the row.
 * Logged columns must already have passed `checkLogs`.
 */
export function accumulateOpeSums(
  inp: OpeInputs,
  shifts: OpeShifts,
  from: number,
  to: number,
  weights: Float64Array | null,
  validate: boolean,
): OpeSums {
  const k = inp.logs.k;
  const hasQ = inp.qhat !== null;
  const doClip = hasQ && inp.clip !== null;
  const doSwitch = hasQ && inp.tau !== null;
  const doOs = hasQ && inp.osLambda !== null;
  const mp = (inp.modelDim ?? 0) + 1;
  const ms = inp.modelDim !== null && hasQ ? emptyModelSums(k, mp, doClip, doSwitch, doOs) : null;
  const kernel: Kernel = {
    target: inp.target,
    qhat: inp.qhat,
    arm: inp.logs.arm,
    reward: inp.logs.reward,
    propensity: inp.logs.propensity,
    k,
    x: inp.logs.x ?? null,
    d: inp.logs.x === undefined ? 0 : (inp.logs.d ?? 0),
    unlogged: Int32Array.from(inp.unloggedArms),
    clip: inp.clip ?? Infinity,
    tau: inp.tau ?? Infinity,
    osLambda: inp.osLambda ?? 0,
    doClip,
    doSwitch,
    doOs,
    md: mp - 1,
    model: ms,
    shifts: Float64Array.of(shifts.reward, shifts.ips, shifts.snips, shifts.dm, shifts.dr, shifts.drClip, shifts.switchDr, shifts.drOs),
  };
  const acc = new Float64Array(SLOTS);
  for (let start = from; start < to; start += BLOCK_ROWS) {
    accumulateBlock(acc, kernel, start, Math.min(to, start + BLOCK_ROWS), weights, validate);
  }
  const term = (sum: number, shift: number, s2: number): TermSums => ({ sum, shift, s2 });
  return {
    n: acc[N]!,
    sumW: acc[SW]!,
    sumW2: acc[SW2]!,
    maxW: acc[MAXW]!,
    zeroMass: acc[ZERO]!,
    unloggedMass: acc[UNLOGGED]!,
    reward: term(acc[R_SUM]!, shifts.reward, acc[R_SQ]!),
    ips: term(acc[I_SUM]!, shifts.ips, acc[I_SQ]!),
    snips: { shift: shifts.snips, w2u: acc[S_W2U]!, w2u2: acc[S_W2U2]! },
    dm: hasQ ? term(acc[M_SUM]!, shifts.dm, acc[M_SQ]!) : null,
    dr: hasQ ? term(acc[D_SUM]!, shifts.dr, acc[D_SQ]!) : null,
    drClip: doClip ? term(acc[C_SUM]!, shifts.drClip, acc[C_SQ]!) : null,
    clipped: acc[CLIPPED]!,
    switchDr: doSwitch ? term(acc[W_SUM]!, shifts.switchDr, acc[W_SQ]!) : null,
    switched: acc[SWITCHED]!,
    drOs: doOs ? term(acc[O_SUM]!, shifts.drOs, acc[O_SQ]!) : null,
    model: ms,
  };
}

// Slots of the accumulator. The hot function below allocates nothing and returns nothing: an
// object literal there ties its optimised code to allocation-site feedback, and a pretenuring
// change after a GC deoptimised it for good (V8 left it in baseline code, 2× slower, for every
// later call).
const N = 0, SW = 1, SW2 = 2, MAXW = 3, ZERO = 4, UNLOGGED = 5, R_SUM = 6, R_SQ = 7, I_SUM = 8, I_SQ = 9;
const S_W2U = 10, S_W2U2 = 11, M_SUM = 12, M_SQ = 13, D_SUM = 14, D_SQ = 15, C_SUM = 16, C_SQ = 17;
const CLIPPED = 18, W_SUM = 19, W_SQ = 20, SWITCHED = 21, O_SUM = 22, O_SQ = 23, SLOTS = 24;

/** Everything the kernel reads, gathered once per pass. */
interface Kernel {
  target: Float64Array;
  qhat: Float64Array | null;
  arm: Int32Array;
  reward: Float64Array;
  propensity: Float64Array;
  k: number;
  x: Float64Array | null;
  /** Row stride of x. */
  d: number;
  unlogged: Int32Array;
  clip: number;
  tau: number;
  osLambda: number;
  doClip: boolean;
  doSwitch: boolean;
  doOs: boolean;
  /** Feature width of the reward model's z = [1, x_0..x_{md-1}]. */
  md: number;
  model: ModelSums | null;
  /** reward, ips, snips, dm, dr, drClip, switchDr, drOs. */
  shifts: Float64Array;
}

/** The hot loop over rows [from, to), adding into `acc` (and the kernel's model sums). */
function accumulateBlock(acc: Float64Array, kn: Kernel, from: number, to: number, weights: Float64Array | null, validate: boolean): void {
  const { target, qhat, arm, reward, propensity, k, x, d, unlogged, clip, tau, osLambda, doClip, doSwitch, doOs, md } = kn;
  const ms = kn.model;
  const mp = md + 1;
  const hasQ = qhat !== null;
  const nUnlogged = unlogged.length;
  const readRow = validate || hasQ;
  const rK = kn.shifts[0]!, iK = kn.shifts[1]!, sK = kn.shifts[2]!, mK = kn.shifts[3]!, dK = kn.shifts[4]!;
  const cK = kn.shifts[5]!, wK = kn.shifts[6]!, oK = kn.shifts[7]!;

  let n = acc[N]!, sw = acc[SW]!, sw2 = acc[SW2]!, maxW = acc[MAXW]!, zero = acc[ZERO]!, um = acc[UNLOGGED]!;
  let rS = acc[R_SUM]!, r2 = acc[R_SQ]!;
  let iS = acc[I_SUM]!, i2 = acc[I_SQ]!;
  let u1 = acc[S_W2U]!, u2 = acc[S_W2U2]!;
  let mS = acc[M_SUM]!, m2 = acc[M_SQ]!;
  let dS = acc[D_SUM]!, d2 = acc[D_SQ]!;
  let cS = acc[C_SUM]!, c2 = acc[C_SQ]!, clipped = acc[CLIPPED]!;
  let wS = acc[W_SUM]!, w2 = acc[W_SQ]!, switched = acc[SWITCHED]!;
  let oS = acc[O_SUM]!, o2 = acc[O_SQ]!;

  for (let i = from; i < to; i++) {
    const c = weights === null ? 1 : weights[i]!;
    if (c === 0) continue;
    const o = i * k;
    let dm = 0;
    if (readRow) {
      let mass = 0;
      // Math.min propagates NaN, so one check after the loop catches negative and NaN mass.
      let least = 0;
      if (hasQ) {
        for (let a = 0; a < k; a++) {
          const v = target[o + a]!;
          least = Math.min(least, v);
          mass += v;
          dm += v * qhat[o + a]!;
        }
      } else {
        for (let a = 0; a < k; a++) {
          const v = target[o + a]!;
          least = Math.min(least, v);
          mass += v;
        }
      }
      if (validate) {
        if (!(least === 0) || !(Math.abs(mass - 1) <= TARGET_SUM_TOLERANCE)) throw badTargetRow(target, k, i);
        // 0·∞ and 0·NaN are NaN, so a finite DM term means every q̂ of the row is finite.
        if (hasQ && !Number.isFinite(dm)) throw badQhatRow(i);
      }
    }
    const a = arm[i]!;
    const r = reward[i]!;
    const pi = target[o + a]!;
    const w = pi / propensity[i]!;
    const cw = c * w;
    n += c;
    sw += cw;
    sw2 += cw * w;
    maxW = Math.max(maxW, w);
    if (pi === 0) zero += c;
    for (let u = 0; u < nUnlogged; u++) um += c * target[o + unlogged[u]!]!;

    let t = r - rK;
    rS += c * r;
    r2 += c * t * t;

    const wr = w * r;
    iS += c * wr;
    t = wr - iK;
    i2 += c * t * t;

    const wu = w * (r - sK);
    u1 += cw * wu;
    u2 += c * wu * wu;

    if (hasQ) {
      const res = r - qhat[o + a]!;
      mS += c * dm;
      t = dm - mK;
      m2 += c * t * t;

      const dr = dm + w * res;
      dS += c * dr;
      t = dr - dK;
      d2 += c * t * t;

      // Su et al. 2020: cap the weight, keep the model's baseline.
      const wc = Math.min(w, clip);
      if (doClip) {
        const v = dm + wc * res;
        if (w > clip) clipped += c;
        cS += c * v;
        t = v - cK;
        c2 += c * t * t;
      }
      // Wang et al. 2017 (as in the Open Bandit Pipeline): drop the correction when w > τ.
      const ws = w <= tau ? w : 0;
      if (doSwitch) {
        const v = dm + ws * res;
        if (w > tau) switched += c;
        wS += c * v;
        t = v - wK;
        w2 += c * t * t;
      }
      // Su, Dimakopoulou, Krishnamurthy & Dudík 2020: shrink the weight toward 0, more the larger it is.
      const wo = doOs ? (osLambda * w) / (w * w + osLambda) : 0;
      if (doOs) {
        const v = dm + wo * res;
        oS += c * v;
        t = v - oK;
        o2 += c * t * t;
      }
      if (ms !== null) {
        const xo = i * d;
        for (let b = 0; b < k; b++) {
          const pb = target[o + b]!;
          if (pb !== 0) addZ(ms.targetZ, b * mp, c * pb, x, xo, md);
        }
        const ao = a * mp;
        const ce = c * res;
        addZ(ms.residualZ, ao, ce, x, xo, md);
        const mt = ms.terms;
        addZ(mt.dm!.termResidualZ, ao, ce * (dm - mK), x, xo, md);
        addZ(mt.dr!.weightZ, ao, c * w, x, xo, md);
        addZ(mt.dr!.termResidualZ, ao, ce * (dr - dK), x, xo, md);
        if (doClip) {
          addZ(mt.drClip!.weightZ, ao, c * wc, x, xo, md);
          addZ(mt.drClip!.termResidualZ, ao, ce * (dm + wc * res - cK), x, xo, md);
        }
        if (doSwitch) {
          addZ(mt.switchDr!.weightZ, ao, c * ws, x, xo, md);
          addZ(mt.switchDr!.termResidualZ, ao, ce * (dm + ws * res - wK), x, xo, md);
        }
        if (doOs) {
          addZ(mt.drOs!.weightZ, ao, c * wo, x, xo, md);
          addZ(mt.drOs!.termResidualZ, ao, ce * (dm + wo * res - oK), x, xo, md);
        }
      }
    }
  }

  acc[N] = n;
  acc[SW] = sw;
  acc[SW2] = sw2;
  acc[MAXW] = maxW;
  acc[ZERO] = zero;
  acc[UNLOGGED] = um;
  acc[R_SUM] = rS;
  acc[R_SQ] = r2;
  acc[I_SUM] = iS;
  acc[I_SQ] = i2;
  acc[S_W2U] = u1;
  acc[S_W2U2] = u2;
  acc[M_SUM] = mS;
  acc[M_SQ] = m2;
  acc[D_SUM] = dS;
  acc[D_SQ] = d2;
  acc[C_SUM] = cS;
  acc[C_SQ] = c2;
  acc[CLIPPED] = clipped;
  acc[W_SUM] = wS;
  acc[W_SQ] = w2;
  acc[SWITCHED] = switched;
  acc[O_SUM] = oS;
  acc[O_SQ] = o2;
}

/** out[o..o+p) += v·[1, x_i]. */
function addZ(out: Float64Array, o: number, v: number, x: Float64Array | null, xo: number, d: number): void {
  out[o]! += v;
  for (let j = 0; j < d; j++) out[o + 1 + j]! += v * x![xo + j]!;
}

function emptyModelSums(k: number, p: number, clip: boolean, switched: boolean, os: boolean): ModelSums {
  const termSums = (): ModelTermSums => ({ weightZ: new Float64Array(k * p), termResidualZ: new Float64Array(k * p) });
  return {
    p,
    targetZ: new Float64Array(k * p),
    residualZ: new Float64Array(k * p),
    terms: { dm: termSums(), dr: termSums(), drClip: clip ? termSums() : null, switchDr: switched ? termSums() : null, drOs: os ? termSums() : null },
  };
}

/** The error for a non-finite q̂ in row `i`, built off the hot loop. */
function badQhatRow(i: number): Error {
  return invalidInput(`qhat row ${i} has a value that is not a finite number`, { details: { row: i } });
}

/**
 * What is wrong with one target row (its `k` probabilities), or null when it is a distribution:
 * no NaN, no negative mass, a sum of 1 within TARGET_SUM_TOLERANCE.
 */
export function targetRowIssue(row: ArrayLike<number>): string | null {
  const values = Array.from(row);
  if (values.some((v) => Number.isNaN(v))) return 'has a NaN probability';
  const negative = values.findIndex((v) => v < 0);
  if (negative >= 0) return `puts negative mass ${values[negative]} on arm ${negative}`;
  const mass = values.reduce((s, v) => s + v, 0);
  if (mass === 0) return 'has no mass on any arm';
  return Math.abs(mass - 1) <= TARGET_SUM_TOLERANCE ? null : `sums to ${mass}, not 1 (±${TARGET_SUM_TOLERANCE})`;
}

/** The error for target row `i`, built off the hot loop. */
function badTargetRow(target: Float64Array, k: number, i: number): Error {
  const row = Array.from(target.subarray(i * k, i * k + k));
  const issue = targetRowIssue(row) ?? 'is not a distribution';
  return invalidInput(`target row ${i} ${issue}`, {
    hint: 'the target must give a full action distribution (no negative mass, summing to 1) for every logged row',
    details: { row: i, target: row },
  });
}
