/**
 * Checkpoints of online learning: the fold's state at a stream position (fold.ts
 * `FoldSnapshot`) and the live state of every policy version it trains — served ones at that
 * position, versions a reload took out of service at the position they left (at most
 * MAX_ENTRIES in all, served ones first), so a rollback gets its learning back.
 *
 * A start restores the checkpoint and folds the stream from the position after it, so start-up
 * time depends on what came since the last checkpoint, not on the log's age. It is written
 * with the fold paused, after the serve window synced every record and claim it covers
 * (serve-window.ts `flush`), atomically: a crash leaves the previous one. One JSON file per
 * replica, `<state dir>/checkpoint.json`.
 */
import Type, { type Static } from 'typebox';
import { invalidInput } from '../../errors.js';
import { TipReaction, TipReward } from '../../events/schemas.js';
import { readTextIfExists, writeFileAtomic } from '../../io/atomic.js';
import { createValidator } from '../../validation.js';
import { REWARD_OUTCOMES } from './fold.js';
import { replicaStatePaths } from './state-paths.js';

/** Policy versions a checkpoint keeps (served ones first, then the most recently served others). */
export const MAX_ENTRIES = 16;

/** Version of the checkpoint layout written: learning per version (learning-key.ts); CHECKPOINT_BY_ALIAS is still read. */
export const CHECKPOINT_VERSION = 3;

/** The layout that kept learning per alias and version, still read. */
export const CHECKPOINT_BY_ALIAS = 2;

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

/** One policy version's learning. */
export const CheckpointEntrySchema = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    model_version: Nullable(Type.String()),
    /** The stream position its state includes (the checkpoint's for served versions). */
    position: Type.Integer({ minimum: 0 }),
    /** Rewards it learned online since its registered state (or the last reset). */
    updates: Type.Integer({ minimum: 0 }),
    served: Type.Boolean(),
    // The policy's serialised state: its own fromJSON parses it (and refuses a bad one).
    state: Type.Unknown(),
  },
  { additionalProperties: false },
);
/** One entry of a checkpoint. */
export type CheckpointEntry = Static<typeof CheckpointEntrySchema>;

const Counters = Type.Object(
  {
    events: Type.Integer({ minimum: 0 }),
    serves: Type.Integer({ minimum: 0 }),
    shadowServes: Type.Integer({ minimum: 0 }),
    legacyServes: Type.Integer({ minimum: 0 }),
    duplicateServes: Type.Integer({ minimum: 0 }),
    untrackedServes: Type.Integer({ minimum: 0 }),
    resets: Type.Integer({ minimum: 0 }),
    duplicateResets: Type.Integer({ minimum: 0 }),
    invalid: Type.Integer({ minimum: 0 }),
    rewards: Type.Object(Object.fromEntries(REWARD_OUTCOMES.map((o) => [o, Type.Integer({ minimum: 0 })])), { additionalProperties: false }),
  },
  { additionalProperties: false },
);

// A waiting reward is kept as the event it was on the stream: its own schema, not a restatement.
const OrphanEvent = Type.Union([TipReaction, TipReward]);

/** Schema of a checkpoint file (closed objects: unknown fields are refused). */
export const CheckpointSchema = Type.Object(
  {
    version: Type.Union([Type.Literal(CHECKPOINT_BY_ALIAS), Type.Literal(CHECKPOINT_VERSION)]),
    written_at: Type.String({ format: 'date-time' }),
    /** Which bus the positions are in (`embedded` or `nats`): positions of another bus mean nothing. */
    bus: Type.Union([Type.Literal('embedded'), Type.Literal('nats')]),
    fold: Type.Object(
      {
        position: Type.Integer({ minimum: 0 }),
        eventTimeMs: Type.Union([Type.Number(), Type.Null()]),
        resetSeqs: Type.Array(Type.Integer({ minimum: 1 })),
        resetIds: Type.Array(Type.String()),
        firstServes: Type.Array(
          Type.Object({ policy: Type.String(), modelVersion: Nullable(Type.String()), seq: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }),
        ),
        orphans: Type.Array(Type.Object({ seq: Type.Integer({ minimum: 1 }), event: OrphanEvent }, { additionalProperties: false })),
        counters: Counters,
      },
      { additionalProperties: false },
    ),
    policies: Type.Array(CheckpointEntrySchema, { maxItems: MAX_ENTRIES }),
    /**
     * The serve window the checkpoint rests on (serve-window.ts `manifest`): its owners and cold
     * files with their sizes. A window found short of it at start (deleted, emptied, or replaced
     * by hand) makes the checkpoint useless: learning is rebuilt from the stream instead.
     * Absent in checkpoints written before it was recorded.
     */
    window: Type.Optional(
      Type.Object({ owners: Type.Integer({ minimum: 0 }), files: Type.Record(Type.String(), Type.Integer({ minimum: 0 })) }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
);
/** A checkpoint of online learning. */
export type Checkpoint = Static<typeof CheckpointSchema>;

const validator = createValidator(CheckpointSchema);
const REBUILD_HINT = 'delete it: the server then rebuilds online learning from the events stream';

/** Reads and writes the checkpoint of one replica. */
export interface CheckpointStore {
  /** The last checkpoint, null when none was written; throws `invalid_input` for a bad file. */
  read(): Promise<Checkpoint | null>;
  write(checkpoint: Checkpoint): Promise<void>;
}

/** Where a replica keeps its checkpoint. */
export function checkpointPath(stateDir: string): string {
  return replicaStatePaths(stateDir).checkpoint;
}

/** A checkpoint kept in `path` as JSON (written atomically). */
export function createFileCheckpointStore(path: string): CheckpointStore {
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
      const version = (json as { version?: unknown } | null)?.version;
      if (version !== CHECKPOINT_VERSION && version !== CHECKPOINT_BY_ALIAS) {
        throw invalidInput(`online-learning checkpoint ${path} has layout version ${JSON.stringify(version)}, not ${CHECKPOINT_BY_ALIAS} or ${CHECKPOINT_VERSION}`, { hint: REBUILD_HINT });
      }
      return validator.parse(json, `online-learning checkpoint ${path}`);
    },
    // JSON has no -Infinity: an empty fold's clock is written as null.
    write: (checkpoint) => writeFileAtomic(path, JSON.stringify(checkpoint) + '\n'),
  };
}
