/**
 * `tsx bench/serve.ts` — throughput and latency of `oo-ml serve`'s /score under wrk, the load
 * generator pinned to one core and every server to the other (issue #15's method).
 *
 * Two child processes listen on 127.0.0.1 (so the load generator in this process does not share
 * an event loop with a server):
 *   - `bare`: a Fastify app with `POST /bare` (the same request bodies, parsed, no schema) and
 *     `GET /bare`, both answering a constant JSON document — the framework's ceiling;
 *   - `scorer`: one real snapshot of BENCH_USERS users (default 1 million, written as Arrow and
 *     loaded through `loadSnapshot`) shared by two apps: the champion alone (events discarded),
 *     and champion + one shadow with every serve event published on the embedded event bus
 *     (what `oo-ml serve` does without NATS_URL; BENCH_NATS_URL=nats://… publishes to JetStream).
 * Policies are the real catalog's: a LinUCB champion and a LinUCB candidate (α = 0.5) as the
 * shadow (BENCH_SHADOW=thompson uses linear Thompson sampling instead), trained on synthetic data. Bodies are varied and realistic: known and unknown users, hour/day
 * or `ts` or nothing, 0–15 tasks with due dates, an `arms` subset on 20 %, `profile_features`
 * on 5 %.
 *
 * Each target gets BENCH_DURATION seconds in total, split into interleaved rounds (so the
 * machine's other load hits every target alike), and the server child's CPU time per request
 * is reported beside throughput: on a shared machine it is the steadier measure of the code.
 *
 * Env: BENCH_SERVER_CPUS and BENCH_CLIENT_CPUS (default 1 and 0: pin servers and wrk to separate cores with
 * taskset, e.g. 0 and 1-3 on a 4-core machine: the ratio targets assume the client does not
 * share the server's cores), BENCH_CPU_PROF_DIR (CPU profiles of the server children), BENCH_ONLY (comma list of bare-post, bare-get, bare-spin-5, bare-spin-10, constant, champion, shadow: run just those, print one line each, no report), BENCH_DURATION (s per target, default 30; 5 for a quick run), BENCH_ROUNDS (default 3,
 * 1 below 15 s), BENCH_CONNECTIONS (default 50), BENCH_USERS (default 1 000 000). Writes
 * bench/results/serve.md.
 * Targets: champion ≥ 80 % of bare with p99 ≤ 5 ms; champion + shadow + events ≥ 65 %, p99 ≤ 5 ms;
 * zero errors and non-2xx.
 */
import { execFile, execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, platform, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Session } from 'node:inspector';
import Fastify from 'fastify';
import xxhash from 'xxhash-wasm';
import { ARM_COUNT, ARM_IDS } from '../src/features/arms.js';
import { createRng, type Rng } from '../src/random/rng.js';
import type { EventBus } from '../src/events/event-bus.js';
import type { LoadedPolicy, ServerDeps } from '../src/server/deps.js';
import { writeSyntheticSnapshot } from '../fixtures/synthetic-snapshot.js';

const DURATION = Number(process.env['BENCH_DURATION'] ?? 30);
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 50);
const USERS = Number(process.env['BENCH_USERS'] ?? 1_000_000);
const SHADOW = process.env['BENCH_SHADOW'] === 'thompson' ? 'thompson' : 'linucb';
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? (DURATION >= 15 ? 3 : 1));
const WARMUP = Math.min(5, Math.max(2, Math.round(DURATION / 5)));
/** Seconds of the extra, profiled load per target that splits its CPU into parts. */
const PROFILE_S = Math.min(10, Math.max(3, Math.round(DURATION / 3)));
const AS_OF = new Date('2026-02-05T00:00:00Z');
const HOST = '127.0.0.1';
const mib = (b: number): number => Math.round(b / 1024 / 1024);

// ---- child processes ---------------------------------------------------------------------------

type ChildMessage =
  | { ready: Record<string, number>; memory: NodeJS.MemoryUsage; before: NodeJS.MemoryUsage; loadMs: number; loopUs?: number }
  | { memory: NodeJS.MemoryUsage }
  | { cpuUs: number; loop: LoopDelay }
  | { breakdown: Record<Part, number> };

/** Where a server's CPU goes, from a sampling profile of one load (see `partOf`). */
const PARTS = ['HTTP + framework', 'validation', 'decision', 'event publish + journal', 'learning fold', 'stats + metrics', 'garbage collection', 'other'] as const;
type Part = (typeof PARTS)[number];

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

/**
 * The part a frame's own time belongs to, by its module (and, for compiled validators, by name);
 * null for a native or runtime frame, whose time goes to the nearest caller that has a part.
 */
function partOf(fn: string, url: string): Part | null {
  if (fn === '(garbage collector)') return 'garbage collection';
  if (/typebox|ajv|\/validation\.js|\/schemas\.js|iso-time/.test(url) || (url === '' && /^(check_\d|validate\d|anonymous\d|Is(Date|Time|DateTime)$)/.test(fn))) return 'validation';
  if (/\/server\/(decision|serving\/score|serving-state)\.js|\/policies\/|\/features\/|\/experiments\/|\/prompts\/|\/random\//.test(url)) return 'decision';
  if (/\/events\/(event-bus|embedded-transport|journal|dedupe-window|nats-transport)\.js|@nats-io|online-learning\/publisher\.js|serving\/context\.js/.test(url)) return 'event publish + journal';
  if (/online-learning\/|event-decoder/.test(url)) return 'learning fold';
  if (/prom-client|\/server\/(serve-stats|metrics)\.js/.test(url)) return 'stats + metrics';
  if (/fastify|find-my-way|avvio|secure-json-parse|fast-json-stringify|node:_http|node:net|node:internal\/(streams|stream_base|http)|node:events|\/server\/(app|routes)/.test(url)) return 'HTTP + framework';
  return null;
}

/** Shares of CPU time (idle left out) per part in a V8 CPU profile. */
function breakdownOf(profile: { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }): Record<Part, number> {
  const parent = new Map<number, number>();
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const partCache = new Map<number, Part>();
  const resolve = (id: number): Part => {
    const cached = partCache.get(id);
    if (cached !== undefined) return cached;
    const f = byId.get(id)!.callFrame;
    const up = parent.get(id);
    const part = partOf(f.functionName, f.url) ?? (up === undefined ? 'other' : resolve(up));
    partCache.set(id, part);
    return part;
  };
  const totals = Object.fromEntries(PARTS.map((p) => [p, 0])) as Record<Part, number>;
  let all = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    if (byId.get(id)!.callFrame.functionName === '(idle)') continue;
    const dt = profile.timeDeltas[i] ?? 0;
    totals[resolve(id)] += dt;
    all += dt;
  }
  for (const p of PARTS) totals[p] = all === 0 ? 0 : totals[p] / all;
  return totals;
}

/** The child's event-loop delay since the previous 'cpu' question (ms): what a request waits behind other work. */
interface LoopDelay {
  p99: number;
  max: number;
}

/** Answers the parent's 'cpu' (CPU time used so far, µs; loop delay since the last question) and 'memory' questions. */
function answerParent(onExit: () => Promise<void>): void {
  const session = new Session();
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  process.on('message', (m: string) => {
    if (m === 'cpu') {
      const c = process.cpuUsage();
      const loop = { p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 };
      delay.reset();
      process.send!({ cpuUs: c.user + c.system, loop } satisfies ChildMessage);
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
        process.send!({ breakdown: breakdownOf(result.profile as unknown as Parameters<typeof breakdownOf>[0]) } satisfies ChildMessage);
      });
    }
    if (m === 'exit') void onExit().then(() => process.exit(0));
  });
}

/** A policy trained on `n` synthetic decisions, so its state is not the all-zero prior. */
function trained(lib: ServerLib, name: 'linucb' | 'thompson', rng: Rng, n: number, version: string, params: Record<string, number> = {}): LoadedPolicy {
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
function spin(steps: number): number {
  let x = 1;
  for (let i = 0; i < steps; i++) x = (Math.imul(x, 1_103_515_245) + 12_345) | 0;
  return x;
}

/** How many `spin` steps take one µs on this core, warm (median of 21 samples of ~2 ms). */
function spinStepsPerUs(): number {
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
const SPIN_US = [5, 10] as const;

async function bareChild(): Promise<void> {
  const app = Fastify({ logger: false });
  const constant = { arm: 'split_task', propensity: 0.5, policy: 'bare' };
  app.post('/bare', async () => constant);
  app.get('/bare', async () => constant);
  // The machine's price of added work: the bare POST route plus a fixed, cache-resident
  // computation of 5 or 10 µs. On 2 vCPUs shared with the load generator, a route slower than
  // the client makes it sleep and the server's writes wake it, so this price is not linear.
  const stepsPerUs = spinStepsPerUs();
  let sink = 0;
  for (const us of SPIN_US) {
    const steps = Math.round(us * stepsPerUs);
    app.post(`/bare-spin-${us}`, async () => {
      sink ^= spin(steps);
      return constant;
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

/** The library as `oo-ml serve` runs it: the compiled dist/ (tsx's keepNames wraps every closure the TS source creates per request, ~2 % of the scorer's CPU). */
async function loadServerLib() {
  const dist = (m: string): Promise<unknown> => import(new URL(`../dist/${m}.js`, import.meta.url).href);
  return {
    ...((await dist('server/app')) as typeof import('../src/server/app.js')),
    ...((await dist('policies/catalog')) as typeof import('../src/policies/catalog.js')),
    ...((await dist('features/vectors')) as typeof import('../src/features/vectors.js')),
    ...((await dist('pipelines/snapshot-files')) as typeof import('../src/pipelines/snapshot-files.js')),
    ...((await dist('random/rng')) as typeof import('../src/random/rng.js')),
    ...((await dist('events/event-bus')) as typeof import('../src/events/event-bus.js')),
    ...((await dist('events/embedded-transport')) as typeof import('../src/events/embedded-transport.js')),
    ...((await dist('events/nats-transport')) as typeof import('../src/events/nats-transport.js')),
    ...((await dist('prompts/tip-writer')) as typeof import('../src/prompts/tip-writer.js')),
    ...((await dist('server/schemas')) as typeof import('../src/server/schemas.js')),
  };
}
type ServerLib = Awaited<ReturnType<typeof loadServerLib>>;

async function scorerChild(dir: string): Promise<void> {
  const lib = await loadServerLib();
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
  // folder); BENCH_NATS_URL puts the shadow app's on NATS.
  const natsUrl = process.env['BENCH_NATS_URL'];
  const buses: EventBus[] = [];
  const busFor = async (name: string, nats: boolean): Promise<EventBus> => {
    const transport = nats ? await createNatsTransport(natsUrl!) : createEmbeddedTransport(join(dir, `bus-${name}`));
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
    logger: false,
  });
  const apps = {
    champion: await buildApp(base({ 'tip-policy@champion': champion }, [], await busFor('champion', false), 'champion', 1)),
    shadow: await buildApp(
      base(
        { 'tip-policy@champion': { ...champion, state: champion.policy.cloneState(champion.state) }, 'tip-policy@shadow': shadow },
        ['tip-policy@shadow'],
        await busFor('shadow', natsUrl !== undefined && natsUrl !== ''),
        'shadow',
        2,
      ),
    ),
  };
  // The champion app's framework cost without the scorer: the same body and response schemas,
  // hooks and plugins, answering a constant decision. bare POST → this → /score splits the gap
  // into Fastify validation + hooks and our scoring.
  const constant = { serve_id: '0123456789ab-1', arm: ARM_IDS[0]!, score: 0.5, propensity: 1, policy: 'tip-policy@champion', model_version: '7', experiment: null, variant: null, prompt_version: 'v1', fallbacks: [] };
  apps.champion.post('/constant', { schema: { body: lib.ScoreBody, response: { 200: lib.ScoreResponse } } }, async () => constant);
  // The same /score path outside HTTP (warm caches): a third app's scorer, 200 decisions in
  // flight at a time as under load (each waits for its serve event's write, which 200 share).
  const loopApp = await buildApp(base({ 'tip-policy@champion': { ...champion, state: champion.policy.cloneState(champion.state) } }, [], await busFor('loop', false), 'loop', 3));
  const loopBodies = bodies(2000).map((b) => JSON.parse(b) as import('../src/server/schemas.js').ScoreBody);
  const holder = { ooStatsKey: null as string | null };
  const decisions = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i += 200) await Promise.all(Array.from({ length: 200 }, (_, k) => loopApp.ooMl.scoreInto(loopBodies[(i + k) % loopBodies.length]!, holder)));
  };
  await decisions(50_000);
  const loopCpu = process.cpuUsage();
  await decisions(200_000);
  const loopUsed = process.cpuUsage(loopCpu);
  const loopUs = (loopUsed.user + loopUsed.system) / 200_000;
  await loopApp.close();
  const ports: Record<string, number> = {};
  for (const [name, app] of Object.entries(apps)) {
    await app.listen({ host: HOST, port: 0 });
    ports[name] = (app.server.address() as { port: number }).port;
  }
  global.gc?.();
  answerParent(async () => {
    await Promise.all(Object.values(apps).map((a) => a.close()));
    for (const b of buses) await b.close();
  });
  process.send!({ ready: ports, memory: process.memoryUsage(), before, loadMs, loopUs } satisfies ChildMessage);
}

/**
 * BENCH_SERVER_CPUS / BENCH_CLIENT_CPUS (taskset lists, e.g. `0` and `1-3`): pin the server
 * children and wrk to separate cores, all threads included — what the
 * ratio targets need on a machine with more than 2 cores, so the client's work and wake-ups are
 * not billed to the server. Unset: no pinning.
 */
// wrk on one core, every server on the other (issue #15): each server has a whole core, and the
// client (wrk, in C, drives well over 25,000 req/s from one core) is never what limits it.
const SERVER_CPUS = cpuList('BENCH_SERVER_CPUS') ?? (cpus().length >= 2 ? '1' : null);
const CLIENT_CPUS = cpuList('BENCH_CLIENT_CPUS') ?? (cpus().length >= 2 ? '0' : null);

function cpuList(name: string): string | null {
  const v = process.env[name];
  if (v === undefined || v === '') return null;
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(v)) throw new Error(`${name}="${v}" is not a CPU list like 0 or 1-3 or 0,2`);
  return v;
}

/** Pins every thread of `pid` to `cpus` (taskset from util-linux). */
function pin(pid: number, cpus: string): void {
  try {
    execFileSync('taskset', ['-a', '-cp', cpus, String(pid)], { stdio: 'ignore' });
  } catch (e) {
    throw new Error(`taskset -a -cp ${cpus} ${pid} failed (is util-linux installed, and are CPUs ${cpus} online?): ${(e as Error).message}`);
  }
}

function start(args: string[]): { proc: ChildProcess; next: () => Promise<ChildMessage> } {
  // BENCH_CPU_PROF_DIR=dir writes a V8 CPU profile of each server child there (open in Chrome DevTools).
  const prof = process.env['BENCH_CPU_PROF_DIR'];
  const execArgv = [...process.execArgv, '--expose-gc', ...(process.env['BENCH_TRACE_GC'] ? ['--trace-gc'] : []), ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [])];
  const proc = fork(fileURLToPath(import.meta.url), args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  if (SERVER_CPUS !== null) pin(proc.pid!, SERVER_CPUS);
  const queue: ChildMessage[] = [];
  const waiting: { resolve: (m: ChildMessage) => void; reject: (e: Error) => void }[] = [];
  proc.on('message', (m: ChildMessage) => (waiting.length > 0 ? waiting.shift()!.resolve(m) : queue.push(m)));
  proc.once('exit', (code) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`bench child ${args[0]} exited with ${code}`));
  });
  const next = () =>
    new Promise<ChildMessage>((resolve, reject) => {
      if (queue.length > 0) return resolve(queue.shift()!);
      if (proc.exitCode !== null) return reject(new Error(`bench child ${args[0]} exited with ${proc.exitCode}`));
      waiting.push({ resolve, reject });
    });
  return { proc, next };
}

// ---- load ------------------------------------------------------------------------------------

/** Varied, valid /score bodies (seeded). */
function bodies(n: number): string[] {
  const rng = createRng(99);
  const now = AS_OF.getTime() + 6 * 3_600_000;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const user = rng.next() < 0.05 ? `new-user-${i}` : `u${rng.int(USERS)}`;
    const body: Record<string, unknown> = { user_id: user };
    const tasks = Array.from({ length: rng.int(16) }, (_, t) => ({
      id: `t${t}`,
      ...(rng.next() < 0.6 ? { due: new Date(now + (rng.next() - 0.4) * 3 * 86_400_000).toISOString() } : {}),
    }));
    const c = rng.next();
    if (c < 0.7) body['context'] = { hour_of_day: rng.int(24), day_of_week: rng.int(7), tasks };
    else if (c < 0.9) body['context'] = { ts: new Date(now - rng.int(3600) * 1000).toISOString(), tasks };
    if (rng.next() < 0.2) body['arms'] = ARM_IDS.filter(() => rng.next() < 0.5).concat(ARM_IDS[rng.int(ARM_COUNT)]!);
    if (rng.next() < 0.05) body['profile_features'] = rng.next() < 0.5 ? null : { completion_rate: rng.next(), tip_volume: rng.int(30) };
    out.push(JSON.stringify(body));
  }
  return out;
}

interface Round {
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  total: number;
  errors: number;
  non2xx: number;
  /** Server process CPU time per request (µs): robust to other load on the machine. */
  cpuUs: number;
  loop: LoopDelay;
}

/** A wrk Lua script that cycles through `payloads` (POST) or sends plain GETs. */
async function wrkScript(dir: string, method: 'GET' | 'POST', payloads: string[]): Promise<string> {
  const path = join(dir, `wrk-${method.toLowerCase()}.lua`);
  const bodies = payloads.map((p) => `[====[${p}]====]`).join(',\n');
  await writeFile(
    path,
    method === 'GET'
      ? 'wrk.method = "GET"\n'
      : `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nlocal bodies = {\n${bodies}\n}\nlocal i = 0\nrequest = function()\n  i = i % #bodies + 1\n  return wrk.format(nil, nil, nil, bodies[i])\nend\n`,
  );
  return path;
}

/** wrk's latency figure (`512.00us`, `1.23ms`, `2.01s`) in ms. */
function wrkMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (m === null) throw new Error(`wrk printed a latency I cannot read: "${text}"`);
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : v * 60_000;
}

let scriptDir = '';

/** Loads `url` with wrk (one thread, CONNECTIONS connections, pinned to CLIENT_CPUS) for `duration` s. */
async function load(url: string, method: 'GET' | 'POST', payloads: string[], duration: number): Promise<Omit<Round, 'cpuUs' | 'loop'>> {
  const script = await wrkScript(scriptDir, method, payloads);
  const args = ['-t1', `-c${CONNECTIONS}`, `-d${duration}s`, '--latency', '-s', script, url];
  const [cmd, argv] = CLIENT_CPUS === null ? ['wrk', args] : ['taskset', ['-c', CLIENT_CPUS, 'wrk', ...args]];
  const out = await new Promise<string>((resolve, reject) =>
    execFile(cmd, argv, { maxBuffer: 1 << 20 }, (e, stdout, stderr) => (e === null ? resolve(stdout) : reject(new Error(`${cmd} ${argv.join(' ')} failed (install Debian's wrk): ${e.message}\n${stderr}`)))),
  );
  const pick = (re: RegExp): RegExpExecArray => {
    const m = re.exec(out);
    if (m === null) throw new Error(`wrk output without ${re}:\n${out}`);
    return m;
  };
  const latency = pick(/Latency\s+(\S+)\s+(\S+)\s+(\S+)/);
  const pct = (p: number): number => wrkMs(pick(new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm'))[1]!);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: Number(pick(/Requests\/sec:\s+([\d.]+)/)[1]),
    p50: pct(50),
    p90: pct(90),
    p99: pct(99),
    max: wrkMs(latency[3]!),
    total: Number(pick(/(\d+) requests in/)[1]),
    errors: socket === null ? 0 : socket.slice(1).reduce((a, x) => a + Number(x), 0),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function main(): Promise<void> {
  if (process.argv[2] === '--bare') return bareChild();
  if (process.argv[2] === '--scorer') return scorerChild(process.argv[3]!);

  if (CLIENT_CPUS !== null) pin(process.pid, CLIENT_CPUS);
  const dir = await mkdtemp(join(tmpdir(), 'oo-ml-bench-serve-'));
  scriptDir = dir;
  // Written here, so the scorer's memory shows what loading and serving the snapshot costs.
  await writeSyntheticSnapshot(join(dir, 'snapshots'), { users: USERS, asOf: AS_OF });
  const bare = start(['--bare']);
  const scorer = start(['--scorer', dir]);
  try {
    const bareReady = (await bare.next()) as Extract<ChildMessage, { ready: unknown }>;
    const scorerReady = (await scorer.next()) as Extract<ChildMessage, { ready: unknown }>;
    const url = (port: number, path: string) => `http://${HOST}:${port}${path}`;
    const payloads = bodies(2000);
    // Every body is valid: check a sample through the real scorer first.
    for (const p of payloads.slice(0, 100)) {
      const res = await fetch(url(scorerReady.ready['champion']!, '/score'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: p });
      if (res.status !== 200) throw new Error(`body ${p} → ${res.status} ${await res.text()}`);
    }
    const sample = async (child: typeof bare): Promise<{ cpuUs: number; loop: LoopDelay }> => {
      child.proc.send('cpu');
      return (await child.next()) as { cpuUs: number; loop: LoopDelay };
    };
    const cpuOf = async (child: typeof bare): Promise<number> => (await sample(child)).cpuUs;
    const allTargets: { key: string; name: string; url: string; method: 'GET' | 'POST'; child: typeof bare }[] = [
      { key: 'bare-post', name: 'bare POST (same bodies)', url: url(bareReady.ready['bare']!, '/bare'), method: 'POST', child: bare },
      { key: 'bare-get', name: 'bare GET', url: url(bareReady.ready['bare']!, '/bare'), method: 'GET', child: bare },
      ...SPIN_US.map((us) => ({ key: `bare-spin-${us}`, name: `calibration: bare POST + ${us} µs of fixed work`, url: url(bareReady.ready['bare']!, `/bare-spin-${us}`), method: 'POST' as const, child: bare })),
      { key: 'constant', name: 'constant answer in the scorer app (schemas + hooks)', url: url(scorerReady.ready['champion']!, '/constant'), method: 'POST', child: scorer },
      { key: 'champion', name: '/score champion', url: url(scorerReady.ready['champion']!, '/score'), method: 'POST', child: scorer },
      { key: 'shadow', name: '/score champion + shadow + journal', url: url(scorerReady.ready['shadow']!, '/score'), method: 'POST', child: scorer },
    ];
    // BENCH_ONLY=champion (say) loads just that target, for profiling one path; the report needs all five.
    const only = process.env['BENCH_ONLY'];
    const unknown = only?.split(',').filter((k) => !allTargets.some((t) => t.key === k)) ?? [];
    if (unknown.length > 0) throw new Error(`BENCH_ONLY: unknown target(s) ${unknown.join(', ')}; known: ${allTargets.map((t) => t.key).join(', ')}`);
    const targets = only ? allTargets.filter((t) => only.split(',').includes(t.key)) : allTargets;
    if (only) {
      for (const t of targets) await load(t.url, t.method, payloads, WARMUP);
      for (const t of targets) {
        const c0 = await cpuOf(t.child);
        const m = await load(t.url, t.method, payloads, DURATION);
        await new Promise((ok) => setTimeout(ok, 200));
        const after = await sample(t.child);
        process.stderr.write(`${t.name}: ${Math.round(m.rps)} req/s, p99 ${m.p99} ms, ${((after.cpuUs - c0) / m.total).toFixed(1)} µs CPU/req, event-loop delay p99 ${after.loop.p99.toFixed(1)} ms, max ${after.loop.max.toFixed(1)} ms\n`);
      }
      return;
    }
    for (const t of targets) await load(t.url, t.method, payloads, WARMUP);
    // Interleaved rounds spread the machine's other load over every target alike.
    const rounds = new Map<string, Round[]>(targets.map((t) => [t.name, []]));
    const perRound = Math.max(1, Math.round(DURATION / ROUNDS));
    for (let r = 0; r < ROUNDS; r++) {
      for (const t of targets) {
        const c0 = await cpuOf(t.child);
        const m = await load(t.url, t.method, payloads, perRound);
        // Shadow scorings finish after their replies: let them drain into this round's CPU.
        await new Promise((ok) => setTimeout(ok, 200));
        const after = await sample(t.child);
        const cpuUs = (after.cpuUs - c0) / m.total;
        rounds.get(t.name)!.push({ ...m, cpuUs, loop: after.loop });
        process.stderr.write(`round ${r + 1}/${ROUNDS} ${t.name}: ${Math.round(m.rps)} req/s, p99 ${m.p99} ms, ${cpuUs.toFixed(1)} µs CPU/req, errors ${m.errors}, non-2xx ${m.non2xx}\n`);
      }
    }
    // Where each target's CPU goes: one more load of each, profiled (not part of the figures above).
    const profiled: { key: string; name: string; cpuUs: number; breakdown: Record<Part, number> }[] = [];
    for (const key of ['bare-post', 'constant', 'champion', 'shadow']) {
      const t = targets.find((x) => x.key === key)!;
      t.child.proc.send('prof-start');
      await load(t.url, t.method, payloads, PROFILE_S);
      await new Promise((ok) => setTimeout(ok, 200));
      t.child.proc.send('prof-stop');
      const { breakdown } = (await t.child.next()) as { breakdown: Record<Part, number> };
      profiled.push({ key, name: t.name, cpuUs: median(rounds.get(t.name)!.map((x) => x.cpuUs)), breakdown });
    }
    scorer.proc.send('memory');
    const after = ((await scorer.next()) as { memory: NodeJS.MemoryUsage }).memory;
    const stats = async (port: number) =>
      ((await (await fetch(url(port, '/stats'))).json()) as { policies: { policy: string; shadow: boolean; serves: number; latency_ms: { p50: number; p99: number } | null }[] }).policies;
    const serverSide = [...(await stats(scorerReady.ready['champion']!)), ...(await stats(scorerReady.ready['shadow']!))];

    const summary = targets.map((t) => {
      const rs = rounds.get(t.name)!;
      return {
        key: t.key,
        name: t.name,
        rps: median(rs.map((x) => x.rps)),
        p50: median(rs.map((x) => x.p50)),
        p99: median(rs.map((x) => x.p99)),
        worstP99: Math.max(...rs.map((x) => x.p99)),
        max: Math.max(...rs.map((x) => x.max)),
        cpuUs: median(rs.map((x) => x.cpuUs)),
        loopP99: median(rs.map((x) => x.loop.p99)),
        loopMax: Math.max(...rs.map((x) => x.loop.max)),
        total: rs.reduce((a, x) => a + x.total, 0),
        errors: rs.reduce((a, x) => a + x.errors, 0),
        non2xx: rs.reduce((a, x) => a + x.non2xx, 0),
      };
    });
    const target = (key: string) => summary.find((m) => m.key === key)!;
    const [barePost, bareGet, constantRoute, champ, shadow] = ['bare-post', 'bare-get', 'constant', 'champion', 'shadow'].map(target) as [(typeof summary)[0], (typeof summary)[0], (typeof summary)[0], (typeof summary)[0], (typeof summary)[0]];
    const spins = SPIN_US.map((us) => ({ us, m: target(`bare-spin-${us}`) }));
    const pct = (x: number): string => `${(x * 100).toFixed(0)} %`;
    const tp = (m: typeof champ, b: typeof champ) => m.rps / b.rps;
    const cpuRatio = (m: typeof champ, b: typeof champ) => b.cpuUs / m.cpuUs;
    const verdict = (ok: boolean) => (ok ? 'met' : '**not met**');
    const cpu = cpus();
    const md = [
      '# `oo-ml serve` benchmark',
      '',
      `Run ${new Date().toISOString()} with \`tsx bench/serve.ts\` (BENCH_DURATION=${DURATION}, BENCH_ROUNDS=${ROUNDS}, BENCH_CONNECTIONS=${CONNECTIONS}, BENCH_USERS=${USERS}, BENCH_SHADOW=${SHADOW}).`,
      '',
      `Policies (real catalog): champion LinUCB (v2 features, trained on 5 000 synthetic decisions); shadow ${SHADOW === 'thompson' ? 'linear Thompson sampling' : 'LinUCB α = 0.5'}.`,
      '',
      `Machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${mib(totalmem())} MiB RAM, ${platform()} ${release()}, Node ${process.version}. ` +
        (SERVER_CPUS === null && CLIENT_CPUS === null ? 'No pinning: servers and wrk share every core. ' : `Pinned with taskset: each server on CPU ${SERVER_CPUS ?? 'any'}, wrk on CPU ${CLIENT_CPUS ?? 'any'}. `) +
        `Load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(' / ')} — other jobs shared the 2 cores, so absolute figures are low and noisy.`,
      '',
      `wrk (one thread, ${CONNECTIONS} connections, 2000 varied valid bodies from a Lua script, ${WARMUP} s warm-up per target), each server in a child process on 127.0.0.1. ` +
        `Every target ran ${ROUNDS} interleaved rounds of ${perRound} s; the table shows medians over rounds (p99: median, and worst round). ` +
        'Latencies are client-side, in ms, and include the queueing of 50 concurrent connections (Little: mean latency ≈ 50 / throughput). ' +
        '"CPU/req" is the server process\'s CPU time per answered request — the throughput ratio the code alone would give on an idle machine.',
      '',
      '| target | req/s | vs bare POST | vs bare GET | CPU/req µs | CPU ratio vs bare POST | p50 | p99 (worst) | max | event-loop delay p99 / max | requests | errors | non-2xx |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...summary.map(
        (m) =>
          `| ${m.name} | ${Math.round(m.rps).toLocaleString('en-US')} | ${pct(tp(m, barePost))} | ${pct(tp(m, bareGet))} | ${m.cpuUs.toFixed(1)} | ${pct(cpuRatio(m, barePost))} | ${m.p50} | ${m.p99} (${m.worstP99}) | ${m.max} | ${m.loopP99.toFixed(1)} / ${m.loopMax.toFixed(1)} | ${m.total.toLocaleString('en-US')} | ${m.errors} | ${m.non2xx} |`,
      ),
      '',
      '## Targets (against the bare POST route: same transport and JSON parsing as /score)',
      '',
      `- champion alone ≥ 80 % of bare: throughput ${pct(tp(champ, barePost))} — ${verdict(tp(champ, barePost) >= 0.8)}; CPU ${pct(cpuRatio(champ, barePost))} — ${verdict(cpuRatio(champ, barePost) >= 0.8)}; p99 ${champ.p99} ms ≤ 5 ms — ${verdict(champ.p99 <= 5)}`,
      `- champion + shadow + serve events ≥ 65 %: throughput ${pct(tp(shadow, barePost))} — ${verdict(tp(shadow, barePost) >= 0.65)}; CPU ${pct(cpuRatio(shadow, barePost))} — ${verdict(cpuRatio(shadow, barePost) >= 0.65)}; p99 ${shadow.p99} ms ≤ 5 ms — ${verdict(shadow.p99 <= 5)}`,
      `- zero errors / non-2xx for valid bodies: ${verdict(summary.every((m) => m.errors === 0 && m.non2xx === 0))}`,
      '',
      `Where the gap is: a constant answer behind the same schemas, hooks and plugins in the scorer app runs at ${pct(tp(constantRoute, barePost))} of bare POST ` +
        `(${(constantRoute.cpuUs - barePost.cpuUs).toFixed(1)} µs CPU/req more); the scoring itself (snapshot lookup, LinUCB over ${ARM_COUNT} arms, pending store, serve event) ` +
        `adds ${(champ.cpuUs - constantRoute.cpuUs).toFixed(1)} µs CPU/req more. The same /score path without HTTP (decision, serve event, journal write, fold; 200 in flight, warm caches) costs ${scorerReady.loopUs?.toFixed(1) ?? '?'} µs of CPU per decision.`,
      '',
      `CPU per request by part (µs; each target's median CPU/req split by a sampling profile of a further ${PROFILE_S} s load of it, 100 µs interval; a native frame counts for its caller's part):`,
      '',
      `| part | ${profiled.map((t) => t.name).join(' | ')} | /score champion − bare POST |`,
      `|---|${profiled.map(() => '---:').join('|')}|---:|`,
      ...PARTS.map((part) => {
        const us = profiled.map((t) => t.breakdown[part] * t.cpuUs);
        const champIdx = profiled.findIndex((t) => t.key === 'champion');
        const bareIdx = profiled.findIndex((t) => t.key === 'bare-post');
        const added = champIdx >= 0 && bareIdx >= 0 ? (us[champIdx]! - us[bareIdx]!).toFixed(1) : '–';
        return `| ${part} | ${us.map((u) => u.toFixed(1)).join(' | ')} | ${added} |`;
      }),
      `| **total** | ${profiled.map((t) => t.cpuUs.toFixed(1)).join(' | ')} | ${(champ.cpuUs - barePost.cpuUs).toFixed(1)} |`,
      '',
      `What added work costs on this machine (calibration rows): ${spins.map(({ us, m }) => `${us} µs of fixed, cache-resident work on the bare route leaves ${pct(tp(m, barePost))} of its throughput (${(m.cpuUs - barePost.cpuUs).toFixed(1)} µs CPU/req more)`).join('; ')}. ` +
        'Pinned apart, the added work costs the server its CPU and nothing else: the calibration rows show how far a few µs move the ratio.',
      '',
      `On the p99 target: wrk keeps ${CONNECTIONS} requests in flight, so the mean client-side latency is ${CONNECTIONS} / throughput (Little's law) — ` +
        `${((CONNECTIONS / barePost.rps) * 1000).toFixed(1)} ms already for the bare route at ${Math.round(barePost.rps).toLocaleString('en-US')} req/s on this machine; ` +
        'the event-loop delay column shows how long a ready request waited behind other work (garbage collection pauses included). The server-side latency of /score is below.',
      '',
      '## Server side',
      '',
      'From `/stats` of the scorer apps (routing → reply sent, last 4096 requests per row):',
      '',
      '| policy | shadow | serves | p50 ms | p99 ms |',
      '|---|---|---:|---:|---:|',
      ...serverSide.map((r) => `| ${r.policy} | ${r.shadow} | ${r.serves.toLocaleString('en-US')} | ${r.latency_ms?.p50.toFixed(3) ?? '–'} | ${r.latency_ms?.p99.toFixed(3) ?? '–'} |`),
      '',
      '## Memory of the scorer process',
      '',
      `Snapshot of ${USERS.toLocaleString('en-US')} users (Arrow, written by the parent) loaded through \`loadSnapshot\` (verified) in ${(scorerReady.loadMs / 1000).toFixed(1)} s; both scorer apps share it.`,
      '',
      '| when | RSS MiB | heap used MiB | external MiB (array buffers included) |',
      '|---|---:|---:|---:|',
      `| before the snapshot (modules loaded, gc) | ${mib(scorerReady.before.rss)} | ${mib(scorerReady.before.heapUsed)} | ${mib(scorerReady.before.external)} |`,
      `| snapshot loaded, two apps built (gc) | ${mib(scorerReady.memory.rss)} | ${mib(scorerReady.memory.heapUsed)} | ${mib(scorerReady.memory.external)} |`,
      `| after the runs (gc) | ${mib(after.rss)} | ${mib(after.heapUsed)} | ${mib(after.external)} |`,
      '',
      `The bare server's RSS (same module graph under tsx): ${mib(bareReady.memory.rss)} MiB. After the runs each scorer app holds the hot chunks of its serve window and its embedded bus's duplicate window (16 MB of tables).`,
      '',
    ].join('\n');
    await writeFile(fileURLToPath(new URL('./results/serve.md', import.meta.url)), md);
    process.stdout.write(md);
  } finally {
    bare.proc.send('exit');
    scorer.proc.send('exit');
    await Promise.all([bare, scorer].map((c) => new Promise((r) => (c.proc.exitCode !== null ? r(null) : c.proc.once('exit', r)))));
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
