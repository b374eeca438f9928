/**
 * The estimator table: for each name, its value from the pass sums (what a bootstrap resample
 * needs), its analytic estimate, and what it requires. `evaluate` and the bootstrap read this
 * table; adding an estimator is a file plus a row here.
 */
import { clippedDrEstimate, clippedDrValue } from './clipped-dr.js';
import { dmEstimate, dmValue } from './direct-method.js';
import { drEstimate, drValue } from './doubly-robust.js';
import { drOsEstimate, drOsValue } from './dr-shrinkage.js';
import type { Estimate, EstimatorContext, EstimatorName } from './estimate.js';
import { ipsEstimate, ipsValue } from './ips.js';
import type { OpeSums } from './ope-sums.js';
import { sndrEstimate, sndrValue } from './self-normalized-dr.js';
import { snipsEstimate, snipsValue } from './snips.js';
import { switchDrEstimate, switchDrValue } from './switch-dr.js';

/** One estimator's entry. */
export interface EstimatorDef {
  /** Needs a reward model (q̂). */
  model: boolean;
  /** Uses importance weights (undefined when the target never weights a logged arm). */
  weighted: boolean;
  value(s: OpeSums): number;
  estimate(s: OpeSums, ctx: EstimatorContext): Estimate;
}

/** Every estimator by name. */
export const ESTIMATORS: Readonly<Record<EstimatorName, EstimatorDef>> = {
  ips: { model: false, weighted: true, value: ipsValue, estimate: ipsEstimate },
  snips: { model: false, weighted: true, value: snipsValue, estimate: snipsEstimate },
  dm: { model: true, weighted: false, value: dmValue, estimate: dmEstimate },
  dr: { model: true, weighted: true, value: drValue, estimate: drEstimate },
  'dr-clip': { model: true, weighted: true, value: clippedDrValue, estimate: clippedDrEstimate },
  'switch-dr': { model: true, weighted: true, value: switchDrValue, estimate: switchDrEstimate },
  'dr-os': { model: true, weighted: true, value: drOsValue, estimate: drOsEstimate },
  sndr: { model: true, weighted: true, value: sndrValue, estimate: sndrEstimate },
};
