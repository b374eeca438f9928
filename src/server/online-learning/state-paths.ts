/**
 * Every file of a replica's own state folder (`oo-ml serve --state-dir`, default
 * `<home>/data/serve`), named once: what online learning keeps there, and what earlier versions
 * left that is migrated or reported at start-up.
 */
import { join } from 'node:path';

/** The files of one replica's state folder. */
export interface ReplicaStatePaths {
  dir: string;
  /** The last checkpoint of online learning (policy states and the stream position they include). */
  checkpoint: string;
  /** Events answered while the bus was down, in order, and how far they were drained. */
  spill: string;
  spillCursor: string;
  /** The serve window's cold files and owner table. */
  window: string;
  /** Server-built events the bus refused as invalid (kept for a person to look at). */
  rejected: string;
  /** Files of earlier versions: no longer read (reported at start-up). */
  legacy: { onlineState: string; resetMarker: string };
}

/** The paths of the state folder `dir`. */
export function replicaStatePaths(dir: string): ReplicaStatePaths {
  return {
    dir,
    checkpoint: join(dir, 'checkpoint.json'),
    spill: join(dir, 'spill.ndjson'),
    spillCursor: join(dir, 'spill.cursor'),
    window: join(dir, 'window'),
    rejected: join(dir, 'rejected.ndjson'),
    legacy: { onlineState: join(dir, 'online-state.json'), resetMarker: join(dir, 'reset-at') },
  };
}
