/**
 * The steps of `oo-ml quickstart`, each one library call, in order. Loaded only when the
 * quickstart runs (it pulls in every pipeline).
 */
import { lstat, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { buildFeatures } from './feature-build.js';
import { exportSnapshot } from './snapshot-files.js';
import { DEFAULT_SYNTH_START, synthesize } from './synth.js';
import { buildTrainingSet } from './training-set.js';
import { runSimulation } from './simulation.js';
import { DEFAULT_MODEL, trainPolicy } from './train.js';
import { promotionContext } from '../experiments/evidence.js';
import { GATE_RULES } from '../experiments/gate.js';
import { promoteVersion } from '../experiments/promotion.js';
import { openStore } from '../registry/create-store.js';
import { conflict, internal, invalidUsage } from '../errors.js';
import { startServer } from '../server/main.js';
import { closeServeWiring, serveWiring, type WiringContext } from '../server/wiring.js';
import { tipWriterSettingsFromEnv } from '../prompts/tip-writer.js';

/** One finished step: its name, where its output went, a one-line summary, and its figures for --json. */
export interface StepResult {
  step: string;
  output: string;
  summary: string;
  /** What the step produced, as data (what its own command prints with --json, or its headline figures). */
  result: unknown;
  /** Further lines to show (the serve step's requests and responses). */
  details?: string[];
}

/** One request of the quickstart's in-process server and its answer. */
export interface Exchange {
  method: 'POST';
  path: string;
  body: unknown;
  status: number;
  answer: Record<string, unknown>;
}

/** The requests the quickstart sends its in-process server: varied users and contexts. */
const SCORE_BODIES = [
  { user_id: 'u0000001', context: { hour_of_day: 8, day_of_week: 0, tasks: [{ id: 't1', title: 'Write the weekly plan' }, { id: 't2' }] } },
  { user_id: 'u0000002', context: { hour_of_day: 21, day_of_week: 4 } },
  { user_id: 'someone-new', context: { hour_of_day: 13, day_of_week: 2, tasks: [{ id: 't3', due: '2026-01-01T00:00:00Z' }] } },
] as const;

/**
 * Starts the server in-process (same wiring as `oo-ml serve`, on a free 127.0.0.1 port), scores
 * SCORE_BODIES, rewards the first serve, writes one tip, and stops it; returns the exchanges.
 */
async function serveInProcess(ctx: WiringContext, snapshotAsOf: string): Promise<Omit<StepResult, 'step'>> {
  // The synthetic log lies in the past, so at today's date every profile would be past its TTL
  // and fall back; the quickstart's server runs at the snapshot's as-of + 1 h instead.
  const clock = new Date(Date.parse(snapshotAsOf) + 3_600_000);
  const wiring = await serveWiring(ctx, { seed: 42, logger: false, now: () => clock });
  const details: string[] = [];
  const exchanges: Exchange[] = [];
  let url = '';
  try {
    const server = await startServer({ deps: wiring.deps, host: '127.0.0.1', port: 0 });
    url = server.url;
    try {
      const call = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
        const res = await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        const answer = (await res.json()) as Record<string, unknown>;
        details.push(`POST ${path} ${JSON.stringify(body)}`, `  → ${res.status} ${JSON.stringify(answer)}`);
        exchanges.push({ method: 'POST', path, body, status: res.status, answer });
        if (!res.ok) throw internal(`the quickstart's server answered ${res.status} to POST ${path}: ${JSON.stringify(answer)}`);
        return answer;
      };
      const serves = [];
      for (const body of SCORE_BODIES) serves.push(await call('/score', body));
      await call('/reward', { serve_id: serves[0]!['serve_id'], reaction: 'completed', dwell_ms: 4000 });
      await call('/generate', { user_id: SCORE_BODIES[0].user_id, context: SCORE_BODIES[0].context });
    } finally {
      await server.close();
    }
  } finally {
    await closeServeWiring(wiring);
  }
  return {
    output: ctx.config.paths.bus,
    summary: `${url}: ${SCORE_BODIES.length} scores, 1 reward, 1 generated tip, clock at ${clock.toISOString()} (snapshot as-of + 1 h); events on the embedded bus`,
    result: { url, clock: clock.toISOString(), exchanges },
    details,
  };
}

/** The file that marks a folder as a quickstart's own. */
export const QUICKSTART_MARKER = '.oo-ml-quickstart';
/** What a quickstart writes at the top of its home (anything else there is the user's). */
const QUICKSTART_ENTRIES = new Set([QUICKSTART_MARKER, 'data', 'mlruns', 'model-cards', '.oo-ml']);

/** The top-level entries of `dir`, or null when it does not exist; a file there is refused. */
async function entriesOf(dir: string, what: string): Promise<string[] | null> {
  const info = await lstat(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return null;
    throw e;
  });
  if (info === null) return null;
  if (!info.isDirectory()) throw conflict(`${what} ${dir} is not a folder`, { hint: 'pass --home with a new or empty folder' });
  return readdir(dir);
}

/** Whether `entries` are a quickstart's own: the marker, and nothing but what a quickstart writes. */
const isQuickstartHome = (entries: readonly string[]): boolean => entries.includes(QUICKSTART_MARKER) && entries.every((e) => QUICKSTART_ENTRIES.has(e));

/**
 * Makes `home` a fresh quickstart home, so every run starts from nothing and running it again
 * works (an earlier run's champion would make the gate refuse the identical new version).
 * - missing or empty: used, and marked as the quickstart's (QUICKSTART_MARKER);
 * - an earlier quickstart's (the marker, and only what a quickstart writes): moved to
 *   `<home>.previous`, which replaces an earlier `.previous` only if that is a quickstart's too;
 * - anything else — user files, a file, the working folder or one of its parents — is refused
 *   and left untouched.
 * Returns the folder the earlier run was moved to, if any. The file store only: with a remote
 * MLFLOW_TRACKING_URI the registry (and its champion) lives elsewhere.
 */
export async function prepareQuickstartHome(home: string, cwd: string = process.cwd()): Promise<string | null> {
  const root = resolve(home);
  const here = resolve(cwd);
  if (here === root || here.startsWith(root + sep)) {
    throw invalidUsage(`the quickstart home ${root} is the working folder or holds it`, { hint: 'pass --home with a new folder, e.g. --home oo-ml-quickstart' });
  }
  const entries = await entriesOf(root, 'the quickstart home');
  let moved: string | null = null;
  if (entries !== null && entries.length > 0) {
    if (!isQuickstartHome(entries)) {
      // What is there is someone's: a conflict with it (exit 1), as synth's --out refuses one.
      throw conflict(`${root} is not empty and was not made by oo-ml quickstart (or holds files of yours)`, { hint: 'pass --home with a new or empty folder' });
    }
    moved = `${root}.previous`;
    const older = await entriesOf(moved, 'the previous quickstart');
    if (older !== null && !isQuickstartHome(older)) {
      throw conflict(`${moved} is in the way and is not an earlier quickstart`, { hint: 'move it, or pass --home with another folder' });
    }
    // The older run is set aside first and deleted only once the newer one took its place.
    const aside = older === null ? null : `${moved}.removing-${process.pid}`;
    if (aside !== null) await rename(moved, aside);
    try {
      await rename(root, moved);
    } catch (e) {
      if (aside !== null) await rename(aside, moved);
      throw e;
    }
    if (aside !== null) await rm(aside, { recursive: true, force: true });
  }
  await mkdir(root, { recursive: true });
  await writeFile(join(root, QUICKSTART_MARKER), 'made by oo-ml quickstart; the next quickstart here moves this folder to .previous\n');
  return moved;
}

/** The variables whose services the quickstart leaves alone (it runs on embedded defaults). */
export const QUICKSTART_IGNORES = ['MLFLOW_TRACKING_URI', 'NATS_URL', 'LLM_BASE_URL', 'DEFAULT_PROMPT_VERSION', 'TIP_PROMPT_VERSION', 'OO_ML_ADMIN_TOKEN'] as const;

/**
 * `ctx` on the embedded defaults, whatever the environment says: the registry in the home's
 * mlruns/ (a team's MLflow server would get a synthetic version, and its aliases moved), the
 * home's bus, the template writer with the built-in prompts, no admin token.
 */
export function embeddedDefaults(ctx: WiringContext): WiringContext {
  return {
    ...ctx,
    config: {
      ...ctx.config,
      trackingUri: `file://${ctx.config.paths.mlruns}`,
      natsUrl: undefined,
      tipWriter: () => tipWriterSettingsFromEnv({}),
      adminToken: undefined,
    },
  };
}

/** The quickstart's steps, in order, on the embedded defaults (`embeddedDefaults`); each returns where it wrote and what it did. */
export function quickstartSteps(outer: WiringContext): [string, () => Promise<Omit<StepResult, 'step'>>][] {
  const ctx = embeddedDefaults(outer);
  const p = ctx.config.paths;
  const store = openStore(ctx.config);
  let version = 0;
  let snapshotAsOf = '';
  const promote = async (to: 'shadow' | 'champion') => {
    const r = await promoteVersion(
      promotionContext(store, p, DEFAULT_MODEL, version, ctx.now),
      // The gate as `oo-ml promote` runs it: the quickstart's is a first champion, whose shadow exposure the gate waives.
      { model: DEFAULT_MODEL, version, to, reason: 'quickstart' },
    );
    const checks = r.decision.checks.map((c) => `${c.passed ? '✓' : '✗'} ${c.name}${c.id === 'shadow-exposure' && c.detail.startsWith('waived') ? ` (waived for a first champion; later ones need ${GATE_RULES.minShadowServes} shadow serves over ${GATE_RULES.minShadowHours} h)` : ''}`);
    return { output: r.card, summary: `${DEFAULT_MODEL} v${version} → @${to}: ${checks.join(', ')}`, result: { model: DEFAULT_MODEL, version, to, aliases: r.aliases, decision: r.decision } };
  };
  return [
    [
      'data synth',
      async () => {
        const s = await synthesize({ users: 300, days: 28, seed: 42, start: DEFAULT_SYNTH_START, eventsDir: p.events, tmpDir: p.tmp });
        const total = Object.values(s.counts).reduce((a, b) => a + b, 0);
        return { output: s.dir, summary: `${s.users} users × 28 days → ${total} events in ${s.files} Parquet files`, result: s };
      },
    ],
    [
      'features build',
      async () => {
        const s = await buildFeatures({ eventsDir: p.events, warehouse: p.warehouse, featuresDir: p.features, tmpDir: p.tmp, now: ctx.now() });
        return { output: s.warehouse, summary: `profiles of ${s.users} users as of ${s.asOf}, ${s.historyRows} daily history rows`, result: s };
      },
    ],
    [
      'features training-set',
      async () => {
        const s = await buildTrainingSet({ eventsDir: p.events, warehouse: p.warehouse, out: p.trainingSet, tmpDir: p.tmp });
        return { output: s.out, summary: `${s.rows} logged serves, reward rate ${(s.positives / s.rows).toFixed(3)}`, result: s };
      },
    ],
    [
      'features export',
      async () => {
        const s = await exportSnapshot({ warehouse: p.warehouse, outDir: p.snapshots, tmpDir: p.tmp, now: ctx.now() });
        snapshotAsOf = s.asOf;
        return { output: s.dir, summary: `snapshot ${s.snapshotId}: ${s.rows} users, ${s.bytes} bytes (Arrow IPC)`, result: s };
      },
    ],
    [
      'train --policy linucb',
      async () => {
        const t = await trainPolicy({ trainingSet: p.trainingSet, policy: 'linucb', model: DEFAULT_MODEL, store, cardsDir: p.modelCards, snapshotsDir: p.snapshots, tmpDir: p.tmp, now: ctx.now });
        version = t.version;
        const dr = t.evaluation.metrics['dr']!;
        return {
          output: p.mlruns,
          summary: `${DEFAULT_MODEL} v${t.version} @candidate, DR ${dr.value.toFixed(3)} [${dr.ci95[0].toFixed(3)}, ${dr.ci95[1].toFixed(3)}] vs logging ${t.evaluation.loggingValue.value.toFixed(3)}`,
          result: { model: DEFAULT_MODEL, version: t.version, metrics: t.evaluation.metrics, loggingValue: t.evaluation.loggingValue },
        };
      },
    ],
    [
      'sim',
      async () => {
        const s = await runSimulation({
          options: { users: 100, rounds: 24 * 7, seed: 7 },
          reps: 3,
          policies: ['egreedy-v1', 'linucb', `${DEFAULT_MODEL}@candidate`],
          workers: 2,
          store,
          now: ctx.now,
        });
        const line = s.results.policies.map((x) => `${x.name} ${x.meanReward.mean.toFixed(3)}`).join(', ');
        // The chart a person opens first: the cumulative reward with its bands.
        return {
          output: s.charts[0] ?? p.mlruns,
          summary: `mean reward per decision: ${line} (run ${s.runId})`,
          result: { runId: s.runId, charts: s.charts, policies: s.results.policies.map((x) => ({ name: x.name, meanReward: x.meanReward })) },
        };
      },
    ],
    ['promote --to shadow', () => promote('shadow')],
    ['promote --to champion', () => promote('champion')],
    ['serve (in-process)', () => serveInProcess(ctx, snapshotAsOf)],
  ];
}

