import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createEventBusOver } from '../../src/events/event-bus.js';
import { createEmbeddedTransport } from '../../src/events/embedded-transport.js';
import type { OoEvent } from '../../src/events/schemas.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { streamOf } from '../server/harness.js';
import { tempHome } from '../helpers/temp-home.js';

const BIN = fileURLToPath(new URL('../../bin/oo-ml.js', import.meta.url));

/** The events on the embedded bus of `home`, in stream order. */
async function homeStream(home: string): Promise<OoEvent[]> {
  const bus = createEventBusOver(createEmbeddedTransport(join(home, 'data', 'bus')));
  try {
    return (await streamOf(bus)).flatMap((m) => (m.ok ? [m.event] : []));
  } finally {
    await bus.close();
  }
}

let cwd: string;
let home: string;
let quickstart: CliResult;
beforeAll(async () => {
  cwd = (await tempHome()).home;
  home = `${cwd}/oo-ml-quickstart`;
  // Services a team's shell may name, on a loopback port where nothing listens: the quickstart
  // must use none of them (a team's MLflow server would get a synthetic version and its aliases moved).
  const nowhere = 'http://127.0.0.1:9';
  quickstart = await runCli(['quickstart'], { cwd, env: { MLFLOW_TRACKING_URI: nowhere, NATS_URL: 'nats://127.0.0.1:9', LLM_BASE_URL: `${nowhere}/v1`, LLM_MODEL: 'm' } });
}, 120_000);

describe('oo-ml quickstart (CLI)', () => {
  it('runs every step in ./oo-ml-quickstart, narrates them, says where outputs went and shows the card', () => {
    const r = quickstart;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`quickstart finished: 9 steps in ${home}`);
    expect(r.stderr).toContain('the quickstart runs on embedded defaults: MLFLOW_TRACKING_URI, NATS_URL, LLM_BASE_URL are set and left alone');
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
      'serve (in-process)',
    ]);
    for (const [, out] of steps) expect(existsSync(out)).toBe(true);
    expect(r.stderr).toContain('[1/9] data synth');
    expect(r.stderr).toMatch(/tip-policy v1 @candidate, DR \d\.\d{3} \[/);
    expect(r.stdout).toContain('# Model card: tip-policy');
    // What to run next names this home.
    expect(r.stdout).toContain(`── next ──\n  oo-ml serve --home ${home}\n`);
    expect(r.stdout).toMatch(/\| champion \| – \| v1 \| quickstart \|/);
    expect(r.stderr).toContain('✓ enough shadow exposure (waived for a first champion; later ones need 1000 shadow serves over 24 h)');
    expect(r.stderr).toContain('✓ beats uniform random in simulation');
    // The runs read as MLflow's own in its UI: a user and a source; the sim had no drift, so no drift param.
    const files = (readdirSync(join(home, 'mlruns'), { recursive: true }) as string[]).map((f) => f.split(sep).join('/'));
    const simParams = files.filter((f) => f.endsWith('/params/delay_rounds'));
    expect(simParams.length).toBeGreaterThan(0);
    for (const f of simParams) expect(files).not.toContain(f.replace('delay_rounds', 'drift_at_round'));
    const users = files.filter((f) => f.endsWith('/tags/mlflow.user'));
    expect(users.length).toBeGreaterThanOrEqual(2);
    const sources = files.filter((f) => f.endsWith('/tags/mlflow.source.name')).map((f) => readFileSync(join(home, 'mlruns', f), 'utf8'));
    expect(sources).toContain('oo-ml quickstart');
  });

  it('ends by serving the champion in-process: scores, one reward, one tip, with the responses printed', async () => {
    const lines = quickstart.stdout.split('\n');
    const answers = lines.filter((l) => l.startsWith('  → ')).map((l) => /^ {2}→ (\d{3}) (.*)$/.exec(l)!);
    expect(answers.map((m) => m[1])).toEqual(['200', '200', '200', '200', '200']);
    const bodies = answers.map((m) => JSON.parse(m[2]!) as Record<string, unknown>);
    for (const b of bodies.slice(0, 3)) expect(b).toMatchObject({ policy: 'tip-policy@champion', model_version: '1', prompt_version: 'v1' });
    // Users of the synthetic log have a fresh profile; the new user falls back.
    expect(bodies[0]!['fallbacks']).toEqual([]);
    expect(bodies[2]!['fallbacks']).toContain('completion_rate');
    expect(bodies[3]).toMatchObject({ serve_id: bodies[0]!['serve_id'], applied: true, reward: 1 });
    expect(bodies[4]).toMatchObject({ provider: 'template', prompt_version: 'v1', text: expect.stringMatching(/\w/) });
    // The serves and the reaction are on the home's embedded bus, where `oo-ml ingest` reads them.
    const events = await homeStream(home);
    expect(events.filter((e) => e.type === 'tip.served')).toHaveLength(4);
    expect(events.filter((e) => e.type === 'tip.reaction')).toMatchObject([{ serve_id: bodies[0]!['serve_id'] }]);
  });
});

describe('oo-ml serve (CLI, a child process)', () => {
  it('listens, is ready with the quickstart champion, replays the quickstart events, and stops cleanly on SIGTERM', async () => {
    expect(quickstart.code).toBe(0);
    // An A/A experiment from a YAML file (outside the home: the quickstart owns that folder).
    const experiments = join((await tempHome()).home, 'experiments.yaml');
    await writeFile(
      experiments,
      ['experiments:', '  - name: cli-aa', '    salt: s1', '    variants:', ...['a', 'b'].flatMap((v) => [`      - name: ${v}`, '        weight: 50', '        policy: tip-policy@champion'])].join('\n') + '\n',
    );
    const child = spawn(process.execPath, [BIN, 'serve', '--home', home, '--port', '0', '--experiments', experiments], {
      env: { ...process.env, NATS_URL: '', LLM_BASE_URL: '', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Whatever happens below, no server outlives the test.
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
        if (m !== null) resolve(m[1]!);
      });
      void exited.then(() => reject(new Error(`serve exited before listening: ${stderr}`)));
    });
    expect(stderr).toContain(`embedded bus under ${home}/data/bus`);
    try {
      const ready = (await (await fetch(`${url}/readyz`)).json()) as Record<string, unknown>;
      expect(ready).toMatchObject({ ready: true, champion: 'tip-policy@champion', model_version: '1' });
      // At start it restored the learning the quickstart's in-process server checkpointed when
      // it closed, at the end of the stream (4 serves, 1 reaction): nothing to fold again, and
      // the one reward is not learned twice…
      expect(stderr).toContain('"learning":{"restored":{"position":5,"policies":1},"replay":null,"caughtUpTo":5');
      const stats = (await (await fetch(`${url}/stats`)).json()) as { learning: { policies: { updates: number }[] } };
      expect(stats.learning.policies[0]!.updates).toBe(1);
      const post = (path: string, body: unknown) =>
        fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      // …but those serves happened on the quickstart's clock (the synthetic log's time), months
      // before this process's clock: past the 24 h reward window.
      const generated = JSON.parse(/^ {2}→ 200 (\{"text".*)$/m.exec(quickstart.stdout)![1]!) as { serve: { serve_id: string } };
      const expired = await post('/reward', { serve_id: generated.serve.serve_id, reaction: 'liked' });
      expect(expired.status).toBe(200);
      expect(await expired.json()).toMatchObject({ outcome: 'expired', applied: false, reason: expect.stringContaining('outside the reward window (from 5 min before the serve, as clocks differ, to 24 h after it)') });
      const scored = (await (await post('/score', { user_id: 'u0000003', context: { hour_of_day: 9 } })).json()) as { serve_id: string; experiment: string; variant: string };
      expect([scored.experiment, ['a', 'b'].includes(scored.variant)]).toEqual(['cli-aa', true]);
      const rewarded = await post('/reward', { serve_id: scored.serve_id, reaction: 'liked' });
      expect(await rewarded.json()).toMatchObject({ applied: true, reward: 1 });
      const bad = await post('/score', { user_id: 'u0000001', context: { hour_of_day: 24 } });
      expect(bad.status).toBe(400);
      expect(await bad.json()).toMatchObject({ error: 'invalid_input', details: [{ path: '/context/hour_of_day' }] });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(stdout).toBe(`stopped (${url})\n`);
    // No stack trace, not even for the 400: neither printed nor inside a JSON log line.
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(stderr).not.toMatch(/\\n\s+at /);
    expect(stderr).not.toContain('"stack"');
    // The expired reaction is recorded too (its reward is not learned), and the applied one.
    expect((await homeStream(home)).filter((e) => e.type === 'tip.reaction')).toHaveLength(3);
  });

  it('with --json, says on stdout where it listens and when it stopped, one JSON line each', async () => {
    expect(quickstart.code).toBe(0);
    const child = spawn(process.execPath, [BIN, 'serve', '--home', home, '--port', '0', '--json'], { env: { ...process.env, NATS_URL: '', LLM_BASE_URL: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let stdout = '';
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const first = await new Promise<Record<string, unknown>>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (stdout.includes('\n')) resolve(JSON.parse(stdout.slice(0, stdout.indexOf('\n'))) as Record<string, unknown>);
      });
      void exited.then(() => reject(new Error(`serve exited before listening: ${stdout}`)));
    });
    expect(first).toMatchObject({ listening: true, url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/), ready: true, reasons: [] });
    expect((await fetch(`${first['url'] as string}/healthz`)).status).toBe(200);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stdout.trim().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual([first, { stopped: true, url: first['url'] }]);
  });
});

describe('oo-ml serve, cannot listen', () => {
  it('names a port in use (exit 1) and a host that is not this machine (exit 2, bad usage), at once, without a stack', async () => {
    const taken = createServer();
    await new Promise<void>((ok) => taken.listen(0, '127.0.0.1', ok));
    try {
      const port = String((taken.address() as AddressInfo).port);
      const dir = (await tempHome()).home;
      const cases: [string[], number, string][] = [
        [['--port', port], 1, `cannot listen on 127.0.0.1:${port}: the port is in use`],
        // TEST-NET-3: never an address of this machine (no name lookup involved).
        [['--host', '203.0.113.7', '--port', '0'], 2, 'cannot listen on 203.0.113.7:0: no local address for host "203.0.113.7"'],
        // Link-local IPv6 without a zone (EINVAL; or no IPv6 at all): named, in brackets.
        [['--host', 'fe80::1', '--port', '0'], 2, 'cannot listen on [fe80::1]:0: no local address for host "fe80::1"'],
      ];
      for (const [flags, code, message] of cases) {
        // The child exits by itself: a timer of the unbound app left running would keep it alive,
        // and the test would end on vitest's timeout instead of here.
        const r = await runCli(['serve', '--home', dir, ...flags], { cwd, env: { NATS_URL: '' } });
        expect([r.code, r.stderr], flags.join(' ')).toEqual([code, expect.stringContaining(message)]);
        expect(r.stderr).not.toMatch(/\n\s+at /);
      }
      // Checked before the bus opens and learning is restored: no state left, and with --json
      // stderr is the error document alone (no log line before it).
      expect(existsSync(join(dir, 'data', 'serve'))).toBe(false);
      const json = await runCli(['serve', '--home', dir, '--port', port, '--json'], { cwd, env: { NATS_URL: '' } });
      expect([json.code, json.stdout, JSON.parse(json.stderr)]).toEqual([1, '', expect.objectContaining({ error: 'conflict', message: expect.stringContaining('the port is in use') })]);
    } finally {
      taken.close();
    }
  });
});

describe('oo-ml serve --experiments', () => {
  it('names a file that is missing, does not parse or declares a bad experiment, before anything starts', async () => {
    const dir = (await tempHome()).home;
    const cases: [string, string, RegExp][] = [
      ['missing.json', '', /cannot read --experiments .*missing\.json/],
      ['broken.json', '{"experiments": [', /--experiments .*broken\.json does not parse/],
      ['bad.yaml', 'experiments:\n  - name: x\n    salt: s\n    variants: []\n', /bad\.yaml/],
    ];
    for (const [name, text, message] of cases) {
      if (text !== '') await writeFile(join(dir, name), text);
      const r = await runCli(['serve', '--home', dir, '--port', '0', '--experiments', join(dir, name)], { cwd, env: { NATS_URL: '' } });
      expect(r.code, name).toBe(1);
      expect(r.stderr, name).toMatch(message);
    }
  });
});

describe('oo-ml quickstart, run again', () => {
  it('moves the earlier quickstart aside and finishes again (the earlier champion would make the gate refuse)', async () => {
    // Runs after the tests above (same file, in order): the folder holds a whole quickstart.
    const again = await runCli(['quickstart'], { cwd, env: { NATS_URL: '', LLM_BASE_URL: '' } });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain(`the previous quickstart was moved to ${home}.previous`);
    expect(again.stdout).toMatch(/\| champion \| – \| v1 \| quickstart \|/);
    expect(existsSync(join(`${home}.previous`, 'model-cards', 'tip-policy.md'))).toBe(true);
  }, 120_000);

  it('with --json, gives each step its figures as data, the server exchanges as objects', async () => {
    const r = await runCli(['quickstart', '--json'], { cwd, env: { NATS_URL: '', LLM_BASE_URL: '' } });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { steps: { step: string; result: Record<string, unknown> }[] };
    const step = (name: string) => out.steps.find((s) => s.step === name)!.result;
    expect(out.steps).toHaveLength(9);
    expect(step('features training-set')).toMatchObject({ rows: expect.any(Number), positives: expect.any(Number) });
    expect(step('train --policy linucb')).toMatchObject({ version: 1, metrics: { dr: { value: expect.any(Number), ci95: { low: expect.any(Number), high: expect.any(Number) } } } });
    expect(step('promote --to champion')).toMatchObject({ aliases: { champion: 1 }, decision: { passed: true } });
    const serve = step('serve (in-process)') as { exchanges: { path: string; status: number; answer: Record<string, unknown> }[] };
    expect(serve.exchanges.map((e) => [e.path, e.status])).toEqual([['/score', 200], ['/score', 200], ['/score', 200], ['/reward', 200], ['/generate', 200]]);
    expect(serve.exchanges[0]!.answer).toMatchObject({ policy: 'tip-policy@champion', propensity: expect.any(Number) });
  }, 120_000);

  it('refuses a non-empty folder it did not make, and leaves it alone', async () => {
    const other = (await tempHome()).home;
    await writeFile(join(other, 'notes.txt'), 'mine');
    const r = await runCli(['quickstart', '--home', other], { cwd, env: { NATS_URL: '', LLM_BASE_URL: '' } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`${other} is not empty and was not made by oo-ml quickstart`);
    expect(await readdir(other)).toEqual(['notes.txt']);
  });
});
