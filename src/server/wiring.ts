/**
 * The composition root of `oo-ml serve` (loaded only when the command runs): wires the embedded
 * defaults into the server — the snapshot from <home>/data/snapshots
 * (LATEST) or --snapshot, policies from the registry at the tracking URI, events on the bus
 * (NATS JetStream with NATS_URL, else the embedded journal under <home>/data/bus, where
 * `oo-ml ingest` finds them), the replica's state (spill, serve window, checkpoint) in
 * <home>/data/serve or --state-dir, and src/prompts' tip writer configured by the environment
 * (embedded template unless LLM_BASE_URL is set).
 */
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { exists } from '../io/atomic.js';
import { createEventBus, type EventBus } from '../events/event-bus.js';
import { loadSnapshot } from '../pipelines/snapshot-files.js';
import { createRng } from '../random/rng.js';
import { openStore } from '../registry/create-store.js';
import type { Config } from '../config.js';
import type { ServerDeps } from './deps.js';
import { getPolicy } from '../policies/catalog.js';
import { createTipWriter } from '../prompts/tip-writer.js';
import { loadXxhash32 } from '../random/hash32.js';
import type { ExperimentsProvider } from './deps.js';
import { createRegistryPolicyProvider } from './registry-policies.js';
import { importLegacySpill } from './online-learning/legacy-spill.js';
import { redactUrl, redactUserInfo } from '../redact.js';
import { replicaStatePaths } from './online-learning/state-paths.js';

/** What the wiring needs from its caller: the configuration, a clock, and where to say what it did (the CLI's context is one). */
export interface WiringContext {
  config: Config;
  now: () => Date;
  /** A line of human progress. */
  note(line: string): void;
}

/** The server's dependencies as `oo-ml serve` wires them, and how to release them. */
export interface ServeWiring {
  deps: ServerDeps;
  bus: EventBus;
  /** One line: where events go, the state folder, the rng seed, which tip writer. */
  describe: string;
}

/** Options of `serveWiring`. */
export interface ServeWiringOptions {
  /** Read at start and at every reload (experiments-source.ts). */
  experiments?: ExperimentsProvider;
  snapshotDir?: string;
  /** The replica's own folder (default <home>/data/serve). */
  stateDir?: string;
  /** How often online learning is checkpointed (default the server's, 5 min). */
  checkpointIntervalMs?: number;
  /** The first retry's delay after a load that left something missing (default the server's, 5 s; 0: never). */
  reloadRetryMs?: number;
  /** Told at most every 30 s while NATS does not answer at start, with its redacted URL and why (default: a note). */
  onWaitingForNats?: (url: string, why: string) => void;
  /** The scorer's seed (default: random per process, reported in `describe`). */
  seed?: number;
  /** What the server logs (default: LOG_LEVEL or info, to stderr). */
  logger?: ServerDeps['logger'];
  /** The server's clock (default the command's). */
  now?: () => Date;
}

/**
 * Wires the embedded defaults (or what the environment configures): snapshot from the home,
 * policies from the registry, events on the bus, the prompts' tip writer, the replica's state
 * folder. Used by `oo-ml serve` and by the quickstart's in-process server, so both run the same
 * server.
 */
export async function serveWiring(ctx: WiringContext, options: ServeWiringOptions = {}): Promise<ServeWiring> {
  // Checked before anything starts, so a typo in DEFAULT_PROMPT_VERSION/TIP_PROMPT_VERSION/LLM_* fails here.
  const writerSettings = ctx.config.tipWriter();
  const logLevel = ctx.config.logLevel();
  const paths = ctx.config.paths;
  const snapshotDir = options.snapshotDir ?? paths.snapshots;
  const stateDir = options.stateDir ?? paths.serveState;
  const { experiments } = options;
  const hash32 = await loadXxhash32();
  const store = openStore(ctx.config);
  const legacy = replicaStatePaths(stateDir).legacy;
  for (const old of [join(paths.data, 'serve-journal', 'events.ndjson'), legacy.onlineState, legacy.resetMarker]) {
    if (await exists(old)) ctx.note(`${old} was written by an earlier oo-ml and is no longer read: online learning is rebuilt from the events stream`);
  }
  // Events an earlier version left unsent at shutdown become the head of this replica's spill.
  const imported = await importLegacySpill(join(paths.data, 'serve-unsent.ndjson'), stateDir);
  if (imported > 0) ctx.note(`${imported} events an earlier oo-ml left in ${join(paths.data, 'serve-unsent.ndjson')} moved to the spill under ${stateDir}; they are published first`);
  // A replica started while NATS is down waits for it (and then drains the spill it may have
  // been killed with) rather than exiting; a note at most every 30 s says so.
  let lastWaitNote = -Infinity;
  const bus = await createEventBus(ctx.config, {
    onWaitingForServer: (e) => {
      if (Date.now() - lastWaitNote < 30_000) return;
      lastWaitNote = Date.now();
      const url = redactUrl(ctx.config.natsUrl ?? '');
      const why = redactUserInfo(e instanceof Error ? e.message : String(e));
      if (options.onWaitingForNats !== undefined) options.onWaitingForNats(url, why);
      else ctx.note(`waiting for NATS at ${url}: ${why}`);
    },
  });
  const seed = options.seed ?? randomInt(2 ** 31);
  const deps: ServerDeps = {
    policies: createRegistryPolicyProvider({ store, catalog: getPolicy }),
    snapshot: { load: async () => (await loadSnapshot(snapshotDir)).index },
    bus,
    stateDir,
    tipWriter: createTipWriter(writerSettings, { hash32 }),
    now: options.now ?? ctx.now,
    rng: createRng(seed),
    hash32,
    ...(experiments === undefined ? {} : { experiments }),
    ...(ctx.config.adminToken === undefined ? {} : { adminToken: ctx.config.adminToken }),
    // Logs go to stderr so --json keeps stdout for the result.
    logger: options.logger ?? { level: logLevel, stream: process.stderr },
    limits: {
      ...(options.checkpointIntervalMs === undefined ? {} : { checkpointIntervalMs: options.checkpointIntervalMs }),
      ...(options.reloadRetryMs === undefined ? {} : { reloadRetryMs: options.reloadRetryMs }),
    },
  };
  const where = bus.kind === 'nats' ? `NATS bus at ${redactUrl(ctx.config.natsUrl ?? '')}` : `embedded bus under ${paths.bus}`;
  const writer = writerSettings.llm === null ? 'the embedded template' : `${writerSettings.llm.model} at ${redactUrl(writerSettings.llm.baseUrl)}`;
  return { deps, bus, describe: `events on the ${where}, state in ${stateDir}, rng seed ${seed}, tips by ${writer}` };
}

/** Closes the wiring's bus (after the server closed: its last checkpoint is written by then). */
export async function closeServeWiring(wiring: ServeWiring): Promise<void> {
  await wiring.bus.close();
}
