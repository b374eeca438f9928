/**
 * Checkpoints of online learning: the live state of every served policy, written every few
 * minutes, after a reload or reset, and at shutdown, so a restart restores the states and
 * replays only the rewards after the checkpoint. Without them a restart rebuilds learning from
 * the event bus alone, which loses every update older than the bus keeps (JetStream: 7 days) and
 * takes longer and more memory the longer the server has run.
 *
 * What "after the checkpoint" means: `through_ms` is the largest event time among the rewards
 * learned when the checkpoint was taken, and `through_event_ids` the rewards learned at exactly
 * that time. A restored policy skips a replayed reward with an earlier time, or at that time with
 * a listed id (it is in the state already), and learns the rest. Rewards are learned in the
 * order of their times (live: the server clock when the reward arrives; replay: time order), and
 * the checkpoint is taken when no reward is between its publish and its update, so nothing
 * learned is skipped twice or learned twice. A wall clock stepping back across a checkpoint
 * could make a later reward look older and be skipped at the next restart: servers are expected
 * to run with a monotonic, NTP-slewed clock.
 *
 * One JSON file under the home, written atomically (a crash leaves the previous checkpoint); an
 * in-memory variant for tests. Entries for policy versions no longer served are carried over
 * (the most recent first, at most MAX_ENTRIES), so a rollback to one restores its learning too.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Type, { type Static } from 'typebox';
import type { HomePaths } from '../config.js';
import { invalidInput } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { createValidator } from '../validation.js';

/** Policy versions a checkpoint keeps (served ones first, then the most recently served others). */
export const MAX_ENTRIES = 16;

/** Version of the checkpoint file layout. */
export const CHECKPOINT_VERSION = 1;

/** Schema of a checkpoint file (closed objects: unknown fields are refused). */
export const OnlineCheckpointSchema = Type.Object(
  {
    version: Type.Literal(CHECKPOINT_VERSION),
    written_at: Type.String({ format: 'date-time' }),
    /** The reset marker when it was written (a later reset makes the checkpoint void). */
    reset_at_ms: Type.Union([Type.Number(), Type.Null()]),
    through_ms: Type.Union([Type.Number(), Type.Null()]),
    through_event_ids: Type.Array(Type.String()),
    policies: Type.Array(
      Type.Object(
        {
          name: Type.String({ minLength: 1 }),
          model_version: Type.Union([Type.String(), Type.Null()]),
          // The policy's serialised state: its own fromJSON parses it (and refuses a bad one).
          state: Type.Unknown(),
        },
        { additionalProperties: false },
      ),
      { maxItems: MAX_ENTRIES },
    ),
  },
  { additionalProperties: false },
);
/** A checkpoint of online learning. */
export type OnlineCheckpoint = Static<typeof OnlineCheckpointSchema>;

const validator = createValidator(OnlineCheckpointSchema);
const REBUILD_HINT = 'delete it: the server then rebuilds online learning from the event bus alone';

/** Reads and writes the checkpoint of one server home. */
export interface OnlineCheckpointStore {
  /** The last checkpoint, null when none was written; throws `invalid_input` for a bad file. */
  read(): Promise<OnlineCheckpoint | null>;
  write(checkpoint: OnlineCheckpoint): Promise<void>;
}

/** Where `oo-ml serve` keeps its checkpoint (beside the reset marker). */
export function onlineCheckpointPath(paths: HomePaths): string {
  return join(paths.data, 'serve', 'online-state.json');
}

/** A checkpoint kept in `path` as JSON. */
export function createFileCheckpointStore(path: string): OnlineCheckpointStore {
  return {
    async read() {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw e;
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (e) {
        throw invalidInput(`online-learning checkpoint ${path} is not JSON: ${(e as Error).message}`, { hint: REBUILD_HINT });
      }
      return validator.parse(json, `online-learning checkpoint ${path}`);
    },
    write: (checkpoint) => writeFileAtomic(path, JSON.stringify(checkpoint) + '\n'),
  };
}

/** A checkpoint store held in memory (a deep copy per write, as a file would be). */
export function createMemoryCheckpointStore(initial: OnlineCheckpoint | null = null): OnlineCheckpointStore & { writes: number } {
  let held = initial === null ? null : structuredClone(initial);
  const store = {
    writes: 0,
    read: () => Promise.resolve(held === null ? null : structuredClone(held)),
    write: (checkpoint: OnlineCheckpoint) => {
      held = structuredClone(checkpoint);
      store.writes++;
      return Promise.resolve();
    },
  };
  return store;
}
