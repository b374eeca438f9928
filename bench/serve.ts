/**
 * `tsx bench/serve.ts` — throughput and latency of `oo-ml serve`'s /score under wrk, the load
 * generator pinned to one core and every server to the other (issue #15's method).
 *
 * Child processes listen on 127.0.0.1 (so the load generator in this process does not share
 * an event loop with a server):
 *   - `bare`: a Fastify app with `POST /bare` (the same request bodies, parsed, no schema) and
 *     `GET /bare`, both answering a constant JSON document — the framework's ceiling;
 *   - one `scorer` per app, each loading one real snapshot of BENCH_USERS users (default 1
 *     million, written as Arrow and loaded through `loadSnapshot`): the champion (with a
 *     constant-answer route beside /score), champion + one shadow, and the champion over a bus
 *     that stores nothing (the ablation); serve events go on the embedded event bus (what
 *     `oo-ml serve` does without NATS_URL; BENCH_NATS_URL=nats://… puts the shadow app's on
 *     JetStream, BENCH_NATS_APP=champion the champion's instead; BENCH_NATS_APP alone
 *     (champion or shadow) starts a nats-server of the run's own, pinned with the servers
 *     (BENCH_BROKER_CPUS elsewhere), and reports its CPU per request beside the server's: on
 *     the servers' core it is part of what a request costs there).
 *     One app per process, as `oo-ml serve` runs: apps sharing a process slow each other down
 *     (BENCHMARKS.md, the process effect);
 *   - first, alone, a `loop` child: the /score path without HTTP (decisions, events, fold), for
 *     the report's per-decision CPU; it exits before the load starts.
 * Policies are the real catalog's: a LinUCB champion and a LinUCB candidate (α = 0.5) as the
 * shadow (BENCH_SHADOW=thompson uses linear Thompson sampling instead), trained on synthetic data. Bodies are varied and realistic: known and unknown users, hour/day
 * or `ts` or nothing, 0–15 tasks with due dates, an `arms` subset on 20 %, `profile_features`
 * on 5 %.
 *
 * Each target gets BENCH_DURATION seconds in total, split into interleaved rounds (so the
 * machine's other load hits every target alike; each round starts one target later, so every
 * target takes every place in the order), and the server child's CPU time per request
 * is reported beside throughput: on a shared machine it is the steadier measure of the code.
 * While a target is loaded, every other server child is stopped (SIGSTOP): they share its core.
 *
 * Env: BENCH_SERVER_CPUS and BENCH_CLIENT_CPUS (default 1 and 0: pin servers and wrk to separate cores with
 * taskset, e.g. 0 and 1-3 on a 4-core machine: the ratio targets assume the client does not
 * share the server's cores), BENCH_BROKER_CPUS (where the run's own nats-server runs; default with the servers), BENCH_CPU_PROF_DIR (CPU profiles of the server children), BENCH_WATCHDOG (a thread in each server child that reports, from /proc, what its main thread does while its event loop has not turned for 250 ms, or for BENCH_WATCHDOG ms when that is 10 or more: servers.ts), BENCH_TRACE_GC (V8's --trace-gc in every server child, with each resume after a focus stop marked on the collections' clock: `[pid] resumed at <ms>`), BENCH_CHECKPOINT_MS (how often the scorer apps checkpoint online learning; default the server's 5 min, which short runs never reach), BENCH_HOT_SERVES (serves each scorer app's fold keeps in memory; default the server's 1,048,576, which only full runs outgrow), BENCH_SEGMENT_BYTES (the embedded bus's segment size; default 64 MiB, a rotation every few seconds at saturation), BENCH_NO_FOCUS=1 (no server is stopped while another is loaded), BENCH_SPLIT_PROF_DIR (the profiles of the split by part, kept there; with BENCH_ONLY, each target is split too), BENCH_DIST (a build folder to load instead of dist/, e.g. a copy of an earlier build), BENCH_NODE_FLAGS (space-separated Node or V8 flags for every server child alike, e.g. `--max-semi-space-size=64`), BENCH_DIST_B (a second build whose champion app runs beside this one's, as targets constant-b and champion-b: settings.ts), BENCH_NODE_FLAGS_B (Node or V8 flags for BENCH_DIST_B's child alone, e.g. the same build under other flags), BENCH_ONLY (comma list of bare-post, bare-get, bare-spin-5, bare-spin-10, constant, unstored, champion, champion-broker-apart (BENCH_NATS_APP=champion: the champion again, the run's nats-server re-pinned to the client's core for its rounds), shadow, constant-b, champion-b: run just those, in interleaved rounds, and print one line each of their medians, no report), BENCH_DURATION (s per target, default 30; 5 for a quick run), BENCH_ROUNDS (default 3,
 * 1 below 15 s), BENCH_CONNECTIONS (default 50), BENCH_USERS (default 1 000 000), BENCH_PACED (fractions of the
 * bare route's req/s at which the bare route, the champion and the shadow app are loaded again, paced,
 * for their latency below saturation: settings.ts). Writes bench/results/serve.md.
 * Targets: champion ≥ 80 % of bare with p99 ≤ 5 ms; champion + shadow + events ≥ 65 %, p99 ≤ 5 ms;
 * zero errors and non-2xx.
 * Before the run and after it, a process spinning on the servers' core counts how often the machine
 * took that core away (serve/host-stalls.ts): the floor under every server's tail latency here.
 *
 * This file runs the rounds and writes the report; `serve/servers.ts` is the server children
 * (and how they are started, pinned and questioned), `serve/load.ts` the bodies and wrk,
 * `serve/profile.ts` the split of a CPU profile into parts, `serve/settings.ts` the environment.
 */

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, platform, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ARM_COUNT } from '../src/features/arms.js';

import { startNatsServer } from '../fixtures/nats-server.js';
import { writeSyntheticSnapshot } from '../fixtures/synthetic-snapshot.js';

import { measureHostStalls, type HostStalls } from './serve/host-stalls.js';
import { procCpuUs } from './serve/proc-cpu.js';
import { PARTS, type Part } from './serve/profile.js';
import { bodies, load, median, rotated, setScriptDir, type LoadFigures, type Round } from './serve/load.js';
import { SPIN_US, start, type ChildMessage, type ScorerRole } from './serve/servers.js';
import { AS_OF, BROKER_CPUS, CLIENT_CPUS, CONNECTIONS, DIST_B, DURATION, HOST, mib, NATS_APP, NODE_FLAGS_B, PACED, PACED_SET, pin, PROFILE_S, ROUNDS, SERVER_CORES, SERVER_CPUS, SHADOW, USERS, WARMUP } from './serve/settings.js';

/**
 * BENCH_NATS_APP without BENCH_NATS_URL: a nats-server of this run's own (each app replays at start
 * whatever an earlier run left in a stream), pinned with the servers, where the ratio targets
 * count the broker, or on BENCH_BROKER_CPUS; stopped when the run ends.
 */
async function withOwnNats(run: () => Promise<void>): Promise<void> {
  if (NATS_APP === null || process.env['BENCH_NATS_URL']) return run();
  const nats = await startNatsServer();
  // BENCH_DIST_B's champion on NATS too: on a server of its own, pinned alike.
  const natsB = NATS_APP === 'champion' && DIST_B !== null ? await startNatsServer().catch(async (e: unknown) => {
    await nats.stop();
    throw e;
  }) : null;
  try {
    process.env['BENCH_NATS_URL'] = nats.url;
    if (BROKER_CPUS !== null) pin(nats.pid, BROKER_CPUS);
    brokerPid = nats.pid;
    if (natsB !== null) {
      process.env['BENCH_NATS_URL_B'] = natsB.url;
      if (BROKER_CPUS !== null) pin(natsB.pid, BROKER_CPUS);
      brokerPidB = natsB.pid;
    }
    await run();
  } finally {
    brokerPid = null;
    brokerPidB = null;
    await nats.stop();
    await natsB?.stop();
  }
}

/** Seconds the servers' core is probed for stalls, before the run and after it (host-stalls.ts). */
const STALL_PROBE_S = 10;

/** The pids of the run's own nats-servers, while they run (the second is BENCH_DIST_B's). */
let brokerPid: number | null = null;
let brokerPidB: number | null = null;
/**
 * CPU time (µs) the run's own nats-server has used: on the servers' core it is part of what
 * each request costs there. Null without one.
 */
function brokerCpuUs(forB: boolean): number | null {
  const pid = forB ? brokerPidB : brokerPid;
  return pid === null ? null : procCpuUs(`/proc/${pid}/stat`);
}

/** The broker's CPU per request for a report line, when there is one. */
const brokerNote = (us: number | undefined): string => (us === undefined ? '' : ` (+ ${us.toFixed(1)} µs of nats-server CPU)`);
/** wrk's split of a load's socket errors for a log line, when it had any. */
const errorNote = (m: Pick<Round, 'errors' | 'errorKinds'>): string => (m.errorKinds === undefined ? '' : ` (${m.errorKinds})`);
const brokerMedian = (rs: Round[]): number | undefined => (rs.some((x) => x.brokerUs === undefined) ? undefined : median(rs.map((x) => x.brokerUs!)));

/** A paced target's medians over its rounds (serve.ts, the paced loads). */
interface PacedSummary {
  key: string;
  name: string;
  fraction: number;
  offered: number;
  rps: number;
  p50: number;
  p99: number;
  worstP99: number;
  p999: number;
  max: number;
  total: number;
  errors: number;
  /** wrk's split of the socket errors, by round that had any. */
  errorKinds: string;
}

/** The report's section on latency below saturation, and the host's stalls that bound it from below. */
function pacedSection(paced: PacedSummary[], stalls: HostStalls[]): string[] {
  if (paced.length === 0) return [];
  const pct = (x: number): string => `${(x * 100).toFixed(0)} %`;
  const lowest = Math.min(...paced.map((p) => p.fraction));
  const verdicts = paced
    .filter((p) => p.fraction === lowest && p.key !== 'bare-post')
    .map((p) => `${p.name} ${p.p99} ms — ${p.p99 <= 5 ? 'met' : '**not met**'}`);
  const bare = paced.find((p) => p.fraction === lowest && p.key === 'bare-post');
  return [
    '## Below saturation: latency at a paced load',
    '',
    `The rounds above keep ${CONNECTIONS} requests in flight, so their latencies are mostly queueing. Here the same ${CONNECTIONS} connections each wait an exponentially distributed think time ` +
      `(mean ${CONNECTIONS} / R, whole ms: wrk's timers) before every request, R being ${paced
        .map((p) => p.fraction)
        .filter((f, i, a) => a.indexOf(f) === i)
        .map(pct)
        .join(' and ')} of the bare POST route's median req/s above — the same schedule for every target, in ${ROUNDS} interleaved rounds; wrk times each request from its send. ` +
      'A connection waits for its answer before its next think time, so the achieved rate falls short of R by the answers\' own latency, and a stall delays fewer requests than an open-loop client would see delayed (coordinated omission): these tails are lower bounds when the server stalls.',
    '',
    '| target | R req/s | achieved req/s | p50 | p99 (worst) | p99.9 | max | requests | errors + non-2xx |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...paced.map(
      (p) =>
        `| ${p.name} | ${Math.round(p.offered).toLocaleString('en-US')} (${pct(p.fraction)}) | ${Math.round(p.rps).toLocaleString('en-US')} | ${p.p50} | ${p.p99} (${p.worstP99}) | ${p.p999} | ${p.max} | ${p.total.toLocaleString('en-US')} | ${p.errors}${p.errorKinds === '' ? '' : ` (${p.errorKinds})`} |`,
    ),
    '',
    `p99 ≤ 5 ms at ${pct(lowest)} of the bare route's rate: ${verdicts.join('; ')}${bare === undefined ? '' : ` (the bare route itself: ${bare.p99} ms)`}.`,
    '',
    `The servers' core itself (host-stalls.ts: a process spinning on it for ${STALL_PROBE_S} s with the client's core busy, before the run and after it): ` +
      stalls.map((x) => `${x.over1ms} stalls over 1 ms and ${x.over5ms} over 5 ms, the longest ${x.longestMs.toFixed(1)} ms, ${(x.lostShare * 100).toFixed(2)} % of the time lost`).join('; then ') +
      '. A request that arrives in a stall waits it out, whatever the server: that is the floor under every target\'s tail here.',
    '',
  ];
}

/** The run in a temp folder of its own, removed however the run ends. */
async function main(): Promise<void> {
  if (CLIENT_CPUS !== null) pin(process.pid, CLIENT_CPUS);
  // The children write the split's profiles there (servers.ts).
  if (process.env['BENCH_SPLIT_PROF_DIR']) await mkdir(process.env['BENCH_SPLIT_PROF_DIR'], { recursive: true });
  const dir = await mkdtemp(join(tmpdir(), 'oo-ml-bench-serve-'));
  try {
    await runIn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Starts the servers, loads them round by round, and writes the report. */
async function runIn(dir: string): Promise<void> {
  setScriptDir(dir);
  // Written here, so the scorer's memory shows what loading and serving the snapshot costs.
  await writeSyntheticSnapshot(join(dir, 'snapshots'), { users: USERS, asOf: AS_OF });
  // The /score path outside HTTP first, in a process of its own that exits before any load: its
  // decisions would make the apps of a process they shared dearer (servers.ts, the 'loop' role).
  const loop = start(['--scorer', dir, 'loop']);
  const loopReady = (await loop.next()) as Extract<ChildMessage, { ready: unknown }>;
  process.stderr.write(`the /score path without HTTP: ${loopReady.loopUs?.toFixed(2) ?? '?'} µs of CPU per decision\n`);
  loop.proc.send('exit');
  await new Promise((r) => (loop.proc.exitCode !== null ? r(null) : loop.proc.once('exit', r)));
  // The machine's own floor under tail latency, before the run and (below) after it.
  const stalls: HostStalls[] = process.env['BENCH_ONLY'] ? [] : [await measureHostStalls(SERVER_CPUS, CLIENT_CPUS, STALL_PROBE_S)];
  const bare = start(['--bare']);
  // One process per scorer app, as `oo-ml serve` runs (servers.ts, scorerChild).
  const scorers = { champion: start(['--scorer', dir, 'champion']), shadow: start(['--scorer', dir, 'shadow']), unstored: start(['--scorer', dir, 'unstored']) };
  const championB = DIST_B === null ? null : start(['--scorer', dir, 'champion', 'champion-b'], { BENCH_DIST: DIST_B }, NODE_FLAGS_B);
  const children = [bare, ...Object.values(scorers), ...(championB === null ? [] : [championB])];
  // Only the loaded server runs: the others are stopped (SIGSTOP) meanwhile. They share its core,
  // and an idle V8 still collects (the memory reducer's full collections; BENCHMARKS.md), which no
  // deployment, one server per core, would bill to its neighbour. null stops them all; `resumeAll`
  // undoes it.
  const focus = (target: (typeof children)[number] | null): void => {
    // On NATS the apps keep running: a client stopped for minutes misses the server's pings and is
    // dropped as stale. BENCH_NO_FOCUS=1 keeps them all running too (idle neighbours then collect on
    // the loaded server's core), to see what the stops themselves do to a round.
    if (NATS_APP !== null || process.env['BENCH_NO_FOCUS'] === '1') return;
    for (const c of children) if (c.proc.exitCode === null) c.proc.kill(c === target ? 'SIGCONT' : 'SIGSTOP');
  };
  const resumeAll = (): void => {
    for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGCONT');
  };
  try {
    type Ready = Extract<ChildMessage, { ready: unknown }>;
    const bareReady = (await bare.next()) as Ready;
    const ready = { champion: (await scorers.champion.next()) as Ready, shadow: (await scorers.shadow.next()) as Ready, unstored: (await scorers.unstored.next()) as Ready };
    const portOf = (role: Exclude<ScorerRole, 'loop'>): number => ready[role].ready[role]!;
    const buildB = championB === null ? null : { child: championB, port: ((await championB.next()) as Ready).ready['champion']! };
    const scorerReady = ready.champion;
    const url = (port: number, path: string) => `http://${HOST}:${port}${path}`;
    const payloads = bodies(2000);
    // Every body is valid: check a sample through the real scorer first.
    for (const p of payloads.slice(0, 100)) {
      const res = await fetch(url(portOf('champion'), '/score'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: p });
      if (res.status !== 200) throw new Error(`body ${p} → ${res.status} ${await res.text()}`);
    }
    type CpuSample = Extract<ChildMessage, { cpuUs: number }>;
    // Inside the server during a round: its slowest /score (arrival to answer ready) and its longest event-loop delay.
    const insideNote = (answerMaxMs: number | null, loopMaxMs: number): string =>
      ` (server side: ${answerMaxMs === null ? '' : `slowest answer ${answerMaxMs.toFixed(1)} ms, `}loop delay max ${loopMaxMs.toFixed(1)} ms)`;
    const sample = async (child: typeof bare): Promise<CpuSample> => {
      child.proc.send('cpu');
      return (await child.next()) as CpuSample;
    };
    // With the champion on the run's own nats-server, the champion is loaded twice: the broker
    // on the servers' core (where it takes CPU from the server) and on the client's (as a broker
    // on other machines would be), re-pinned before each round.
    const brokerApart = NATS_APP === 'champion' && brokerPid !== null && BROKER_CPUS !== null && CLIENT_CPUS !== null && CLIENT_CPUS !== BROKER_CPUS ? CLIENT_CPUS : null;
    const allTargets: { key: string; name: string; url: string; method: 'GET' | 'POST'; child: typeof bare; brokerCpus?: string }[] = [
      { key: 'bare-post', name: 'bare POST (same bodies)', url: url(bareReady.ready['bare']!, '/bare'), method: 'POST', child: bare },
      { key: 'bare-get', name: 'bare GET', url: url(bareReady.ready['bare']!, '/bare'), method: 'GET', child: bare },
      ...SPIN_US.map((us) => ({ key: `bare-spin-${us}`, name: `calibration: bare POST + ${us} µs of fixed work`, url: url(bareReady.ready['bare']!, `/bare-spin-${us}`), method: 'POST' as const, child: bare })),
      { key: 'constant', name: 'constant answer in the scorer app (schemas + hooks)', url: url(portOf('champion'), '/constant'), method: 'POST', child: scorers.champion },
      { key: 'unstored', name: '/score champion, events taken but not stored (ablation)', url: url(portOf('unstored'), '/score'), method: 'POST', child: scorers.unstored },
      { key: 'champion', name: '/score champion', url: url(portOf('champion'), '/score'), method: 'POST', child: scorers.champion },
      ...(brokerApart === null
        ? []
        : [{ key: 'champion-broker-apart', name: `/score champion, nats-server on the client's CPU ${brokerApart}`, url: url(portOf('champion'), '/score'), method: 'POST' as const, child: scorers.champion, brokerCpus: brokerApart }]),
      { key: 'shadow', name: '/score champion + shadow + journal', url: url(portOf('shadow'), '/score'), method: 'POST', child: scorers.shadow },
      ...(buildB === null
        ? []
        : [
            { key: 'constant-b', name: `constant answer, build ${DIST_B}`, url: url(buildB.port, '/constant'), method: 'POST' as const, child: buildB.child },
            { key: 'champion-b', name: `/score champion, build ${DIST_B}`, url: url(buildB.port, '/score'), method: 'POST' as const, child: buildB.child },
          ]),
    ];
    // BENCH_ONLY=champion (say) loads just that target, for profiling one path; the report needs all five.
    const only = process.env['BENCH_ONLY'];
    const unknown = only?.split(',').filter((k) => !allTargets.some((t) => t.key === k)) ?? [];
    if (unknown.length > 0) throw new Error(`BENCH_ONLY: unknown target(s) ${unknown.join(', ')}; known: ${allTargets.map((t) => t.key).join(', ')}`);
    const targets = only ? allTargets.filter((t) => only.split(',').includes(t.key)) : allTargets;
    /** Readies `t` for a load: its server alone running, the broker where the target puts it (with the servers unless it says otherwise). */
    const place = (t: (typeof allTargets)[number]): void => {
      focus(t.child);
      if (brokerApart !== null && brokerPid !== null) pin(brokerPid, t.brokerCpus ?? BROKER_CPUS!);
    };
    if (only && PACED_SET && PACED.length > 0 && !targets.some((t) => t.key === 'bare-post')) throw new Error('BENCH_PACED needs bare-post among the targets: its req/s sets the paced rates');
    for (const t of targets) {
      place(t);
      await load(t.url, t.method, payloads, WARMUP);
    }
    // Interleaved rounds spread the machine's other load over every target alike.
    const rounds = new Map<string, Round[]>(targets.map((t) => [t.name, []]));
    const perRound = Math.max(1, Math.round(DURATION / ROUNDS));
    for (let r = 0; r < ROUNDS; r++) {
      for (const t of rotated(targets, r)) {
        place(t);
        const onB = t.child === championB;
        const c0 = await sample(t.child);
        const b0 = brokerCpuUs(onB);
        const m = await load(t.url, t.method, payloads, perRound);
        // Shadow scorings finish after their replies: let them drain into this round's CPU.
        await new Promise((ok) => setTimeout(ok, 200));
        const after = await sample(t.child);
        const b1 = brokerCpuUs(onB);
        const cpuUs = (after.cpuUs - c0.cpuUs) / m.total;
        const mainUs = (after.mainUs - c0.mainUs) / m.total;
        const writesPerReq = (after.writes - c0.writes) / m.total;
        const brokerUs = b0 === null || b1 === null ? undefined : (b1 - b0) / m.total;
        rounds.get(t.name)!.push({ ...m, cpuUs, mainUs, writesPerReq, loop: after.loop, brokerUs });
        process.stderr.write(`round ${r + 1}/${ROUNDS} ${t.name}: ${Math.round(m.rps)} req/s, p99 ${m.p99} ms, max ${m.max} ms${insideNote(after.answerMaxMs, after.loop.max)}, ${cpuUs.toFixed(1)} µs CPU/req (main thread ${mainUs.toFixed(1)}), ${writesPerReq.toFixed(2)} writes/req${brokerNote(brokerUs)}, errors ${m.errors}${errorNote(m)}, non-2xx ${m.non2xx}\n`);
      }
    }
    // Below saturation: the bare route and the scorers at the same paced offered loads, in interleaved rounds.
    const pacedTargets = PACED.length === 0 || (only && !PACED_SET) ? [] : only ? targets : targets.filter((t) => ['bare-post', 'champion', 'shadow'].includes(t.key));
    const paced: { key: string; name: string; fraction: number; offered: number; rounds: LoadFigures[] }[] = [];
    if (pacedTargets.length > 0) {
      // bare-post is among the targets (checked above, with them).
      const bareRps = median(rounds.get(targets.find((t) => t.key === 'bare-post')!.name)!.map((x) => x.rps));
      for (const fraction of PACED) for (const t of pacedTargets) paced.push({ key: t.key, name: t.name, fraction, offered: fraction * bareRps, rounds: [] });
      // Warmed up paced, as the saturating rounds are warmed up saturated.
      for (const t of pacedTargets) {
        place(t);
        await load(t.url, t.method, payloads, WARMUP, PACED[0]! * bareRps);
      }
      for (let r = 0; r < ROUNDS; r++) {
        for (const p of rotated(paced, r)) {
          const t = pacedTargets.find((x) => x.key === p.key)!;
          place(t);
          await sample(t.child);
          const m = await load(t.url, t.method, payloads, perRound, p.offered);
          const { answerMaxMs, loop } = await sample(t.child);
          p.rounds.push(m);
          process.stderr.write(`paced round ${r + 1}/${ROUNDS} ${p.name} at ${Math.round(p.offered)} req/s offered: ${Math.round(m.rps)} req/s, p50 ${m.p50} ms, p99 ${m.p99} ms, p99.9 ${m.p999} ms, max ${m.max} ms${insideNote(answerMaxMs, loop.max)}, errors ${m.errors}${errorNote(m)}, non-2xx ${m.non2xx}\n`);
        }
      }
    }
    const pacedSummary = paced.map((p) => ({
      ...p,
      rps: median(p.rounds.map((x) => x.rps)),
      p50: median(p.rounds.map((x) => x.p50)),
      p99: median(p.rounds.map((x) => x.p99)),
      worstP99: Math.max(...p.rounds.map((x) => x.p99)),
      p999: median(p.rounds.map((x) => x.p999)),
      max: Math.max(...p.rounds.map((x) => x.max)),
      total: p.rounds.reduce((a, x) => a + x.total, 0),
      errors: p.rounds.reduce((a, x) => a + x.errors + x.non2xx, 0),
      errorKinds: p.rounds.flatMap((x) => (x.errors > 0 && x.errorKinds !== undefined ? [x.errorKinds] : [])).join('; '),
    }));
    // Where each target's CPU goes: one more load of each, profiled (not part of the figures above).
    const profiled: { key: string; name: string; cpuUs: number; breakdown: Record<Part, number> }[] = [];
    const profileOf = async (t: (typeof targets)[number]): Promise<void> => {
      place(t);
      t.child.proc.send('prof-start');
      await load(t.url, t.method, payloads, PROFILE_S);
      await new Promise((ok) => setTimeout(ok, 200));
      t.child.proc.send('prof-stop');
      const { breakdown } = (await t.child.next()) as { breakdown: Record<Part, number> };
      profiled.push({ key: t.key, name: t.name, cpuUs: median(rounds.get(t.name)!.map((x) => x.cpuUs)), breakdown });
    };
    if (only) {
      for (const p of pacedSummary) process.stderr.write(`${p.name} paced at ${Math.round(p.offered)} req/s: ${Math.round(p.rps)} req/s, p50 ${p.p50.toFixed(2)} ms, p99 ${p.p99.toFixed(2)} ms (worst ${p.worstP99}), p99.9 ${p.p999.toFixed(2)} ms\n`);
      // BENCH_SPLIT_PROF_DIR: each target's split too, and its profile kept there (servers.ts).
      if (process.env['BENCH_SPLIT_PROF_DIR']) for (const t of targets) await profileOf(t);
      for (const p of profiled) process.stderr.write(`${p.name} by part (µs): ${PARTS.map((part) => `${part} ${(p.breakdown[part] * p.cpuUs).toFixed(1)}`).join(', ')}\n`);
      // No report: one line per target, medians over its rounds.
      for (const t of targets) {
        const rs = rounds.get(t.name)!;
        const loopP99 = median(rs.map((x) => x.loop.p99));
        process.stderr.write(`${t.name}: ${Math.round(median(rs.map((x) => x.rps)))} req/s, p99 ${median(rs.map((x) => x.p99)).toFixed(2)} ms, ${median(rs.map((x) => x.cpuUs)).toFixed(1)} µs CPU/req${brokerNote(brokerMedian(rs))}, event-loop delay p99 ${loopP99.toFixed(1)} ms, max ${Math.max(...rs.map((x) => x.loop.max)).toFixed(1)} ms\n`);
      }
      return;
    }
    for (const key of ['bare-post', 'constant', 'unstored', 'champion', 'shadow']) await profileOf(targets.find((x) => x.key === key)!);
    focus(null);
    stalls.push(await measureHostStalls(SERVER_CPUS, CLIENT_CPUS, STALL_PROBE_S));
    resumeAll();
    scorers.champion.proc.send('memory');
    const after = ((await scorers.champion.next()) as { memory: NodeJS.MemoryUsage }).memory;
    const stats = async (port: number) =>
      ((await (await fetch(url(port, '/stats'))).json()) as { policies: { policy: string; shadow: boolean; serves: number; latency_ms: { p50: number; p99: number } | null }[] }).policies;
    const serverSide = [...(await stats(portOf('champion'))), ...(await stats(portOf('shadow')))];

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
        mainUs: median(rs.map((x) => x.mainUs)),
        writesPerReq: median(rs.map((x) => x.writesPerReq)),
        loopP99: median(rs.map((x) => x.loop.p99)),
        loopMax: Math.max(...rs.map((x) => x.loop.max)),
        total: rs.reduce((a, x) => a + x.total, 0),
        errors: rs.reduce((a, x) => a + x.errors, 0),
        non2xx: rs.reduce((a, x) => a + x.non2xx, 0),
        brokerUs: brokerMedian(rs),
      };
    });
    const target = (key: string) => summary.find((m) => m.key === key)!;
    const barePost = target('bare-post');
    const bareGet = target('bare-get');
    const constantRoute = target('constant');
    const unstored = target('unstored');
    const champ = target('champion');
    const shadow = target('shadow');
    const spins = SPIN_US.map((us) => ({ us, m: target(`bare-spin-${us}`) }));
    const pct = (x: number): string => `${(x * 100).toFixed(0)} %`;
    const moreOrLess = (us: number): string => (us >= 0 ? `${us.toFixed(1)} µs more` : `${(-us).toFixed(1)} µs less`);
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
        (SERVER_CORES < 2 ? 'The scorer apps run as `oo-ml serve` restarts itself on one core, with `--v8-pool-size=1` (unless BENCH_NODE_FLAGS chose how V8 collects); bare Fastify runs as plain `node`. ' : '') +
        `Load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(' / ')} — other jobs shared the 2 cores, so absolute figures are low and noisy.`,
      '',
      `wrk (one thread, ${CONNECTIONS} connections, 2000 varied valid bodies from a Lua script, ${WARMUP} s warm-up per target), each server in a child process on 127.0.0.1. ` +
        `Every target ran ${ROUNDS} interleaved rounds of ${perRound} s; the table shows medians over rounds (p99: median, and worst round). ` +
        'Latencies are client-side, in ms, and include the queueing of 50 concurrent connections (Little: mean latency ≈ 50 / throughput). ' +
        '"CPU/req" is the server process\'s CPU time per answered request — the throughput ratio the code alone would give on an idle machine; "main thread" is its event loop\'s share (the rest is V8\'s helper threads and libuv\'s pool, which the split by part below cannot see); "writes/req" counts its write-like syscalls (answers, journal, broker) per request.',
      '',
      '| target | req/s | vs bare POST | vs bare GET | CPU/req µs | of it main thread | writes/req | CPU ratio vs bare POST | p50 | p99 (worst) | max | event-loop delay p99 / max | requests | errors | non-2xx |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...summary.map(
        (m) =>
          `| ${m.name} | ${Math.round(m.rps).toLocaleString('en-US')} | ${pct(tp(m, barePost))} | ${pct(tp(m, bareGet))} | ${m.cpuUs.toFixed(1)} | ${m.mainUs.toFixed(1)} | ${m.writesPerReq.toFixed(2)} | ${pct(cpuRatio(m, barePost))} | ${m.p50} | ${m.p99} (${m.worstP99}) | ${m.max} | ${m.loopP99.toFixed(1)} / ${m.loopMax.toFixed(1)} | ${m.total.toLocaleString('en-US')} | ${m.errors} | ${m.non2xx} |`,
      ),
      '',
      '## Targets (against the bare POST route: same transport and JSON parsing as /score)',
      '',
      `- champion alone ≥ 80 % of bare: throughput ${pct(tp(champ, barePost))} — ${verdict(tp(champ, barePost) >= 0.8)}; CPU ${pct(cpuRatio(champ, barePost))} — ${verdict(cpuRatio(champ, barePost) >= 0.8)}; p99 ${champ.p99} ms ≤ 5 ms — ${verdict(champ.p99 <= 5)}`,
      `- champion + shadow + serve events ≥ 65 %: throughput ${pct(tp(shadow, barePost))} — ${verdict(tp(shadow, barePost) >= 0.65)}; CPU ${pct(cpuRatio(shadow, barePost))} — ${verdict(cpuRatio(shadow, barePost) >= 0.65)}; p99 ${shadow.p99} ms ≤ 5 ms — ${verdict(shadow.p99 <= 5)}`,
      `- zero errors / non-2xx for valid bodies: ${verdict(summary.every((m) => m.errors === 0 && m.non2xx === 0))}`,
      ...(NATS_APP === null || summary.some((m) => m.brokerUs === undefined)
        ? []
        : ['', `The ${NATS_APP} app's events went on a nats-server of the run's own, on CPU ${BROKER_CPUS ?? 'any'} (the servers': ${SERVER_CPUS ?? 'any'})${brokerApart === null ? '' : `, and on CPU ${brokerApart} with wrk for the rounds of the row that says so (as a broker on other machines would be, but sharing the client's core)`}; its CPU per request (median): ${summary.map((m) => `${m.name} ${m.brokerUs!.toFixed(1)} µs`).join('; ')}.`]),
      '',
      `Where the gap is, by ablation (side by side, medians; each scorer app in a process of its own, as \`oo-ml serve\` runs): a constant answer behind the scorer app's schemas, hooks and plugins ` +
        `costs ${moreOrLess(constantRoute.cpuUs - barePost.cpuUs)} CPU/req than the bare route (${pct(tp(constantRoute, barePost))} of its throughput); the decision (context, snapshot lookup, LinUCB over ${ARM_COUNT} arms, the serve event built, its stats), over a bus that stores nothing, ` +
        `costs ${moreOrLess(unstored.cpuUs - constantRoute.cpuUs)}; storing the events (check, encoding, de-duplication, journal write, the fold reading them back, and answering after the write) costs ${moreOrLess(champ.cpuUs - unstored.cpuUs)}. ` +
        `Answers that wait for the journal's write go out together at the end of the event loop's turn, which makes each response's write cheaper (fewer wake-ups of the client): that offsets part or all of the event path. ` +
        `The same /score path without HTTP (decision, serve event, journal write, fold; 200 in flight, warm caches) costs ${loopReady.loopUs?.toFixed(1) ?? '?'} µs of CPU per decision (in a process of its own).`,
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
      ...pacedSection(pacedSummary, stalls),
      '## Server side',
      '',
      'From `/stats` of the scorer apps (arrival → answer ready to write, last 4096 requests per row):',
      '',
      '| policy | shadow | serves | p50 ms | p99 ms |',
      '|---|---|---:|---:|---:|',
      ...serverSide.map((r) => `| ${r.policy} | ${r.shadow} | ${r.serves.toLocaleString('en-US')} | ${r.latency_ms?.p50.toFixed(3) ?? '–'} | ${r.latency_ms?.p99.toFixed(3) ?? '–'} |`),
      '',
      "## Memory of the champion's process",
      '',
      `Snapshot of ${USERS.toLocaleString('en-US')} users (Arrow, written by the parent) loaded through \`loadSnapshot\` (verified) in ${(scorerReady.loadMs / 1000).toFixed(1)} s; each scorer process loads it.`,
      '',
      '| when | RSS MiB | heap used MiB | external MiB (array buffers included) |',
      '|---|---:|---:|---:|',
      `| before the snapshot (modules loaded, gc) | ${mib(scorerReady.before.rss)} | ${mib(scorerReady.before.heapUsed)} | ${mib(scorerReady.before.external)} |`,
      `| snapshot loaded, the app built (gc) | ${mib(scorerReady.memory.rss)} | ${mib(scorerReady.memory.heapUsed)} | ${mib(scorerReady.memory.external)} |`,
      `| after the runs (gc) | ${mib(after.rss)} | ${mib(after.heapUsed)} | ${mib(after.external)} |`,
      '',
      `The bare server's RSS (same module graph under tsx): ${mib(bareReady.memory.rss)} MiB. After the runs each scorer app holds the hot chunks of its serve window and its embedded bus's duplicate window (16.5 MB of tables).`,
      '',
    ].join('\n');
    await writeFile(fileURLToPath(new URL('./results/serve.md', import.meta.url)), md);
    process.stdout.write(md);
  } finally {
    resumeAll();
    for (const c of children) c.proc.send('exit');
    await Promise.all(children.map((c) => new Promise((r) => (c.proc.exitCode !== null ? r(null) : c.proc.once('exit', r)))));
  }
}

await withOwnNats(main);
