/** `oo-ml dlq [--last N]`: the dead letters of the event bus, newest last, with why each was refused (pipelines/dead-letters.ts). */
import type { Command } from 'commander';
import { action } from '../command.js';
import { parseIntFlag } from '../flags.js';
import { keyValues, table } from '../format.js';

interface DlqFlags {
  last: string;
}

/** A payload shortened to one line of the listing. */
const excerpt = (text: string | null, max = 60): string => {
  if (text === null) return '(not UTF-8)';
  const line = text.replace(/\s+/g, ' ');
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
};

/** Registers `dlq`. */
export function registerDlq(program: Command): void {
  action<DlqFlags>(
    program
      .command('dlq')
      .description('list the dead letters of the event bus (NATS JetStream with NATS_URL, else the embedded bus): what ingest refused, when, why, and the original payload')
      .option('--last <n>', 'how many of the newest to show (at most 1000)', '20'),
    async (ctx, flags) => {
      const { listDeadLetters, MAX_DEAD_LETTERS } = await import('../../pipelines/dead-letters.js');
      const listed = await listDeadLetters(ctx.config, parseIntFlag('--last', flags.last, 0, MAX_DEAD_LETTERS));
      const rows = listed.letters.map((l) =>
        l.envelope === null
          ? [String(l.seq), '–', l.subject, '(unreadable)', l.unreadable ?? '']
          : [String(l.seq), l.envelope.received_at, l.envelope.original_subject, l.envelope.reason, `${l.envelope.message} | ${excerpt(l.envelope.payload_text)}`],
      );
      const text = [
        keyValues([
          ['bus', listed.bus],
          ['dead letters held', listed.held],
        ]),
        ...(rows.length === 0 ? [] : ['', table(['seq', 'received', 'subject', 'reason', 'why | payload'], rows)]),
        ...(listed.held > rows.length && rows.length > 0 ? [`(the newest ${rows.length}; --last N shows more)`] : []),
      ].join('\n');
      ctx.print(text, listed);
    },
  );
}
