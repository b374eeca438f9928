import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

const OBD = fileURLToPath(new URL('../fixtures/obd/random/men/men.csv', import.meta.url));

describe('oo-ml ope on Open Bandit Dataset logs (CLI)', () => {
  it('evaluates the uniform policy position-wise and says so', async () => {
    const r = await runCli(['ope', '--logs', OBD, '--policy', 'uniform', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const o = JSON.parse(r.stdout) as { logKind: string; k: number; rows: number; notes: string[]; report: { estimates: { estimator: string; value: number }[]; loggingPolicy: { value: number } } };
    expect(o.logKind).toBe('obd');
    expect(o.k).toBe(34);
    expect(o.notes.join(' ')).toMatch(/position/i);
    // On the uniformly logged campaign, IPS of the uniform policy is the click rate itself.
    expect(o.report.estimates.find((e) => e.estimator === 'ips')!.value).toBeCloseTo(o.report.loggingPolicy.value, 12);
  });

  it('refuses policies that need oo-ml feature vectors on OBD logs, and missing files', async () => {
    const r = await runCli(['ope', '--logs', OBD, '--policy', 'linucb']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Open Bandit logs');
    // A tuning flag of an estimator not asked for is refused, not silently ignored.
    const clip = await runCli(['ope', '--logs', OBD, '--policy', 'uniform', '--clip', '5']);
    expect([clip.code, clip.stderr]).toEqual([2, expect.stringContaining('--clip tunes the dr-clip estimator, which --estimators (ips,snips,dm,dr) does not ask for')]);
    // Estimators asked for without their tuning flags: every missing flag named, as a flag.
    const untuned = await runCli(['ope', '--logs', OBD, '--policy', 'uniform', '--estimators', 'ips,dr-clip,switch-dr']);
    expect([untuned.code, untuned.stderr]).toEqual([2, expect.stringContaining('dr-clip needs --clip (a weight cap > 0); switch-dr needs --tau (a weight threshold ≥ 0)')]);
    // A switch-dr threshold of 0 is one (DM wherever a weight is positive); a negative one is not.
    const zero = await runCli(['ope', '--logs', OBD, '--policy', 'uniform', '--estimators', 'switch-dr', '--tau', '0', '--json']);
    expect(zero.code, zero.stderr).toBe(0);
    const negative = await runCli(['ope', '--logs', OBD, '--policy', 'uniform', '--estimators', 'switch-dr', '--tau', '-1']);
    expect([negative.code, negative.stderr]).toEqual([2, expect.stringContaining('--tau must be a number between 0 and')]);
    const missing = await runCli(['ope', '--logs', '/nonexistent/logs.csv', '--policy', 'uniform']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('/nonexistent/logs.csv');
  });

  it('lets the user pick the reward model’s features: position, user, and the items’ context pooled over the items', async () => {
    const pooled = await runCli(['ope', '--logs', OBD, '--policy', 'uniform', '--estimators', 'dm,dr', '--reward-features', 'user,position,item', '--json']);
    expect(pooled.code, pooled.stderr).toBe(0);
    const o = JSON.parse(pooled.stdout) as { notes: string[]; report: { rewardModel: { source: string } } };
    expect(o.notes.join(' ')).toMatch(/reward model pooled over the items: one-hot user features \(\d+ columns\), one-hot position \(3 slots\), the items' context \(\d+ columns\); cross-fitted over 5 fold/);
    expect(o.report.rewardModel.source).toBe('given-qhat');
    const position = await runCli(['ope', '--logs', OBD, '--policy', 'uniform', '--estimators', 'dm', '--reward-features', 'affinity,position']);
    expect(position.stdout).toContain('reward-model features: the 34 user-item affinities, one-hot position (3 slots)');
    for (const bad of ['bogus', 'none,item']) {
      const r = await runCli(['ope', '--logs', OBD, '--policy', 'uniform', '--reward-features', bad]);
      expect([r.code, r.stderr]).toEqual([2, expect.stringContaining(`--reward-features on Open Bandit logs takes affinity, user, position, item, none (none alone), got "${bad}"`)]);
    }
  });
});
