/** `oo-ml data synth` (synthetic event logs from the personas) and `oo-ml data import` (your own events). */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { invalidInput } from '../../errors.js';
import { SEED_RANGE, SYNTH_RANGES } from '../../pipelines/job-arguments.js';
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

/** Registers `data synth` and `data import`. */
export function registerData(program: Command): void {
  const data = program.command('data').description('event logs: synthetic ones, or your own imported');
  action<SynthFlags>(
    data
      .command('synth')
      .description('generate a synthetic event log (Parquet per event type and day) from the personas')
      .option('--users <n>', 'number of users', '300')
      .option('--days <n>', 'days of activity (reactions to the last day’s tips may land a day or two later)', '28')
      .option('--seed <s>', 'random seed (same seed, byte-identical files)', '42')
      .option('--start <date>', 'first day, midnight UTC (default 2026-01-05)')
      .option('--out <dir>', 'event log folder (default <home>/data/events)'),
    async (ctx, flags) => {
      const users = parseIntFlag('--users', flags.users, ...SYNTH_RANGES.users);
      const days = parseIntFlag('--days', flags.days, ...SYNTH_RANGES.days);
      const seed = parseIntFlag('--seed', flags.seed, ...SEED_RANGE);
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
      const absent = Object.entries(summary.counts).filter(([, v]) => v === 0).map(([k]) => k);
      const text = [
        keyValues([
          ['event log', summary.dir],
          ['users', summary.users],
          ['days', `${days} of activity from ${start.toISOString().slice(0, 10)}; events in ${summary.days.length} day folders (${summary.days[0]} … ${summary.days.at(-1)}: reactions to the last tips land later)`],
          ['files', summary.files],
        ]),
        '',
        table(['event type', 'events'], Object.entries(summary.counts).filter(([, v]) => v > 0).map(([k, v]) => [k, String(v)])),
        ...(absent.length === 0 ? [] : [`no ${absent.join(', ')}: those come from the app and the server, not from synthetic personas`]),
        '',
        table(['persona', 'users'], Object.entries(summary.personas).sort().map(([k, v]) => [k, String(v)])),
      ].join('\n');
      ctx.print(text, summary);
    },
  );

  action(
    data
      .command('import')
      .description('import your own events (one JSON event per line, as the bus carries them) into the event log, each checked as ingest checks it; events already there are skipped')
      .argument('<file>', 'NDJSON file of events'),
    async (ctx, _flags, args) => {
      const { importEvents } = await import('../../pipelines/event-import.js');
      const bar = ctx.progress.start('import events');
      const summary = await importEvents({
        file: resolve(args[0]!),
        eventsDir: ctx.config.paths.events,
        tmpDir: ctx.config.paths.tmp,
        now: ctx.now,
        onProgress: (d, t) => bar.update(d, t),
        onWaitingForLock: (lock, holder, forMs) => ctx.note(`the event log's lock ${lock} names ${holder}: watching its heartbeat for up to ${Math.round(forMs / 1000)} s`),
      });
      bar.stop();
      const written = Object.entries(summary.written).filter(([, v]) => v > 0);
      const text = [
        keyValues([
          ['file', summary.file],
          ['event log', summary.eventsDir],
          ['events', summary.events],
          ['already in the log (skipped)', summary.duplicates],
          ['new files', summary.files.length],
        ]),
        '',
        written.length === 0 ? 'nothing new to write' : table(['event type', 'written'], written.map(([k, v]) => [k, String(v)])),
        ...(summary.refused.length === 0 ? [] : ['', `${summary.refused.length} event(s) the log cannot store, not written:`, ...summary.refused.slice(0, 10).map((r) => `  ${r.message}`)]),
      ].join('\n');
      ctx.print(text, summary);
      if (summary.refused.length > 0) {
        throw invalidInput(`${summary.refused.length} event(s) of ${summary.file} could not be stored (the rest were imported)`, {
          hint: 'fix those events (see above) and import the file again: what was imported is skipped',
          details: { refused: summary.refused },
        });
      }
    },
  );
}
