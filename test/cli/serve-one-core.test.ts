/**
 * `oo-ml serve` confined to one core (taskset, as a one-CPU cpuset would) starts itself again
 * with one V8 helper thread (server/serve-restart.ts), keeps what an operator chose, and on
 * Node 20 leaves no server behind when its stand-in parent is killed.
 */
import { execFileSync, spawn, type ChildProcessByStdio } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { tempHome } from '../helpers/temp-home.js';
import { until } from '../server/harness.js';

const BIN = fileURLToPath(new URL('../../bin/oo-ml.js', import.meta.url));
const RESTART = 'starting again with --v8-pool-size=1';
const ONE_HELPER = 'V8 collects with one helper thread (--v8-pool-size=1)';
/** This Node replaces its process on restart: no stand-in parent (Node ≥ 22.15). */
const EXECVE = typeof (process as unknown as { execve?: unknown }).execve === 'function';

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

interface Started {
  child: ChildProcessByStdio<null, null, Readable>;
  url: string;
  exited: Promise<number | null>;
  stderr: () => string;
}

/** Spawns `oo-ml serve` on `cpu` alone, on `port`, with `nodeOptions` as NODE_OPTIONS. */
function spawnServe(cpu: string, home: string, nodeOptions: string, port = 0): ChildProcessByStdio<null, null, Readable> {
  const env: NodeJS.ProcessEnv = { ...process.env, NATS_URL: '', NODE_OPTIONS: nodeOptions };
  delete env['OO_ML_SERVE_PARENT'];
  return spawn('taskset', ['-c', cpu, process.execPath, BIN, 'serve', '--home', home, '--port', String(port)], { env, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Starts `oo-ml serve` on `cpu` alone and waits until it says where it listens. */
async function serveOnOneCore(cpu: string, home: string, nodeOptions: string): Promise<Started> {
  const child = spawnServe(cpu, home, nodeOptions);
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  // 'exit', not 'close': a server that outlived its parent would hold the stderr pipe open.
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      // Its signal handlers are in place once it says where it listens.
      const m = /listening on (\S+)/.exec(stderr);
      if (m !== null) resolve(m[1]!);
    });
    void exited.then(() => reject(new Error(`serve exited early: ${stderr}`)));
  });
  return { child, url, exited, stderr: () => stderr };
}

describe.skipIf(cpu === null)('oo-ml serve on one core', () => {
  it('starts again with one V8 helper thread, answers, and stops on SIGTERM with its server', async () => {
    const { home } = await tempHome();
    const s = await serveOnOneCore(cpu!, home, '');
    expect(s.stderr()).toContain(RESTART);
    expect(s.stderr()).toContain(ONE_HELPER);
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    // On Node 20 the server is a child of the process we started; it says which.
    expect(/the server runs as pid \d+/.test(s.stderr())).toBe(!EXECVE);
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    await expect(fetch(`${s.url}/healthz`)).rejects.toThrow();
  });

  it("ends with the server's exit code", async () => {
    const { home } = await tempHome();
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => void taken.close());
    const child = spawnServe(cpu!, home, '', (taken.address() as AddressInfo).port);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(stderr).toContain(RESTART);
    expect(stderr).toContain('the port is in use');
    expect(code).toBe(1);
  });

  it('keeps a pool size the operator set', async () => {
    const { home } = await tempHome();
    const s = await serveOnOneCore(cpu!, home, '--v8-pool-size=2');
    expect(s.stderr()).not.toContain(RESTART);
    expect(s.stderr()).not.toContain(ONE_HELPER);
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
  });

  it.skipIf(EXECVE)('leaves no server on the port when its stand-in parent is killed outright', async () => {
    const { home } = await tempHome();
    const s = await serveOnOneCore(cpu!, home, '');
    const server = Number(/the server runs as pid (\d+)/.exec(s.stderr())![1]);
    let left = false;
    // Should the server outlive this test, it must not outlive the run (only then: its pid may be reused).
    onTestFinished(() => {
      if (!left) process.kill(server, 'SIGKILL');
    });
    s.child.kill('SIGKILL');
    await s.exited;
    const answers = (): Promise<boolean> => fetch(`${s.url}/healthz`).then(() => true, () => false);
    await until(async () => !(await answers()), 'the server to leave the port', 15_000);
    left = true;
  });
});
