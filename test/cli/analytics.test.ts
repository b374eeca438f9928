import { describe, expect, it } from 'vitest';
import type { OoEvent, Reaction } from '../../src/events/schemas.js';
import { withDb } from '../../src/io/duckdb.js';
import { writeEventLog } from '../../src/pipelines/event-log.js';
import { runCli } from '../helpers/cli.js';
import { reacted, served } from '../helpers/events.js';
import { tempHome } from '../helpers/temp-home.js';

/** An interval as every command writes one with --json (json-output.ts). */
interface Interval {
  low: number;
  high: number;
}
const ends = (i: Interval): number[] => [i.low, i.high].map((x) => +x.toFixed(4));

/** v1: 4 serves, 2 completed (reward 2/4); v2: 4 serves, 3 liked and 1 dismissed (reward 3/4); 1 shadow v2 serve. */
function events(): OoEvent[] {
  const plan: [string, Reaction | null, boolean][] = [
    ['v1', 'completed', false],
    ['v1', 'completed', false],
    ['v1', 'ignored', false],
    ['v1', null, false],
    ['v2', 'liked', false],
    ['v2', 'liked', false],
    ['v2', 'liked', false],
    ['v2', 'dismissed', false],
    ['v2', 'liked', true],
  ];
  return plan.flatMap(([version, reaction, shadow], i) => {
    const ts = `2026-03-02T1${i}:00:00Z`;
    const s = { ...served(`u${i}`, ts, `s${i}`), prompt_version: version, shadow };
    return reaction === null ? [s] : [s, reacted(s.user_id, `2026-03-02T1${i}:05:00Z`, s.serve_id, reaction)];
  });
}

describe('oo-ml analytics prompts (CLI)', () => {
  it('prints reactions per prompt version as JSON and as a table', async () => {
    const h = await tempHome();
    await withDb(':memory:', (db) => writeEventLog(db, h.events, events(), null, h.tmp));

    const json = await runCli(['analytics', 'prompts', '--json', '--home', h.home]);
    expect(json.code).toBe(0);
    expect(json.stderr).toBe('');
    const r = JSON.parse(json.stdout) as {
      baseline: string;
      totalServes: number;
      shadowServesExcluded: number;
      versions: { promptVersion: string; serves: number; rewards: number; rewardRate: number; reactions: Record<string, number>; ci95: Interval; diffVsBaseline: { diff: number; ci95: Interval } | null }[];
    };
    expect(r).toMatchObject({ baseline: 'v1', totalServes: 8, shadowServesExcluded: 1 });
    expect(r.versions.map((v) => [v.promptVersion, v.serves, v.rewards, v.rewardRate])).toEqual([
      ['v1', 4, 2, 0.5],
      ['v2', 4, 3, 0.75],
    ]);
    expect(r.versions[0]!.reactions).toEqual({ completed: 2, dismissed: 0, ignored: 1, liked: 0, numeric: 0, late: 0, none: 1 });
    expect(r.versions[1]!.reactions).toEqual({ completed: 0, dismissed: 1, ignored: 0, liked: 3, numeric: 0, late: 0, none: 0 });
    // Wilson 95% for 2/4 and 3/4; Newcombe's interval for 3/4 − 2/4.
    expect(ends(r.versions[0]!.ci95)).toEqual([0.15, 0.85]);
    expect(ends(r.versions[1]!.ci95)).toEqual([0.3006, 0.9544]);
    expect(r.versions[0]!.diffVsBaseline).toBeNull();
    expect(r.versions[1]!.diffVsBaseline!.diff).toBeCloseTo(0.25, 12);
    expect(ends(r.versions[1]!.diffVsBaseline!.ci95)).toEqual([-0.3196, 0.6553]);

    const text = await runCli(['--home', h.home, 'analytics', 'prompts']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/prompt\s+serves\s+completed\s+dismissed\s+ignored\s+liked\s+numeric\s+late\s+none\s+reward rate \[95% CI\]\s+Δ vs v1 \[95% CI\]/);
    expect(text.stdout).toMatch(/v1\s+4\s+2\s+0\s+1\s+0\s+0\s+0\s+1\s+0\.5000 \[0\.1500, 0\.8500\]\s+baseline/);
    expect(text.stdout).toMatch(/v2\s+4\s+0\s+1\s+0\s+3\s+0\s+0\s+0\s+0\.7500 \[0\.3006, 0\.9544\]\s+\+0\.2500 \[-0\.3196, \+0\.6553\]/);
    expect(text.stdout).toContain('shadow serves excluded: 1');
    expect(text.stdout).toContain('Wilson score');
    expect(text.stdout).toContain('a tip the model failed to write (the template, after a fallback) counts under its version too');
  });

  it('exits 1 with a hint when there is no event log or no serves', async () => {
    const h = await tempHome();
    const missing = await runCli(['analytics', 'prompts', '--home', h.home]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toContain(`error: event log folder ${h.events} does not exist`);
    expect(missing.stderr).toContain('hint: run `oo-ml data synth`');

    await withDb(':memory:', (db) => writeEventLog(db, h.events, [reacted('u', '2026-03-02T10:00:00Z', 'x', 'liked')], null, h.tmp));
    const noServes = await runCli(['analytics', 'prompts', '--home', h.home, '--json']);
    expect(noServes.code).toBe(1);
    expect(JSON.parse(noServes.stderr)).toMatchObject({
      error: 'invalid_input',
      message: `event log ${h.events} has no tip.served events`,
      hint: expect.stringContaining('oo-ml data synth'),
    });
  });
});
