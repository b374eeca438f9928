/** The server children of bench:serve (bare Fastify, the scorer apps) and how the parent starts and questions them. */
import { fork, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';

import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Session } from 'node:inspector';
import { Worker } from 'node:worker_threads';
import Fastify from 'fastify';
import xxhash from 'xxhash-wasm';
import { ARM_COUNT, ARM_IDS } from '../../src/features/arms.js';
import { type Rng } from '../../src/random/rng.js';
import type { EventBus, PublishResult } from '../../src/events/event-bus.js';
import type { LoadedPolicy, ServerDeps } from '../../src/server/deps.js';

import { ownWrites, procCpuUs } from './proc-cpu.js';
import { breakdownOf, type Part } from './profile.js';
import { oneCoreNodeFlags } from '../../src/server/v8-settings.js';
import { AS_OF, HOST, NATS_APP, SHADOW, SERVER_CORES, SERVER_CPUS, pin } from './settings.js';
import { bodies, median } from './load.js';

// ---- child processes ---------------------------------------------------------------------------

export type ChildMessage =
  | { ready: Record<string, number>; memory: NodeJS.MemoryUsage; before: NodeJS.MemoryUsage; loadMs: number; loopUs?: number }
  | { memory: NodeJS.MemoryUsage }
  | { cpuUs: number; mainUs: number; writes: number; loop: LoopDelay; answerMaxMs: number | null }
  | { breakdown: Record<Part, number> };

/** The child's event-loop delay since the previous 'cpu' question (ms): what a request waits behind other work. */
export interface LoopDelay {
  p99: number;
  max: number;
}

/**
 * The slowest /score of this child since the last 'cpu' question, server side: arrival to the
 * answer ready to write, as the app records it for /stats (null in a child without a scorer). A
 * tail the clients see that is not here was outside the server: the network, the client, the host.
 */
let slowestAnswerMs: number | null = null;

/** Answers the parent's 'cpu' (CPU time used so far, µs, and the main thread's; write syscalls so far; loop delay since the last question) and 'memory' questions. */
export function answerParent(onExit: () => Promise<void>): void {
  if (process.env['BENCH_WATCHDOG']) startWatchdog();
  // With BENCH_TRACE_GC, each resume after a focus stop is marked on the collections' clock.
  if (process.env['BENCH_TRACE_GC']) process.on('SIGCONT', () => process.stderr.write(`[${process.pid}] resumed at ${Math.round(performance.now())} ms\n`));
  const session = new Session();
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  process.on('message', (m: string) => {
    if (m === 'cpu') {
      const c = process.cpuUsage();
      // The main thread alone (its thread id is the process id): the rest is libuv's pool (file
      // writes), V8's helpers (compiler, concurrent GC) and the inspector, outside the profile.
      const mainUs = procCpuUs(`/proc/self/task/${process.pid}/stat`);
      const loop = { p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 };
      delay.reset();
      const answerMaxMs = slowestAnswerMs;
      if (slowestAnswerMs !== null) slowestAnswerMs = 0;
      process.send!({ cpuUs: c.user + c.system, mainUs, writes: ownWrites(), loop, answerMaxMs } satisfies ChildMessage);
    }
    // Live memory: collected first, so garbage of the last round does not count.
    if (m === 'memory') {
      global.gc?.();
      process.send!({ memory: process.memoryUsage() } satisfies ChildMessage);
    }
    if (m === 'prof-start') {
      session.connect();
      session.post('Profiler.enable', () => session.post('Profiler.setSamplingInterval', { interval: 100 }, () => session.post('Profiler.start')));
    }
    if (m === 'prof-stop') {
      session.post('Profiler.stop', (err, result) => {
        session.disconnect();
        if (err !== null) throw err;
        // BENCH_SPLIT_PROF_DIR=dir keeps each split's profile (open in Chrome DevTools), one per load.
        const keep = process.env['BENCH_SPLIT_PROF_DIR'];
        if (keep) writeFileSync(join(keep, `split-${process.pid}-${Date.now()}.cpuprofile`), JSON.stringify(result.profile));
        process.send!({ breakdown: breakdownOf(result.profile as unknown as Parameters<typeof breakdownOf>[0]) } satisfies ChildMessage);
      });
    }
    if (m === 'exit') void onExit().then(() => process.exit(0));
  });
}

/**
 * BENCH_WATCHDOG=1 (or =<ms>, at least 10): a thread that notices when this process's event loop
 * has not turned for 250 ms (or that many) and prints what the main thread is doing meanwhile,
 * from /proc: its state (R running, S sleeping, D waiting on the disk), the syscall it is in, its
 * kernel stack. A server that stalls while sleeping in epoll is not what stalls. The stall a
 * SIGSTOP makes (focus in serve.ts) is not reported. Each report carries CLOCK_MONOTONIC, the
 * clock of `perf record -k mono`, so a stall can be found among a perf recording's samples.
 */
function startWatchdog(): void {
  const given = Number(process.env['BENCH_WATCHDOG']);
  const limitMs = given >= 10 ? given : 250;
  const beat = new Int32Array(new SharedArrayBuffer(4));
  const now = (): number => Date.now() % 2 ** 30;
  Atomics.store(beat, 0, now());
  setInterval(() => Atomics.store(beat, 0, now()), Math.min(10, limitMs / 4)).unref();
  const code = `
    const { workerData } = require('node:worker_threads');
    const { readFileSync } = require('node:fs');
    const beat = workerData.beat;
    const task = '/proc/' + workerData.pid + '/task/' + workerData.pid + '/';
    const read = (f) => { try { return readFileSync(task + f, 'utf8').trim(); } catch (e) { return '?'; } };
    let last = Date.now(), resumed = 0, reported = -1;
    setInterval(() => {
      // After a SIGSTOP this thread was stopped too, and the loop's beat is as old as the stop:
      // a stall is counted from the resume.
      const t = Date.now();
      if (t - last > 2 * workerData.checkMs + 150) resumed = t;
      last = t;
      const age = Math.min((t % 2 ** 30) - Atomics.load(beat, 0), t - resumed);
      // Once per stall: the first look at the main thread past the limit.
      if (age < workerData.limitMs || Atomics.load(beat, 0) === reported) return;
      reported = Atomics.load(beat, 0);
      const stat = read('stat');
      const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
      process.stderr.write('watchdog ' + workerData.pid + ' at ' + Math.round(t - workerData.origin) + ' ms (monotonic ' + (Number(process.hrtime.bigint()) / 1e9).toFixed(4) + ' s): loop stalled ' + age + ' ms, state ' + state + ', syscall ' + read('syscall').split(' ')[0] + ', wchan ' + read('wchan') + ', stack ' + read('stack').split('\\n').slice(0, 6).map((l) => l.replace(/^\\[<[0-9a-f]+>\\] /, '')).join(' < ') + '\\n');
    }, workerData.checkMs);
  `;
  new Worker(code, { eval: true, workerData: { beat, pid: process.pid, origin: performance.timeOrigin, limitMs, checkMs: Math.min(100, Math.max(5, limitMs / 4)) } }).unref();
}

/** A policy trained on `n` synthetic decisions, so its state is not the all-zero prior. */
export function trained(lib: ServerLib, name: 'linucb' | 'thompson', rng: Rng, n: number, version: string, params: Record<string, number> = {}): LoadedPolicy {
  const { getPolicy, toVector } = lib;
  const policy = getPolicy(name);
  const state = policy.init(ARM_COUNT, params);
  for (let i = 0; i < n; i++) {
    const x = toVector(policy.layout, {
      hourOfDay: rng.int(24),
      dayOfWeek: rng.int(7),
      openTasks: rng.int(12),
      overdueTasks: rng.int(4),
      hasProfile: rng.next() < 0.9,
      profile: { completion_rate: rng.next(), dismiss_rate: rng.next() * 0.5, mean_dwell_sec: rng.next() * 120, preferred_hour: rng.int(24), tip_volume: rng.int(40) },
    });
    const arm = rng.int(ARM_COUNT);
    policy.update(state, x, arm, rng.next() < 0.2 + 0.05 * arm ? 1 : 0);
  }
  return { policy, state, modelVersion: version, layout: policy.layout };
}

/** Calibration work: a fixed count of integer steps (no allocation, no memory traffic), so it costs the same CPU wherever it runs. */
export function spin(steps: number): number {
  let x = 1;
  for (let i = 0; i < steps; i++) x = (Math.imul(x, 1_103_515_245) + 12_345) | 0;
  return x;
}

/** How many `spin` steps take one µs on this core, warm (median of 21 samples of ~2 ms). */
export function spinStepsPerUs(): number {
  const samples: number[] = [];
  let sink = 0;
  for (let r = 0; r < 21; r++) {
    const t0 = performance.now();
    sink ^= spin(200_000);
    samples.push(200_000 / ((performance.now() - t0) * 1000));
  }
  if (sink === 0.5) process.stderr.write(''); // keeps the loop from being dropped as dead code
  return median(samples);
}

/** The added work, in µs of warm CPU, of the calibration routes `/bare-spin-<µs>`. */
export const SPIN_US = [5, 10] as const;

/** BENCH_CHECKPOINT_MS: how often the scorer apps checkpoint online learning (0: the server's default). */
const CHECKPOINT_MS = Number(process.env['BENCH_CHECKPOINT_MS'] ?? 0);
/** BENCH_SEGMENT_BYTES: the embedded bus's segment size (0: the default, 64 MiB); larger, fewer rotations in a run. */
const SEGMENT_BYTES = Number(process.env['BENCH_SEGMENT_BYTES'] ?? 0);
/** BENCH_HOT_SERVES: serves each scorer app's fold keeps in memory (0: the server's default). */
const HOT_SERVES = Number(process.env['BENCH_HOT_SERVES'] ?? 0);

/** What the bare routes answer. */
const BARE_ANSWER = { arm: 'split_task', propensity: 0.5, policy: 'bare' };

export async function bareChild(): Promise<void> {
  const app = Fastify({ logger: false });
  app.post('/bare', async () => BARE_ANSWER);
  app.get('/bare', async () => BARE_ANSWER);
  // The machine's price of added work: the bare POST route plus a fixed, cache-resident
  // computation of 5 or 10 µs. On 2 vCPUs shared with the load generator, a route slower than
  // the client makes it sleep and the server's writes wake it, so this price is not linear.
  const stepsPerUs = spinStepsPerUs();
  let sink = 0;
  for (const us of SPIN_US) {
    const steps = Math.round(us * stepsPerUs);
    app.post(`/bare-spin-${us}`, async () => {
      sink ^= spin(steps);
      return BARE_ANSWER;
    });
  }
  app.addHook('onClose', async () => {
    if (sink === 0.5) process.stderr.write('');
  });
  await app.listen({ host: HOST, port: 0 });
  const port = (app.server.address() as { port: number }).port;
  answerParent(() => app.close());
  global.gc?.();
  const memory = process.memoryUsage();
  process.send!({ ready: { bare: port }, memory, before: memory, loadMs: 0 } satisfies ChildMessage);
}

/**
 * The library as `oo-ml serve` runs it: the compiled dist/ (tsx's keepNames wraps every closure
 * the TS source creates per request, ~2 % of the scorer's CPU). BENCH_DIST=<folder> loads another
 * build instead (a copy of an earlier dist/): runs alternated between two builds compare them.
 */
export async function loadServerLib() {
  const root = process.env['BENCH_DIST'] ? pathToFileURL(`${resolve(process.env['BENCH_DIST'])}/`) : new URL('../../dist/', import.meta.url);
  const dist = (m: string): Promise<unknown> => import(new URL(`${m}.js`, root).href);
  return {
    ...((await dist('server/app')) as typeof import('../../src/server/app.js')),
    ...((await dist('policies/catalog')) as typeof import('../../src/policies/catalog.js')),
    ...((await dist('features/vectors')) as typeof import('../../src/features/vectors.js')),
    ...((await dist('pipelines/snapshot-files')) as typeof import('../../src/pipelines/snapshot-files.js')),
    ...((await dist('random/rng')) as typeof import('../../src/random/rng.js')),
    ...((await dist('events/event-bus')) as typeof import('../../src/events/event-bus.js')),
    ...((await dist('events/embedded-transport')) as typeof import('../../src/events/embedded-transport.js')),
    ...((await dist('events/nats-transport')) as typeof import('../../src/events/nats-transport.js')),
    ...((await dist('prompts/tip-writer')) as typeof import('../../src/prompts/tip-writer.js')),
    ...((await dist('server/schemas')) as typeof import('../../src/server/schemas.js')),
    ...((await dist('server/tick-shape')) as typeof import('../../src/server/tick-shape.js')),
    ...((await dist('server/v8-settings')) as typeof import('../../src/server/v8-settings.js')),
  };
}
export type ServerLib = Awaited<ReturnType<typeof loadServerLib>>;

/** A bus that answers every publish at once with the next sequence and stores nothing; its readers never see a message. The bench's ablation of the event path. */
export function countingBus(): EventBus {
  let seq = 0;
  const health = { connected: true, since: Date.now(), detail: null };
  const timers = new Set<NodeJS.Timeout>();
  return {
    kind: 'embedded',
    publish: (channel, event) => Promise.resolve({ subject: `${channel}.${event.type}` as PublishResult['subject'], duplicate: false, seq: ++seq }),
    claimWriter: () => Promise.resolve(),
    setupWarnings: () => [],
    consumer: () => Promise.reject(new Error('the counting bus has no consumers')),
    reader: async () => ({
      next: (_max, maxWaitMs) =>
        new Promise((resolve) => {
          const t = setTimeout(() => {
            timers.delete(t);
            resolve([]);
          }, maxWaitMs);
          timers.add(t);
        }),
      close: async () => undefined,
    }),
    extent: async () => ({ firstSeq: seq + 1, lastSeq: seq }),
    deadLetters: async () => ({ held: 0, letters: [] }),
    health: () => health,
    onHealth: () => () => undefined,
    close: async () => {
      for (const t of timers) clearTimeout(t);
    },
  };
}

/** The scorer apps of the bench, each run in a child process of its own. */
export type ScorerRole = 'champion' | 'shadow' | 'unstored' | 'loop';

/**
 * One scorer app in this process, as `oo-ml serve` runs one: Fastify instances built in one
 * process each have their own request and reply classes, so several of them make the request
 * path they share see several object shapes, and every app in the process slows down
 * (BENCHMARKS.md, the process effect).
 *
 * `name` names the app's bus and state folders (default: its role; `champion-b` for BENCH_DIST_B's
 * second build).
 */
export async function scorerChild(dir: string, role: ScorerRole, name: string = role): Promise<void> {
  const lib = await loadServerLib();
  // As `oo-ml serve`'s process shell does first (server/main.ts, tuneProcess).
  await lib.keepTickShape();
  lib.applyServeV8Settings();
  const { loadSnapshot, createRng, createEmbeddedTransport, createNatsTransport, createEventBusOver, createTipWriter, tipWriterSettingsFromEnv, buildApp } = lib;
  global.gc?.();
  const before = process.memoryUsage();
  const t0 = performance.now();
  const { index } = await loadSnapshot(join(dir, 'snapshots'));
  const loadMs = performance.now() - t0;
  const { h32 } = await xxhash();
  const rng = createRng(20260205);
  const champion = trained(lib, 'linucb', rng, 5000, '7');
  // The shadow is a candidate: by default a LinUCB retrained with a narrower α.
  const shadow = SHADOW === 'thompson' ? trained(lib, 'thompson', rng, 5000, '8') : trained(lib, 'linucb', rng, 8000, '8', { alpha: 0.5 });
  // Every app records its events durably, as `oo-ml serve` does (each on its own bus and state
  // folder); BENCH_NATS_URL puts the shadow app's on NATS (BENCH_NATS_APP=champion: the
  // champion's instead, and BENCH_DIST_B's champion's on BENCH_NATS_URL_B; one app per
  // nats-server, as two apps on one stream would each fold the other's serves).
  const natsApp = process.env['BENCH_NATS_URL'] ? (NATS_APP ?? 'shadow') : null;
  const natsUrlOf = (app: string): string | null => {
    const url = app === 'champion-b' ? process.env['BENCH_NATS_URL_B'] : process.env['BENCH_NATS_URL'];
    return url ? url : null;
  };
  const buses: EventBus[] = [];
  const busFor = async (name: string, natsUrl: string | null): Promise<EventBus> => {
    const transport = natsUrl !== null ? await createNatsTransport(natsUrl) : createEmbeddedTransport(join(dir, `bus-${name}`), SEGMENT_BYTES > 0 ? { segmentBytes: SEGMENT_BYTES } : {});
    const bus = createEventBusOver(transport);
    buses.push(bus);
    return bus;
  };
  const base = (policies: Record<string, LoadedPolicy>, shadows: string[], bus: EventBus, name: string, seed: number): ServerDeps => ({
    policies: { load: async () => ({ byName: new Map(Object.entries(policies)), champion: 'tip-policy@champion', shadows }) },
    snapshot: { load: async () => index },
    bus,
    stateDir: join(dir, `state-${name}`),
    tipWriter: createTipWriter(tipWriterSettingsFromEnv({}), { hash32: (s) => h32(s) }),
    // The snapshot's as-of plus 6 h: profiles are fresh, as in production right after an export.
    now: () => new Date(AS_OF.getTime() + 6 * 3_600_000),
    rng: createRng(seed),
    hash32: (s) => h32(s),
    // BENCH_CHECKPOINT_MS: online learning's checkpoint this often (default the server's, 5 min,
    // which a short run never reaches), to see what a checkpoint does to the latencies around it.
    // BENCH_HOT_SERVES: serves the fold keeps in memory (default the server's, 1 M, which only a
    // full run outgrows): smaller, a short run meets the window's evictions to disk.
    limits: { ...(CHECKPOINT_MS > 0 ? { checkpointIntervalMs: CHECKPOINT_MS } : {}), ...(HOT_SERVES > 0 ? { hotServes: HOT_SERVES } : {}) },
    // No logger given: the server's own default (pino at warn, a request's child made on first
    // use), as `oo-ml serve` runs; under this load nothing reaches that level.
  });
  let app: Awaited<ReturnType<typeof buildApp>>;
  let loopUs: number | undefined;
  if (role === 'unstored') {
    // Ablation: the champion over a bus that takes each event without checking, encoding or
    // storing it (and so nothing to fold). champion − unstored is what the event path costs in
    // place; unstored − constant is the decision.
    const counting = countingBus();
    buses.push(counting);
    app = await buildApp(base({ 'tip-policy@champion': champion }, [], counting, 'unstored', 4));
  } else if (role === 'shadow') {
    app = await buildApp(base({ 'tip-policy@champion': champion, 'tip-policy@shadow': shadow }, ['tip-policy@shadow'], await busFor('shadow', natsApp === 'shadow' ? natsUrlOf('shadow') : null), 'shadow', 2));
  } else if (role === 'loop') {
    // The same /score path outside HTTP (warm caches): a scorer, 200 decisions in flight at a
    // time as under load (each waits for its serve event's write, which 200 share). In a process
    // of its own: its decisions made every route of a process it shared dearer (BENCHMARKS.md,
    // the process effect).
    const loopApp = await buildApp(base({ 'tip-policy@champion': champion }, [], await busFor('loop', null), 'loop', 3));
    app = loopApp;
    const loopBodies = bodies(2000).map((b) => JSON.parse(b) as import('../../src/server/schemas.js').ScoreBody);
    const holder = { ooStatsKey: null as string | null };
    const decisions = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i += 200) await Promise.all(Array.from({ length: 200 }, (_, k) => loopApp.ooMl.scoreInto(loopBodies[(i + k) % loopBodies.length]!, holder)));
    };
    await decisions(50_000);
    const loopCpu = process.cpuUsage();
    await decisions(200_000);
    const loopUsed = process.cpuUsage(loopCpu);
    loopUs = (loopUsed.user + loopUsed.system) / 200_000;
  } else {
    // A second build's champion (BENCH_DIST_B) has folders of its own, and a nats-server of its own when on NATS.
    app = await buildApp(base({ 'tip-policy@champion': champion }, [], await busFor(name, natsApp === 'champion' ? natsUrlOf(name) : null), name, 1));
    // The champion app's framework cost without the scorer: the same body and response schemas,
    // hooks and plugins, answering a constant decision. bare POST → this → /score splits the gap
    // into Fastify validation + hooks and our scoring.
    const constant = { serve_id: '0123456789ab-1', arm: ARM_IDS[0]!, score: 0.5, propensity: 1, policy: 'tip-policy@champion', model_version: '7', experiment: null, variant: null, prompt_version: 'v1', fallbacks: [] };
    app.post('/constant', { schema: { body: lib.ScoreBody, response: { 200: lib.ScoreResponse } } }, async () => constant);
  }
  // Every /score latency the app records also updates this child's slowest answer (one compare).
  const serving = app.ooMl;
  const record = serving.latency.bind(serving);
  slowestAnswerMs = 0;
  serving.latency = (key, ms) => {
    if (ms > slowestAnswerMs!) slowestAnswerMs = ms;
    record(key, ms);
  };
  await app.listen({ host: HOST, port: 0 });
  const ports: Record<string, number> = { [role]: (app.server.address() as { port: number }).port };
  global.gc?.();
  answerParent(async () => {
    await app.close();
    for (const b of buses) await b.close();
  });
  process.send!({ ready: ports, memory: process.memoryUsage(), before, loadMs, ...(loopUs === undefined ? {} : { loopUs }) } satisfies ChildMessage);
}

/** A server child running this file with `args`; `env` adds to the environment it inherits (BENCH_DIST for a second build). */
export function start(args: string[], env: Record<string, string> = {}, flags: string[] = []): { proc: ChildProcess; next: () => Promise<ChildMessage> } {
  // BENCH_CPU_PROF_DIR=dir writes a V8 CPU profile of each server child there (open in Chrome DevTools);
  // BENCH_NODE_FLAGS gives every server child, bare ones included, the same extra Node/V8 flags; `flags` are this child's own.
  const prof = process.env['BENCH_CPU_PROF_DIR'];
  const common = (process.env['BENCH_NODE_FLAGS'] ?? '').split(' ').filter(Boolean);
  // A scorer app runs as `oo-ml serve` would on the servers' CPUs: on one core it restarts with
  // one V8 helper thread unless the flags given choose (server/serve-restart.ts). Bare Fastify
  // runs as plain `node`.
  const serveFlags = args[0] === '--scorer' ? oneCoreNodeFlags(SERVER_CORES, [...common, ...flags, ...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/)]) : [];
  const execArgv = [...process.execArgv, '--expose-gc', ...common, ...serveFlags, ...flags, ...(process.env['BENCH_TRACE_GC'] ? ['--trace-gc'] : []), ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [])];
  const proc = fork(fileURLToPath(import.meta.url), args, { execArgv, env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  if (SERVER_CPUS !== null) pin(proc.pid!, SERVER_CPUS);
  const queue: ChildMessage[] = [];
  const waiting: { resolve: (m: ChildMessage) => void; reject: (e: Error) => void }[] = [];
  proc.on('message', (m: ChildMessage) => (waiting.length > 0 ? waiting.shift()!.resolve(m) : queue.push(m)));
  proc.once('exit', (code, signal) => {
    // A child that dies mid-run (a crash, the kernel's SIGHUP to a stopped group whose shell is gone) says so.
    if (signal !== null || code !== 0) process.stderr.write(`bench child ${args.join(' ')} (pid ${proc.pid}) exited with ${signal ?? `code ${code}`}\n`);
    for (const w of waiting.splice(0)) w.reject(new Error(`bench child ${args[0]} exited with ${signal ?? code}`));
  });
  const next = () =>
    new Promise<ChildMessage>((resolve, reject) => {
      if (queue.length > 0) return resolve(queue.shift()!);
      if (proc.exitCode !== null) return reject(new Error(`bench child ${args[0]} exited with ${proc.exitCode}`));
      waiting.push({ resolve, reject });
    });
  return { proc, next };
}

// A child started by `start` runs this file with its role.
if (process.argv[2] === '--bare') await bareChild();
if (process.argv[2] === '--scorer') await scorerChild(process.argv[3]!, process.argv[4] as ScorerRole, process.argv[5]);
