/**
 * Checkpoints of online learning: the live state of every served policy, written every few
 * minutes, after a reload or reset, and at shutdown, so a restart restores the states and
 * replays only the rewards after the checkpoint. Without them a restart rebuilds learning from
 * the event bus alone, which loses every update older than the bus keeps (JetStream: 7 days) and
 * takes longer and more memory the longer the server has run.
 *
 * Each entry (one policy name and registry version) says which rewards its state holds: those
 * before `through_ms`, and those at exactly that time listed in `through_event_ids`. A restored
 * policy skips those when the bus is replayed and learns the rest. Rewards are learned in the
 * order of their times (live: the server clock when the reward arrives; replay: time order), and
 * states are captured only when no reward is between its publish and its update, so nothing is
 * skipped that was not learned, nor learned twice. A wall clock stepping back across a checkpoint
 * could make a later reward look older and be skipped at the next restart: servers are expected
 * to run with a monotonic, NTP-slewed clock. A reward whose event the bus never stored (spilled
 * at a shutdown with the bus down) is in the state but not on the bus: `oo-ml serve` publishes
 * the spill file before the replay (BusEventSink.resendSpilled), and a replay reads what the bus
 * still refuses from the spill file, so its serve is not pending again and a retried /reward is
 * not learned a second time.
 *
 * One JSON file under the home, written atomically (a crash leaves the previous checkpoint); an
 * in-memory variant for tests. Versions no longer served keep their entry (captured when a
 * reload takes them out of service; at most MAX_ENTRIES, served ones first), so a rollback, by
 * reload or by restart, gets its learning back. A reset empties every entry; a checkpoint
 * written under another reset marker is void.
 */
import { join } from 'node:path';
import Type, { type Static } from 'typebox';
import type { HomePaths } from '../config.js';
import { invalidInput } from '../errors.js';
import { readTextIfExists, writeFileAtomic } from '../io/atomic.js';
import { createValidator } from '../validation.js';

/** Policy versions a checkpoint keeps (served ones first, then the most recently served others). */
export const MAX_ENTRIES = 16;

/** Version of the checkpoint file layout. */
export const CHECKPOINT_VERSION = 1;

/** One policy version's learning, with the rewards its state holds (before `through_ms`, or at it with a listed id). */
export const CheckpointEntrySchema = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    model_version: Type.Union([Type.String(), Type.Null()]),
    through_ms: Type.Union([Type.Number(), Type.Null()]),
    through_event_ids: Type.Array(Type.String()),
    // The policy's serialised state: its own fromJSON parses it (and refuses a bad one).
    state: Type.Unknown(),
  },
  { additionalProperties: false },
);
/** One entry of a checkpoint. */
export type CheckpointEntry = Static<typeof CheckpointEntrySchema>;

/** Schema of a checkpoint file (closed objects: unknown fields are refused). */
export const OnlineCheckpointSchema = Type.Object(
  {
    version: Type.Literal(CHECKPOINT_VERSION),
    written_at: Type.String({ format: 'date-time' }),
    /** The reset marker when it was written: under another marker (a later reset) the checkpoint is void. */
    reset_at_ms: Type.Union([Type.Number(), Type.Null()]),
    /** The rewards the server had handled when it was written (the served entries hold them all). */
    through_ms: Type.Union([Type.Number(), Type.Null()]),
    through_event_ids: Type.Array(Type.String()),
    policies: Type.Array(CheckpointEntrySchema, { maxItems: MAX_ENTRIES }),
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
      const text = await readTextIfExists(path);
      if (text === undefined) return null;
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
