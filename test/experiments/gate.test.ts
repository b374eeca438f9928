import { describe, expect, it } from 'vitest';
import { evaluateGate, type GateEvidence } from '../../src/experiments/gate.js';

const base: GateEvidence = {
  champion: 1,
  wasShadow: true,
  hasSimRun: true,
  hasOpe: true,
  simDiff: { value: 0.02, ci95: [0.005, 0.035], seeds: 5 },
  opeDiff: { value: 0.01, ci95: [-0.01, 0.03] },
};

describe('promotion gate', () => {
  it('lets a shadow that beats the champion in sim and is not worse off-policy become champion', () => {
    const d = evaluateGate('champion', base);
    expect(d.passed).toBe(true);
    expect(d.figures).toMatchObject({ sim_diff_ci_low: 0.005, sim_seeds: 5, ope_dr_diff_ci_high: 0.03 });
  });

  it('refuses when the sim interval touches 0, when DR says worse, or when it was never shadow', () => {
    expect(evaluateGate('champion', { ...base, simDiff: { value: 0.01, ci95: [-0.001, 0.02], seeds: 8 } }).passed).toBe(false);
    const worse = evaluateGate('champion', { ...base, opeDiff: { value: -0.05, ci95: [-0.08, -0.02] } });
    expect(worse.passed).toBe(false);
    expect(worse.checks.find((c) => !c.passed)!.name).toBe('not worse off-policy');
    expect(evaluateGate('champion', { ...base, wasShadow: false }).checks[0]).toMatchObject({ passed: false, detail: 'promote it to shadow first' });
    expect(evaluateGate('champion', { ...base, opeDiff: null }).passed).toBe(false);
  });

  it('cannot decide with too few seeds', () => {
    expect(() => evaluateGate('champion', { ...base, simDiff: { ...base.simDiff!, seeds: 3 } })).toThrow(/cannot decide.*3 seeds, at least 5/);
  });

  it('passes the first champion on its own evidence and requires records for shadow', () => {
    expect(evaluateGate('champion', { ...base, champion: null, simDiff: null, opeDiff: null }).passed).toBe(true);
    expect(evaluateGate('shadow', base).passed).toBe(true);
    const bare = evaluateGate('shadow', { ...base, hasSimRun: false, hasOpe: false });
    expect(bare.passed).toBe(false);
    expect(bare.checks.map((c) => c.passed)).toEqual([false, false]);
  });
});
