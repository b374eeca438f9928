/**
 * `npm run bench:floor` — what the exploration floor costs in reward (issue #16): LinUCB and
 * Thompson sampling, each learning online from a fresh state in the persona simulation, served
 * with floors 0, 0.02, 0.05 and 0.1; the same seeds for every floor, so each floor's cost is a
 * paired difference with floor 0 over the replications (mean and 95% interval). Beside it, what
 * the floor buys: the smallest propensity any arm is logged with (γ/K), which bounds the
 * importance weight a different policy gets on those logs (≤ K/γ). Writes
 * bench/results/exploration-floor.md.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The compiled dist/ that `oo-ml sim` runs (its worker threads load it too).
const dist = (m: string): Promise<unknown> => import(new URL(`../dist/${m}.js`, import.meta.url).href);
const { simulateParallel } = (await dist('sim/parallel')) as typeof import('../src/sim/parallel.js');
const { ARM_COUNT } = (await dist('features/arms')) as typeof import('../src/features/arms.js');

const USERS = Number(process.env['BENCH_USERS'] ?? 400);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 24 * 28);
const REPS = Number(process.env['BENCH_REPS'] ?? 8);
const FLOORS = [0, 0.02, 0.05, 0.1];
const RESULTS = join(dirname(fileURLToPath(import.meta.url)), 'results', 'exploration-floor.md');

const lines: string[] = [];
const say = (line = ''): void => {
  console.log(line);
  lines.push(line);
};
const f4 = (x: number): string => x.toFixed(4);

say(`# bench:floor — ${new Date().toISOString()}`);
say();
say(`Machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ${platform()} ${release()}, Node ${process.version}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}.`);
say();
say(`${USERS} simulated users × ${ROUNDS} hourly rounds, ${REPS} replications (seed 20261204), each policy learning online from a fresh state.`);
say();
say('| policy | floor γ | min propensity γ/K | mean reward per decision [95% CI] | cost vs γ = 0 [95% CI] |');
say('|---|---:|---:|---|---|');
for (const policy of ['linucb', 'thompson']) {
  const specs = FLOORS.map((floor) => ({ name: `${policy} γ=${floor}`, policy, explorationFloor: floor }));
  const t0 = performance.now();
  const results = await simulateParallel({ users: USERS, rounds: ROUNDS, seed: 20261204 }, REPS, specs, 2);
  process.stderr.write(`${policy}: ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  results.policies.forEach((p, i) => {
    const floor = FLOORS[i]!;
    const cost = p.vsBaseline === null ? '—' : `${f4(-p.vsBaseline.mean)} [${f4(-p.vsBaseline.ci95[1])}, ${f4(-p.vsBaseline.ci95[0])}]`;
    say(`| ${policy} | ${floor} | ${floor === 0 ? '— (greedy: 0 for most arms)' : f4(floor / ARM_COUNT)} | ${f4(p.meanReward.mean)} [${f4(p.meanReward.ci95[0])}, ${f4(p.meanReward.ci95[1])}] | ${cost} |`);
  });
}
await mkdir(dirname(RESULTS), { recursive: true });
await writeFile(RESULTS, lines.join('\n') + '\n');
