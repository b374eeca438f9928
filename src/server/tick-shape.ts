/**
 * Keeps one of Node's `process.nextTick` tick objects alive for the life of the process.
 *
 * Why: Node builds a tick object per `nextTick` (about six per HTTP request) from an object
 * literal with two symbol keys, and V8 caches the literal's property transitions at that site.
 * A full garbage collection that runs while no tick object is alive (V8's memory reducer when
 * the server idles, a quiet moment at low traffic) clears those transitions, and from then on
 * the site defines each tick object's properties in the runtime, for as long as the process
 * lives: several times dearer per call, a visible share of `oo-ml serve`'s CPU under load after
 * it idled. One tick object kept alive keeps its shape's transitions alive (BENCHMARKS.md,
 * "nextTick's shape"). Harmless where it is not needed: one small object.
 */
import { executionAsyncResource } from 'node:async_hooks';

let kept: object | undefined;

/** Keeps a tick object (the resource of a `nextTick` callback) referenced from now on; resolves once it is. */
export function keepTickShape(): Promise<void> {
  if (kept !== undefined) return Promise.resolve();
  return new Promise((resolve) => {
    process.nextTick(() => {
      kept = executionAsyncResource();
      resolve();
    });
  });
}

/** The tick object kept, if any (for tests). */
export function keptTickObject(): object | undefined {
  return kept;
}
