/**
 * The spill file of earlier versions (`<home>/data/serve-unsent.ndjson`, written at a shutdown
 * with the bus down): moved into a replica's spill at start so its events are published first.
 */
import { rm } from 'node:fs/promises';
import { readTextIfExists } from '../../io/atomic.js';
import { Spill } from './spill.js';

/**
 * Moves the events an earlier oo-ml left unsent at shutdown (`<home>/data/serve-unsent.ndjson`,
 * one event per line) to the end of the spill in `stateDir`, synced, then removes the old file;
 * returns how many lines moved (0 when there was no file).
 */
export async function importLegacySpill(legacyPath: string, stateDir: string): Promise<number> {
  const text = await readTextIfExists(legacyPath);
  if (text === undefined) return 0;
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length > 0) {
    const spill = await Spill.open(stateDir);
    try {
      await Promise.all(lines.map((l) => spill.append(l)));
    } finally {
      await spill.close();
    }
  }
  await rm(legacyPath, { force: true });
  return lines.length;
}
