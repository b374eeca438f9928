/**
 * `oo-ml quickstart`: the whole loop on embedded defaults and small data, in a fresh home
 * (default ./oo-ml-quickstart). Each step is one library call; its output location is printed.
 */
import type { Command } from 'commander';
import { buildFeatures } from '../../pipelines/feature-build.js';
import { exportSnapshot } from '../../pipelines/snapshot-files.js';
import { DEFAULT_SYNTH_START, synthesize } from '../../pipelines/synth.js';
import { buildTrainingSet } from '../../pipelines/training-set.js';
import { action } from '../command.js';
import type { CommandContext } from '../context.js';

/** One finished step: its name, where its output went, and a one-line summary. */
interface StepResult {
  step: string;
  output: string;
  summary: string;
}

/** The quickstart's steps, in order; each returns where it wrote and what it did. */
function steps(ctx: CommandContext): [string, () => Promise<Omit<StepResult, 'step'>>][] {
  const p = ctx.config.paths;
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
  ];
}

/** Registers `quickstart`. */
export function registerQuickstart(program: Command): void {
  action(
    program.command('quickstart').description('run the whole loop on embedded defaults in ./oo-ml-quickstart (or --home)'),
    async (ctx) => {
      const results: StepResult[] = [];
      const all = steps(ctx);
      ctx.note(`oo-ml quickstart in ${ctx.config.paths.home}`);
      for (const [i, [step, run]] of all.entries()) {
        ctx.note(`[${i + 1}/${all.length}] ${step} …`);
        const r = await run();
        results.push({ step, ...r });
        ctx.note(`      ${r.summary}\n      → ${r.output}`);
      }
      ctx.print(
        [`quickstart finished: ${results.length} steps in ${ctx.config.paths.home}`, ...results.map((r) => `  ${r.step.padEnd(22)} → ${r.output}`)].join('\n'),
        { home: ctx.config.paths.home, steps: results },
      );
    },
    { home: 'oo-ml-quickstart' },
  );
}
