/**
 * `npm run bench:sim` — simulated decisions per second end to end (scenario replay, feature
 * vector, policy choice and update, oracle probabilities, profile bookkeeping), for each policy
 * on one thread, then LinUCB with replications spread over worker threads (built dist/ only).
 * Target (issue #5): ≥ 500,000 decisions/s per core for LinUCB at D=12, K=8.
 */
import { cpus, totalmem } from 'node:os';
import { POLICY_NAMES } from '../src/policies/policy.js';
import { toEntrant } from '../src/sim/entrants.js';
import { runPolicy } from '../src/sim/runner.js';
import { createScenario } from '../src/sim/scenario.js';
import { createRng } from '../src/random/rng.js';

const USERS = Number(process.env['BENCH_USERS'] ?? 2000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 24 * 28);

const cpu = cpus();
console.log(`machine: ${cpu[0]?.model ?? 'unknown'} × ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}`);
const options = { users: USERS, rounds: ROUNDS, seed: 1 };
let t = process.hrtime.bigint();
const scenario = createScenario(options, 0);
const scenarioMs = Number(process.hrtime.bigint() - t) / 1e6;
console.log(`scenario: ${scenario.n.toLocaleString()} decisions (${USERS} users × ${ROUNDS} rounds) built in ${scenarioMs.toFixed(0)} ms (shared by every policy)`);
const results: { policy: string; perSec: number }[] = [];
for (const name of POLICY_NAMES) {
  const entrant = toEntrant({ name, policy: name });
  // Warm-up on a short prefix, then the measured replay.
  runPolicy({ ...scenario, n: Math.min(20_000, scenario.n) }, entrant, entrant.initialState(), {}, createRng(1));
  const runs: number[] = [];
  for (let rep = 0; rep < 3; rep++) {
    const state = entrant.initialState();
    t = process.hrtime.bigint();
    runPolicy(scenario, entrant, state, {}, createRng(2 + rep));
    runs.push(scenario.n / (Number(process.hrtime.bigint() - t) / 1e9));
  }
  const best = Math.max(...runs);
  results.push({ policy: name, perSec: best });
  console.log(`${name.padEnd(12)} ${Math.round(best).toLocaleString().padStart(12)} decisions/s on one thread (best of 3: ${runs.map((r) => Math.round(r).toLocaleString()).join(', ')})`);
}
const lin = results.find((r) => r.policy === 'linucb')!;
console.log(`linucb end to end: ${Math.round(lin.perSec).toLocaleString()} decisions/s per core  [target ≥ 500,000: ${lin.perSec >= 500_000 ? 'met' : 'NOT met'}]`);

// Worker threads: the parallel runner needs the compiled worker script (dist/).
// @ts-expect-error dist/ has no declaration files; its API is src/sim/parallel.ts.
const { simulateParallel } = (await import('../dist/sim/parallel.js')) as typeof import('../src/sim/parallel.js');
const reps = Math.max(2, cpu.length) * 2;
for (const workers of [1, Math.max(2, cpu.length)]) {
  t = process.hrtime.bigint();
  const r = await simulateParallel(options, reps, [{ name: 'linucb', policy: 'linucb' }], workers);
  const secs = Number(process.hrtime.bigint() - t) / 1e9;
  console.log(`linucb, ${reps} replications on ${workers} worker(s): ${Math.round(r.policies[0]!.decisions / secs).toLocaleString()} decisions/s including scenario generation`);
}
