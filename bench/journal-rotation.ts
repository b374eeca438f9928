/**
 * `npm run bench:journal-rotation` — what a segment's rotation costs the appends that meet it.
 * The embedded bus's writer (src/events/journal.ts) with the server's sync policy (fdatasync at
 * most EMBEDDED_SYNC_MS after a write) and small segments, so a run meets many rotations: batches
 * of BATCH serve-sized lines (600 bytes), one batch per event-loop turn as /score's group commit
 * writes them, each append timed from its call to its resolve. Prints the latency of the batches
 * that rotated a segment beside the others' (their medians, worst, and the share of the run's
 * wall time appends spent waiting), and the segments made. Writes under a temp folder of its
 * own, removed at the end.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

import { EMBEDDED_SYNC_MS } from '../src/events/embedded-transport.js';
import { openStreamWriter } from '../src/events/journal.js';

const LINES = Number(process.env['BENCH_LINES'] ?? 400_000);
const BATCH = Number(process.env['BENCH_BATCH'] ?? 20);
const SEGMENT_BYTES = Number(process.env['BENCH_SEGMENT_BYTES'] ?? 8 * 1024 * 1024);
const LINE = Buffer.from(JSON.stringify({ type: 'tip.served', pad: 'x'.repeat(540) }));

const dir = await mkdtemp(join(tmpdir(), 'oo-ml-bench-rotation-'));
try {
  // The segment each batch went to (the writer reports it before the batch's appends resolve).
  let segment = 0;
  const writer = await openStreamWriter(dir, { segmentBytes: SEGMENT_BYTES, maxAgeMs: Infinity, maxBytes: Infinity, syncMs: EMBEDDED_SYNC_MS, onAppend: (b) => (segment = b.segment) });
  const rotated: number[] = [];
  const steady: number[] = [];
  let segments = 0;
  const t0 = performance.now();
  for (let done = 0; done < LINES; done += BATCH) {
    const before = segment;
    const start = performance.now();
    const acks = Array.from({ length: BATCH }, () => writer.append('oo.events.served.tip', LINE));
    await Promise.all(acks);
    const ms = performance.now() - start;
    if (segment === before) steady.push(ms);
    else {
      segments++;
      // The first batch opens the first segment: it seals nothing.
      (before === 0 ? steady : rotated).push(ms);
    }
    await new Promise((r) => setImmediate(r));
  }
  const wallMs = performance.now() - t0;
  await writer.close();
  const files = (await readdir(dir)).length;
  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
  const at = (xs: number[], q: number) => sorted(xs)[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? NaN;
  const sum = (xs: number[]) => xs.reduce((a, x) => a + x, 0);
  const line = (name: string, xs: number[]) =>
    `| ${name} | ${xs.length} | ${at(xs, 0.5).toFixed(3)} | ${at(xs, 0.99).toFixed(3)} | ${Math.max(...xs).toFixed(2)} | ${((100 * sum(xs)) / wallMs).toFixed(1)} % |`;
  process.stdout.write(
    [
      `Journal rotation — ${LINES.toLocaleString('en-US')} lines of ${LINE.length} bytes in batches of ${BATCH}, segments of ${(SEGMENT_BYTES / 1048576).toFixed(0)} MiB, fdatasync ${EMBEDDED_SYNC_MS} ms after a write; ${cpus().length} × ${cpus()[0]?.model.trim()}, Node ${process.version}, load ${loadavg()[0]!.toFixed(1)}; ${files} segment files (${segments} written to).`,
      '',
      '| batches | count | p50 ms | p99 ms | worst ms | share of the run waiting |',
      '|---|---:|---:|---:|---:|---:|',
      line('that sealed a segment', rotated),
      line('the others', steady),
      '',
    ].join('\n'),
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
