/**
 * `oo-ml sim` in a real terminal (tmux): a run of two seconds ends on a frame worth reading —
 * the finished progress of every policy, then the results table — not a flash that clears.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { openTerminal, type Terminal } from '../helpers/terminal.js';

const BIN = fileURLToPath(new URL('../../bin/oo-ml.js', import.meta.url));

describe('oo-ml sim in a terminal (tmux)', () => {
  let dir: string | null = null;
  let term: Terminal | null = null;

  afterEach(async () => {
    await term?.kill();
    if (dir !== null) await rm(dir, { recursive: true, force: true });
    dir = null;
    term = null;
  });

  it('ends a short run on the finished progress of each policy, above the results table', async () => {
    dir = await mkdtemp(join(tmpdir(), 'oo-ml-sim-term-'));
    const sim = `${process.execPath} ${BIN} sim --policies uniform,linucb --users 30 --rounds 48 --reps 2 --workers 0 --home ${join(dir, 'home')}`;
    // The shell keeps the pane open after the run, so its last screen can be read.
    term = await openTerminal(dir, `sh -c '${sim}; echo "[exit $?]"; sleep 600'`, 160, 60);
    await term.shows('[exit ', 'the simulation to finish');
    const lines = (await term.screen()).split('\n');
    expect(lines).toContain('[exit 0]');
    const at = (pattern: RegExp): number => lines.findIndex((l) => pattern.test(l));
    const title = at(/^sim: 2 policies × 2 reps$/);
    const uniform = at(/^uniform\s+█+ 2\/2\s+reward \d\.\d{4}/);
    const linucb = at(/^linucb\s+█+ 2\/2\s+reward \d\.\d{4}/);
    const table = at(/^policy\s+mean reward \[95% CI\]/);
    expect([title, uniform, linucb, table].every((i) => i >= 0), lines.join('\n')).toBe(true);
    // The last frame of the view stays, in order, with the table under it.
    expect(title).toBeLessThan(uniform);
    expect(uniform).toBeLessThan(linucb);
    expect(linucb).toBeLessThan(table);
    expect(lines[table + 2]).toMatch(/^uniform\s+\d\.\d{4} \[/);
    expect(lines[table + 3]).toMatch(/^linucb\s+\d\.\d{4} \[/);
  });

  it('checks its policies before it draws: a usage error is not drawn over a view', async () => {
    dir = await mkdtemp(join(tmpdir(), 'oo-ml-sim-term-'));
    const sim = `${process.execPath} ${BIN} sim --policies uniform,linucb,linucb --users 30 --rounds 48 --reps 2 --workers 0 --home ${join(dir, 'home')}`;
    term = await openTerminal(dir, `sh -c '${sim}; echo "[exit $?]"; sleep 600'`, 160, 60);
    await term.shows('[exit ', 'the command to end');
    const screen = await term.screen();
    expect(screen).toContain('[exit 2]');
    expect(screen).toContain('--policies names linucb twice');
    expect(screen).not.toContain('policies ×');
    expect(screen).not.toContain('same key');
  });
});
