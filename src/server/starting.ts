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
 * - `GET /metrics` with `oo_ml_ready 0`, `oo_ml_starting 1` and the build (on the operator's port
 *   only, when there is one, as once started);
 * - anything else 503 with `retry-after: 1`, naming the step.
 *
 * With an operator's port (ops-port.ts) it answers the same there. `close()` hands the addresses
 * over: the server then listens on the same hosts and ports (the ones picked, for port 0).
 * Between the two, for the moment a close and a listen take, a connection is refused; a load
 * balancer sends none (the replica was not ready), a probe tries again.
 */
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import type { AddressInfo } from 'node:net';
import { Gauge, Registry } from 'prom-client';
import { HTTP_STATUS } from '../errors.js';
import { httpServerTimeouts } from './client-errors.js';
import { listenError, urlOf } from './listening.js';
import { buildInfoGauge, METRIC_HELP } from './metrics.js';
import { isOpsRoute, listenOps, noRoute, type OpsAddress, type OpsListener, type OpsSockets } from './ops-port.js';
import { DEFAULT_LIMITS } from './serving/serving.js';

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

/** The routes answered while starting; anything else gets 503 before its body is read. */
const ANSWERED = new Set(['/healthz', '/readyz', '/metrics']);

/** Listens on `host:port` (and the operator's port, when given) and answers as a replica that is starting (see the module's doc). */
export async function listenWhileStarting(host: string, port: number, ops?: OpsAddress, clock: () => Date = () => new Date()): Promise<Starting> {
  const startedAt = clock().getTime();
  let step = 'starting';
  // No process metrics (collectDefaultMetrics): their GC observer and event-loop sampler would
  // go on running beside the server's own after the hand-over.
  const registry = new Registry();
  new Gauge({ name: 'oo_ml_ready', help: METRIC_HELP.ready, registers: [registry] }).set(0);
  new Gauge({ name: 'oo_ml_starting', help: METRIC_HELP.starting, registers: [registry] }).set(1);
  buildInfoGauge(registry);

  const requestTimeout = DEFAULT_LIMITS.requestTimeoutMs;
  const app: FastifyInstance = Fastify({ logger: false, requestTimeout, http: httpServerTimeouts(requestTimeout) });
  const opsSockets: OpsSockets = new WeakSet();
  const refuse = (reply: FastifyReply, status: number, message: string): FastifyReply =>
    reply.code(status).header('x-content-type-options', 'nosniff').send({ error: 'unavailable', message, details: { reasons: [step], warnings: [] } });
  app.addHook('onRequest', (request, reply, done) => {
    const path = request.url.split('?')[0]!;
    // With an operator's port, its routes are not on the public one, as once started (ops-port.ts).
    if (ops !== undefined && isOpsRoute(path) && !opsSockets.has(request.raw.socket)) {
      void reply.code(HTTP_STATUS.not_found).header('x-content-type-options', 'nosniff').send(noRoute(request).toJSON());
      return;
    }
    if (request.method === 'GET' && ANSWERED.has(path)) return done();
    void refuse(reply.header('retry-after', '1'), HTTP_STATUS.unavailable, `not ready: ${step}; try again shortly`);
  });
  // As app.ts's preClose: a keep-alive connection closes once its answer is out, so the hand-over
  // is not held for its idle timeout while nothing listens.
  app.addHook('preClose', async () => {
    app.server.keepAliveTimeout = 1;
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
      opsListener = await listenOps(app, ops, opsSockets);
    } catch (e) {
      await app.close();
      throw e;
    }
  }
  const address = app.server.address() as AddressInfo;
  let closing: Promise<void> | null = null;
  return {
    url: urlOf(address),
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
