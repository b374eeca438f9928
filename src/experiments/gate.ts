/**
 * The promotion gate, as pure rules over evidence. Every move compares the version with a
 * baseline: the champion, or uniform random when there is no champion yet (a first champion
 * must still beat chance; it does not pass on its own evidence).
 *
 *   candidate → shadow   a simulation against the baseline that it does not lose (upper bound
 *                        of the 95% interval of the paired reward difference ≥ 0), and
 *                        off-policy metrics on record. A shadow serves nobody, but its
 *                        exposure is only worth gathering for a version that can win.
 *   shadow → champion    it has been shadow, long enough: at least `minShadowServes` shadow serves
 *                        over at least `minShadowHours` in the event log (with its agreement
 *                        with the served arm and its IPS/SNIPS on the served traffic reported;
 *                        waived while there is no champion, as nothing serves for a shadow to score beside);
 *                        it beats the baseline in simulation (lower bound of
 *                        that interval > 0, over at least `minSeeds` seeds); it is not worse
 *                        off-policy by more than `drMargin` (non-inferiority: lower bound of the
 *                        95% interval of the paired DR difference, on logged rows the version did
 *                        not learn from, ≥ −drMargin); and its training run flagged no user
 *                        segment for review (fairness).
 *
 * `--force --reason` overrides any failed check, and is recorded. Too few seeds is not a "no"
 * but "cannot decide": an error, not a decision.
 */
import { invalidInput } from '../errors.js';
import type { ShadowExposure } from './shadow-exposure.js';

/** An estimate with its 95% interval. */
export interface Interval {
  value: number;
  ci95: [number, number];
}

/** What the gate is deciding, as the evidence gatherer is asked it. */
export interface GateQuestion {
  to: 'shadow' | 'champion';
  champion: number | null;
  wasShadow: boolean;
  /** The gate is being overridden: every comparison is still made, to be recorded with the override. */
  forced?: boolean;
}

/** What the gate looks at. */
export interface GateEvidence {
  /** Current champion version, if any. */
  champion: number | null;
  /** What the version is compared with: "champion v3", or "uniform random" when there is no champion. */
  baseline: string;
  /** The version has held the shadow alias at some point. */
  wasShadow: boolean;
  /** Off-policy metrics (DR) were logged for this version. */
  hasOpe: boolean;
  /** Version minus baseline, mean reward per decision, paired over seeds (null when not run). */
  simDiff: (Interval & { seeds: number }) | null;
  /**
   * Version minus baseline, paired DR on logged rows the version did not learn from (null when
   * not run). `notThisVersion` says why the comparison cannot stand for the version (a refit on
   * a training set it was not trained on): the check then fails.
   */
  opeDiff: (Interval & { rows: number; data: string; notThisVersion?: string }) | null;
  /** User segments the version's training run flagged for review (fairness). */
  flaggedSegments: string[];
  /** How many user segments its training run compared (0: none to compare, users.parquet names them). */
  segmentsChecked: number;
  /** What its shadow serves show (experiments/shadow-exposure.ts); null when not asked (a move to shadow). */
  shadowExposure: ShadowExposure | null;
}

/** The gate's thresholds. */
export interface GateRules {
  /** Fewest simulation seeds a decision needs (default 5). */
  minSeeds: number;
  /** How much worse by DR, in reward per decision, a new champion may be (default GATE_DR_MARGIN). */
  drMargin: number;
  /** Fewest shadow serves before a move to champion (default 1,000). */
  minShadowServes: number;
  /** Fewest hours between a shadow's first and last serve before a move to champion (default 24). */
  minShadowHours: number;
}

/** Default non-inferiority margin of the off-policy check: 0.01 reward per decision. */
export const GATE_DR_MARGIN = 0.01;

/** Default rules. */
export const GATE_RULES: GateRules = { minSeeds: 5, drMargin: GATE_DR_MARGIN, minShadowServes: 1000, minShadowHours: 24 };

/** The gate's checks, by a name that does not change with their wording. */
export type GateCheckId = 'ope-on-record' | 'sim-not-losing' | 'was-shadow' | 'shadow-exposure' | 'beats-baseline' | 'ope-not-worse' | 'no-flagged-segment';

/** One check and how it went. */
export interface GateCheck {
  id: GateCheckId;
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
export function evaluateGate(to: 'shadow' | 'champion', e: GateEvidence, rules: Partial<GateRules> = {}): GateDecision {
  const { minSeeds, drMargin, minShadowServes, minShadowHours } = { ...GATE_RULES, ...rules };
  const checks: GateCheck[] = [];
  const figures: Record<string, number> = {};
  const simDiff = (): Interval & { seeds: number } => {
    if (e.simDiff === null) throw invalidInput(`the gate has no simulation comparison against ${e.baseline}`);
    if (e.simDiff.seeds < minSeeds) {
      throw invalidInput(`the gate cannot decide: the simulation has ${e.simDiff.seeds} seeds, at least ${minSeeds} are needed`, {
        hint: `run the comparison with --reps ${minSeeds} or more`,
      });
    }
    figures['sim_diff'] = e.simDiff.value;
    figures['sim_diff_ci_low'] = e.simDiff.ci95[0];
    figures['sim_diff_ci_high'] = e.simDiff.ci95[1];
    figures['sim_seeds'] = e.simDiff.seeds;
    return e.simDiff;
  };
  const simText = (d: Interval & { seeds: number }): string => `reward difference ${f4(d.value)} [${f4(d.ci95[0])}, ${f4(d.ci95[1])}] over ${d.seeds} seeds`;
  if (to === 'shadow') {
    checks.push({ id: 'ope-on-record', name: 'off-policy metrics on record', passed: e.hasOpe, detail: e.hasOpe ? 'found' : 'no DR estimate logged for this version' });
    const d = simDiff();
    checks.push({
      id: 'sim-not-losing',
      name: `does not lose to ${e.baseline} in simulation`,
      passed: d.ci95[1] >= 0,
      detail: `${simText(d)}; upper bound must be ≥ 0`,
    });
  } else {
    checks.push({ id: 'was-shadow', name: 'has been shadow', passed: e.wasShadow, detail: e.wasShadow ? 'yes' : 'promote it to shadow first' });
    // The comparisons cannot rescue a version that skipped shadow; they are not run, unless the
    // evidence holds them (a forced promotion records what it overrode).
    if (e.wasShadow || e.simDiff !== null) {
      const x = e.shadowExposure ?? { serves: 0, hours: 0, agreement: null, matured: 0, ips: null, snips: null };
      figures['shadow_min_serves'] = minShadowServes;
      figures['shadow_min_hours'] = minShadowHours;
      figures['shadow_serves'] = x.serves;
      figures['shadow_hours'] = x.hours;
      if (x.agreement !== null) figures['shadow_agreement'] = x.agreement;
      if (x.snips !== null) {
        figures['shadow_snips'] = x.snips.value;
        figures['shadow_snips_ci_low'] = x.snips.ci95[0];
        figures['shadow_snips_ci_high'] = x.snips.ci95[1];
      }
      const shown = [
        `${x.serves} shadow serves over ${x.hours.toFixed(1)} h (at least ${minShadowServes} over ${minShadowHours} h needed)`,
        x.agreement === null ? null : `agreement with the served arm ${(100 * x.agreement).toFixed(1)}%`,
        x.snips === null ? null : `SNIPS on ${x.matured} served decisions ${f4(x.snips.value)} [${f4(x.snips.ci95[0])}, ${f4(x.snips.ci95[1])}]`,
      ].filter((s) => s !== null);
      // Without a champion no server serves, so a shadow has no traffic to score beside: a first
      // champion (or one after the alias was removed) is judged on the rest of the gate, against
      // uniform random, and the check says so, whatever minimums were asked for.
      const noChampion = e.champion === null;
      checks.push({
        id: 'shadow-exposure',
        name: 'enough shadow exposure',
        passed: noChampion || (x.serves >= minShadowServes && x.hours >= minShadowHours),
        detail: noChampion ? `waived while there is no champion: nothing serves, so a shadow has no traffic to score beside (${shown.join('; ')})` : shown.join('; '),
      });
      const d = simDiff();
      checks.push({ id: 'beats-baseline', name: `beats ${e.baseline} in simulation`, passed: d.ci95[0] > 0, detail: `${simText(d)}; lower bound must be > 0` });
      figures['ope_dr_margin'] = drMargin;
      if (e.opeDiff === null) {
        checks.push({ id: 'ope-not-worse', name: `not worse than ${e.baseline} off-policy`, passed: false, detail: `no DR comparison against ${e.baseline}` });
      } else {
        figures['ope_dr_diff'] = e.opeDiff.value;
        figures['ope_dr_diff_ci_low'] = e.opeDiff.ci95[0];
        figures['ope_dr_diff_ci_high'] = e.opeDiff.ci95[1];
        figures['ope_rows'] = e.opeDiff.rows;
        const measured = `DR difference ${f4(e.opeDiff.value)} [${f4(e.opeDiff.ci95[0])}, ${f4(e.opeDiff.ci95[1])}] on ${e.opeDiff.data}`;
        checks.push({
          id: 'ope-not-worse',
          name: `not worse than ${e.baseline} off-policy`,
          passed: e.opeDiff.notThisVersion === undefined && e.opeDiff.ci95[0] >= -drMargin,
          detail:
            e.opeDiff.notThisVersion === undefined
              ? `${measured}; lower bound must be ≥ −${drMargin} (the margin)`
              : `${measured}, which does not stand for this version: ${e.opeDiff.notThisVersion}`,
        });
      }
      const flagged = e.flaggedSegments;
      checks.push({
        id: 'no-flagged-segment',
        name: 'no segment flagged for review',
        passed: flagged.length === 0,
        // Nothing to compare is no evidence of fairness, and the detail says so rather than "none flagged".
        detail:
          flagged.length > 0
            ? `the training run flagged ${flagged.join(', ')} (review before promotion, then --force --reason)`
            : e.segmentsChecked === 0
              ? 'not checked: the training run had no user segments to compare (users.parquet beside the event log names them, with at least 20 held-out rows each)'
              : `none of ${e.segmentsChecked} segments flagged by the training run`,
      });
    }
  }
  return { to, passed: checks.every((c) => c.passed), checks, figures };
}
