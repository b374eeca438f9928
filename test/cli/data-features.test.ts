import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sqlString, withDb } from '../../src/io/duckdb.js';
import { runCli } from '../helpers/cli.js';
import { tempHome } from '../helpers/temp-home.js';

describe('oo-ml data and features (CLI)', () => {
  it('runs synth → build → training-set → export with --json output and exit 0', async () => {
    const h = await tempHome();
    const synth = await runCli(['data', 'synth', '--users', '25', '--days', '4', '--seed', '1', '--home', h.home, '--json']);
    expect(synth.code).toBe(0);
    expect(synth.stderr).toBe('');
    const s = JSON.parse(synth.stdout) as { users: number; counts: Record<string, number> };
    expect(s.users).toBe(25);
    expect(s.counts['tip.served']).toBeGreaterThan(0);

    // One serve sent again under its event id with another arm (a producer's bug): read once, named.
    const day = join(h.events, 'tip.served', 'day=2026-01-07');
    await withDb(':memory:', (db) =>
      db.run(
        `COPY (SELECT * REPLACE (CASE WHEN arm = 'quick_win' THEN 'split_task' ELSE 'quick_win' END AS arm) FROM read_parquet(${sqlString(join(day, 'events.parquet'))}, hive_partitioning = false) ORDER BY event_id LIMIT 1) ` +
          `TO ${sqlString(join(day, 'resent.parquet'))} (FORMAT parquet)`,
      ),
    );
    const build = await runCli(['--home', h.home, '--json', 'features', 'build']);
    expect(build.code).toBe(0);
    expect(JSON.parse(build.stdout)).toMatchObject({ users: 25, asOf: '2026-01-10T00:00:00.000Z', copies: { 'tip.served': 1 }, differingCopies: { 'tip.served': { ids: 1 } } });
    const told = await runCli(['--home', h.home, 'features', 'build']);
    expect(told.stdout).toMatch(/copies that differ:\s+tip\.served 1 \(e\.g\. \S+\): event ids re-sent with other contents/);

    const ts = await runCli(['features', 'training-set', '--home', h.home]);
    expect(ts.code).toBe(0);
    expect(ts.stdout).toMatch(/rows:\s+\d+/);
    expect(existsSync(h.trainingSet)).toBe(true);

    const ex = await runCli(['features', 'export', '--home', h.home, '--json']);
    expect(ex.code).toBe(0);
    const e = JSON.parse(ex.stdout) as { snapshotId: string; rows: number };
    expect(e.rows).toBe(25);
    expect(existsSync(`${h.snapshots}/${e.snapshotId}/manifest.json`)).toBe(true);
  });

  it('lists the feature contract as a table and as JSON', async () => {
    const text = await runCli(['features', 'list']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/preferred_hour\s+profile\s+int \[0, 23\]\s+7 days/);
    expect(text.stdout).toContain('v2 (D=12)');
    const json = await runCli(['features', 'list', '--json']);
    const parsed = JSON.parse(json.stdout) as { features: { name: string }[]; layouts: Record<string, string[]> };
    expect(parsed.features).toHaveLength(8);
    expect(parsed.layouts['v1']).toHaveLength(7);
  });

  it('exits 2 on bad usage and 1 on bad input, naming the problem', async () => {
    const h = await tempHome();
    const badFlag = await runCli(['data', 'synth', '--users', 'many', '--days', '2', '--seed', '1', '--home', h.home]);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toContain('--users must be an integer');
    // Every flag has a default, shown in --help (sim's too).
    const help = await runCli(['data', 'synth', '--help']);
    expect(help.stdout).toMatch(/--users <n>\s+number of users \(default: 300\)/);
    expect(help.stdout).toMatch(/--seed <s>.*\(default: 42\)/s);
    // The version the built CLI reports is package.json's (the bundle carries it as a constant).
    const version = await runCli(['--version']);
    const packageVersion = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    expect([version.code, version.stdout.trim()]).toEqual([0, packageVersion]);
    // With --json, as a JSON document like every other answer.
    const versionJson = await runCli(['--version', '--json']);
    expect([versionJson.code, JSON.parse(versionJson.stdout)]).toEqual([0, { version: packageVersion }]);
    // --json=true is the switch on, --json=false off, as scripts often write flags.
    expect(JSON.parse((await runCli(['--version', '--json=true'])).stdout)).toEqual({ version: packageVersion });
    expect((await runCli(['--version', '--json=false'])).stdout.trim()).toBe(packageVersion);
    // A --home whose folder was forgotten takes no flag for one.
    const noHome = await runCli(['features', 'list', '--home', '--json']);
    expect([noHome.code, noHome.stdout, JSON.parse(noHome.stderr)]).toEqual([2, '', expect.objectContaining({ error: 'invalid_usage', message: '--home needs a folder, got the flag --json' })]);
    // Help asked for with --json is one JSON document too, its text in `help`.
    const helpJson = await runCli(['features', 'list', '--help', '--json']);
    expect([helpJson.code, (JSON.parse(helpJson.stdout) as { help: string }).help]).toEqual([0, expect.stringContaining('Usage: oo-ml features list')]);
    const simHelp = await runCli(['sim', '--help']);
    expect(simHelp.stdout).toMatch(/\(default:\s+uniform,egreedy-v1,linucb,thompson\)/);
    expect(simHelp.stdout).toMatch(/--reps <k>\s+replications \(seeds\), at least 2: the 95% intervals are\s+over them \(default: 5\)/);
    // What it says it made: the days asked for, the day folders the events landed in, no empty rows.
    const small = await runCli(['data', 'synth', '--users', '3', '--days', '2', '--home', (await tempHome()).home]);
    expect(small.code, small.stderr).toBe(0);
    expect(small.stdout).toMatch(/days:\s+2 of activity from 2026-01-05; events in \d day folders \(2026-01-05 … /);
    expect(small.stdout).not.toMatch(/tip\.reward\s+0/);
    expect(small.stdout).toContain('no tip.reward, learning.reset: those come from the app and the server, not from synthetic personas');
    const unknown = await runCli(['features', 'frobnicate']);
    expect(unknown.code).toBe(2);
    // With --json, commander's usage errors are the JSON error as well, on any command level.
    for (const args of [['--json', 'frobnicate'], ['features', 'frobnicate', '--json'], ['--json', 'train'], ['data', 'synth', '--json', '--bogus']]) {
      const r = await runCli(args);
      expect([r.code, r.stdout], args.join(' ')).toEqual([2, '']);
      expect(JSON.parse(r.stderr), args.join(' ')).toMatchObject({ error: 'invalid_usage', message: expect.stringMatching(/unknown command 'frobnicate'|required option '--policy <name>'|unknown option '--bogus'/), hint: expect.stringContaining('--help') });
    }
    // No command where one is needed: the JSON error names the choices, and no help text comes with it.
    const none = await runCli(['features', '--json']);
    expect([none.code, none.stdout, JSON.parse(none.stderr)]).toEqual([2, '', expect.objectContaining({ error: 'invalid_usage', message: 'a command is required: one of list, build, export, training-set' })]);

    const noEvents = await runCli(['features', 'build', '--home', h.home]);
    expect(noEvents.code).toBe(1);
    expect(noEvents.stderr).toContain(`event log folder ${h.events} does not exist`);
    expect(noEvents.stderr).toContain('hint: run `oo-ml data synth`');
    expect(noEvents.stderr).not.toMatch(/\n\s+at /); // no stack trace for a user's mistake
    // A mistyped --home is named and left as it was: nothing made there.
    for (const command of [['features', 'build'], ['features', 'training-set']]) {
      const typo = await runCli([...command, '--home', `${h.home}/typo`]);
      expect(typo.code, command.join(' ')).toBe(1);
      expect(existsSync(`${h.home}/typo`), command.join(' ')).toBe(false);
    }

    const asJson = await runCli(['features', 'export', '--home', h.home, '--json']);
    expect(asJson.code).toBe(1);
    expect(asJson.stdout).toBe('');
    expect(JSON.parse(asJson.stderr)).toMatchObject({ error: 'not_found', hint: expect.stringContaining('features build') });

    const badAsOf = await runCli(['features', 'build', '--home', h.home, '--as-of', 'yesterday']);
    expect(badAsOf.code).toBe(2);
    expect(badAsOf.stderr).toContain('--as-of must be an ISO-8601 time');
    // A start whose tasks would fall due past the years a timestamp column holds (DuckDB's own error, exit 1, before).
    const farStart = await runCli(['data', 'synth', '--users', '2', '--days', '1', '--seed', '1', '--start', '9999-12-31', '--home', h.home]);
    expect([farStart.code, farStart.stderr]).toEqual([2, expect.stringContaining('--start 9999-12-31 with --days 1 ends after 9989')]);
  });

  it('writes --out on another file system and in a folder that does not exist yet, and refuses a folder as the training set file', async () => {
    const h = await tempHome();
    expect((await runCli(['data', 'synth', '--users', '25', '--days', '4', '--seed', '1', '--home', h.home])).code).toBe(0);
    expect((await runCli(['features', 'build', '--home', h.home])).code).toBe(0);
    // /dev/shm is a tmpfs: another device than the home's temporaries (a rename across is EXDEV).
    const shm = await mkdtemp(join('/dev/shm', 'oo-ml-test-'));
    try {
      for (const out of [join(shm, 'ts.parquet'), join(h.home, 'new', 'deeper', 'ts.parquet')]) {
        const r = await runCli(['features', 'training-set', '--home', h.home, '--out', out]);
        expect([r.code, r.stderr], out).toEqual([0, '']);
        expect(existsSync(out)).toBe(true);
      }
      const ex = await runCli(['features', 'export', '--home', h.home, '--out', join(shm, 'snapshots')]);
      expect([ex.code, ex.stderr]).toEqual([0, '']);
      expect(existsSync(join(shm, 'snapshots', 'LATEST'))).toBe(true);
      const synth = await runCli(['data', 'synth', '--users', '2', '--days', '1', '--seed', '1', '--home', h.home, '--out', join(shm, 'events')]);
      expect([synth.code, synth.stderr]).toEqual([0, '']);
    } finally {
      await rm(shm, { recursive: true, force: true });
    }
    const onDir = await runCli(['features', 'training-set', '--home', h.home, '--out', h.home]);
    expect([onDir.code, onDir.stderr]).toEqual([1, expect.stringContaining(`--out ${h.home} is a folder`)]);
    // An earlier training set is replaced; a file of another kind is refused and left as it was.
    const again = join(h.home, 'new', 'deeper', 'ts.parquet');
    expect((await runCli(['features', 'training-set', '--home', h.home, '--out', again])).code).toBe(0);
    const notes = join(h.home, 'notes.txt');
    await writeFile(notes, 'my notes');
    const onNotes = await runCli(['features', 'training-set', '--home', h.home, '--out', notes]);
    expect([onNotes.code, onNotes.stderr]).toEqual([1, expect.stringContaining(`--out ${notes} is a file that is not Parquet: refusing to replace it`)]);
    expect(await readFile(notes, 'utf8')).toBe('my notes');
  });

  it('replaces only an output of its own: a user\'s folder or file named by --out is refused and left alone', async () => {
    const h = await tempHome();
    const synth = (out: string) => runCli(['data', 'synth', '--users', '3', '--days', '2', '--seed', '1', '--home', h.home, '--out', out]);
    const docs = join(h.home, 'docs');
    await mkdir(docs);
    await writeFile(join(docs, 'thesis.txt'), 'precious');
    const notes = join(h.home, 'notes.txt');
    await writeFile(notes, 'mine');
    for (const [target, why] of [
      [docs, 'holds files oo-ml did not write'],
      [notes, 'is a file'],
    ] as const) {
      const r = await synth(target);
      expect([r.code, r.stderr], target).toEqual([1, expect.stringContaining(`${target} ${why}; oo-ml replaces only a folder it wrote as event-log`)]);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expect(await readFile(join(docs, 'thesis.txt'), 'utf8')).toBe('precious');
    expect(await readFile(notes, 'utf8')).toBe('mine');
    // Its own output (marked) is replaced, as is an empty folder.
    const log = join(h.home, 'log');
    expect((await synth(log)).code).toBe(0);
    expect(await readFile(join(log, '.oo-ml-output'), 'utf8')).toBe('event-log\n');
    expect((await synth(log)).code).toBe(0);
    await mkdir(join(h.home, 'empty'));
    expect((await synth(join(h.home, 'empty'))).code).toBe(0);
    // Another kind of oo-ml output is not an event log.
    await rm(join(log, '.oo-ml-output'));
    await writeFile(join(log, '.oo-ml-output'), 'snapshot\n');
    expect((await synth(log)).stderr).toContain('is an oo-ml snapshot, not its event-log');
  });
});
