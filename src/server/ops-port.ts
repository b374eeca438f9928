/**
 * The operator's port (`oo-ml serve --ops-port`): /stats, /metrics, /docs and /admin/* answer
 * there only, and the public port answers them 404 as routes it does not have. What they show
 * (policies, versions, shadow estimates, the API) and take (reload, reset) then stays on an
 * address a load balancer never exposes. /healthz and /readyz answer on both, for probes.
 *
 * It is a second Node HTTP server over the same Fastify handler (`app.routing`), so the routes,
 * hooks and error shapes are the app's; the sockets it accepted are what tell its requests apart.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { notFound, type OoMlError } from '../errors.js';
import { clientErrorHandler, httpServerTimeouts } from './client-errors.js';
import { listenError, urlOf } from './listening.js';

/** Where the operator's port listens. */
export interface OpsAddress {
  host: string;
  /** 0 picks a free one. */
  port: number;
}

/** True for the routes that answer only on the operator's port when there is one. */
export function isOpsRoute(url: string): boolean {
  return url === '/stats' || url === '/metrics' || url === '/docs' || url.startsWith('/docs/') || url.startsWith('/admin/');
}

/** The sockets the operator's port accepted: a request on any other is a public one. */
export type OpsSockets = WeakSet<Socket>;

/** The 404 of a route the server does not have (or does not show on this port). */
export function noRoute(request: FastifyRequest): OoMlError {
  return notFound(`no route ${request.method} ${request.url.split('?')[0]}`);
}

/**
 * Makes `app` answer its operator routes on `sockets` only (a 404 as for an unknown route
 * elsewhere); call before the app is ready. By the request's path, not its matched route: a
 * wrong method matches none, and the not-found handler would then name the methods it takes.
 */
export function keepOpsRoutesTo(app: FastifyInstance, sockets: OpsSockets): void {
  app.addHook('onRequest', (request, _reply, done) => {
    if (sockets.has(request.raw.socket) || !isOpsRoute(request.url.split('?')[0]!)) return done();
    done(noRoute(request));
  });
}

/** A listening operator's port. */
export interface OpsListener {
  url: string;
  port: number;
  /** Stops accepting, closes idle connections, and resolves when the busy ones have ended. */
  close(): Promise<void>;
  /** Cuts every connection (after a shutdown timeout). */
  closeAllConnections(): void;
}

/** Listens on `address` with `app`'s handler (Node's timeouts as the app's server has them), recording its sockets in `sockets`; a failure names the address as `--ops-port`/`--ops-host`. */
export async function listenOps(app: FastifyInstance, address: OpsAddress, sockets: OpsSockets): Promise<OpsListener> {
  const { requestTimeout } = app.server;
  const server: Server = createServer(httpServerTimeouts(requestTimeout), app.routing);
  server.on('connection', (socket: Socket) => sockets.add(socket));
  server.on('clientError', clientErrorHandler(requestTimeout));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: address.host, port: address.port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    throw listenError(e, address.host, address.port, { port: '--ops-port', host: '--ops-host' });
  }
  const bound = server.address() as AddressInfo;
  let closing: Promise<void> | null = null;
  return {
    url: urlOf(bound),
    port: bound.port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        // As app.ts's preClose does for the public port: a keep-alive connection (Prometheus's)
        // closes once its answer is out instead of holding the shutdown for its idle timeout.
        server.keepAliveTimeout = 1;
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      return closing;
    },
    closeAllConnections: () => server.closeAllConnections(),
  };
}
