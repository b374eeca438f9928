/**
 * The promotion gate, as pure rules over evidence. A version moves
 *   candidate → shadow   only with a persona-simulation run and off-policy metrics on record;
 *   shadow → champion    only if it has been shadow, beats the champion in simulation (lower
 *                        bound of the 95% interval of the paired reward difference above 0, over
 *                        at least `minSeeds` seeds) and is not worse by off-policy evaluation
 *                        (upper bound of the 95% interval of the DR difference at or above 0).
 * With no champion yet, the comparisons are vacuous and the first champion passes on its own
 * evidence. Too few seeds is not a "no" but "cannot decide": an error, not a decision.
 */
import { invalidInput } from '../errors.js';

/** An estimate with its 95% interval. */
export interface Interval {
  value: number;
  ci95: [number, number];
}

/** What the gate looks at. */
export interface GateEvidence {
  /** Current champion version, if any. */
  champion: number | null;
  /** The version has held the shadow alias at some point. */
  wasShadow: boolean;
  /** A simulation including this version was logged. */
  hasSimRun: boolean;
  /** Off-policy metrics (DR) were logged for this version. */
  hasOpe: boolean;
  /** Candidate minus champion, mean reward per decision, paired over seeds. */
  simDiff: (Interval & { seeds: number }) | null;
  /** Candidate minus champion, DR estimate on the same logs. */
  opeDiff: Interval | null;
}

/** One check and how it went. */
export interface GateCheck {
  name: string;
  passed: boolean;
  detail: string;
}

/** The gate's verdict. */
export interface GateDecision {
  to: 'shadow' | 'champion';
  passed: boolean;
  checks: GateCheck[];
  figures: Record<string, number>;
}

const f4 = (x: number): string => x.toFixed(4);

/** Applies the rules for a move to `to`. Throws `invalid_input` when the simulation has too few seeds to decide. */
export function evaluateGate(to: 'shadow' | 'champion', e: GateEvidence, minSeeds = 5): GateDecision {
  const checks: GateCheck[] = [];
  const figures: Record<string, number> = {};
  if (to === 'shadow') {
    checks.push({ name: 'sim run on record', passed: e.hasSimRun, detail: e.hasSimRun ? 'found' : 'no simulation including this version' });
    checks.push({ name: 'off-policy metrics on record', passed: e.hasOpe, detail: e.hasOpe ? 'found' : 'no DR estimate logged for this version' });
  } else {
    checks.push({ name: 'has been shadow', passed: e.wasShadow, detail: e.wasShadow ? 'yes' : 'promote it to shadow first' });
    if (!e.wasShadow) {
      // The comparisons cannot rescue a version that skipped shadow; they are not run.
    } else if (e.champion === null) {
      checks.push({ name: 'beats the champion', passed: true, detail: 'no champion yet' });
    } else {
      if (e.simDiff === null) throw invalidInput('the gate has no simulation comparison against the champion');
      if (e.simDiff.seeds < minSeeds) {
        throw invalidInput(`the gate cannot decide: the simulation has ${e.simDiff.seeds} seeds, at least ${minSeeds} are needed`, {
          hint: `run the comparison with --reps ${minSeeds} or more`,
        });
      }
      figures['sim_diff'] = e.simDiff.value;
      figures['sim_diff_ci_low'] = e.simDiff.ci95[0];
      figures['sim_diff_ci_high'] = e.simDiff.ci95[1];
      figures['sim_seeds'] = e.simDiff.seeds;
      const simOk = e.simDiff.ci95[0] > 0;
      checks.push({
        name: 'beats the champion in simulation',
        passed: simOk,
        detail: `reward difference ${f4(e.simDiff.value)} [${f4(e.simDiff.ci95[0])}, ${f4(e.simDiff.ci95[1])}] over ${e.simDiff.seeds} seeds; lower bound must be > 0`,
      });
      if (e.opeDiff === null) {
        checks.push({ name: 'not worse off-policy', passed: false, detail: 'no DR comparison against the champion' });
      } else {
        figures['ope_dr_diff'] = e.opeDiff.value;
        figures['ope_dr_diff_ci_low'] = e.opeDiff.ci95[0];
        figures['ope_dr_diff_ci_high'] = e.opeDiff.ci95[1];
        checks.push({
          name: 'not worse off-policy',
          passed: e.opeDiff.ci95[1] >= 0,
          detail: `DR difference ${f4(e.opeDiff.value)} [${f4(e.opeDiff.ci95[0])}, ${f4(e.opeDiff.ci95[1])}]; upper bound must be ≥ 0`,
        });
      }
    }
  }
  return { to, passed: checks.every((c) => c.passed), checks, figures };
}
