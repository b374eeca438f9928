/**
 * `npm run bench:ope` — off-policy evaluation at scale.
 *
 * Generates 10 million logged decisions over K = 8 arms in typed arrays (seeded: a context
 * u ~ U(0,1) per row; logging, target and mean reward interpolate between two fixed per-arm
 * profiles in u; propensities ≥ 0.05), a target distribution (n × k) and reward predictions
 * q̂ (n × k), then times IPS + SNIPS + DR with analytic intervals in one `evaluate` call
 * (validation of every row included). For contrast it also times the three estimators as three
 * separate calls, and a plain read of the target and q̂ arrays (the memory-bandwidth floor of
 * any pass over them). Prints rows/s, wall and CPU time, peak RSS and the machine.
 *
 * Target (issue "Off-policy evaluation"): ≤ 2 s for the three estimators on 10M rows.
 * `--write` also writes the figures to bench/results/ope.md.
 * Env: BENCH_ROWS (default 10,000,000), BENCH_RUNS (default 5).
 */
import { writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { evaluate, type OpeReport } from '../src/evaluation/evaluate.js';
import type { LoggedBandit } from '../src/evaluation/logged-bandit.js';
import { createRng } from '../src/random/rng.js';

const N = Number(process.env['BENCH_ROWS'] ?? 10_000_000);
const RUNS = Number(process.env['BENCH_RUNS'] ?? 5);
const K = 8;
const SEED = 20260301;

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// Two per-arm profiles each for logging, target and mean reward; row i uses (1−u_i)·A + u_i·B.
const LOG_A = [0.3, 0.2, 0.1, 0.1, 0.1, 0.08, 0.07, 0.05];
const LOG_B = [0.05, 0.05, 0.1, 0.1, 0.15, 0.15, 0.2, 0.2];
const TGT_A = [0.05, 0.05, 0.1, 0.1, 0.1, 0.2, 0.2, 0.2];
const TGT_B = [0.4, 0.3, 0.1, 0.05, 0.05, 0.04, 0.03, 0.03];
const MU_A = [0.1, 0.2, 0.3, 0.15, 0.25, 0.05, 0.12, 0.4];
const MU_B = [0.5, 0.1, 0.2, 0.35, 0.05, 0.3, 0.22, 0.1];

function generate(n: number): { logs: LoggedBandit; target: Float64Array; qhat: Float64Array } {
  const rng = createRng(SEED);
  const arm = new Int32Array(n);
  const reward = new Float64Array(n);
  const propensity = new Float64Array(n);
  const target = new Float64Array(n * K);
  const qhat = new Float64Array(n * K);
  for (let i = 0; i < n; i++) {
    const u = rng.next();
    const o = i * K;
    let draw = rng.next();
    let chosen = -1;
    let p = 0;
    for (let a = 0; a < K; a++) {
      const pa = (1 - u) * LOG_A[a]! + u * LOG_B[a]!;
      if (chosen < 0 && draw < pa) {
        chosen = a;
        p = pa;
      }
      draw -= pa;
      target[o + a] = (1 - u) * TGT_A[a]! + u * TGT_B[a]!;
      const mu = (1 - u) * MU_A[a]! + u * MU_B[a]!;
      // A deliberately imperfect model: shrunk toward 0.2.
      qhat[o + a] = 0.8 * mu + 0.04;
    }
    if (chosen < 0) {
      // Rounding left the draw past the last arm.
      chosen = K - 1;
      p = (1 - u) * LOG_A[K - 1]! + u * LOG_B[K - 1]!;
    }
    arm[i] = chosen;
    propensity[i] = p;
    reward[i] = rng.next() < (1 - u) * MU_A[chosen]! + u * MU_B[chosen]! ? 1 : 0;
  }
  return { logs: { n, k: K, arm, reward, propensity }, target, qhat };
}

/** Wall and CPU time of `f` (CPU time is what a shared, busy machine distorts least). */
/** The floor: one plain read of both n × k arrays. */
function plainRead(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function time<T>(f: () => T): { ms: number; cpuMs: number; value: T } {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const value = f();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const c = process.cpuUsage(c0);
  return { ms, cpuMs: (c.user + c.system) / 1000, value };
}

async function main(): Promise<void> {
  const cpu = cpus();
  const machine = `${cpu[0]?.model ?? 'unknown'} × ${cpu.length} cores, ${mb(totalmem())} RAM, node ${process.version}, ${process.platform}`;
  console.log(`machine: ${machine}`);

  const gen = time(() => generate(N));
  const { logs, target, qhat } = gen.value;
  console.log(`generated ${N.toLocaleString()} rows × K=${K} (target + q̂: ${mb(target.byteLength + qhat.byteLength)}) in ${(gen.ms / 1000).toFixed(1)} s`);

  const fused: number[] = [];
  const fusedCpu: number[] = [];
  let report: OpeReport | undefined;
  for (let r = 0; r < RUNS; r++) {
    const t = time(() => evaluate(logs, target, { estimators: ['ips', 'snips', 'dr'], qhat }));
    fused.push(t.ms);
    fusedCpu.push(t.cpuMs);
    report = t.value;
    console.log(`  run ${r + 1}: ips + snips + dr (one call) ${t.ms.toFixed(0)} ms wall, ${t.cpuMs.toFixed(0)} ms CPU`);
  }
  const separate: number[] = [];
  const separateCpu: number[] = [];
  for (let r = 0; r < Math.min(RUNS, 3); r++) {
    const t = time(() => {
      evaluate(logs, target, { estimators: ['ips'] });
      evaluate(logs, target, { estimators: ['snips'] });
      evaluate(logs, target, { estimators: ['dr'], qhat });
    });
    separate.push(t.ms);
    separateCpu.push(t.cpuMs);
  }
  const floor: number[] = [];
  for (let r = 0; r < RUNS; r++) floor.push(time(() => plainRead(target, qhat)).ms);
  const maxRss = process.resourceUsage().maxRSS * 1024;
  const best = Math.min(...fused);
  const med = median(fused);
  console.log('');
  for (const e of report!.estimates) {
    console.log(`  ${e.estimator.padEnd(6)} ${e.value.toFixed(5)}  ±${(1.959963984540054 * e.stdErr).toFixed(5)}  (ESS ${e.diagnostics.effectiveSampleSize.toFixed(0)}, max w ${e.diagnostics.maxWeight.toFixed(2)})`);
  }
  console.log('');
  console.log(`ips + snips + dr, analytic intervals, one call: median ${med.toFixed(0)} ms, best ${best.toFixed(0)} ms over ${RUNS} runs (CPU median ${median(fusedCpu).toFixed(0)} ms)`);
  console.log(`  → ${((N / med) * 1000 / 1e6).toFixed(1)} M rows/s (median), target ≤ 2000 ms: ${med <= 2000 ? 'met' : 'NOT met'}`);
  console.log(`three separate calls: median ${median(separate).toFixed(0)} ms (CPU median ${median(separateCpu).toFixed(0)} ms)`);
  console.log(`plain read of target + q̂ (floor): median ${median(floor).toFixed(0)} ms, best ${Math.min(...floor).toFixed(0)} ms`);
  console.log(`peak RSS ${mb(maxRss)} (typed arrays ${mb(target.byteLength + qhat.byteLength + logs.arm.byteLength + logs.reward.byteLength + logs.propensity.byteLength)})`);

  if (process.argv.includes('--write')) {
    const date = new Date().toISOString().slice(0, 10);
    const md = [
      '## Off-policy evaluation (`npm run bench:ope`)',
      '',
      `${date} · ${machine}`,
      '',
      `${N.toLocaleString('en-US')} logged rows, K = ${K}, target and q̂ as n × k Float64Arrays; every row validated.`,
      '',
      '| what | wall, median | wall, best | CPU, median | rows/s (median wall) |',
      '|---|---:|---:|---:|---:|',
      `| IPS + SNIPS + DR, analytic intervals, one \`evaluate\` call (${RUNS} runs) | ${med.toFixed(0)} ms | ${best.toFixed(0)} ms | ${median(fusedCpu).toFixed(0)} ms | ${((N / med) * 1000 / 1e6).toFixed(1)} M |`,
      `| the same as three separate calls (${separate.length} runs) | ${median(separate).toFixed(0)} ms | ${Math.min(...separate).toFixed(0)} ms | ${median(separateCpu).toFixed(0)} ms | ${((N / median(separate)) * 1000 / 1e6).toFixed(1)} M |`,
      `| floor: a plain read of target and q̂ (${RUNS} runs) | ${median(floor).toFixed(0)} ms | ${Math.min(...floor).toFixed(0)} ms | — | ${((N / median(floor)) * 1000 / 1e6).toFixed(1)} M |`,
      '',
      `Peak RSS ${mb(maxRss)} (the input arrays alone are ${mb(target.byteLength + qhat.byteLength + logs.arm.byteLength + logs.reward.byteLength + logs.propensity.byteLength)}). Target ≤ 2 s: ${med <= 2000 ? 'met' : 'not met'}.`,
      'Two shared cores: figures vary run to run with other load on the machine.',
      '',
    ].join('\n');
    const out = fileURLToPath(new URL('./results/ope.md', import.meta.url));
    await writeFile(out, md);
    console.log(`wrote ${out}`);
  }
}

await main();
