/**
 * `npm run bench:sim` — simulated decisions per second end to end: the environment (scenario
 * build, daily profile bookkeeping, feature vector, oracle probabilities) plus the policy's choice
 * and update. Results are printed and written to bench/results/sim.md.
 *
 * Target (issue #5): ≥ 500,000 decisions/s per core for LinUCB at D=12, K=8 — K is the number of
 * arms there (ARM_COUNT, fixed by the contract), D the v2 layout. Reported, LinUCB first:
 * - one thread, replay: the policy over a prebuilt scenario (a scenario is built once per
 *   replication and shared by every policy, so this is the per-policy cost);
 * - one thread, including the scenario build: build + replay, i.e. a one-policy simulation;
 * - worker threads: `simulateParallel` on 1 and on 2 workers: warm (each worker's rate after its
 *   first replication, as the one-thread rows run after a warm-up, averaged over the workers) over
 *   16 replications per worker, three times; and wall-clock with start-up included (total /
 *   workers), for those runs and for a short run of 8 replications.
 * The other policies: replay only. Load average at start and end: the machine is shared.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ARM_COUNT } from '../src/features/arms.js';
import { vectorDim } from '../src/features/vectors.js';
import { POLICY_NAMES } from '../src/policies/policy.js';
import type { Scenario } from '../src/sim/scenario.js';

// The measured code is the compiled dist/ that `oo-ml sim` runs (bench:sim builds it first):
// under tsx, esbuild's keepNames wraps closures, and the same runs measured 10–25 % slower.
const dist = (m: string): Promise<unknown> => import(new URL(`../dist/${m}.js`, import.meta.url).href);
const { toEntrant } = (await dist('sim/entrants')) as typeof import('../src/sim/entrants.js');
const { runPolicy } = (await dist('sim/runner')) as typeof import('../src/sim/runner.js');
const { createScenario } = (await dist('sim/scenario')) as typeof import('../src/sim/scenario.js');
const { createRng } = (await dist('random/rng')) as typeof import('../src/random/rng.js');

const USERS = Number(process.env['BENCH_USERS'] ?? 2000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 24 * 28);
const TARGET = 500_000;
const REPLICATIONS = 8;
const LONG_REPLICATIONS_PER_WORKER = 16;
const WORKERS = [1, 2];
const RESULTS = join(dirname(fileURLToPath(import.meta.url)), 'results', 'sim.md');

const lines: string[] = [];
const say = (line = ''): void => {
  console.log(line);
  lines.push(line);
};
const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' / ');
const verdict = (perSec: number): string => (perSec >= TARGET ? 'met' : 'NOT met');
const seconds = (since: bigint): number => Number(process.hrtime.bigint() - since) / 1e9;

const cpu = cpus();
const options = { users: USERS, rounds: ROUNDS, seed: 1 };
say('## Simulation: decisions per second end to end (`npm run bench:sim`)');
say();
say(`- Machine: ${cpu[0]?.model ?? 'unknown'} × ${cpu.length} logical cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}`);
say(`- Load average at start (1/5/15 min): ${load()}`);
say(`- Workload: ${USERS.toLocaleString('en-US')} users × ${ROUNDS} simulated hours, seed 1; D = ${vectorDim('v2')} (v2), K = ${ARM_COUNT} arms`);

/** Replays `scenario` with a fresh state of `policy`; decisions per second. */
function replay(policy: string, scenario: Scenario, seed: number): number {
  const entrant = toEntrant({ name: policy, policy });
  const state = entrant.initialState();
  const t = process.hrtime.bigint();
  runPolicy(scenario, entrant, state, {}, createRng(seed));
  return scenario.n / seconds(t);
}

// Scenario builds (replications 0–4; the first ones warm the JIT up); replication 0 is the one
// every policy replays.
const builds: number[] = [];
const scenarios: Scenario[] = [];
for (let rep = 0; rep < 5; rep++) {
  const t = process.hrtime.bigint();
  scenarios.push(createScenario(options, rep));
  builds.push(seconds(t));
}
const scenario = scenarios[0]!;
say(`- Scenario: ${fmt(scenario.n)} decisions; built in ${(median(builds) * 1e3).toFixed(0)} ms (median of ${builds.length}: ${builds.map((s) => (s * 1e3).toFixed(0)).join(', ')} ms) = ${fmt(scenario.n / median(builds))} decisions/s`);
say();

// Warm-up: every policy on a short prefix, so no policy's first measured run pays for the JIT.
const prefix = { ...scenario, n: Math.min(20_000, scenario.n) };
for (const name of POLICY_NAMES) replay(name, prefix, 1);

// LinUCB, one thread: replay, then build + replay.
const linReplay = Array.from({ length: 5 }, (_, k) => replay('linucb', scenario, 2 + k));
const linEndToEnd: number[] = [];
for (let rep = 5; rep < 10; rep++) {
  const entrant = toEntrant({ name: 'linucb', policy: 'linucb' });
  const t = process.hrtime.bigint();
  const s = createScenario(options, rep);
  runPolicy(s, entrant, entrant.initialState(), {}, createRng(rep));
  linEndToEnd.push(s.n / seconds(t));
}

// The other policies: replay only (Thompson too: the simulator draws arms with chooseArm, which
// skips the propensity quadrature that made a Thompson decision ~70 µs).
const others = POLICY_NAMES.filter((n) => n !== 'linucb').map((name) => {
  const runs = Array.from({ length: 3 }, (_, k) => replay(name, scenario, 2 + k));
  return { name, runs };
});

// Worker threads: the parallel runner needs the compiled worker script (dist/). The path is a
// variable so that type-checking does not depend on dist/ being built; its API is src/sim/parallel.ts.
const compiledParallel = '../dist/sim/parallel.js';
const { simulateParallel } = (await import(compiledParallel)) as typeof import('../src/sim/parallel.js');
// Per worker count, a short run (the default 8 replications) and, three times, a long one (16
// replications per worker), timed wall-clock from the call to the summary. In the long runs each
// worker's completions are timed too: after its first replication (thread start-up, module
// graph, JIT warm-up: ~2–3× a later one) the rest is its warm throughput — measured like the
// one-thread rows above, which also run after a warm-up.
const parallel = [];
for (const workers of WORKERS) {
  const short = process.hrtime.bigint();
  const s8 = await simulateParallel(options, REPLICATIONS, [{ name: 'linucb', policy: 'linucb' }], workers);
  const shortWall = seconds(short);
  const shortPerCore = s8.policies[0]!.decisions / shortWall / workers;
  const wallPerCore: number[] = [];
  const warmPerCore: number[] = [];
  const startUp: number[] = [];
  for (let run = 0; run < 3; run++) {
    // Per worker: when each of its replications ended, and their decisions.
    const done = new Map<number, { at: number; decisions: number }[]>();
    const t = process.hrtime.bigint();
    const r = await simulateParallel(options, LONG_REPLICATIONS_PER_WORKER * workers, [{ name: 'linucb', policy: 'linucb' }], workers, 0, (_rep, runs, worker) => {
      const list = done.get(worker) ?? [];
      list.push({ at: seconds(t), decisions: runs[0]!.decisions });
      done.set(worker, list);
    });
    wallPerCore.push(r.policies[0]!.decisions / seconds(t) / workers);
    // Each worker's own rate from the end of its first replication to the end of its last (the
    // replications in between ran wholly inside that span), averaged over the workers.
    const rates = [...done.values()].map((list) => list.slice(1).reduce((n, d) => n + d.decisions, 0) / (list.at(-1)!.at - list[0]!.at));
    warmPerCore.push(rates.reduce((a, b) => a + b, 0) / rates.length);
    startUp.push(Math.max(...[...done.values()].map((list) => list[0]!.at)));
  }
  parallel.push({ workers, shortWall, shortPerCore, wallPerCore, warmPerCore, startUp });
}

const runsOf = (xs: readonly number[]): string => xs.map((x) => fmt(x)).join(', ');
say('### LinUCB (D = 12, K = 8), target ≥ 500,000 decisions/s per core');
say();
say('| measurement | decisions/s, median | best | runs | target |');
say('|---|---:|---:|---|---|');
say(`| one thread, replay of a prebuilt scenario | ${fmt(median(linReplay))} | ${fmt(Math.max(...linReplay))} | ${runsOf(linReplay)} | **${verdict(median(linReplay))}** |`);
say(`| one thread, scenario build + replay | ${fmt(median(linEndToEnd))} | ${fmt(Math.max(...linEndToEnd))} | ${runsOf(linEndToEnd)} | **${verdict(median(linEndToEnd))}** |`);
for (const p of parallel) {
  const w = `${p.workers} worker${p.workers > 1 ? 's' : ''}`;
  const long = LONG_REPLICATIONS_PER_WORKER * p.workers;
  say(`| ${w}, warm: ${long} replications less each worker's first, per core (mean of the workers' rates) | ${fmt(median(p.warmPerCore))} | ${fmt(Math.max(...p.warmPerCore))} | ${runsOf(p.warmPerCore)} | **${verdict(median(p.warmPerCore))}** |`);
  say(`| ${w}, wall-clock: ${long} replications, start-up included, per core | ${fmt(median(p.wallPerCore))} | ${fmt(Math.max(...p.wallPerCore))} | ${runsOf(p.wallPerCore)} | ${verdict(median(p.wallPerCore))} |`);
  say(`| ${w}, wall-clock: ${REPLICATIONS} replications (${p.shortWall.toFixed(2)} s), start-up included, per core | ${fmt(p.shortPerCore)} | — | ${fmt(p.shortPerCore)} | ${verdict(p.shortPerCore)} |`);
}
say();
say('Worker rows use `simulateParallel` as `oo-ml sim` does, on the 2 cores shared with whatever else runs. "Warm" is');
say('each worker\'s throughput from the end of its first replication to the end of its last, averaged over the workers,');
say('i.e. measured after a warm-up like the one-thread rows, and decides "met"; the wall-clock rows add the fixed start-up of each worker (thread, module graph');
say(`and JIT warm-up: every worker's first replication ends ${parallel.map((p) => `${median(p.startUp).toFixed(2)} s`).join(' / ')} after the call with`);
say(`${WORKERS.join(' / ')} workers), which a short run of ${REPLICATIONS} replications does not amortise.`);
say();
say('### Every policy, one thread, replay of a prebuilt scenario');
say();
say('| policy | layout | decisions/s, median | best | runs |');
say('|---|---|---:|---:|---|');
const all = [{ name: 'linucb', runs: linReplay }, ...others];
for (const { name, runs } of all) {
  const layout = toEntrant({ name, policy: name }).policy.layout;
  say(`| ${name} | ${layout} (D = ${vectorDim(layout)}) | ${fmt(median(runs))} | ${fmt(Math.max(...runs))} | ${runsOf(runs)} |`);
}
say();
say(`- Load average at end: ${load()}`);
say(`- Measured ${new Date().toISOString()}.`);

await mkdir(dirname(RESULTS), { recursive: true });
await writeFile(RESULTS, `${lines.join('\n')}\n`);
console.log(`\nwritten to ${RESULTS}`);
