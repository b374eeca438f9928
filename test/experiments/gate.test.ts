import { describe, expect, it } from 'vitest';
import { evaluateGate, GATE_DR_MARGIN, type GateEvidence } from '../../src/experiments/gate.js';

const base: GateEvidence = {
  champion: 1,
  baseline: 'champion v1',
  wasShadow: true,
  hasOpe: true,
  simDiff: { value: 0.02, ci95: [0.005, 0.035], seeds: 5 },
  opeDiff: { value: 0.01, ci95: [-0.005, 0.03], rows: 400, data: '400 rows neither version learned from' },
  flaggedSegments: [],
  segmentsChecked: 3,
  shadowExposure: { serves: 5000, hours: 48, agreement: 0.6, matured: 3000, ips: { value: 0.41, ci95: [0.37, 0.45] }, snips: { value: 0.4, ci95: [0.37, 0.43] } },
};
const firstChampion: GateEvidence = { ...base, champion: null, baseline: 'uniform random' };

describe('promotion gate', () => {
  it('lets a shadow that beats the baseline in sim, is not worse off-policy beyond the margin, and flags no segment become champion', () => {
    const d = evaluateGate('champion', base);
    expect(d.passed).toBe(true);
    expect(d.figures).toMatchObject({ sim_diff_ci_low: 0.005, sim_seeds: 5, ope_dr_diff_ci_low: -0.005, ope_dr_margin: GATE_DR_MARGIN, ope_rows: 400 });
    expect(d.checks.map((c) => c.name)).toEqual(['has been shadow', 'enough shadow exposure', 'beats champion v1 in simulation', 'not worse than champion v1 off-policy', 'no segment flagged for review']);
    expect(d.checks.map((c) => c.id)).toEqual(['was-shadow', 'shadow-exposure', 'beats-baseline', 'ope-not-worse', 'no-flagged-segment']);
    expect(d.checks[1]!.detail).toBe('5000 shadow serves over 48.0 h (at least 1000 over 24 h needed); agreement with the served arm 60.0%; SNIPS on 3000 served decisions 0.4000 [0.3700, 0.4300]');
    expect(d.figures).toMatchObject({ shadow_serves: 5000, shadow_hours: 48, shadow_agreement: 0.6, shadow_snips: 0.4, shadow_min_serves: 1000, shadow_min_hours: 24 });
  });

  it('refuses when the sim interval touches 0, when DR may be worse by more than the margin, or when it was never shadow', () => {
    expect(evaluateGate('champion', { ...base, simDiff: { value: 0.01, ci95: [-0.001, 0.02], seeds: 8 } }).passed).toBe(false);
    // Not significantly worse, but the data cannot rule out a loss beyond the margin: refused.
    const unsure = evaluateGate('champion', { ...base, opeDiff: { ...base.opeDiff!, value: 0.001, ci95: [-0.02, 0.022] } });
    expect(unsure.passed).toBe(false);
    expect(unsure.checks.find((c) => !c.passed)).toMatchObject({ name: 'not worse than champion v1 off-policy', detail: expect.stringContaining('≥ −0.01 (the margin)') });
    // A wider margin, stated, admits it.
    expect(evaluateGate('champion', { ...base, opeDiff: { ...base.opeDiff!, ci95: [-0.02, 0.022] } }, { drMargin: 0.025 }).passed).toBe(true);
    expect(evaluateGate('champion', { ...base, wasShadow: false, simDiff: null, opeDiff: null }).checks).toEqual([{ id: 'was-shadow', name: 'has been shadow', passed: false, detail: 'promote it to shadow first' }]);
    // Evidence gathered anyway (a forced promotion): every comparison is checked and its figures kept for the record.
    const forced = evaluateGate('champion', { ...base, wasShadow: false, shadowExposure: null });
    expect(forced.passed).toBe(false);
    expect(forced.checks.map((c) => [c.id, c.passed])).toEqual([
      ['was-shadow', false],
      ['shadow-exposure', false],
      ['beats-baseline', true],
      ['ope-not-worse', true],
      ['no-flagged-segment', true],
    ]);
    expect(forced.figures).toMatchObject({ sim_diff: base.simDiff!.value, ope_dr_diff: base.opeDiff!.value });
    expect(evaluateGate('champion', { ...base, opeDiff: null }).passed).toBe(false);
    // A comparison that does not stand for the version (refitted on rows it was not trained on) fails, saying why.
    const foreign = evaluateGate('champion', { ...base, opeDiff: { ...base.opeDiff!, notThisVersion: 'it was trained on 10 rows' } });
    expect(foreign.passed).toBe(false);
    expect(foreign.checks.find((c) => c.id === 'ope-not-worse')).toMatchObject({ passed: false, detail: expect.stringContaining('which does not stand for this version: it was trained on 10 rows') });
  });

  it('refuses a champion whose training run flagged a segment for review', () => {
    const d = evaluateGate('champion', { ...base, flaggedSegments: ['night-owls'] });
    expect(d.passed).toBe(false);
    expect(d.checks.filter((c) => !c.passed)).toEqual([{ id: 'no-flagged-segment', name: 'no segment flagged for review', passed: false, detail: expect.stringContaining('flagged night-owls') }]);
  });

  it('says when there were no segments to compare, rather than that none was flagged', () => {
    const checked = evaluateGate('champion', base).checks.find((c) => c.id === 'no-flagged-segment');
    expect(checked).toMatchObject({ passed: true, detail: 'none of 3 segments flagged by the training run' });
    const none = evaluateGate('champion', { ...base, segmentsChecked: 0 }).checks.find((c) => c.id === 'no-flagged-segment');
    expect(none).toMatchObject({ passed: true, detail: expect.stringMatching(/^not checked: the training run had no user segments to compare/) });
  });

  it('refuses a champion whose shadow has not served long enough, or at all; the minimums are the caller’s', () => {
    const short = evaluateGate('champion', { ...base, shadowExposure: { ...base.shadowExposure!, serves: 5000, hours: 3 } });
    expect(short.checks.filter((c) => !c.passed).map((c) => c.name)).toEqual(['enough shadow exposure']);
    const never = evaluateGate('champion', { ...base, shadowExposure: { serves: 0, hours: 0, agreement: null, matured: 0, ips: null, snips: null } });
    expect(never.checks.find((c) => c.name === 'enough shadow exposure')).toMatchObject({ passed: false, detail: '0 shadow serves over 0.0 h (at least 1000 over 24 h needed)' });
    expect(evaluateGate('champion', { ...base, shadowExposure: { ...base.shadowExposure!, hours: 3 } }, { minShadowHours: 2 }).passed).toBe(true);
    // With no champion nothing serves, so there is no traffic to shadow: a first champion's exposure is waived, and said so.
    const first = evaluateGate('champion', { ...firstChampion, shadowExposure: { serves: 0, hours: 0, agreement: null, matured: 0, ips: null, snips: null } });
    expect(first.passed).toBe(true);
    expect(first.checks.find((c) => c.id === 'shadow-exposure')).toMatchObject({ passed: true, detail: expect.stringMatching(/^waived while there is no champion: nothing serves/) });
    // The rest of the gate stands: it must still beat uniform random.
    expect(evaluateGate('champion', { ...firstChampion, simDiff: { value: 0, ci95: [-0.01, 0.01], seeds: 5 } }).passed).toBe(false);
  });

  it('cannot decide with too few seeds', () => {
    expect(() => evaluateGate('champion', { ...base, simDiff: { ...base.simDiff!, seeds: 3 } })).toThrow(/cannot decide.*3 seeds, at least 5/);
    expect(() => evaluateGate('shadow', { ...base, simDiff: { ...base.simDiff!, seeds: 4 } }, { minSeeds: 6 })).toThrow(/4 seeds, at least 6/);
  });

  it('holds a first champion to the same bar against uniform random: no pass on its own evidence', () => {
    const chance = evaluateGate('champion', { ...firstChampion, simDiff: { value: 0.0004, ci95: [-0.003, 0.004], seeds: 5 } });
    expect(chance.passed).toBe(false);
    expect(chance.checks.find((c) => !c.passed)!.name).toBe('beats uniform random in simulation');
    expect(evaluateGate('champion', firstChampion).passed).toBe(true);
  });

  it('admits a shadow that does not lose in simulation and has off-policy metrics; refuses one that loses', () => {
    expect(evaluateGate('shadow', { ...base, simDiff: { value: 0, ci95: [-0.01, 0.01], seeds: 5 } }).passed).toBe(true);
    const loses = evaluateGate('shadow', { ...firstChampion, simDiff: { value: -0.03, ci95: [-0.05, -0.01], seeds: 5 } });
    expect(loses.passed).toBe(false);
    expect(loses.checks.find((c) => !c.passed)).toMatchObject({ name: 'does not lose to uniform random in simulation' });
    const noOpe = evaluateGate('shadow', { ...base, hasOpe: false });
    expect(noOpe.checks.map((c) => c.passed)).toEqual([false, true]);
  });
});
