import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { tempHome } from '../helpers/temp-home.js';

describe('oo-ml quickstart (CLI)', () => {
  it('runs every step in ./oo-ml-quickstart, narrates them, says where outputs went and shows the card', async () => {
    const h = await tempHome();
    const r = await runCli(['quickstart'], { cwd: h.home });
    expect(r.code, r.stderr).toBe(0);
    const home = `${h.home}/oo-ml-quickstart`;
    expect(r.stdout).toContain(`quickstart finished: 8 steps in ${home}`);
    const steps = [...r.stdout.matchAll(/^ {2}(.+?)\s+→ (\S+)$/gm)].map((m) => [m[1]!, m[2]!] as const);
    expect(steps.map(([s]) => s)).toEqual([
      'data synth',
      'features build',
      'features training-set',
      'features export',
      'train --policy linucb',
      'sim',
      'promote --to shadow',
      'promote --to champion',
    ]);
    for (const [, out] of steps) expect(existsSync(out)).toBe(true);
    expect(r.stderr).toContain('[1/8] data synth');
    expect(r.stderr).toMatch(/tip-policy v1 @candidate, DR \d\.\d{3} \[/);
    expect(r.stdout).toContain('# Model card: tip-policy');
    expect(r.stdout).toMatch(/\| champion \| – \| v1 \| quickstart \|/);
  });
});
