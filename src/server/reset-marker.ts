/**
 * Where the time of the last /admin/reset is kept, so a restart replays only the journal events
 * after it (the reset cleared everything before). One small file under the home, written
 * atomically; an in-memory variant for tests.
 */
import { join } from 'node:path';
import type { HomePaths } from '../config.js';
import { invalidInput } from '../errors.js';
import { readTextIfExists, writeFileAtomic } from '../io/atomic.js';
import type { ResetMarker } from './deps.js';

/** Where `oo-ml serve` keeps the marker (beside its journal). */
export function resetMarkerPath(paths: HomePaths): string {
  return join(paths.data, 'serve', 'reset-at');
}

/** A marker stored in `path` as an ISO-8601 time. */
export function createFileResetMarker(path: string): ResetMarker {
  return {
    async read() {
      const text = (await readTextIfExists(path))?.trim();
      if (text === undefined) return null;
      const ms = Date.parse(text);
      if (Number.isNaN(ms)) throw invalidInput(`${path} does not hold a time (got "${text.slice(0, 40)}")`, { hint: 'delete it to replay the whole journal' });
      return ms;
    },
    write: (epochMs) => writeFileAtomic(path, new Date(epochMs).toISOString() + '\n'),
  };
}

/** A marker held in memory. */
export function createMemoryResetMarker(initial: number | null = null): ResetMarker {
  let at = initial;
  return {
    read: () => Promise.resolve(at),
    write: (epochMs) => {
      at = epochMs;
      return Promise.resolve();
    },
  };
}
