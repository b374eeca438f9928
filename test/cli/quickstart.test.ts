import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { tempHome } from '../helpers/temp-home.js';

describe('oo-ml quickstart (CLI)', () => {
  it('runs every step on embedded defaults and says where each output went', async () => {
    const h = await tempHome();
    const r = await runCli(['quickstart', '--home', h.home, '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { home: string; steps: { step: string; output: string }[] };
    expect(out.home).toBe(h.home);
    expect(out.steps.map((s) => s.step)).toEqual(['data synth', 'features build', 'features training-set', 'features export']);
    for (const s of out.steps) expect(existsSync(s.output)).toBe(true);
  });

  it('defaults its home to ./oo-ml-quickstart and narrates steps on stderr', async () => {
    const h = await tempHome();
    const r = await runCli(['quickstart'], { cwd: h.home });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${h.home}/oo-ml-quickstart`);
    expect(r.stderr).toContain('[1/4] data synth');
    expect(existsSync(`${h.home}/oo-ml-quickstart/data/training-set.parquet`)).toBe(true);
  });
});
