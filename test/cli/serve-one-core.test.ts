/**
 * `oo-ml serve` confined to one core (taskset, as a one-CPU cpuset would) advises the V8 pool
 * size Node only takes at start (server/v8-settings.ts), and says nothing once it is given.
 */
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { tempHome } from '../helpers/temp-home.js';

const BIN = fileURLToPath(new URL('../../bin/oo-ml.js', import.meta.url));
const ADVICE = 'start it with NODE_OPTIONS=--v8-pool-size=1';

/** One CPU this process may run on (the first of its affinity), or null without taskset. */
const cpu = ((): string | null => {
  try {
    // "pid 123's current affinity list: 0-3,5"
    const list = execFileSync('taskset', ['-cp', String(process.pid)], { encoding: 'utf8' });
    return /:\s*(\d+)/.exec(list)?.[1] ?? null;
  } catch {
    return null;
  }
})();

/** Starts `oo-ml serve` on `cpu` alone, stops it once it listens; all it wrote to stderr. */
async function serveOnOneCore(cpu: string, home: string, nodeOptions: string): Promise<string> {
  const child = spawn('taskset', ['-c', cpu, process.execPath, BIN, 'serve', '--home', home, '--port', '0'], {
    env: { ...process.env, NATS_URL: '', NODE_OPTIONS: nodeOptions },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  onTestFinished(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      // Its signal handlers are in place once it says where it listens.
      if (/listening on \S+/.test(stderr)) resolve();
    });
    void exited.then(() => reject(new Error(`serve exited early: ${stderr}`)));
  });
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  return stderr;
}

describe.skipIf(cpu === null)('oo-ml serve on one core', () => {
  it('advises one V8 helper thread, unless NODE_OPTIONS sets the pool size', async () => {
    const { home } = await tempHome();
    expect(await serveOnOneCore(cpu!, home, '')).toContain(ADVICE);
    expect(await serveOnOneCore(cpu!, home, '--v8-pool-size=1')).not.toContain(ADVICE);
  });
});
