/**
 * `npm run bench:policies` — decisions + updates per second of every policy at K = 8.
 *
 * Each policy runs in a child process of its own, one after the other (one core, and call sites
 * that only ever see one policy, as in a server that serves one). An iteration is a `choose` and
 * an `update` with the chosen arm, over 8192 pre-generated realistic contexts (`writeVector` of
 * random users and hours) and pre-drawn rewards from a linear bandit, so the state keeps
 * learning. After a 1.5 s warm-up, 7 timed batches of about 0.3 s each are measured; the table
 * shows the median and best batch by wall clock, and the median by the process's CPU time
 * (user + system), which is less disturbed when other processes share the cores.
 *
 * A second table times the D=12 kernels (hand-unrolled vs the generic loops they replace), each
 * in its own child process, best of 7 batches.
 * Target (issue #3): linucb ≥ 1,000,000 decisions+updates per second at D = 12.
 * Results are printed and written to bench/results/policies.md.
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ARM_COUNT } from '../src/features/arms.js';
import { vectorDim, writeVector, type VectorInput, type VectorLayoutName } from '../src/features/vectors.js';
import { POLICY_NAMES, getPolicy } from '../src/policies/catalog.js';
import { armStatsGeneric, armViews, createLinearArms, updateGeneric } from '../src/policies/linear-arms.js';
import { armStatsD12, updateArmD12 } from '../src/policies/unrolled-d12.js';
import { createRng, type Rng } from '../src/random/rng.js';

const K = ARM_COUNT;
const POOL = 8192;
const WARMUP_MS = 1500;
const BATCH_MS = 300;
const BATCHES = 7;
const TARGET = 1_000_000;
const RESULTS = join(dirname(fileURLToPath(import.meta.url)), 'results', 'policies.md');

/** One policy's measurement, as a child reports it. */
interface PolicyResult {
  policy: string;
  d: number;
  medianWall: number;
  bestWall: number;
  medianCpu: number;
  iterations: number;
}

/** One kernel comparison: nanoseconds per call, unrolled and generic. */
interface KernelResult {
  kernel: string;
  unrolledNs: number;
  genericNs: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
};
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** A plausible context: a user at a random hour with random open tasks and profile. */
function randomInput(rng: Rng): VectorInput {
  const hasProfile = rng.next() < 0.8;
  return {
    hourOfDay: rng.int(24),
    dayOfWeek: rng.int(7),
    openTasks: rng.int(30),
    overdueTasks: rng.int(6),
    hasProfile,
    profile: {
      completion_rate: hasProfile ? rng.next() : 0.3,
      dismiss_rate: hasProfile ? rng.next() * 0.5 : 0.2,
      mean_dwell_sec: hasProfile ? rng.next() * 900 : 20,
      preferred_hour: hasProfile ? rng.int(24) : null,
      tip_volume: rng.int(100),
    },
  };
}

/** POOL contexts of `layout` and, per context and arm, a 0/1 reward from a linear bandit. */
function workload(layout: VectorLayoutName): { contexts: Float64Array[]; rewards: Uint8Array } {
  const rng = createRng(20260101);
  const d = vectorDim(layout);
  const contexts = Array.from({ length: POOL }, () => writeVector(layout, randomInput(rng), new Float64Array(d)));
  const rewards = new Uint8Array(POOL * K);
  for (let i = 0; i < POOL; i++) {
    const x = contexts[i]!;
    for (let a = 0; a < K; a++) rewards[i * K + a] = rng.next() < 0.15 + 0.1 * x[1 + (a % (d - 1))]! ** 2 ? 1 : 0;
  }
  return { contexts, rewards };
}

/** Child: times choose+update of one policy and prints a PolicyResult as JSON. */
function benchPolicy(name: string): PolicyResult {
  const policy = getPolicy(name);
  const d = vectorDim(policy.layout);
  const { contexts, rewards } = workload(policy.layout);
  const state = policy.init(K);
  const rng = createRng(7);
  let i = 0;
  const step = (n: number): void => {
    for (let t = 0; t < n; t++, i++) {
      const j = i & (POOL - 1);
      const x = contexts[j]!;
      const { arm } = policy.choose(state, x, rng);
      policy.update(state, x, arm, rewards[j * K + arm]!);
    }
  };
  // Warm up, and size a batch to about BATCH_MS.
  let batch = 64;
  const start = performance.now();
  while (performance.now() - start < WARMUP_MS) {
    const t0 = performance.now();
    step(batch);
    const dt = performance.now() - t0;
    if (dt < BATCH_MS / 4) batch *= 2;
  }
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let b = 0; b < BATCHES; b++) {
    const c0 = cpuMs();
    const t0 = performance.now();
    step(batch);
    wall.push((batch / (performance.now() - t0)) * 1000);
    cpu.push((batch / Math.max(cpuMs() - c0, 1e-3)) * 1000);
  }
  return { policy: name, d, medianWall: median(wall), bestWall: Math.max(...wall), medianCpu: median(cpu), iterations: i };
}

/** The D=12 kernels timed, with their table labels. */
const KERNEL_LABELS = { stats: `per-arm mean + variance, all ${K} arms`, update: 'rank-one update of one arm' } as const;
type KernelName = `${keyof typeof KERNEL_LABELS}-${'unrolled' | 'generic'}`;

/**
 * Child: nanoseconds per call of one D=12 kernel (best of 7 batches after a warm-up). One kernel
 * per process, so its call site sees a single target, as it does inside a policy.
 */
function benchKernel(name: KernelName): number {
  const d = 12;
  const { contexts, rewards } = workload('v2');
  const s = createLinearArms(K, d, 1);
  const v = armViews(s);
  const means = new Float64Array(K);
  const variances = new Float64Array(K);
  let run: (n: number) => void;
  if (name === 'stats-unrolled' || name === 'stats-generic') {
    const stats = name === 'stats-unrolled' ? armStatsD12 : armStatsGeneric(d);
    // Train first, so A⁻¹ and θ hold ordinary values rather than the identity and zeros.
    const train = updateGeneric(d);
    for (let t = 0; t < 5000; t++) {
      const a = t & (K - 1);
      train(v.aInv[a]!, v.b[a]!, v.theta[a]!, contexts[t & (POOL - 1)]!, rewards[(t & (POOL - 1)) * K]!);
    }
    run = (n) => {
      for (let t = 0; t < n; t++) stats(v.aInv, v.theta, K, contexts[t & (POOL - 1)]!, means, variances);
    };
  } else {
    const update = name === 'update-unrolled' ? updateArmD12 : updateGeneric(d);
    run = (n) => {
      for (let t = 0; t < n; t++) {
        const j = t & (POOL - 1);
        const a = t & (K - 1);
        update(v.aInv[a]!, v.b[a]!, v.theta[a]!, contexts[j]!, rewards[j * K]!);
      }
    };
  }
  const n = 100_000;
  const start = performance.now();
  while (performance.now() - start < 500) run(n / 10);
  let best = Infinity;
  for (let r = 0; r < 7; r++) {
    const t0 = performance.now();
    run(n);
    best = Math.min(best, ((performance.now() - t0) * 1e6) / n);
  }
  return best;
}

/** Runs this file as a child with `args` and parses the JSON it prints. */
function runChild<T>(args: string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--child', ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    proc.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    proc.on('error', reject);
    proc.on('close', (code) => (code === 0 ? resolve(JSON.parse(out.trim()) as T) : reject(new Error(`child ${args.join(' ')} exited ${code}`))));
  });
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

async function main(): Promise<void> {
  const cpu = cpus();
  const machine = [
    `CPU: ${cpu[0]?.model ?? 'unknown'} × ${cpu.length} logical cores`,
    `OS: ${platform()} ${release()}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM`,
    `Node: ${process.version}`,
    `Load average at start (1/5/15 min): ${loadavg().map((l) => l.toFixed(2)).join(' / ')}`,
  ];
  console.log(machine.join('\n'));
  console.log(`\nK = ${K}; one choose + one update per iteration; children run one at a time.\n`);

  const results: PolicyResult[] = [];
  for (const name of POLICY_NAMES) {
    const r = await runChild<PolicyResult>(['policy', name]);
    results.push(r);
    console.log(`${name.padEnd(11)} D=${String(r.d).padEnd(3)} ${fmt(r.medianWall).padStart(11)} ops/s (median wall)`);
  }
  const kernels: KernelResult[] = [];
  for (const kernel of ['stats', 'update'] as const) {
    const unrolledNs = await runChild<number>(['kernel', `${kernel}-unrolled`]);
    const genericNs = await runChild<number>(['kernel', `${kernel}-generic`]);
    kernels.push({ kernel: KERNEL_LABELS[kernel], unrolledNs, genericNs });
  }
  const endLoad = loadavg().map((l) => l.toFixed(2)).join(' / ');

  const policyTable = [
    '| policy | D | ops/s, median (wall) | ops/s, best batch (wall) | ops/s, median (CPU time) | µs per choose+update (median wall) |',
    '|---|---:|---:|---:|---:|---:|',
    ...results.map(
      (r) =>
        `| ${r.policy} | ${r.d} | ${fmt(r.medianWall)} | ${fmt(r.bestWall)} | ${fmt(r.medianCpu)} | ${(1e6 / r.medianWall).toFixed(r.medianWall > 1e5 ? 3 : 1)} |`,
    ),
  ];
  const kernelTable = [
    '| D=12 kernel | unrolled ns/call | generic loops ns/call | speed-up |',
    '|---|---:|---:|---:|',
    ...kernels.map((k) => `| ${k.kernel} | ${k.unrolledNs.toFixed(0)} | ${k.genericNs.toFixed(0)} | ${(k.genericNs / k.unrolledNs).toFixed(2)}× |`),
  ];
  const linucb = results.find((r) => r.policy === 'linucb')!;
  const verdict = (v: number): string => (v >= TARGET ? 'MET' : 'NOT MET');
  const target =
    `linucb at D=12: ${fmt(linucb.medianWall)} decisions+updates/s median wall (best batch ${fmt(linucb.bestWall)}, ` +
    `CPU-time ${fmt(linucb.medianCpu)}); target ≥ ${fmt(TARGET)}: ${verdict(linucb.medianWall)} (median wall), ` +
    `${verdict(linucb.bestWall)} (best batch), ${verdict(linucb.medianCpu)} (CPU time).`;

  console.log(`\n${policyTable.join('\n')}\n\n${kernelTable.join('\n')}\n\n${target}\nLoad average at end: ${endLoad}`);

  const date = new Date().toISOString();
  const markdown = [
    '## Policies: decisions + updates per second (`npm run bench:policies`)',
    '',
    `Measured ${date}.`,
    '',
    ...machine.map((l) => `- ${l}`),
    `- Load average at end: ${endLoad}`,
    '',
    `K = ${K} arms. One iteration = \`choose\` + \`update\` with the chosen arm over ${POOL} pre-generated contexts ` +
      `(\`writeVector\` of random users) and pre-drawn rewards; each policy in its own child process, one at a time; ` +
      `${WARMUP_MS / 1000} s warm-up, then ${BATCHES} batches of ~${BATCH_MS} ms.`,
    '',
    ...policyTable,
    '',
    ...kernelTable,
    '',
    `**Target:** ${target}`,
    '',
  ].join('\n');
  await mkdir(dirname(RESULTS), { recursive: true });
  await writeFile(RESULTS, markdown);
  console.log(`\nwrote ${RESULTS}`);
}

const args = process.argv.slice(2);
if (args[0] === '--child') {
  const result = args[1] === 'kernel' ? benchKernel(args[2] as KernelName) : benchPolicy(args[2]!);
  process.stdout.write(JSON.stringify(result) + '\n');
} else {
  await main();
}
