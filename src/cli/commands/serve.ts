/** `oo-ml serve`: the online scorer; its composition root (server/wiring.ts) is loaded on use. */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { action } from '../command.js';
import type { CommandContext } from '../context.js';
import { parseIntFlag } from '../flags.js';
import { invalidUsage } from '../../errors.js';
import type { OpsAddress } from '../../server/ops-port.js';
import { followRestartParent, restartWith } from '../../server/serve-restart.js';
import { ONE_CORE_NODE_FLAGS, oneCoreNodeFlagsHere } from '../../server/v8-settings.js';

/** Flags of `oo-ml serve`. */
export interface ServeFlags {
  host: string;
  port: string;
  experiments?: string;
  snapshot?: string;
  stateDir?: string;
  checkpointEvery: string;
  retryLoadsAfter: string;
  drainSeconds: string;
  opsPort?: string;
  opsHost?: string;
}

/** Runs the server with the embedded defaults until SIGINT/SIGTERM/SIGHUP; with less than two cores, first starts itself again with one V8 helper thread. */
export async function runServe(ctx: CommandContext, flags: ServeFlags): Promise<void> {
  followRestartParent();
  const port = parseIntFlag('--port', flags.port, 0, 65_535);
  const checkpointIntervalMs = parseIntFlag('--checkpoint-every', flags.checkpointEvery, 0, 86_400) * 1000;
  const reloadRetryMs = parseIntFlag('--retry-loads-after', flags.retryLoadsAfter, 0, 3_600) * 1000;
  const drainMs = parseIntFlag('--drain-seconds', flags.drainSeconds, 0, 3_600) * 1000;
  const ops = opsAddress(flags, port);
  await restartOnOneCore(ctx);
  if (ONE_CORE_NODE_FLAGS.every((f) => process.execArgv.includes(f))) ctx.note(`oo-ml serve: V8 collects with one helper thread (${ONE_CORE_NODE_FLAGS.join(' ')})`);
  const [{ closeServeWiring, serveWiring }, { startServer }, { listenWhileStarting }, { experimentsFile, readExperiments }] = await Promise.all([
    import('../../server/wiring.js'),
    import('../../server/main.js'),
    import('../../server/starting.js'),
    import('../../server/experiments-source.js'),
  ]);
  const experimentsPath = flags.experiments === undefined ? undefined : resolve(flags.experiments);
  // Read once before anything starts, so a bad file stops the start (named), not a server that is not ready.
  if (experimentsPath !== undefined) await readExperiments(experimentsPath);
  // Likewise the address: a port in use fails before the bus opens and learning is restored.
  // From then on the address answers /healthz, /readyz and /metrics (starting.ts), so a replica
  // waiting for NATS or restoring learning is alive to its probes and says why it is not ready.
  const starting = await listenWhileStarting(flags.host, port, ops);
  ctx.note(`oo-ml serve: starting; ${[starting.url, starting.opsUrl].filter((u) => u !== null).join(' and ')} answer /healthz, /readyz (503 until ready) and /metrics meanwhile`);
  let wiring: Awaited<ReturnType<typeof serveWiring>>;
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    wiring = await serveWiring(ctx, {
      ...(experimentsPath === undefined ? {} : { experiments: experimentsFile(experimentsPath) }),
      ...(flags.snapshot === undefined ? {} : { snapshotDir: resolve(flags.snapshot) }),
      ...(flags.stateDir === undefined ? {} : { stateDir: resolve(flags.stateDir) }),
      checkpointIntervalMs,
      reloadRetryMs,
      // The step /readyz names, and a state change like the others (with --json a line on stdout).
      onWaitingForNats: (url, why) => {
        starting.setStep(`waiting for NATS at ${url}: ${why}`);
        ctx.event(`waiting for NATS at ${url}: ${why}`, { waiting: 'nats', url, error: why, answering: starting.url, ...(starting.opsUrl === null ? {} : { ops_answering: starting.opsUrl }) });
      },
    });
    try {
      server = await startServer({ deps: wiring.deps, host: flags.host, port, drainMs, starting, handleSignals: true, tuneProcess: true, ...(ops === undefined ? {} : { ops }) });
    } catch (e) {
      await closeServeWiring(wiring);
      throw e;
    }
  } finally {
    await starting.close();
  }
  try {
    const state = server.app.ooMl.state();
    // A script that asked for --port 0 learns the port here.
    const opsNote = server.opsUrl === null ? '' : `; /stats, /metrics, /docs and /admin on ${server.opsUrl} only`;
    ctx.event(`oo-ml serve: listening on ${server.url} (${wiring.describe}${opsNote})`, {
      listening: true,
      url: server.url,
      ...(server.opsUrl === null ? {} : { ops_url: server.opsUrl }),
      ready: state.reasons.length === 0,
      reasons: state.reasons,
    });
    if (state.reasons.length > 0) ctx.note(`not ready: ${state.reasons.join('; ')}`);
    await server.closed;
  } finally {
    await server.close();
    await closeServeWiring(wiring);
  }
  if (ctx.json) ctx.event('', { stopped: true, url: server.url });
  else ctx.print(`stopped (${server.url})`, null);
}

/** The operator's port of `--ops-port`/`--ops-host`, or undefined without `--ops-port`. */
function opsAddress(flags: ServeFlags, port: number): OpsAddress | undefined {
  if (flags.opsPort === undefined) {
    if (flags.opsHost !== undefined) throw invalidUsage('--ops-host is where --ops-port listens: give --ops-port too');
    return undefined;
  }
  const opsPort = parseIntFlag('--ops-port', flags.opsPort, 0, 65_535);
  const host = flags.opsHost ?? flags.host;
  if (opsPort !== 0 && opsPort === port && host === flags.host) throw invalidUsage(`--ops-port ${opsPort} is --port too: the operator's port needs a port of its own`);
  return { host, port: opsPort };
}

/** With less than two cores, starts `serve` again with the flags that need (never returns then); if that fails, says so and returns. */
async function restartOnOneCore(ctx: CommandContext): Promise<void> {
  const restart = oneCoreNodeFlagsHere(ctx.config.nodeOptions);
  if (restart.length === 0) return;
  ctx.note(`oo-ml serve: this process has less than two cores: starting again with ${restart.join(' ')} (one V8 helper thread instead of four that take turns with the event loop on this core; set NODE_OPTIONS=--v8-pool-size=<n> to choose)`);
  const failure = await restartWith(restart, (pid) => ctx.note(`oo-ml serve: the server runs as pid ${pid}`));
  ctx.note(`oo-ml serve: could not start again (${failure.message}): serving in this process, V8 with its default helper threads`);
}

/** Registers `serve`. */
export function registerServe(program: Command): void {
  action<ServeFlags>(
    program
      .command('serve')
      .description('run the online scorer (/score /reward /generate /stats /metrics …) until SIGINT/SIGTERM/SIGHUP')
      .option('--host <host>', 'address to listen on', '127.0.0.1')
      .option('--port <port>', 'port to listen on (0 picks a free one)', '8080')
      .option('--experiments <file>', 'experiments config (JSON or YAML), read again at POST /admin/reload')
      .option('--snapshot <dir>', 'snapshot folder, or a folder with LATEST (default <home>/data/snapshots)')
      .option('--state-dir <dir>', "this replica's own folder: its spill, serve window and checkpoint (default <home>/data/serve; one per replica)")
      .option('--checkpoint-every <seconds>', 'how often online learning is checkpointed (0: only at reload, reset and shutdown)', '300')
      .option('--ops-port <port>', "the operator's port: /stats, /metrics, /docs and /admin/* answer there only, 404 on --port (/healthz and /readyz on both; 0 picks a free one)")
      .option('--ops-host <host>', "address the operator's port listens on (default --host)")
      .option('--drain-seconds <seconds>', 'on SIGTERM, SIGINT or SIGHUP, answer /readyz 503 but go on serving for this long before shutting down, so a load balancer takes the replica out first (a second signal: at once)', '0')
      .option('--retry-loads-after <seconds>', 'when the snapshot or a serving policy could not be loaded (the registry down, no champion yet), load again after this long, then twice as long each time up to 12 times it (0: only at POST /admin/reload or a restart)', '5'),
    (ctx, flags) => runServe(ctx, flags),
  );
}
