/**
 * V8 settings `oo-ml serve` applies to its own process, for a server that idles between bursts.
 *
 * Why: after an idle spell, a load ran with an old-generation collection every second or two
 * (V8 keeps the old generation's growing factor near its minimum after little allocation), and
 * functions idle long enough had lost their compiled code and recompiled under load on the same
 * core; its tail latency was several times a fresh process's. With the old generation allowed
 * to double before it is collected and compiled code kept, the same load after idling ran close
 * to a fresh process, at about the same RSS (BENCHMARKS.md, "after idling"). The cost: up to
 * twice the live old generation between collections, and the compiled code of functions that
 * stopped running stays.
 */
import v8 from 'node:v8';

/** The flags, in V8's syntax. */
export const SERVE_V8_FLAGS = ['--heap-growing-percent=100', '--no-flush-bytecode', '--no-flush-baseline-code'] as const;

/** Applies SERVE_V8_FLAGS to this process (V8 reads them at each collection, so setting them at start-up suffices). */
export function applyServeV8Settings(): void {
  for (const flag of SERVE_V8_FLAGS) v8.setFlagsFromString(flag);
}
