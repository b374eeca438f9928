/**
 * `npm run bench:replay` — what a start of `oo-ml serve` pays to replay the embedded journal:
 * BENCH_EVENTS server events (default 1,000,000: half serves, half reactions, 2.5 serves a second
 * of synthetic time) written as journal lines, then read back through the server's event sink in
 * time order (`readAll`, as the replay does), from the start and from 24 h before the end (an
 * online-learning checkpoint's window). Prints the time, the events read and the heap held.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEventBusOver } from '../src/events/event-bus.js';
import { createEmbeddedTransport } from '../src/events/embedded-transport.js';
import { journalPath } from '../src/events/journal.js';
import { createBusEventSink } from '../src/server/bus-event-sink.js';
import { SUBJECTS } from '../src/server/deps.js';
import { reacted, served } from '../test/helpers/events.js';

const EVENTS = Number(process.env['BENCH_EVENTS'] ?? 1_000_000);
const STEP_MS = 400;
const mib = (b: number): number => Math.round(b / 2 ** 20);

const dir = await mkdtemp(join(tmpdir(), 'oo-ml-bench-replay-'));
try {
  const bus = join(dir, 'bus');
  await mkdir(bus, { recursive: true });
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  const serves: string[] = [];
  const reactions: string[] = [];
  for (let i = 0; i < EVENTS / 2; i++) {
    serves.push(JSON.stringify(served(`u${i % 50_000}`, new Date(t0 + i * STEP_MS).toISOString(), `s${i}`)));
    reactions.push(JSON.stringify(reacted(`u${i % 50_000}`, new Date(t0 + i * STEP_MS + 50).toISOString(), `s${i}`, 'liked')));
  }
  await writeFile(journalPath(bus, SUBJECTS['tip.served']), serves.join('\n') + '\n');
  await writeFile(journalPath(bus, SUBJECTS['tip.reaction']), reactions.join('\n') + '\n');
  serves.length = 0;
  reactions.length = 0;
  const sink = createBusEventSink(createEventBusOver(createEmbeddedTransport(bus)), { spillPath: join(dir, 'unsent.ndjson') });
  const end = t0 + (EVENTS / 2) * STEP_MS;
  for (const [name, since] of [
    ['from the start', -Infinity],
    ['the last 24 h', end - 86_400_000],
  ] as const) {
    global.gc?.();
    const before = process.memoryUsage().heapUsed;
    let peak = before;
    let n = 0;
    const start = performance.now();
    for await (const _ of sink.readAll(since)) {
      if (n++ === 0) peak = process.memoryUsage().heapUsed;
    }
    const s = (performance.now() - start) / 1000;
    process.stdout.write(`readAll ${name}: ${n.toLocaleString('en-US')} of ${EVENTS.toLocaleString('en-US')} events in ${s.toFixed(1)} s (${Math.round(EVENTS / s).toLocaleString('en-US')} read/s), heap held when the first event is yielded ${mib(peak - before)} MiB\n`);
  }
  await sink.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
