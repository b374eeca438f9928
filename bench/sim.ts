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
 * - worker threads: `simulateParallel` (scenario builds, worker start-up and the summary
 *   included) on 1 and on 2 workers, for 8 replications (a short run) and for 16 replications per
 *   worker (a long run, start-up amortised); per core = total / workers.
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

// The other policies: replay only. Thompson computes its propensities by quadrature (~70 µs a
// decision), so it runs once.
const others = POLICY_NAMES.filter((n) => n !== 'linucb').map((name) => {
  const runs = Array.from({ length: name === 'thompson' ? 1 : 3 }, (_, k) => replay(name, scenario, 2 + k));
  return { name, runs };
});

// Worker threads: the parallel runner needs the compiled worker script (dist/).
// @ts-expect-error dist/ has no declaration files; its API is src/sim/parallel.ts.
const { simulateParallel } = (await import('../dist/sim/parallel.js')) as typeof import('../src/sim/parallel.js');
// Two run lengths per worker count: the default 8 replications, where each worker's fixed start-up
// (thread, module graph, JIT warm-up: its first replication takes ~3× a later one) is a large
// share of a few seconds, and 16 replications per worker, where it is amortised — the steady
// throughput a long `oo-ml sim` gets. Wall-clock, everything included, in both.
const parallel = [];
for (const workers of WORKERS) {
  for (const reps of [REPLICATIONS, LONG_REPLICATIONS_PER_WORKER * workers]) {
    const t = process.hrtime.bigint();
    const r = await simulateParallel(options, reps, [{ name: 'linucb', policy: 'linucb' }], workers);
    const wall = seconds(t);
    const total = r.policies[0]!.decisions / wall;
    parallel.push({ workers, reps, wall, total, perCore: total / workers });
  }
}

const runsOf = (xs: readonly number[]): string => xs.map((x) => fmt(x)).join(', ');
say('### LinUCB (D = 12, K = 8), target ≥ 500,000 decisions/s per core');
say();
say('| measurement | decisions/s, median | best | runs | target |');
say('|---|---:|---:|---|---|');
say(`| one thread, replay of a prebuilt scenario | ${fmt(median(linReplay))} | ${fmt(Math.max(...linReplay))} | ${runsOf(linReplay)} | **${verdict(median(linReplay))}** |`);
say(`| one thread, scenario build + replay | ${fmt(median(linEndToEnd))} | ${fmt(Math.max(...linEndToEnd))} | ${runsOf(linEndToEnd)} | **${verdict(median(linEndToEnd))}** |`);
for (const p of parallel) {
  say(`| ${p.reps} replications on ${p.workers} worker${p.workers > 1 ? 's' : ''} (${p.wall.toFixed(2)} s), per core (total ${fmt(p.total)}) | ${fmt(p.perCore)} | — | 1 | **${verdict(p.perCore)}** |`);
}
say();
say('Worker runs are wall-clock from the call to the summary: scenario builds, thread start-up, each worker\'s module');
say('graph and JIT warm-up (its first replication takes ~3× a later one) included; the workers share the 2 cores with');
say(`whatever else runs. ${REPLICATIONS} replications is a short run where that start-up is a large share;`);
say(`${LONG_REPLICATIONS_PER_WORKER} per worker is the steady throughput of a long run. Medians decide "met".`);
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
