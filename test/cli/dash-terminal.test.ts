/**
 * `oo-ml dash` in a real terminal: the built CLI runs inside a tmux session (its own socket in a
 * temp folder) against a listening server. The screen must show live numbers that change after
 * requests are sent, the stale-snapshot warning once the snapshot is past its features' TTL,
 * switch panels on tab, and quit on q.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createFileStore } from '../../src/registry/file-store.js';
import { runCli } from '../helpers/cli.js';
import { openTerminal, type Terminal } from '../helpers/terminal.js';
import { closeHarness, createHarness, get, post, until, type Harness } from '../server/harness.js';
import type { ShadowEstimate } from '../../src/server/schemas.js';

const BIN = fileURLToPath(new URL('../../bin/oo-ml.js', import.meta.url));

describe('oo-ml dash in a terminal (tmux)', () => {
  let h: Harness | null = null;
  let dir: string | null = null;
  let term: Terminal | null = null;

  afterEach(async () => {
    await term?.kill();
    if (h !== null) await closeHarness(h);
    if (dir !== null) await rm(dir, { recursive: true, force: true });
    h = null;
    dir = null;
    term = null;
  });

  it('shows live numbers that move with the traffic, the stale-snapshot warning, panels on tab, and quits on q', async () => {
    dir = await mkdtemp(join(tmpdir(), 'oo-ml-dash-'));
    h = await createHarness({ policies: { 'tip-policy@champion': { version: '3' }, 'tip-policy@shadow': { version: '4' } }, shadows: ['tip-policy@shadow'] });
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    const address = h.app.server.address();
    if (address === null || typeof address === 'string') throw new Error('no TCP address');
    const url = `http://127.0.0.1:${address.port}`;

    term = await openTerminal(dir, `${process.execPath} ${BIN} dash --url ${url} --interval 200`);
    const { screen, shows } = term;
    await shows('loaded: tip-policy@champion v3', 'the first frame');
    const first = await screen();
    expect(first).toContain(`oo-ml dash  ${url}`);
    expect(first).toContain('loaded: tip-policy@champion v3, tip-policy@shadow v4');
    expect(first).toContain('errors      none');
    expect(first).not.toContain('serves 7');
    expect(first).not.toContain('past the TTL');

    const serveIds: string[] = [];
    for (let i = 0; i < 7; i++) {
      const scored = await post(h.app, '/score', { user_id: `u${i}` });
      expect(scored.status).toBe(200);
      serveIds.push(scored.body['serve_id'] as string);
    }
    await post(h.app, '/score', { user_id: '' });
    await shows('serves 7', 'the serves to reach the screen');
    // Shadows score after the answer: their count catches up a moment later.
    await shows('scored 7', 'the shadow scorings to reach the screen');
    const busy = await screen();
    expect(busy).toContain('errors      400 × 1');
    expect(busy).toMatch(/tip-policy@shadow v4 \(shadow\)\s+scored 7\s+agrees with the served arm \d+\.\d %/);
    // Rewards for every serve: the shadow's estimate on the served traffic appears (its value
    // depends on which arms it agreed on; /stats is checked exactly in test/server/score.test.ts).
    for (const serveId of serveIds) expect((await post(h.app, '/reward', { serve_id: serveId, reaction: 'completed' })).status).toBe(200);
    await shows('feedback 7', 'the feedback to reach the screen');
    const e = ((await get(h.app, '/stats')).body['policies'] as { shadow: boolean; estimate: ShadowEstimate }[]).find((p) => p.shadow)!.estimate;
    expect(e).toMatchObject({ decisions: 7 });
    // Seven decisions: too few rewards for an interval yet.
    expect(e.ips_ci95).toBeNull();
    const interval = ' [–]';
    await shows(`est. reward ${e.ips.toFixed(3)}${interval}, SNIPS ${e.snips === null ? '–' : e.snips.toFixed(3)} (${e.rewarded} with feedback)`, "the shadow's estimate to reach the screen");

    // Two days on, the profile features (TTL one day) are stale: loud, naming them.
    h.clock.ms += 2 * 86_400_000;
    await shows('past the TTL of', 'the stale-snapshot warning');
    expect(await screen()).toMatch(/⚠ snapshot snap-synthetic-100 is 2\.0 d old, past the TTL of [a-z_, ]*completion_rate/);

    await term.keys('Tab');
    await shows('rate [95% CI]', 'the policies panel');
    // Keys that arrive in one read (typed fast, held, pasted) each count: three p's pause.
    await term.keys('-l', 'ppp');
    await shows('PAUSED', 'the pause from three keys in one read');
    await term.keys('p');

    // Without a terminal (a pipe), one poll as text; --json gives the figures.
    const once = await runCli(['dash', '--url', url]);
    expect(once.code, once.stderr).toBe(0);
    expect(once.stdout).toMatch(/tip-policy@champion v3\s+serves 7/);
    // The prompts panel too (reactions per prompt version).
    expect(once.stdout).toContain('prompt version');
    // Two polls, an interval apart: one request rate (its own polls left out: the figures' tests).
    const json = await runCli(['dash', '--url', url, '--json', '--interval', '100']);
    const figures = JSON.parse(json.stdout) as { requestsPerSecond: number[] };
    expect(figures).toMatchObject({ replicas: [{ url, up: true }], policies: expect.arrayContaining([expect.objectContaining({ policy: 'tip-policy@champion', serves: 7 })]) });
    expect(figures.requestsPerSecond).toEqual([expect.any(Number)]);
    // One of two replicas down: the panels say which, and the exit code tells a script.
    const partial = await runCli(['dash', '--url', url, '--url', 'http://127.0.0.1:9']);
    expect([partial.code, partial.stderr]).toEqual([1, expect.stringContaining('1 of 2 replicas did not answer GET /stats: http://127.0.0.1:9 (')]);
    expect(partial.stdout).toContain('1/2 replicas up');
    // With --json no panels are drawn: the error names the replica, and its hint points at the figures.
    const partialJson = await runCli(['dash', '--url', url, '--url', 'http://127.0.0.1:9', '--json']);
    expect(partialJson.code).toBe(1);
    expect(JSON.parse(partialJson.stderr)).toMatchObject({ message: expect.stringContaining('did not answer GET /stats: http://127.0.0.1:9 ('), hint: 'the figures on stdout hold what the others answered' });

    // The server goes away: the view says so and keeps polling, no stack.
    await closeHarness(h);
    h = null;
    await shows(`✗ ${url} is not answering: ECONNREFUSED`, 'the view to notice the server is gone');
    expect(await screen()).not.toMatch(/\n\s+at /);
    const gone = await runCli(['dash', '--url', url]);
    expect([gone.code, gone.stderr]).toEqual([1, expect.stringContaining(`no replica answered GET /stats (${url})`)]);
    // With --json the failure is the error document alone: nothing on stdout.
    const goneJson = await runCli(['dash', '--url', url, '--json']);
    expect([goneJson.code, goneJson.stdout, JSON.parse(goneJson.stderr)]).toEqual([1, '', expect.objectContaining({ error: 'unavailable' })]);

    await term.keys('q');
    const t = term;
    await until(async () => !(await t.running()), 'dash to quit on q');
  });

  it('draw without colour under NO_COLOR (attributes such as bold stay: they are not colour)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'oo-ml-no-color-'));
    const down = 'dash --url http://127.0.0.1:9 --interval 200';
    term = await openTerminal(await mkdtemp(join(dir!, 'tmux-')), `NO_COLOR=1 ${process.execPath} ${BIN} ${down}; sleep 60`);
    await term.shows('is not answering', 'the dash without colour');
    const plain = await term.screen(true);
    await term.kill();
    term = await openTerminal(await mkdtemp(join(dir!, 'tmux-')), `${process.execPath} ${BIN} ${down}; sleep 60`);
    await term.shows('is not answering', 'the dash in colour');
    // Foreground colours are SGR 30–37 and 90–97 (tmux writes them one per sequence).
    const colour = new RegExp(`${String.fromCharCode(27)}\\[(?:[0-9;]*;)?(?:3[0-7]|9[0-7])m`);
    expect(await term.screen(true)).toMatch(colour);
    expect(plain).not.toMatch(colour);
    await term.kill();
    term = null;
  });

  it('end on Ctrl-C as every other command does (killed by SIGINT: 130), and on q or Esc with 0', async () => {
    dir = await mkdtemp(join(tmpdir(), 'oo-ml-ctrl-c-'));
    const home = join(dir, 'home');
    const store = createFileStore(join(home, 'mlruns'));
    await store.createRegisteredModel('tip-policy');
    const run = await store.createRun((await store.getOrCreateExperiment('oo-ml-train')).experimentId, { runName: 'train' });
    await store.finishRun(run.info.runId, 'FINISHED');
    await store.createModelVersion('tip-policy', `runs:/${run.info.runId}/policy`, run.info.runId, '');
    // Each view, a key whose effect shows it reads keys itself (the terminal in raw mode: a
    // Ctrl-C before that is the terminal's SIGINT, not the view's), and that effect.
    const views = [
      ['models', `models --home ${home}`, 'c', '◆'],
      ['dash', 'dash --url http://127.0.0.1:9 --interval 200', 'p', 'PAUSED'],
    ];
    for (const [name, args, probe, probed] of views) {
      for (const [key, code] of [['C-c', 130], ['q', 0], ['Escape', 0]] as const) {
        // The shell says how the view ended, and stays for the screen to be read (its own
        // SIGINT handled, so a signal to the group cannot end it; the view gets the default).
        term = await openTerminal(await mkdtemp(join(dir!, 'tmux-')), `trap true INT; ${process.execPath} ${BIN} ${args}; echo "${name} ended with $?"; sleep 60`);
        await term.keys(probe!);
        await term.shows(probed!, `the ${name} view to read keys`);
        await term.keys(key);
        await term.shows(`${name} ended with ${code}`, `${name} to end on ${key}`);
        await term.kill();
        term = null;
      }
    }
  });
});
