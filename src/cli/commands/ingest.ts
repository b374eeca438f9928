/** `oo-ml ingest`: event bus (NATS JetStream, or the embedded journal) → Parquet event log. */
import type { Command } from 'commander';
import { MAX_BATCH } from '../../events/transport.js';
import { INGEST_DEFAULTS, INGEST_RANGES } from '../../pipelines/job-arguments.js';
import { parseIntFlag } from '../flags.js';
import { action } from '../command.js';
import { keyValues, table } from '../format.js';

/** `3 (invalid_event 2, unstorable 1)`: how many, and why. */
function deadLetters(n: number, reasons: Partial<Record<string, number>>): string {
  const why = Object.entries(reasons).map(([reason, k]) => `${reason} ${k}`);
  return why.length === 0 ? String(n) : `${n} (${why.join(', ')})`;
}

interface IngestFlags {
  batchSize: string;
  maxWaitMs: string;
  untilIdle?: boolean;
  idleMs: string;
  consumer: string;
}

/** Registers `ingest`. */
export function registerIngest(program: Command): void {
  action<IngestFlags>(
    program
      .command('ingest')
      .description(
        'append signals.> and feedback.> to the Parquet event log (NATS JetStream when NATS_URL is set, ' +
          'else the embedded bus under <home>/data/bus); invalid messages, and events the log cannot store, go to dlq.<subject>',
      )
      .option('--batch-size <n>', `messages per batch, at most ${MAX_BATCH} (one new file per event type and day per batch; --max-wait-ms bounds how long a batch waits to fill)`, String(INGEST_DEFAULTS.batchSize))
      .option('--max-wait-ms <ms>', 'how long a batch waits to fill (JetStream waits at least 1000)', String(INGEST_DEFAULTS.maxWaitMs))
      .option(
        '--until-idle',
        'exit once no message arrived for --idle-ms and none that an earlier, stopped ingest left unacknowledged waits for redelivery (cron runs); default: run until Ctrl-C',
      )
      .option('--idle-ms <ms>', 'quiet time that ends an --until-idle run', String(INGEST_DEFAULTS.idleMs))
      .option('--consumer <name>', 'durable consumer name (its position is kept between runs)', 'oo-ml-ingest'),
    async (ctx, flags) => {
      const batchSize = parseIntFlag('--batch-size', flags.batchSize, ...INGEST_RANGES.batchSize);
      const maxWaitMs = parseIntFlag('--max-wait-ms', flags.maxWaitMs, ...INGEST_RANGES.maxWaitMs);
      const idleMs = parseIntFlag('--idle-ms', flags.idleMs, ...INGEST_RANGES.idleMs);
      const stop = new AbortController();
      const onSignal = (): void => {
        ctx.note('stopping after the current batch…');
        stop.abort();
      };
      const [{ createEventBus, requireEmbeddedBus }, { ingestEvents }] = await Promise.all([import('../../events/event-bus.js'), import('../../pipelines/ingest.js')]);
      await requireEmbeddedBus(ctx.config);
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const bus = await createEventBus(ctx.config);
      let summary;
      try {
        ctx.note(`ingesting from the ${bus.kind} bus as consumer ${flags.consumer}${flags.untilIdle === true ? ' until idle' : ' (Ctrl-C stops)'}`);
        summary = await ingestEvents({
          bus,
          eventsDir: ctx.config.paths.events,
          tmpDir: ctx.config.paths.tmp,
          consumer: flags.consumer,
          batchSize,
          maxWaitMs,
          untilIdle: flags.untilIdle === true,
          idleMs,
          onWaitingForLock: (lock, holder, forMs) => ctx.note(`${lock} names ${holder}: waiting up to ${Math.round(forMs / 1000)} s for its heartbeat before taking it over`),
          onWaitingForUnacked: (n, ackWaitMs) =>
            ctx.note(`${n} message(s) delivered to an earlier ingest were never acknowledged: waiting up to ${Math.round(ackWaitMs / 1000)} s for their redelivery`),
          now: ctx.now,
          signal: stop.signal,
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await bus.close();
      }
      const text = [
        keyValues([
          ['bus', `${summary.transport} (consumer ${summary.consumer})`],
          ['event log', ctx.config.paths.events],
          ['consumed', summary.consumed],
          ['duplicates', summary.duplicates],
          ['dead-lettered', deadLetters(summary.deadLettered, summary.deadLetterReasons)],
          ['new files', summary.files.length],
        ]),
        '',
        table(['event type', 'written'], Object.entries(summary.written).map(([k, v]) => [k, String(v)])),
      ].join('\n');
      ctx.print(text, { ...summary, eventsDir: ctx.config.paths.events });
    },
  );
}
