/**
 * `npm run bench:replicas` — what replicated online learning costs:
 *
 *  1. **Fold throughput**: a replica starting with no checkpoint catches up with a stream of
 *     BENCH_EVENTS events (2 serves : 1 reward, serves carrying their features), on the embedded
 *     bus and on NATS JetStream — events per second per replica, the real start path (buildApp).
 *  2. **Reward-to-update latency across replicas** (NATS): replica A in a child process answers
 *     /score and /reward over HTTP; replica B in this process folds the same stream. Each reward
 *     is timed from the moment its HTTP request to A starts until B's fold applied it (p50, p99
 *     over BENCH_REWARDS rewards, sent one at a time).
 *  3. **Ingest throughput**: the same stream through `oo-ml ingest`'s job into the Parquet event
 *     log (batches of 10,000), on both buses. Target ≥ 100,000 events/s.
 *  4. **Serve window cost**: memory per serve held in memory, and bytes per serve on disk once
 *     evicted, measured on 1 M serves; extrapolated to 1,000 serves/s over the 24 h window.
 *
 * A nats-server (Debian's package) is started on a free loopback port with its own store; NATS
 * parts are skipped, and said so, when there is none. Writes bench/results/replicas.md.
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, loadavg, platform, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import xxhash from 'xxhash-wasm';
import type { EventBus } from '../src/events/event-bus.js';
import type { OoEvent } from '../src/events/schemas.js';
import { ARM_COUNT, ARM_IDS } from '../src/features/arms.js';
import { createRng } from '../src/random/rng.js';
import type { OoMlApp } from '../src/server/app.js';
import type { ServerDeps } from '../src/server/deps.js';
import { formatServeId } from '../src/server/online-learning/serve-id.js';
import { natsServerBin, startNatsServer, type NatsTestServer } from '../fixtures/nats-server.js';
import { syntheticSnapshotIndex } from '../fixtures/synthetic-snapshot.js';

/** What is measured runs as `oo-ml` runs it: the compiled dist/ (tsx wraps every closure of the TS source for names, a few % of CPU). */
async function loadLib() {
  const dist = (m: string): Promise<unknown> => import(new URL(`../dist/${m}.js`, import.meta.url).href);
  return {
    ...((await dist('events/event-bus')) as typeof import('../src/events/event-bus.js')),
    ...((await dist('events/embedded-transport')) as typeof import('../src/events/embedded-transport.js')),
    ...((await dist('events/nats-transport')) as typeof import('../src/events/nats-transport.js')),
    ...((await dist('pipelines/ingest')) as typeof import('../src/pipelines/ingest.js')),
    ...((await dist('policies/catalog')) as typeof import('../src/policies/catalog.js')),
    ...((await dist('prompts/tip-writer')) as typeof import('../src/prompts/tip-writer.js')),
    ...((await dist('server/app')) as typeof import('../src/server/app.js')),
    ...((await dist('server/online-learning/serve-record')) as typeof import('../src/server/online-learning/serve-record.js')),
    ...((await dist('server/online-learning/serve-window')) as typeof import('../src/server/online-learning/serve-window.js')),
  };
}
const { createEventBusOver, createEmbeddedTransport, createNatsTransport, ingestEvents, getPolicy, createTipWriter, tipWriterSettingsFromEnv, buildApp, RECORD_BYTES, CHUNK_RECORDS, openServeWindow } = await loadLib();

const EVENTS = Number(process.env['BENCH_EVENTS'] ?? 300_000);
const REWARDS = Number(process.env['BENCH_REWARDS'] ?? 2_000);
const WINDOW_SERVES = Number(process.env['BENCH_WINDOW_SERVES'] ?? 1_000_000);
/** The parts to run (comma-separated: embedded, nats, latency, window); all by default. */
const ONLY = new Set((process.env['BENCH_ONLY'] ?? 'embedded,nats,latency,window').split(',').map((s) => s.trim()));
const AS_OF = new Date('2026-02-05T11:00:00Z');
const NOW = new Date(AS_OF.getTime() + 3_600_000);
const { h32 } = await xxhash();
const hash32 = (s: string): number => h32(s);

/** Server dependencies over `bus` (a LinUCB champion, 10,000 synthetic users). */
function deps(bus: EventBus, stateDir: string, limits: ServerDeps['limits'] = {}): ServerDeps {
  const linucb = getPolicy('linucb');
  const snapshot = syntheticSnapshotIndex({ users: 10_000, asOf: AS_OF });
  return {
    policies: { load: async () => ({ byName: new Map([['tip-policy@champion', { policy: linucb, state: linucb.init(ARM_COUNT), modelVersion: '1', layout: linucb.layout }]]), champion: 'tip-policy@champion', shadows: [] }) },
    snapshot: { load: async () => snapshot },
    bus,
    stateDir,
    tipWriter: createTipWriter(tipWriterSettingsFromEnv({}), { hash32 }),
    now: () => NOW,
    rng: createRng(1),
    hash32,
    logger: false,
    limits,
  };
}

/** A stream of serves (with features) and rewards for half of them, as replicas would publish it. */
function* streamEvents(n: number): Generator<OoEvent> {
  const rng = createRng(7);
  const issuer = '0123456789ab';
  let serves = 0;
  for (let i = 0; i < n; i++) {
    const ts = new Date(NOW.getTime() + i).toISOString();
    if (i % 3 !== 2) {
      const arm = rng.int(ARM_COUNT);
      yield {
        type: 'tip.served',
        event_id: `bench-${i}`,
        ts,
        user_id: `u${rng.int(10_000)}`,
        serve_id: formatServeId(issuer, serves++),
        arm: ARM_IDS[arm]!,
        propensity: 0.125,
        policy: 'tip-policy@champion',
        model_version: '1',
        prompt_version: 'v1',
        context: { hour_of_day: rng.int(24), day_of_week: rng.int(7), open_tasks: rng.int(12), overdue_tasks: rng.int(3) },
        shadow: false,
        features: { has_profile: true, completion_rate: rng.next(), dismiss_rate: rng.next(), mean_dwell_sec: rng.next() * 600, preferred_hour: rng.int(24), tip_volume: rng.int(40) },
        experiment: null,
        variant: null,
      };
    } else {
      yield { type: 'tip.reaction', event_id: `bench-${i}`, ts, user_id: 'u1', serve_id: formatServeId(issuer, serves - 1 - rng.int(Math.min(serves, 50))), reaction: rng.next() < 0.4 ? 'completed' : 'dismissed', dwell_ms: rng.int(60_000) };
    }
  }
}

async function publishAll(bus: EventBus, n: number): Promise<number> {
  const t0 = performance.now();
  let batch: Promise<unknown>[] = [];
  for (const e of streamEvents(n)) {
    batch.push(bus.publish(e.type === 'tip.reaction' ? 'feedback' : 'signals', e));
    if (batch.length === 1000) {
      await Promise.all(batch);
      batch = [];
    }
  }
  await Promise.all(batch);
  return (performance.now() - t0) / 1000;
}

interface BusRow {
  bus: string;
  publishS: number;
  foldS: number;
  foldRate: number;
  ingestS: number;
  ingestRate: number;
  /** From the last batch to the end of the run (--until-idle noticing the end). */
  idleS: number;
  files: number;
  /** CPU time of the ingesting process (all its threads: JS and DuckDB) per event. */
  cpuUsPerEvent: number;
  /** CPU time of nats-server per event meanwhile (NATS only). */
  serverUsPerEvent: number | null;
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
function serverCpuS(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of stat, in clock ticks (100 a second on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function throughput(kind: 'embedded' | 'nats', nats: NatsTestServer | null): Promise<BusRow> {
  const dir = await mkdtemp(join(tmpdir(), 'oo-ml-bench-replicas-'));
  try {
    const open = async (): Promise<EventBus> => createEventBusOver(kind === 'nats' ? await createNatsTransport(nats!.url) : createEmbeddedTransport(join(dir, 'bus')));
    const writer = await open();
    const publishS = await publishAll(writer, EVENTS);
    await writer.close();
    // 1. A replica with no checkpoint: its start folds the whole stream before it is ready.
    const bus = await open();
    const t0 = performance.now();
    const app = await buildApp(deps(bus, join(dir, 'state')));
    const foldS = (performance.now() - t0) / 1000;
    const position = app.ooMl.learning.fold.position;
    if (position < EVENTS) throw new Error(`the fold reached ${position} of ${EVENTS}`);
    await app.close();
    await bus.close();
    // 3. Ingest into Parquet, in a process of its own as `oo-ml ingest` runs (not in this one,
    // whose heap still holds the fold's garbage and the publisher's buffers).
    const ingest = await ingestInChild(kind === 'nats' ? nats!.url : join(dir, 'bus'), dir, kind === 'nats' ? nats!.pid : null);
    if (ingest.consumed !== EVENTS) throw new Error(`ingest consumed ${ingest.consumed} of ${EVENTS}`);
    return {
      bus: kind,
      publishS,
      foldS,
      foldRate: EVENTS / foldS,
      ingestS: ingest.ingestS,
      ingestRate: EVENTS / ingest.ingestS,
      idleS: ingest.idleS,
      files: ingest.files,
      cpuUsPerEvent: ingest.cpuUsPerEvent,
      serverUsPerEvent: ingest.serverUsPerEvent,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** What the ingest child reports. */
interface IngestFigures {
  consumed: number;
  ingestS: number;
  idleS: number;
  files: number;
  cpuUsPerEvent: number;
  serverUsPerEvent: number | null;
}

/** Runs the ingest in a child process (`ingest` mode of this script) and returns its figures. */
async function ingestInChild(bus: string, dir: string, natsPid: number | null): Promise<IngestFigures> {
  const child = fork(fileURLToPath(import.meta.url), ['ingest', bus, dir, String(natsPid ?? '')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise<IngestFigures>((resolve, reject) => {
    child.once('message', (m: IngestFigures) => (typeof m?.consumed === 'number' ? resolve(m) : reject(new Error(`the ingest child sent ${JSON.stringify(m)}`))));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the ingest child exited with ${code}`)));
  });
}

/**
 * The ingest child: consumes the bus at `bus` (a NATS URL, or an embedded bus folder) into
 * `<dir>/events`, timed from its start to its last batch written; what follows is --until-idle
 * noticing that nothing more comes (JetStream pulls wait at least 1 s), a fixed cost of a run,
 * not of its events (reported beside).
 */
async function ingestChild(bus: string, dir: string, natsPid: number | null): Promise<void> {
  const events = createEventBusOver(bus.startsWith('nats://') ? await createNatsTransport(bus) : createEmbeddedTransport(bus));
  const t1 = performance.now();
  let lastBatch = t1;
  const cpu0 = process.cpuUsage();
  const server0 = natsPid === null ? 0 : serverCpuS(natsPid);
  let cpuAtLast = cpu0;
  let serverAtLast = server0;
  const summary = await ingestEvents({
    bus: events,
    eventsDir: join(dir, 'events'),
    tmpDir: join(dir, 'tmp'),
    batchSize: 10_000,
    maxWaitMs: 200,
    untilIdle: true,
    idleMs: 300,
    onBatch: () => {
      lastBatch = performance.now();
      cpuAtLast = process.cpuUsage();
      if (natsPid !== null) serverAtLast = serverCpuS(natsPid);
    },
  });
  const idleS = (performance.now() - lastBatch) / 1000;
  await events.close();
  const cpuS = (cpuAtLast.user + cpuAtLast.system - cpu0.user - cpu0.system) / 1e6;
  const figures: IngestFigures = {
    consumed: summary.consumed,
    ingestS: (lastBatch - t1) / 1000,
    idleS,
    files: summary.files.length,
    cpuUsPerEvent: (cpuS * 1e6) / summary.consumed,
    serverUsPerEvent: natsPid === null ? null : ((serverAtLast - server0) * 1e6) / summary.consumed,
  };
  process.send!(figures, () => process.exit(0));
}

// ---- 2. latency across replicas -------------------------------------------------------------

async function replicaChild(url: string, dir: string): Promise<void> {
  const bus = createEventBusOver(await createNatsTransport(url));
  const app = await buildApp(deps(bus, join(dir, 'state-a'), { rewardWaitMs: 0 }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  process.send!({ port: (app.server.address() as { port: number }).port });
  process.on('message', async () => {
    await app.close();
    await bus.close();
    process.exit(0);
  });
}

async function latency(nats: NatsTestServer): Promise<{ p50: number; p90: number; p99: number; max: number; n: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'oo-ml-bench-latency-'));
  const child = fork(fileURLToPath(import.meta.url), ['replica-a', nats.url, dir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m: { port: number }) => resolve(m.port));
      child.once('exit', (code) => reject(new Error(`replica A exited with ${code}`)));
    });
    const bus = createEventBusOver(await createNatsTransport(nats.url));
    const b: OoMlApp = await buildApp(deps(bus, join(dir, 'state-b')));
    const post = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (!res.ok) throw new Error(`${path} answered ${res.status}: ${await res.text()}`);
      return (await res.json()) as Record<string, unknown>;
    };
    const times: number[] = [];
    for (let i = 0; i < REWARDS + 200; i++) {
      const served = await post('/score', { user_id: `u${i % 10_000}` });
      // B knows the serve before the reward is sent (as it would a moment after any /score).
      if ((await b.ooMl.learning.waitForServe(served['serve_id'] as string, 5_000)) === null) throw new Error('replica B never saw a serve');
      const t0 = performance.now();
      const rewarded = await post('/reward', { serve_id: served['serve_id'], reaction: 'completed' });
      const report = await b.ooMl.learning.waitForReward(rewarded['event_id'] as string, 5_000);
      const ms = performance.now() - t0;
      if (report?.outcome !== 'applied') throw new Error(`replica B did not apply a reward: ${JSON.stringify(report)}`);
      if (i >= 200) times.push(ms); // the first 200 warm both processes up
    }
    await b.close();
    await bus.close();
    times.sort((x, y) => x - y);
    const q = (p: number): number => times[Math.min(times.length - 1, Math.ceil(p * times.length) - 1)]!;
    return { p50: q(0.5), p90: q(0.9), p99: q(0.99), max: times.at(-1)!, n: times.length };
  } finally {
    child.send('stop');
    await new Promise((resolve) => child.once('exit', resolve));
    await rm(dir, { recursive: true, force: true });
  }
}

// ---- 4. serve window ------------------------------------------------------------------------

async function windowCost(): Promise<{ memPerServe: number; diskPerServe: number; boundedMemMiB: number; boundedHot: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'oo-ml-bench-window-'));
  try {
    const record = (seq: number) => ({
      serveSeq: seq + 1,
      tsMs: NOW.getTime() + seq,
      claim: 0,
      claimValue: 0,
      input: { hourOfDay: seq % 24, dayOfWeek: seq % 7, openTasks: seq % 9, overdueTasks: seq % 2, hasProfile: true, profile: { completion_rate: 0.3, dismiss_rate: 0.1, mean_dwell_sec: 40, preferred_hour: 9, tip_volume: 3 } },
      userId: `user-${seq % 100_000}`,
      userHash: 0,
      owner: 0,
      arm: seq % ARM_COUNT,
    });
    const owner = { policy: 'tip-policy@champion', modelVersion: '1', promptVersion: 'v1', experiment: null, variant: null };
    const measure = async (hot: number, sub: string) => {
      global.gc?.();
      const m0 = process.memoryUsage();
      const w = await openServeWindow({ dir: join(dir, sub), hotRecords: hot, keepMs: 86_400_000, hash32 });
      const o = w.owner(owner)!;
      for (let seq = 0; seq < WINDOW_SERVES; seq++) {
        const added = w.add({ issuer: 'aaaaaaaaaaaa', seq }, { ...record(seq), owner: o });
        if (typeof added !== 'boolean') await added;
      }
      await w.flush();
      global.gc?.();
      const m1 = process.memoryUsage();
      const stats = w.stats();
      await w.close();
      return { bytes: m1.heapUsed + m1.arrayBuffers - (m0.heapUsed + m0.arrayBuffers), stats };
    };
    const all = await measure(WINDOW_SERVES + CHUNK_RECORDS, 'all');
    const bounded = await measure(64 * CHUNK_RECORDS, 'bounded');
    let disk = 0;
    for (const sub of await readdir(join(dir, 'bounded'))) {
      if (!/^[0-9a-f]{12}$/.test(sub)) continue;
      for (const f of await readdir(join(dir, 'bounded', sub))) disk += (await stat(join(dir, 'bounded', sub, f))).size;
    }
    // flush() wrote the hot chunks too: every serve is on disk.
    return { memPerServe: all.bytes / WINDOW_SERVES, diskPerServe: disk / WINDOW_SERVES, boundedMemMiB: bounded.bytes / 2 ** 20, boundedHot: bounded.stats.hotRecords };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---- main -----------------------------------------------------------------------------------

async function main(): Promise<void> {
  let nats: NatsTestServer | null = null;
  try {
    natsServerBin();
    nats = await startNatsServer();
  } catch (e) {
    process.stderr.write(`no nats-server (${(e as Error).message}); NATS figures skipped\n`);
  }
  try {
    const rows: BusRow[] = [];
    for (const kind of ['embedded', 'nats'] as const) {
      if ((kind === 'nats' && nats === null) || !ONLY.has(kind)) continue;
      process.stderr.write(`fold and ingest on the ${kind} bus (${EVENTS} events)…\n`);
      rows.push(await throughput(kind, nats));
    }
    process.stderr.write(`reward-to-update latency across replicas (${REWARDS} rewards)…\n`);
    const lat = nats === null || !ONLY.has('latency') ? null : await latency(nats);
    process.stderr.write(`serve window (${WINDOW_SERVES} serves)…\n`);
    const win = ONLY.has('window') ? await windowCost() : null;
    // The window keeps the reward window (24 h) + how late a reward may come (6 h) + 1 h.
    const kept = 1_000 * 31 * 3_600;
    const lines = [
      `# bench:replicas — ${new Date().toISOString()}`,
      '',
      `Machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ${platform()} ${release()}, Node ${process.version}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}.`,
      '',
      `## Fold and ingest (${EVENTS.toLocaleString('en')} events: 2 serves : 1 reward)`,
      '',
      '| bus | publish (s) | fold at start (s) | fold events/s | ingest (s) | ingest events/s | ingest CPU µs/event | nats-server CPU µs/event | end of run (s) | Parquet files |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...rows.map(
        (r) =>
          `| ${r.bus} | ${r.publishS.toFixed(1)} | ${r.foldS.toFixed(2)} | ${Math.round(r.foldRate).toLocaleString('en')} | ${r.ingestS.toFixed(2)} | ${Math.round(r.ingestRate).toLocaleString('en')} | ${r.cpuUsPerEvent.toFixed(1)} | ${r.serverUsPerEvent === null ? '—' : r.serverUsPerEvent.toFixed(1)} | ${r.idleS.toFixed(2)} | ${r.files} |`,
      ),
      '',
      'Ingest is timed from its start to its last batch written (batches of 10,000, one DuckDB thread); "end of run" is what --until-idle then takes to notice the bus is quiet.',
      '',
      '## Reward to update, across replicas (NATS)',
      '',
      lat === null
        ? 'skipped (no nats-server, or not in BENCH_ONLY)'
        : `${lat.n} rewards sent to replica A (child process, HTTP), applied by replica B's fold: p50 ${lat.p50.toFixed(2)} ms, p90 ${lat.p90.toFixed(2)} ms, p99 ${lat.p99.toFixed(2)} ms, max ${lat.max.toFixed(2)} ms.`,
      '',
      '## Serve window',
      '',
      ...(win === null
        ? ['skipped (not in BENCH_ONLY)']
        : [
            `Measured on ${WINDOW_SERVES.toLocaleString('en')} serves: ${win.memPerServe.toFixed(1)} bytes per serve held in memory (records are ${RECORD_BYTES} bytes); ${win.diskPerServe.toFixed(1)} bytes per serve on disk once evicted; with a hot budget of ${win.boundedHot.toLocaleString('en')} serves memory stayed at ${win.boundedMemMiB.toFixed(1)} MiB.`,
            '',
            `At 1,000 serves/s the window keeps 31 h (the 24 h reward window, 6 h for late rewards, 1 h): ${kept.toLocaleString('en')} serves, ${((kept * win.memPerServe) / 2 ** 30).toFixed(1)} GiB if all were in memory; with the default hot budget (1,048,576 serves, ~17 min at that rate) memory stays at ~${((1_048_576 * win.memPerServe) / 2 ** 20).toFixed(0)} MiB and the rest is ${((kept * win.diskPerServe) / 2 ** 30).toFixed(1)} GiB on the replica's disk.`,
          ]),
      '',
    ];
    const report = lines.join('\n');
    process.stdout.write(report + '\n');
    await mkdir(new URL('./results/', import.meta.url), { recursive: true });
    // A partial run (BENCH_ONLY) does not replace the full report.
    if (process.env['BENCH_ONLY'] === undefined) await writeFile(new URL('./results/replicas.md', import.meta.url), report + '\n');
  } finally {
    await nats?.stop();
  }
}

if (process.argv[2] === 'replica-a') await replicaChild(process.argv[3]!, process.argv[4]!);
else if (process.argv[2] === 'ingest') await ingestChild(process.argv[3]!, process.argv[4]!, process.argv[5] ? Number(process.argv[5]) : null);
else await main();
