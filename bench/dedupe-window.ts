/**
 * `npm run bench:dedupe` — the embedded bus's duplicate window under the server's event rate:
 * 3 M message ids at 20,000 a second (bench:serve's champion + shadow + events), each checked and
 * remembered, timed one by one. Compares DedupeWindow (src/events/dedupe-window.ts) with the
 * single Map of id → position plus a FIFO of expiries it replaced (kept here as the reference).
 * Prints the worst single call, how many took over 1 ms and their total (event-loop pauses at the
 * server), the mean, and the ids kept at the end.
 */
import { DedupeWindow } from '../src/events/dedupe-window.js';

const WINDOW_MS = 120_000;
const IDS = Number(process.env['BENCH_IDS'] ?? 3_000_000);
const PER_MS = 20;

/** The replaced window: one Map id → FIFO position, expired from the FIFO's front. */
function mapWindow(): { seen(id: string, nowMs: number): boolean; size(): number } {
  const seen = new Map<string, number>();
  let ids: string[] = [];
  let expiries: number[] = [];
  let head = 0;
  let base = 0;
  return {
    seen(id, nowMs) {
      while (head < ids.length && expiries[head]! <= nowMs) {
        if (seen.get(ids[head]!) === base + head) seen.delete(ids[head]!);
        head++;
      }
      if (head >= 1024 && head * 2 >= ids.length) {
        ids = ids.slice(head);
        expiries = expiries.slice(head);
        base += head;
        head = 0;
      }
      if (seen.has(id)) return true;
      seen.set(id, base + ids.length);
      ids.push(id);
      expiries.push(nowMs + WINDOW_MS);
      return false;
    },
    size: () => seen.size,
  };
}

function run(name: string, seen: (id: string, nowMs: number) => boolean, size: () => number): void {
  let worst = 0;
  let over1 = 0;
  let over1Ms = 0;
  const t0 = performance.now();
  for (let i = 0; i < IDS; i++) {
    const id = `0123456789abcdef01234567-${i}`;
    const s = performance.now();
    seen(id, i / PER_MS);
    const d = performance.now() - s;
    if (d > worst) worst = d;
    if (d > 1) {
      over1++;
      over1Ms += d;
    }
  }
  const meanUs = ((performance.now() - t0) * 1000) / IDS;
  process.stdout.write(`${name}: worst call ${worst.toFixed(1)} ms, ${over1} calls over 1 ms (${over1Ms.toFixed(0)} ms in all), mean ${meanUs.toFixed(2)} µs (id creation included), ${size().toLocaleString('en-US')} ids kept\n`);
}

// Each twice, interleaved, on fresh windows: the first pass of each warms the JIT.
for (let round = 0; round < 2; round++) {
  const m = mapWindow();
  run('Map + FIFO (replaced)', (id, t) => m.seen(id, t), m.size);
  const w = new DedupeWindow(WINDOW_MS);
  run('DedupeWindow, 4 generations', (id, t) => w.add(id, t) === null, () => w.size);
}
