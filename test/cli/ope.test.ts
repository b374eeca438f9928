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
    const missing = await runCli(['ope', '--logs', '/nonexistent/logs.csv', '--policy', 'uniform']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('/nonexistent/logs.csv');
  });
});
