/**
 * What a replica answers while it starts: waiting for NATS, loading the snapshot and policies,
 * restoring online learning from the events stream. Without it nothing listened until the
 * server was ready, so a liveness probe (Kubernetes restarts a pod whose /healthz does not
 * answer) killed a replica that was only waiting for NATS, and /metrics could not say why it
 * was not up.
 *
 * It listens on the server's address from the first moment (so a port in use or a bad host
 * fails before the bus opens and learning is restored) and answers:
 * - `GET /healthz` 200 (the process is alive and starting);
 * - `GET /readyz` 503 in the not-ready shape, its reason the step the start is at;
 * - `GET /metrics` with `oo_ml_ready 0`, `oo_ml_starting 1`, the build and the process's metrics;
 * - anything else 503 with `retry-after: 1`, naming the step.
 *
 * With an operator's port (ops-port.ts) it answers the same there. `close()` hands the addresses
 * over: the server then listens on the same hosts and ports (the ones picked, for port 0). Between the two, for the moment a close and a listen take, a connection
 * is refused; a load balancer sends none (the replica was not ready), a probe tries again.
 */
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { AddressInfo } from 'node:net';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { HTTP_STATUS } from '../errors.js';
import { OO_ML_VERSION } from '../version.js';
import { listenError } from './listen-error.js';
import { listenOps, type OpsAddress, type OpsListener } from './ops-port.js';

/** A replica's answers while it starts (listening). */
export interface Starting {
  /** `http://host:port` actually bound (port 0 picks a free one). */
  readonly url: string;
  /** The port bound: the server listens there once started. */
  readonly port: number;
  /** The operator's port bound, when there is one (the same answers there). */
  readonly opsUrl: string | null;
  readonly opsPort: number | null;
  /** Sets the step /readyz and every refused request name (e.g. "waiting for NATS at …"). */
  setStep(step: string): void;
  /** Stops listening, so the server can listen on the same address (idempotent). */
  close(): Promise<void>;
}

/** Nothing here reads a body: a request that takes longer than this to arrive is cut. */
const STARTING_REQUEST_TIMEOUT_MS = 30_000;

/** The routes answered while starting; anything else gets 503 before its body is read. */
const ANSWERED = new Set(['/healthz', '/readyz', '/metrics']);

/** Listens on `host:port` (and the operator's port, when given) and answers as a replica that is starting (see the module's doc). */
export async function listenWhileStarting(host: string, port: number, ops?: OpsAddress, clock: () => Date = () => new Date()): Promise<Starting> {
  const startedAt = clock().getTime();
  let step = 'starting';
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  new Gauge({ name: 'oo_ml_ready', help: "1 when GET /readyz answers 200 (parts loaded, events recordable, the state folder still this replica's)", registers: [registry] }).set(0);
  new Gauge({ name: 'oo_ml_starting', help: '1 while the replica starts (waiting for NATS, restoring online learning): /readyz names the step', registers: [registry] }).set(1);
  new Gauge({ name: 'oo_ml_build_info', help: 'Always 1; the running oo-ml version as a label', labelNames: ['version'] as const, registers: [registry] }).set({ version: OO_ML_VERSION }, 1);

  const app: FastifyInstance = Fastify({ logger: false, requestTimeout: STARTING_REQUEST_TIMEOUT_MS });
  const refuse = (reply: FastifyReply, status: number, message: string): FastifyReply =>
    reply.code(status).header('x-content-type-options', 'nosniff').send({ error: 'unavailable', message, details: { reasons: [step], warnings: [] } });
  app.addHook('onRequest', (request, reply, done) => {
    const path = request.url.split('?')[0]!;
    if (request.method === 'GET' && ANSWERED.has(path)) return done();
    void refuse(reply.header('retry-after', '1'), HTTP_STATUS.unavailable, `not ready: ${step}; try again shortly`);
  });
  app.get('/healthz', async () => ({ status: 'ok', uptime_s: (clock().getTime() - startedAt) / 1000 }));
  app.get('/readyz', (_request, reply) => refuse(reply, HTTP_STATUS.unavailable, `not ready: ${step}`));
  app.get('/metrics', async (_request, reply) => {
    void reply.type(registry.contentType);
    return registry.metrics();
  });
  try {
    await app.listen({ host, port });
  } catch (e) {
    await app.close();
    throw listenError(e, host, port);
  }
  let opsListener: OpsListener | null = null;
  if (ops !== undefined) {
    try {
      opsListener = await listenOps(app, ops, new WeakSet(), STARTING_REQUEST_TIMEOUT_MS);
    } catch (e) {
      await app.close();
      throw e;
    }
  }
  const address = app.server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | null = null;
  return {
    url: `http://${shownHost}:${address.port}`,
    port: address.port,
    opsUrl: opsListener?.url ?? null,
    opsPort: opsListener?.port ?? null,
    setStep(next) {
      step = next;
    },
    close() {
      closing ??= Promise.all([app.close(), opsListener?.close()]).then(() => undefined);
      return closing;
    },
  };
}
