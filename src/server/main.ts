/**
 * The process shell of the server: its `listen()` (after starting.ts's answers while it starts,
 * when it is given them), and the operator's port's (ops-port.ts). Graceful shutdown by `stop()`
 * (draining first, with `drainMs`) or `close()`, and, with `handleSignals`, on SIGINT, SIGTERM
 * or SIGHUP (a closed terminal, as a stop, with its checkpoint), as `oo-ml serve` runs it: stop
 * accepting connections, let in-flight requests finish (Fastify closes idle keep-alive
 * connections and answers 503 to requests that arrive meanwhile), wait for shadow scorings,
 * flush the event sink — then the caller closes the sink. Connections still busy after
 * `shutdownTimeoutMs` are cut.
 */
import type { AddressInfo } from 'node:net';
import { buildApp, type OoMlApp } from './app.js';
import type { ServerDeps } from './deps.js';
import { listenError, urlOf } from './listening.js';
import { listenOps, type OpsAddress, type OpsListener, type OpsSockets } from './ops-port.js';
import type { Starting } from './starting.js';
import { keepTickShape } from './tick-shape.js';
import { applyServeV8Settings } from './v8-settings.js';

/** Options of `startServer`. */
export interface StartOptions {
  deps: ServerDeps;
  host: string;
  port: number;
  /**
   * What answered while the replica started (starting.ts): told that learning is being restored,
   * then closed right before the server listens on its host and port.
   */
  starting?: Starting;
  /**
   * The operator's port (ops-port.ts): /stats, /metrics, /docs and /admin/* answer there only.
   * Without it they answer on `port` with the rest.
   */
  ops?: OpsAddress;
  /**
   * Stop on SIGINT, SIGTERM and SIGHUP as `oo-ml serve` does (draining, checkpointing), with
   * handlers it installs and removes at close (default false: a program that embeds the server
   * handles its own signals and calls `close`).
   */
  handleSignals?: boolean;
  /**
   * Apply the process-wide settings `oo-ml serve` runs with, for a server that idles between
   * bursts: V8 flags (a heap that grows to twice its live size between collections, compiled code
   * never flushed; v8-settings.ts) and a tick object kept alive (tick-shape.ts). They last for the
   * process's life, so they are the process's owner's choice (default false).
   */
  tuneProcess?: boolean;
  /** Longest wait for in-flight requests on shutdown (default 10 s). */
  shutdownTimeoutMs?: number;
  /**
   * On the first `stop()` (or SIGINT/SIGTERM/SIGHUP, with `handleSignals`), how long to go on
   * answering with /readyz at 503 before shutting down, so a load balancer takes the replica out
   * before it stops taking connections (default 0: at once). A second stop shuts down at once.
   */
  drainMs?: number;
}

/** A listening server. */
export interface RunningServer {
  app: OoMlApp;
  /** `http://host:port` actually bound (port 0 picks a free one). */
  url: string;
  /**
   * Stops as a signal does: first, for `drainMs`, answers /readyz 503 while serving on (`why` is
   * what it says), then closes; called again meanwhile, closes at once. Resolves once closed.
   */
  stop(why?: string): Promise<void>;
  /** The operator's port's `http://host:port`, or null without one. */
  opsUrl: string | null;
  /** Shuts down gracefully (idempotent). */
  close(): Promise<void>;
  /** Resolves when the server has shut down. */
  closed: Promise<void>;
}

/** Builds the app and listens on `host:port`. */
export async function startServer(options: StartOptions): Promise<RunningServer> {
  // Node's tick objects keep their fast shape through idle-time collections (tick-shape.ts),
  // and the heap and compiled code stay ready for a burst after an idle spell (v8-settings.ts).
  if (options.tuneProcess === true) {
    await keepTickShape();
    applyServeV8Settings();
  }
  const { starting } = options;
  starting?.setStep('loading the snapshot and policies and restoring online learning from the events stream');
  const opsSockets: OpsSockets | undefined = options.ops === undefined ? undefined : new WeakSet();
  const app = await buildApp(options.deps, opsSockets === undefined ? {} : { opsSockets });
  const port = starting?.port ?? options.port;
  let ops: OpsListener | null = null;
  try {
    await starting?.close();
    try {
      await app.listen({ host: options.host, port });
    } catch (e) {
      throw listenError(e, options.host, port);
    }
    if (options.ops !== undefined) ops = await listenOps(app, { host: options.ops.host, port: starting?.opsPort ?? options.ops.port }, opsSockets!);
  } catch (e) {
    // Built but not listening: let go of its timers and sink flush, or the process hangs on.
    await app.close();
    throw e;
  }
  const url = urlOf(app.server.address() as AddressInfo);

  let closing: Promise<void> | null = null;
  let markClosed!: () => void;
  const closed = new Promise<void>((resolve) => (markClosed = resolve));
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const drainMs = options.drainMs ?? 0;
  let draining: NodeJS.Timeout | null = null;
  const stop = (why = 'stop'): Promise<void> => {
    if (drainMs > 0 && draining === null && closing === null) {
      const seconds = (drainMs / 1000).toFixed(drainMs % 1000 === 0 ? 0 : 1);
      app.ooLog.warn(`${why}: not ready from now on; answering for ${seconds} s more, then shutting down (stopped again: at once)`);
      app.ooMl.markStopping(`shutting down (${why}): answering for ${seconds} s more so load balancers take this replica out`);
      draining = setTimeout(() => void close(), drainMs);
      return closed;
    }
    app.ooLog.warn(`${why}: shutting down (draining in-flight requests)`);
    return close();
  };
  const onSignal = (signal: NodeJS.Signals): void => void stop(signal);

  function close(): Promise<void> {
    if (closing !== null) return closing;
    if (draining !== null) clearTimeout(draining);
    closing = (async () => {
      const timer = setTimeout(() => {
        app.ooLog.warn('shutdown timeout: closing the remaining connections');
        app.server.closeAllConnections();
        ops?.closeAllConnections();
      }, options.shutdownTimeoutMs ?? 10_000);
      timer.unref();
      try {
        // Fastify closes its own server; the operator's port stops taking connections alongside.
        await Promise.all([app.close(), ops?.close()]);
      } finally {
        clearTimeout(timer);
        if (options.handleSignals === true) for (const s of signals) process.off(s, onSignal);
        markClosed();
      }
    })();
    return closing;
  }

  if (options.handleSignals === true) for (const s of signals) process.on(s, onSignal);
  return { app, url, opsUrl: ops?.url ?? null, stop, close, closed };
}
