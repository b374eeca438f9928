/**
 * The process shell of the server, and the only `listen()`. Graceful shutdown on SIGINT/SIGTERM
 * (or `close()`): stop accepting connections, let in-flight requests finish (Fastify closes idle
 * keep-alive connections and answers 503 to requests that arrive meanwhile), wait for shadow
 * scorings, flush the event sink — then the caller closes the sink. Connections still busy
 * after `shutdownTimeoutMs` are cut.
 */
import { createServer, type AddressInfo } from 'node:net';
import { buildApp, type OoMlApp } from './app.js';
import type { ServerDeps } from './deps.js';
import { keepTickShape } from './tick-shape.js';
import { applyServeV8Settings } from './v8-settings.js';
import { conflict, invalidUsage } from '../errors.js';

/** Options of `startServer`. */
export interface StartOptions {
  deps: ServerDeps;
  host: string;
  port: number;
  /** Install SIGINT/SIGTERM handlers (default true; tests pass false). */
  handleSignals?: boolean;
  /** Longest wait for in-flight requests on shutdown (default 10 s). */
  shutdownTimeoutMs?: number;
  /**
   * On the first SIGINT/SIGTERM, how long to go on answering with /readyz at 503 before shutting
   * down, so a load balancer takes the replica out before it stops taking connections (default
   * 0: at once). A second signal shuts down at once.
   */
  drainMs?: number;
}

/** A listening server. */
export interface RunningServer {
  app: OoMlApp;
  /** `http://host:port` actually bound (port 0 picks a free one). */
  url: string;
  /** Shuts down gracefully (idempotent). */
  close(): Promise<void>;
  /** Resolves when the server has shut down. */
  closed: Promise<void>;
}

/** Builds the app and listens on `host:port`. */
export async function startServer(options: StartOptions): Promise<RunningServer> {
  // Node's tick objects keep their fast shape through idle-time collections (tick-shape.ts),
  // and the heap and compiled code stay ready for a burst after an idle spell (v8-settings.ts).
  await keepTickShape();
  applyServeV8Settings();
  const app = await buildApp(options.deps);
  try {
    await app.listen({ host: options.host, port: options.port });
  } catch (e) {
    // Built but not listening: let go of its timers and sink flush, or the process hangs on.
    await app.close();
    throw listenError(e, options.host, options.port);
  }
  const address = app.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;

  let closing: Promise<void> | null = null;
  let markClosed!: () => void;
  const closed = new Promise<void>((resolve) => (markClosed = resolve));
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
  const drainMs = options.drainMs ?? 0;
  let draining: NodeJS.Timeout | null = null;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (drainMs > 0 && draining === null && closing === null) {
      const seconds = (drainMs / 1000).toFixed(drainMs % 1000 === 0 ? 0 : 1);
      app.ooLog.warn(`${signal}: not ready from now on; answering for ${seconds} s more, then shutting down (a second signal: at once)`);
      app.ooMl.markStopping(`shutting down (${signal}): answering for ${seconds} s more so load balancers take this replica out`);
      draining = setTimeout(() => void close(), drainMs);
      return;
    }
    app.ooLog.warn(`${signal}: shutting down (draining in-flight requests)`);
    void close();
  };

  function close(): Promise<void> {
    if (closing !== null) return closing;
    if (draining !== null) clearTimeout(draining);
    closing = (async () => {
      const timer = setTimeout(() => {
        app.ooLog.warn('shutdown timeout: closing the remaining connections');
        app.server.closeAllConnections();
      }, options.shutdownTimeoutMs ?? 10_000);
      timer.unref();
      try {
        await app.close();
      } finally {
        clearTimeout(timer);
        if (options.handleSignals !== false) for (const s of signals) process.off(s, onSignal);
        markClosed();
      }
    })();
    return closing;
  }

  if (options.handleSignals !== false) for (const s of signals) process.on(s, onSignal);
  return { app, url, close, closed };
}

/**
 * Fails as the server's listen would (the port in use, a host not of this machine), by listening
 * for a moment: `oo-ml serve` checks before it opens the bus and restores learning, so a bad
 * --port or --host leaves no state behind and logs nothing but its error.
 */
export async function checkListenable(host: string, port: number): Promise<void> {
  const probe = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen({ host, port, exclusive: true }, resolve);
    });
  } catch (e) {
    throw listenError(e, host, port);
  }
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}

/** What a failed listen means for the user: the port or the host they gave, named. */
function listenError(e: unknown, host: string, port: number): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  const where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  switch (code) {
    // Another program holds the port: a conflict (exit 1), not a mistyped flag.
    case 'EADDRINUSE':
      return conflict(`cannot listen on ${where}: the port is in use`, { hint: 'choose another --port (0 picks a free one), or stop what listens there' });
    case 'EACCES':
      return invalidUsage(`cannot listen on ${where}: permission denied`, { hint: 'ports below 1024 need privileges; choose another --port' });
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EINVAL':
    case 'EAFNOSUPPORT':
      return invalidUsage(`cannot listen on ${where}: no local address for host "${host}"`, {
        hint: 'give --host an address or name of this machine, e.g. 127.0.0.1 or ::1 (IPv6 without brackets; a link-local one with its zone, fe80::1%eth0)',
      });
    default:
      return e;
  }
}
