/**
 * A real `nats-server -js` for tests, on a free loopback port with its own JetStream store in a
 * temp folder. Never the shared server on 4222, never a non-loopback address. The binary is
 * `NATS_SERVER_BIN`, else /usr/sbin/nats-server or /usr/bin/nats-server (Debian's package), else
 * `nats-server` on PATH; when none exists the helper fails with a message saying how to get one.
 *
 * A test can take the server down hard (`kill`: SIGKILL, the store stays) and bring it back on the
 * same port and store (`restart`), to see what clients do through an outage.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** A nats-server process a test can kill and restart (alone, or a node of a cluster). */
export interface NatsTestNode {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  /** Client port. */
  readonly port: number;
  /** Pid of the current process (a new one after `restart`). */
  readonly pid: number;
  /** SIGKILLs the process (by pid) and waits for it to exit; the store stays. */
  kill(): Promise<void>;
  /** Starts it again on the same ports and store (after `kill`); resolves once it is ready. */
  restart(): Promise<void>;
}

/** A running server. */
export interface NatsTestServer extends NatsTestNode {
  /** Its JetStream store folder (removed by `stop`). */
  readonly storeDir: string;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and removes its store. */
  stop(): Promise<void>;
}

const READY = /Server is ready/;
/** A failure bound only: a healthy nats-server is ready in well under a second. */
const START_TIMEOUT_MS = 10_000;

/** Path of the nats-server binary, or a clear error saying how to install it. */
export function natsServerBin(): string {
  const fromEnv = process.env['NATS_SERVER_BIN'];
  const candidates = [
    ...(fromEnv !== undefined && fromEnv !== '' ? [fromEnv] : []),
    '/usr/sbin/nats-server',
    '/usr/bin/nats-server',
    ...(process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== '').map((d) => join(d, 'nats-server')),
  ];
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not here; try the next place
    }
  }
  throw new Error(
    'nats-server binary not found (looked at NATS_SERVER_BIN, /usr/sbin, /usr/bin and PATH); ' +
      'install it (`apt-get install nats-server`, or a release from github.com/nats-io/nats-server) ' +
      'or set NATS_SERVER_BIN',
  );
}

/** A TCP port free on 127.0.0.1 right now (the OS picks it; another process could still race us). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * One nats-server process that can be killed and started again with the same arguments (so the
 * same ports and store). `start` resolves once the server logs that it is ready.
 */
export interface NatsProcess {
  readonly pid: number;
  start(): Promise<void>;
  kill(): Promise<void>;
  terminate(): Promise<void>;
}

/** A restartable nats-server process over `args` (nothing runs until `start`). */
export function natsProcess(args: readonly string[], label: string): NatsProcess {
  const bin = natsServerBin();
  let child: ChildProcess | null = null;
  return {
    get pid() {
      if (child?.pid === undefined) throw new Error(`nats-server ${label} is not running`);
      return child.pid;
    },
    async start() {
      if (child !== null && isRunning(child)) throw new Error(`nats-server ${label} is already running (pid ${child.pid})`);
      child = spawn(bin, [...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      try {
        await waitReady(child, label);
      } catch (e) {
        await terminate(child);
        throw e;
      }
    },
    async kill() {
      if (child === null || !isRunning(child)) return;
      const exited = new Promise<void>((resolve) => child!.once('exit', () => resolve()));
      process.kill(child.pid!, 'SIGKILL');
      await exited;
    },
    async terminate() {
      if (child !== null) await terminate(child);
    },
  };
}

/** Starts nats-server with JetStream on a free loopback port and waits until it is ready. */
export async function startNatsServer(): Promise<NatsTestServer> {
  // The port is free when chosen but could be taken before nats-server binds it: retry a few times.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const storeDir = await mkdtemp(join(tmpdir(), 'oo-ml-nats-'));
    const port = await freePort();
    const proc = natsProcess(['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir], `on port ${port}`);
    try {
      await proc.start();
    } catch (e) {
      lastError = e;
      await rm(storeDir, { recursive: true, force: true });
      continue;
    }
    let stopped = false;
    return {
      url: `nats://127.0.0.1:${port}`,
      port,
      storeDir,
      get pid() {
        return proc.pid;
      },
      kill: () => proc.kill(),
      restart: () => proc.start(),
      async stop() {
        if (stopped) return;
        stopped = true;
        await proc.terminate();
        await rm(storeDir, { recursive: true, force: true });
      },
    };
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

const isRunning = (child: ChildProcess): boolean => child.exitCode === null && child.signalCode === null;

/** Resolves once the server logs "Server is ready"; rejects when it exits or takes too long. */
function waitReady(child: ChildProcess, label: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => done(new Error(`nats-server ${label} not ready after ${START_TIMEOUT_MS} ms:\n${log}`)), START_TIMEOUT_MS);
    const onData = (d: Buffer): void => {
      log += d.toString();
      if (READY.test(log)) done();
    };
    const onExit = (code: number | null): void => done(new Error(`nats-server ${label} exited with ${code}:\n${log}`));
    const onError = (e: Error): void => done(e);
    function done(error?: Error): void {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
      // Keep draining stderr so a chatty server never blocks on a full pipe.
      child.stderr?.resume();
      if (error === undefined) resolve();
      else reject(error);
    }
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

/** Stops `child` and waits for it to exit. */
function terminate(child: ChildProcess): Promise<void> {
  if (!isRunning(child)) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
