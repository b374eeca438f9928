/** `oo-ml data synth`: synthetic event logs from the personas. */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { parseIntFlag, parseTimeFlag } from '../flags.js';
import { action } from '../command.js';
import { keyValues, table } from '../format.js';

interface SynthFlags {
  users: string;
  days: string;
  seed: string;
  start?: string;
  out?: string;
}

/** Registers `data synth`. */
export function registerData(program: Command): void {
  const data = program.command('data').description('synthetic data');
  action<SynthFlags>(
    data
      .command('synth')
      .description('generate a synthetic event log (Parquet per event type and day) from the personas')
      .requiredOption('--users <n>', 'number of users')
      .requiredOption('--days <n>', 'number of days')
      .requiredOption('--seed <s>', 'random seed (same seed, byte-identical files)')
      .option('--start <date>', 'first day, midnight UTC (default 2026-01-05)')
      .option('--out <dir>', 'event log folder (default <home>/data/events)'),
    async (ctx, flags) => {
      const users = parseIntFlag('--users', flags.users, 1, 10_000_000);
      const days = parseIntFlag('--days', flags.days, 1, 3650);
      const seed = parseIntFlag('--seed', flags.seed, -2147483648, 2147483647);
      const { DEFAULT_SYNTH_START, synthesize } = await import('../../pipelines/synth.js');
      const start = flags.start === undefined ? DEFAULT_SYNTH_START : parseTimeFlag('--start', flags.start);
      const eventsDir = flags.out === undefined ? ctx.config.paths.events : resolve(flags.out);
      const bar = ctx.progress.start('synth users');
      const summary = await synthesize({
        users,
        days,
        seed,
        start,
        eventsDir,
        tmpDir: ctx.config.paths.tmp,
        onProgress: (d, t) => bar.update(d, t),
      });
      bar.stop();
      const text = [
        keyValues([
          ['event log', summary.dir],
          ['users', summary.users],
          ['days', `${summary.days.length} (${summary.days[0]} … ${summary.days.at(-1)})`],
          ['files', summary.files],
        ]),
        '',
        table(['event type', 'events'], Object.entries(summary.counts).map(([k, v]) => [k, String(v)])),
        '',
        table(['persona', 'users'], Object.entries(summary.personas).sort().map(([k, v]) => [k, String(v)])),
      ].join('\n');
      ctx.print(text, summary);
    },
  );
}
