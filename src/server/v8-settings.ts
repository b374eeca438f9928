/**
 * V8 settings `oo-ml serve` applies to its own process, for a server that idles between bursts,
 * and the one it can only advise (V8's helper threads on one core: `oneCoreAdvice`).
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
import { availableParallelism } from 'node:os';
import v8 from 'node:v8';

/** The flags, in V8's syntax. */
export const SERVE_V8_FLAGS = ['--heap-growing-percent=100', '--no-flush-bytecode', '--no-flush-baseline-code'] as const;

/** Applies SERVE_V8_FLAGS to this process (V8 reads them at each collection, so setting them at start-up suffices). */
export function applyServeV8Settings(): void {
  for (const flag of SERVE_V8_FLAGS) v8.setFlagsFromString(flag);
}

/** Node and V8 options that keep a major collection's marking and sweeping off the only core's other threads. */
const ONE_CORE_OPTIONS = ['--v8-pool-size', '--single-threaded-gc', '--single-threaded'];

/**
 * What to tell the operator of a server that runs on one core with V8's default helper threads,
 * or null (more cores, or one of ONE_CORE_OPTIONS given in `options`: the process's command-line
 * options and NODE_OPTIONS' words; Node and V8 take `_` for `-` in option names). On one core,
 * V8's four collector threads each get as much of it as the event loop while a major collection
 * marks and sweeps, and answers wait 15–50 ms; Node takes the pool size only at start, so the
 * server can advise it but not set it (BENCHMARKS.md, "V8's collector threads").
 */
export function oneCoreAdvice(cores: number, options: readonly string[]): string | null {
  const given = options.some((o) => {
    const name = o.split('=')[0]!.replaceAll('_', '-');
    return ONE_CORE_OPTIONS.includes(name);
  });
  if (cores > 1 || given) return null;
  return 'this process runs on one core: V8 collects with four helper threads that take turns on it with the event loop, holding answers for 15-50 ms during major collections; start it with NODE_OPTIONS=--v8-pool-size=1';
}

/** `oneCoreAdvice` for this process: its cores now, its command-line options and `nodeOptions` (NODE_OPTIONS). */
export function oneCoreAdviceHere(nodeOptions: string | undefined): string | null {
  return oneCoreAdvice(availableParallelism(), [...process.execArgv, ...(nodeOptions ?? '').split(/\s+/)]);
}
