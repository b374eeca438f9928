/**
 * A real JetStream cluster for tests: `n` nats-servers on loopback, each with its own free client
 * and cluster ports and its own temp store, routed to one another. Resolves once JetStream answers
 * (a meta leader is elected and every server has joined), so streams of `n` replicas can be
 * placed. Nodes can be SIGKILLed and brought back on their ports and store.
 */
import { StorageType, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, natsProcess, type NatsProcess, type NatsTestNode } from '../../fixtures/nats-server.js';

/** One server of the cluster. */
export interface NatsClusterNode extends NatsTestNode {
  /** `--server_name`, as JetStream names peers and leaders (`n1`, `n2`, …). */
  readonly name: string;
}

/** A running cluster. */
export interface NatsTestCluster {
  /** The client URLs, comma-separated (a NATS_URL for the whole cluster). */
  readonly urls: string;
  readonly nodes: readonly NatsClusterNode[];
  /** Stops every server (SIGTERM, then SIGKILL) and removes the stores. */
  stop(): Promise<void>;
}

const CLUSTER_NAME = 'oo-ml-test';
/** Between JetStream readiness polls (a fresh cluster elects its meta leader within a few seconds). */
const POLL_MS = 100;

/** Options of `startNatsCluster`. */
export interface NatsClusterOptions {
  /**
   * Wait until JetStream can place R`n` streams (default). `false` resolves as soon as every
   * server logged "ready", before the meta leader is elected: a fresh cluster, as a client
   * starting with it sees it.
   */
  waitForJetStream?: boolean;
}

/** Starts an `n`-server JetStream cluster on loopback and (by default) waits until JetStream is usable. */
export async function startNatsCluster(n = 3, options: NatsClusterOptions = {}): Promise<NatsTestCluster> {
  // Ports are free when chosen but could be taken before nats-server binds them: retry a few times.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const dirs: string[] = [];
    const procs: NatsProcess[] = [];
    try {
      const clientPorts: number[] = [];
      const clusterPorts: number[] = [];
      for (let i = 0; i < n; i++) {
        clientPorts.push(await freePort());
        clusterPorts.push(await freePort());
        dirs.push(await mkdtemp(join(tmpdir(), 'oo-ml-nats-cluster-')));
      }
      const nodes: NatsClusterNode[] = [];
      for (let i = 0; i < n; i++) {
        const name = `n${i + 1}`;
        const routes = clusterPorts.filter((_, j) => j !== i).map((p) => `nats://127.0.0.1:${p}`);
        const args = [
          '-js',
          '-a', '127.0.0.1',
          '-p', String(clientPorts[i]),
          '--server_name', name,
          '--cluster_name', CLUSTER_NAME,
          '--cluster', `nats://127.0.0.1:${clusterPorts[i]}`,
          ...(routes.length > 0 ? ['--routes', routes.join(',')] : []),
          '-sd', dirs[i]!,
        ];
        const proc = natsProcess(args, `${name} on port ${clientPorts[i]}`);
        procs.push(proc);
        nodes.push({
          name,
          port: clientPorts[i]!,
          url: `nats://127.0.0.1:${clientPorts[i]}`,
          get pid() {
            return proc.pid;
          },
          kill: () => proc.kill(),
          restart: () => proc.start(),
        });
      }
      // Each server logs "ready" without waiting for its routes, so start them all, then wait.
      await Promise.all(procs.map((p) => p.start()));
      const urls = nodes.map((x) => x.url).join(',');
      if (options.waitForJetStream !== false) await waitForJetStream(urls, n);
      let stopped = false;
      return {
        urls,
        nodes,
        async stop() {
          if (stopped) return;
          stopped = true;
          await Promise.all(procs.map((p) => p.terminate()));
          await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
        },
      };
    } catch (e) {
      lastError = e;
      await Promise.all(procs.map((p) => p.terminate()));
      await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

/**
 * Resolves once an R`n` stream can be placed: JetStream answers only once a meta leader is
 * elected, and places `n` replicas only once every server has joined the meta group (before
 * that: timeouts, "JetStream system temporarily unavailable", "insufficient resources"). So we
 * place and delete a throwaway in-memory R`n` stream, polling until that works.
 */
async function waitForJetStream(urls: string, n: number): Promise<void> {
  const nc: NatsConnection = await connect({ servers: urls.split(','), maxReconnectAttempts: -1 });
  try {
    const jsm = await jetstreamManager(nc, { checkAPI: false, timeout: 1000 });
    const probe = 'OO_ML_CLUSTER_PROBE';
    let lastError: unknown;
    // A failure bound only: a fresh cluster is usable within a few seconds.
    for (let tries = 0; tries < 300; tries++) {
      try {
        await jsm.streams.add({ name: probe, subjects: ['oo-ml-cluster-probe'], num_replicas: n, storage: StorageType.Memory });
        await jsm.streams.delete(probe);
        return;
      } catch (e) {
        lastError = e;
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    }
    throw new Error(`JetStream cluster at ${urls} never became usable: ${String(lastError)}`);
  } finally {
    await nc.close();
  }
}
