/**
 * The wiring of `oo-ml serve` (loaded only when the command runs): wires the embedded defaults into the server and runs it until SIGINT/SIGTERM —
 * the snapshot from <home>/data/snapshots (LATEST) or --snapshot, policies from the registry at
 * the tracking URI, events on the bus (NATS JetStream with NATS_URL, else the embedded journal
 * under <home>/data/bus, where `oo-ml ingest` finds them), and src/prompts' tip
 * writer configured by the environment (embedded template unless LLM_BASE_URL is set).
 */
import { randomInt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { invalidInput } from '../errors.js';
import { createEventBus } from '../events/event-bus.js';
import { parseExperimentsConfig, type ExperimentsConfig } from '../experiments/assignment.js';
import { loadSnapshot } from '../pipelines/snapshot-files.js';
import { createRng } from '../random/rng.js';
import { createStore } from '../registry/create-store.js';
import type { ServerDeps } from '../server/deps.js';
import { createBusEventSink } from '../server/bus-event-sink.js';
import { startServer } from '../server/main.js';
import { getPolicy } from '../policies/catalog.js';
import { createTipWriter, tipWriterSettingsFromEnv } from '../prompts/tip-writer.js';
import { loadXxhash32 } from '../random/hash32.js';
import { createRegistryPolicyProvider } from '../server/registry-policies.js';
import { createFileResetMarker, resetMarkerPath } from '../server/reset-marker.js';
import type { CommandContext } from './context.js';
import { parseIntFlag } from './flags.js';

async function readExperiments(path: string): Promise<ExperimentsConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw invalidInput(`cannot read --experiments ${path}: ${(e as Error).message}`);
  }
  let value: unknown;
  try {
    value = /\.ya?ml$/i.test(path) ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw invalidInput(`--experiments ${path} does not parse: ${(e as Error).message}`);
  }
  return parseExperimentsConfig(value, path);
}

/** Flags of `oo-ml serve`. */
export interface ServeFlags {
  host: string;
  port: string;
  experiments?: string;
  snapshot?: string;
}

/** Runs the server with the embedded defaults until SIGINT/SIGTERM. */
export async function runServe(ctx: CommandContext, flags: ServeFlags): Promise<void> {
  const port = parseIntFlag('--port', flags.port, 0, 65_535);
  // Read before anything starts, so a typo in DEFAULT_PROMPT_VERSION/TIP_PROMPT_VERSION/LLM_* fails here.
  const writerSettings = tipWriterSettingsFromEnv(process.env);
  const paths = ctx.config.paths;
  const experiments = flags.experiments === undefined ? undefined : await readExperiments(resolve(flags.experiments));
  const snapshotDir = flags.snapshot === undefined ? paths.snapshots : resolve(flags.snapshot);
  const bus = await createEventBus(ctx.config);
  const spillPath = join(paths.data, 'serve-unsent.ndjson');
  let busErrors = 0;
  const events = createBusEventSink(bus, {
    spillPath,
    onError: (e) => {
      // One line per outage, not per retry: the first failure and then every 1000th.
      if (busErrors++ % 1000 === 0) ctx.note(`event bus (${bus.kind}) refused a publish, retrying: ${(e as Error).message}`);
    },
  });
  const hash32 = await loadXxhash32();
  const seed = randomInt(2 ** 31);
  const deps: ServerDeps = {
    policies: createRegistryPolicyProvider({ store: createStore(ctx.config.trackingUri), catalog: getPolicy, ...(experiments === undefined ? {} : { experiments }) }),
    snapshot: { load: async () => (await loadSnapshot(snapshotDir)).index },
    events,
    tipWriter: createTipWriter(writerSettings, { hash32 }),
    now: ctx.now,
    rng: createRng(seed),
    hash32,
    ...(experiments === undefined ? {} : { experiments }),
    ...(process.env['OO_ML_ADMIN_TOKEN'] ? { adminToken: process.env['OO_ML_ADMIN_TOKEN'] } : {}),
    resetMarker: createFileResetMarker(resetMarkerPath(paths)),
    // Logs go to stderr so --json keeps stdout for the result.
    logger: { level: process.env['LOG_LEVEL'] ?? 'info', stream: process.stderr },
  };
  const server = await startServer({ deps, host: flags.host, port });
  try {
    const state = server.app.ooMl.state();
    ctx.note(`oo-ml serve: listening on ${server.url} (events on the ${bus.kind === 'nats' ? `NATS bus at ${ctx.config.natsUrl ?? ''}` : `embedded bus under ${join(paths.data, 'bus')}`}, rng seed ${seed}, tips by ${writerSettings.llm === null ? 'the embedded template' : `${writerSettings.llm.model} at ${writerSettings.llm.baseUrl}`})`);
    if (state.reasons.length > 0) ctx.note(`not ready: ${state.reasons.join('; ')}`);
    await server.closed;
  } finally {
    await server.close();
    await events.close();
    if (events.spilled > 0) ctx.note(`the event bus did not take ${events.spilled} events; they are in ${spillPath}`);
  }
  ctx.print(`stopped (${server.url})`, { stopped: true, url: server.url });
}
