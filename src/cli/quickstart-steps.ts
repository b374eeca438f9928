/**
 * The steps of `oo-ml quickstart`, each one library call, in order. Loaded only when the
 * quickstart runs (it pulls in every pipeline).
 */
import { buildFeatures } from '../pipelines/feature-build.js';
import { exportSnapshot } from '../pipelines/snapshot-files.js';
import { DEFAULT_SYNTH_START, synthesize } from '../pipelines/synth.js';
import { buildTrainingSet } from '../pipelines/training-set.js';
import { runSimulation } from '../pipelines/simulation.js';
import { DEFAULT_MODEL, trainPolicy } from '../pipelines/train.js';
import { gatherEvidence } from '../experiments/evidence.js';
import { promoteVersion } from '../experiments/promotion.js';
import { createStore } from '../registry/create-store.js';
import type { CommandContext } from './context.js';

/** One finished step: its name, where its output went, and a one-line summary. */
export interface StepResult {
  step: string;
  output: string;
  summary: string;
}

/** The quickstart's steps, in order; each returns where it wrote and what it did. */
export function quickstartSteps(ctx: CommandContext): [string, () => Promise<Omit<StepResult, 'step'>>][] {
  const p = ctx.config.paths;
  const store = createStore(ctx.config.trackingUri);
  let version = 0;
  const promote = async (to: 'shadow' | 'champion') => {
    const r = await promoteVersion(
      { store, cardsDir: p.modelCards, tmpDir: p.tmp, now: ctx.now, evidence: gatherEvidence(store, DEFAULT_MODEL, version, { trainingSet: p.trainingSet, now: ctx.now }) },
      { model: DEFAULT_MODEL, version, to, reason: 'quickstart' },
    );
    return { output: r.card, summary: `${DEFAULT_MODEL} v${version} → @${to}: ${r.decision.checks.map((c) => `${c.passed ? '✓' : '✗'} ${c.name}`).join(', ')}` };
  };
  return [
    [
      'data synth',
      async () => {
        const s = await synthesize({ users: 300, days: 28, seed: 42, start: DEFAULT_SYNTH_START, eventsDir: p.events, tmpDir: p.tmp });
        const total = Object.values(s.counts).reduce((a, b) => a + b, 0);
        return { output: s.dir, summary: `${s.users} users × 28 days → ${total} events in ${s.files} Parquet files` };
      },
    ],
    [
      'features build',
      async () => {
        const s = await buildFeatures({ eventsDir: p.events, warehouse: p.warehouse, featuresDir: p.features, tmpDir: p.tmp, now: ctx.now() });
        return { output: s.warehouse, summary: `profiles of ${s.users} users as of ${s.asOf}, ${s.historyRows} daily history rows` };
      },
    ],
    [
      'features training-set',
      async () => {
        const s = await buildTrainingSet({ eventsDir: p.events, warehouse: p.warehouse, out: p.trainingSet, tmpDir: p.tmp });
        return { output: s.out, summary: `${s.rows} logged serves, reward rate ${(s.positives / s.rows).toFixed(3)}` };
      },
    ],
    [
      'features export',
      async () => {
        const s = await exportSnapshot({ warehouse: p.warehouse, outDir: p.snapshots, tmpDir: p.tmp, now: ctx.now() });
        return { output: s.dir, summary: `snapshot ${s.snapshotId}: ${s.rows} users, ${s.bytes} bytes (Arrow IPC)` };
      },
    ],
    [
      'train --policy linucb',
      async () => {
        const t = await trainPolicy({ trainingSet: p.trainingSet, policy: 'linucb', model: DEFAULT_MODEL, store, cardsDir: p.modelCards, snapshotsDir: p.snapshots, tmpDir: p.tmp, now: ctx.now });
        version = t.version;
        const dr = t.evaluation.metrics['dr']!;
        return { output: p.mlruns, summary: `${DEFAULT_MODEL} v${t.version} @candidate, DR ${dr.value.toFixed(3)} [${dr.ci95[0].toFixed(3)}, ${dr.ci95[1].toFixed(3)}] vs logging ${t.evaluation.loggingValue.value.toFixed(3)}` };
      },
    ],
    [
      'sim',
      async () => {
        const s = await runSimulation({
          options: { users: 100, rounds: 24 * 7, seed: 7 },
          reps: 3,
          policies: ['egreedy-v1', 'linucb', `${DEFAULT_MODEL}@candidate`],
          workers: 2,
          store,
          now: ctx.now,
        });
        const line = s.results.policies.map((x) => `${x.name} ${x.meanReward.mean.toFixed(3)}`).join(', ');
        return { output: p.mlruns, summary: `mean reward per decision: ${line} (run ${s.runId})` };
      },
    ],
    ['promote --to shadow', () => promote('shadow')],
    ['promote --to champion', () => promote('champion')],
  ];
}

