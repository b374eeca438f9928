/**
 * `oo-ml serve --json` started while NATS does not answer says so on stdout, as a state change
 * a supervisor reads, instead of nothing at all.
 */
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { tempHome } from '../helpers/temp-home.js';
import { until } from '../server/harness.js';

const BIN = fileURLToPath(new URL('../../bin/oo-ml.js', import.meta.url));

/** A loopback port nothing listens on (taken, then given back). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('oo-ml serve waiting for NATS', () => {
  it('with --json, writes a {waiting: "nats"} line on stdout (credentials redacted), and stops on SIGTERM', async () => {
    const h = await tempHome();
    const port = await closedPort();
    const child = spawn(process.execPath, [BIN, '--json', 'serve', '--home', h.home, '--port', '0'], {
      env: { ...process.env, NATS_URL: `nats://app:secret@127.0.0.1:${port}`, NODE_OPTIONS: '--v8-pool-size=4' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    onTestFinished(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await until(() => out.includes('\n'), 'a line on stdout', 20_000);
    const line = JSON.parse(out.split('\n')[0]!) as Record<string, unknown>;
    expect(line).toEqual({ waiting: 'nats', url: `nats://***@127.0.0.1:${port}`, error: expect.stringMatching(/ECONNREFUSED|refused/i) });
    expect(out).not.toContain('secret');
    // It ends (the test's timeout would say it did not).
    child.kill('SIGTERM');
    await exited;
  });
});
