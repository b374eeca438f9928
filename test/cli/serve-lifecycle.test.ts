/**
 * `oo-ml serve` at start and stop: with --json, a wait for NATS is said on stdout, as a state
 * change a supervisor reads, instead of nothing at all, and the address answers its probes
 * meanwhile; a second server on one embedded bus is refused; --drain-seconds keeps serving, not
 * ready, for a while after SIGTERM; SIGHUP stops it as SIGTERM does, with its checkpoint;
 * --ops-port keeps the operator's routes off the public port.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { runCli } from '../helpers/cli.js';
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

/** Starts `oo-ml --json serve` with `env`; resolves its stdout so far, and kills it after the test. */
function startServe(home: string, env: Record<string, string>, args: string[] = []) {
  const child = spawn(process.execPath, [BIN, '--json', 'serve', '--home', home, '--port', '0', ...args], {
    env: { ...process.env, NODE_OPTIONS: '--v8-pool-size=4', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return { child, exited, out: () => out };
}

describe('oo-ml serve at start and stop', () => {
  it('with --json, writes a {waiting: "nats"} line on stdout (credentials redacted), answers its probes meanwhile, and stops on SIGTERM', async () => {
    const h = await tempHome();
    const port = await closedPort();
    const { child, exited, out: stdout } = startServe(h.home, { NATS_URL: `nats://app:secret@127.0.0.1:${port}` }, ['--ops-port', '0']);
    await until(() => stdout().includes('\n'), 'a line on stdout', 20_000);
    const out = stdout();
    const line = JSON.parse(out.split('\n')[0]!) as Record<string, unknown>;
    expect(line).toEqual({ waiting: 'nats', url: `nats://***@127.0.0.1:${port}`, error: expect.stringMatching(/ECONNREFUSED|refused/i), answering: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/), ops_answering: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) });
    expect(out).not.toContain('secret');
    // Alive to a liveness probe, not ready, saying why; /metrics says it is starting.
    const at = line['answering'] as string;
    expect(await (await fetch(`${at}/healthz`)).json()).toMatchObject({ status: 'ok' });
    const readyz = await fetch(`${at}/readyz`);
    expect(readyz.status).toBe(503);
    const why = (await readyz.json()) as { error: string; message: string; details: { reasons: string[] } };
    expect(why.error).toBe('unavailable');
    expect(why.details.reasons).toEqual([`waiting for NATS at nats://***@127.0.0.1:${port}: ${line['error'] as string}`]);
    // The operator's port answers the same meanwhile, and it alone answers /metrics, as once started.
    expect((await fetch(`${line['ops_answering'] as string}/readyz`)).status).toBe(503);
    expect((await fetch(`${at}/metrics`)).status).toBe(404);
    const metrics = await (await fetch(`${line['ops_answering'] as string}/metrics`)).text();
    expect(metrics).toMatch(/^oo_ml_ready 0$/m);
    expect(metrics).toMatch(/^oo_ml_starting 1$/m);
    expect(metrics).not.toContain('secret');
    // Anything else is refused at once, body unread, with when to try again.
    const score = await fetch(`${at}/score`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"user_id":"u1"}' });
    expect(score.status).toBe(503);
    expect(score.headers.get('retry-after')).toBe('1');
    expect(((await score.json()) as { message: string }).message).toContain('not ready: waiting for NATS at');
    // It ends (the test's timeout would say it did not).
    child.kill('SIGTERM');
    await exited;
  });

  it('refuses a second server on one embedded bus, naming the process that writes it', async () => {
    const h = await tempHome();
    const first = startServe(h.home, { NATS_URL: '' });
    await until(() => first.out().includes('"listening":true'), 'the first server to listen', 30_000);
    const second = await runCli(['serve', '--home', h.home, '--port', '0', '--state-dir', join(h.home, 'other-state')], { env: { NATS_URL: '', NODE_OPTIONS: '--v8-pool-size=4' } });
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`the embedded bus's events stream under ${h.bus} is being written by process ${first.child.pid}`);
    expect(second.stderr).toContain('NATS_URL');
    // The first one still serves.
    const url = (JSON.parse(first.out().split('\n')[0]!) as { url: string }).url;
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('with --drain-seconds, answers /readyz 503 "shutting down" but goes on serving after SIGTERM; a second signal stops it at once', async () => {
    const h = await tempHome();
    // A drain far longer than the test: only the second signal can end it in time.
    const server = startServe(h.home, { NATS_URL: '' }, ['--drain-seconds', '600']);
    await until(() => server.out().includes('"listening":true'), 'the server to listen', 30_000);
    const url = (JSON.parse(server.out().split('\n')[0]!) as { url: string }).url;
    const readyz = async () => JSON.stringify(await (await fetch(`${url}/readyz`)).json());
    expect(await readyz()).not.toContain('shutting down');
    server.child.kill('SIGTERM');
    await until(async () => (await readyz()).includes('shutting down (SIGTERM)'), 'readiness to say it is shutting down');
    // Still answering meanwhile: a load balancer's last requests are not refused.
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    server.child.kill('SIGTERM');
    await server.exited;
    expect(server.out()).toContain('"stopped":true');
  });

  it('with --ops-port, answers /stats, /metrics, /docs and /admin on the operator\'s port only, 404 on the public one; probes on both', async () => {
    const h = await tempHome();
    const server = startServe(h.home, { NATS_URL: '', OO_ML_ADMIN_TOKEN: 't0ken' }, ['--ops-port', '0']);
    await until(() => server.out().includes('"listening":true'), 'the server to listen', 30_000);
    const line = JSON.parse(server.out().split('\n')[0]!) as { url: string; ops_url: string };
    expect(line.ops_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(line.ops_url).not.toBe(line.url);
    const status = async (base: string, path: string, init?: RequestInit) => (await fetch(`${base}${path}`, init)).status;
    const reload = { method: 'POST', headers: { authorization: 'Bearer t0ken', 'content-type': 'application/json' }, body: '{}' };
    for (const path of ['/stats', '/metrics', '/docs/json']) {
      expect([path, await status(line.url, path)]).toEqual([path, 404]);
      expect([path, await status(line.ops_url, path)]).toEqual([path, 200]);
    }
    // As a route it does not have: the public port gives nothing away.
    expect(await (await fetch(`${line.url}/metrics`)).json()).toEqual({ error: 'not_found', message: 'no route GET /metrics', details: null });
    expect(await status(line.url, '/admin/reload', reload)).toBe(404);
    // Nor through a wrong method: no 405 naming the methods of a route it does not show.
    for (const [path, method] of [['/stats', 'POST'], ['/admin/reload', 'GET']] as const) {
      const r = await fetch(`${line.url}${path}`, { method });
      expect([path, r.status, r.headers.get('allow')]).toEqual([path, 404, null]);
    }
    expect((await fetch(`${line.ops_url}/stats`, { method: 'POST' })).status).toBe(405);
    // This home has no snapshot: the reload runs (503 naming what is missing), on the operator's port.
    expect(await status(line.ops_url, '/admin/reload', reload)).toBe(503);
    for (const base of [line.url, line.ops_url]) expect(await status(base, '/healthz')).toBe(200);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });

  it('refuses --ops-host without --ops-port, and one port for both', async () => {
    const h = await tempHome();
    const alone = await runCli(['serve', '--home', h.home, '--ops-host', '127.0.0.1'], { env: { NATS_URL: '' } });
    expect([alone.code, alone.stderr]).toEqual([2, expect.stringContaining('--ops-host is where --ops-port listens')]);
    const same = await runCli(['serve', '--home', h.home, '--port', '18123', '--ops-port', '18123'], { env: { NATS_URL: '' } });
    expect([same.code, same.stderr]).toEqual([2, expect.stringContaining("--ops-port 18123 is --port too")]);
  });

  it('stops on SIGHUP (a closed terminal) as on SIGTERM: in-flight work drained, learning checkpointed, exit 0', async () => {
    const h = await tempHome();
    const stateDir = join(h.home, 'state');
    const server = startServe(h.home, { NATS_URL: '' }, ['--state-dir', stateDir]);
    await until(() => server.out().includes('"listening":true'), 'the server to listen', 30_000);
    expect(existsSync(join(stateDir, 'checkpoint.json'))).toBe(false);
    server.child.kill('SIGHUP');
    expect(await server.exited).toBe(0);
    expect(server.out()).toContain('"stopped":true');
    expect(existsSync(join(stateDir, 'checkpoint.json'))).toBe(true);
  });
});
