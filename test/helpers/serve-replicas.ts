/**
 * `oo-ml serve` replicas as a deployment runs them: child processes of the built CLI sharing a
 * home's registry and snapshot, each with its own state folder, on one NATS JetStream; a replica
 * can be killed with SIGKILL and started again on its state folder. And a client that sends each
 * request to a random live replica, trying another when one does not answer (a load balancer).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ARM_COUNT } from '../../src/features/arms.js';
import { getPolicy } from '../../src/policies/catalog.js';
import { createRng, type Rng } from '../../src/random/rng.js';
import { createFileStore } from '../../src/registry/file-store.js';
import { POLICY_STATE_ARTIFACT } from '../../src/models/policy-artifacts.js';
import { writeSyntheticSnapshot } from '../../fixtures/synthetic-snapshot.js';
import { tempHome } from './temp-home.js';

const BIN = fileURLToPath(new URL('../../bin/oo-ml.js', import.meta.url));

/** Users of the home's snapshot (`u0` … `u<USERS-1>`). */
export const USERS = 200;

/** A home with a LinUCB champion (version 1) in its registry and a fresh snapshot. */
export async function servingHome(): Promise<string> {
  const home = await tempHome('oo-ml-replicas-');
  await writeSyntheticSnapshot(home.snapshots, { users: USERS, asOf: new Date(Date.now() - 3_600_000) });
  const store = createFileStore(home.mlruns);
  const exp = await store.getOrCreateExperiment('oo-ml-train');
  const run = await store.createRun(exp.experimentId);
  const linucb = getPolicy('linucb');
  await store.logArtifact(run.info.runId, POLICY_STATE_ARTIFACT, JSON.stringify(linucb.toJSON(linucb.init(ARM_COUNT))));
  await store.createRegisteredModel('tip-policy');
  await store.createModelVersion('tip-policy', `runs:/${run.info.runId}/policy`, run.info.runId);
  await store.setAlias('tip-policy', 'champion', 1);
  return home.home;
}

/** One `oo-ml serve` child. */
export interface Replica {
  readonly name: string;
  /** Its URL now (a restart listens on a new port); null while it is down. */
  readonly url: string | null;
  readonly pid: number | null;
  readonly stateDir: string;
  /** Everything it wrote to stderr, all runs. */
  readonly log: string;
  /** SIGKILL: nothing is flushed or checkpointed. */
  kill(): Promise<void>;
  /** Starts it again on its state folder; resolves once it listens. */
  restart(): Promise<void>;
  /** SIGTERM, and waits for the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `oo-ml serve` on `home` with its own state folder, on the bus `natsUrl`; resolves once it listens. */
export async function startReplica(name: string, home: string, natsUrl: string, env: Record<string, string> = {}, args: string[] = []): Promise<Replica> {
  const stateDir = join(home, 'data', `serve-${name}`);
  let child: ChildProcess | null = null;
  let url: string | null = null;
  let log = '';
  const launch = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const c = spawn(process.execPath, [BIN, 'serve', '--home', home, '--port', '0', '--state-dir', stateDir, ...args], {
        // Node's own default pool size, said outright: on a host with less than two cores the
        // server would otherwise start again behind a stand-in parent (server/serve-restart.ts),
        // and a replica these tests kill -9 must be the server itself.
        env: { ...process.env, NATS_URL: natsUrl, LLM_BASE_URL: '', LOG_LEVEL: 'info', NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --v8-pool-size=4`.trim(), ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      child = c;
      let own = '';
      c.stderr!.on('data', (d: Buffer) => {
        own += d.toString();
        log += d.toString();
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(own);
        if (m !== null && url === null) {
          url = m[1]!;
          resolve();
        }
      });
      c.once('exit', (code, signal) => {
        url = null;
        reject(new Error(`replica ${name} exited (${code ?? signal}) before listening:\n${own}`));
      });
    });
  const exited = (c: ChildProcess): Promise<number | null> => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve(c.exitCode) : new Promise((resolve) => c.once('exit', (code) => resolve(code))));
  await launch();
  return {
    name,
    stateDir,
    get url() {
      return url;
    },
    get pid() {
      return child?.pid ?? null;
    },
    get log() {
      return log;
    },
    async kill() {
      const c = child;
      url = null;
      if (c === null || c.exitCode !== null || c.signalCode !== null) return;
      const done = exited(c);
      process.kill(c.pid!, 'SIGKILL');
      await done;
    },
    restart: () => launch(),
    async stop() {
      const c = child;
      url = null;
      if (c === null) return null;
      if (c.exitCode !== null || c.signalCode !== null) return c.exitCode;
      const done = exited(c);
      c.kill('SIGTERM');
      return done;
    },
  };
}

/** An answered call. */
export interface Answer {
  status: number;
  body: Record<string, unknown>;
  replica: string;
}

/**
 * Sends a request to a random live replica; when one does not answer (killed, restarting), tries
 * the others, then waits and tries again, for up to `patienceMs`.
 */
export class RandomRouter {
  private readonly rng: Rng;
  constructor(
    private readonly replicas: readonly Replica[],
    seed: number,
    private readonly patienceMs = 30_000,
  ) {
    this.rng = createRng(seed);
  }

  /** POSTs `body` to `path` on a random replica. */
  async post(path: string, body: unknown): Promise<Answer> {
    const started = Date.now();
    for (;;) {
      const live = this.replicas.filter((r) => r.url !== null);
      const order = live.length === 0 ? [] : [live[this.rng.int(live.length)]!, ...live];
      for (const r of order) {
        const url = r.url;
        if (url === null) continue;
        try {
          const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
          return { status: res.status, body: (await res.json()) as Record<string, unknown>, replica: r.name };
        } catch {
          // Not answering (killed mid-request, or down): the next one.
        }
      }
      if (Date.now() - started > this.patienceMs) throw new Error(`no replica answered POST ${path} for ${this.patienceMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** GETs a replica's JSON endpoint. */
export async function getJson(replica: Replica, path: string): Promise<Record<string, unknown>> {
  if (replica.url === null) throw new Error(`replica ${replica.name} is down`);
  const res = await fetch(`${replica.url}${path}`);
  return (await res.json()) as Record<string, unknown>;
}

/** One policy's learning as /stats shows it. */
export interface PolicyLearning {
  name: string;
  model_version: string | null;
  updates: number;
  digest: string;
}

/** The learning section of a replica's /stats. */
export async function learningOf(replica: Replica): Promise<{ position: number; policies: PolicyLearning[]; rewards: Record<string, number> }> {
  return (await getJson(replica, '/stats'))['learning'] as { position: number; policies: PolicyLearning[]; rewards: Record<string, number> };
}
