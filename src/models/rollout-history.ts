/**
 * Rollout history in the registry: every alias move (training's @candidate, promotion, rollback)
 * is one finished run of the `oo-ml-rollouts` experiment, tagged with the model and holding the
 * entry as JSON. So the history lives with the registry (file store and MLflow server alike),
 * needs no other state, two concurrent writers never overwrite each other's entry, MLflow's UI
 * lists the moves as runs, and the registered model's tags stay the few a person set: one tag per
 * move grew them without bound (17 after a dozen operations).
 *
 * Histories written by earlier versions as `oo-ml.rollout.<ms>-…` model tags are still read.
 * Entries are validated on read.
 */
import { randomBytes } from 'node:crypto';
import Type from 'typebox';
import { nullIfNotFound } from '../errors.js';
import { createValidator } from '../validation.js';
import type { RolloutEntry } from './model-card.js';
import type { Store } from '../registry/store.js';

/** The experiment holding rollout runs. */
export const ROLLOUT_EXPERIMENT = 'oo-ml-rollouts';
/** Tag of a rollout run holding its entry as JSON. */
export const ROLLOUT_ENTRY_TAG = 'oo-ml.rollout';
/** Tag key prefix of the rollout entries earlier versions kept as registered-model tags. */
export const LEGACY_ROLLOUT_TAG_PREFIX = 'oo-ml.rollout.';

/** The schema of one rollout entry (one alias move). */
export const RolloutEntrySchema = Type.Object(
  {
    time: Type.String({ format: 'date-time' }),
    alias: Type.String({ minLength: 1 }),
    from: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
    to: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
    reason: Type.String(),
    forced: Type.Boolean(),
    figures: Type.Record(Type.String(), Type.Union([Type.Number(), Type.String()])),
  },
  { additionalProperties: false },
);
const entryValidator = createValidator(RolloutEntrySchema);

/**
 * Appends entries (one move may touch several aliases) to the model's rollout history, one
 * finished run each; their order within one move is kept by a sequence tag after the time.
 */
export async function appendRollout(store: Store, model: string, ...entries: RolloutEntry[]): Promise<void> {
  for (const entry of entries) entryValidator.parse(entry, 'rollout entry');
  if (entries.length === 0) return;
  const experiment = await store.getOrCreateExperiment(ROLLOUT_EXPERIMENT);
  const batch = randomBytes(4).toString('hex');
  for (const [i, entry] of entries.entries()) {
    const at = Date.parse(entry.time);
    const run = await store.createRun(experiment.experimentId, {
      runName: `${model}-${entry.alias}-${entry.to === null ? 'removed' : `v${entry.to}`}`,
      startTime: at,
      tags: {
        'oo-ml.kind': 'rollout',
        'oo-ml.model': model,
        'oo-ml.alias': entry.alias,
        'oo-ml.rollout.order': `${String(i).padStart(3, '0')}-${batch}`,
        [ROLLOUT_ENTRY_TAG]: JSON.stringify(entry),
      },
    });
    await store.finishRun(run.info.runId, 'FINISHED', at);
  }
}

/** The entries of `moves` that `history` does not already hold (same time, alias and target). */
export function notYetIn(history: readonly RolloutEntry[], moves: readonly RolloutEntry[]): RolloutEntry[] {
  return moves.filter((m) => !history.some((h) => h.time === m.time && h.alias === m.alias && h.to === m.to));
}

/** The model's rollout history, oldest first; an entry that does not parse fails the read naming it. */
export async function readRollout(store: Store, model: string): Promise<RolloutEntry[]> {
  const entries: { key: string; entry: RolloutEntry }[] = [];
  const registered = await store.getRegisteredModel(model);
  for (const [key, value] of Object.entries(registered.tags)) {
    if (key.startsWith(LEGACY_ROLLOUT_TAG_PREFIX)) entries.push({ key, entry: parseEntry(value, `rollout tag ${key} of model ${model}`) });
  }
  const experiment = await nullIfNotFound(store.getExperimentByName(ROLLOUT_EXPERIMENT));
  if (experiment !== null) {
    const runs = await store.searchRuns({ experimentIds: [experiment.experimentId], tags: { 'oo-ml.model': model }, orderBy: 'start_time ASC', maxResults: 50_000 });
    for (const run of runs) {
      const value = run.data.tags[ROLLOUT_ENTRY_TAG];
      if (value === undefined) continue;
      const key = `${run.info.startTime}-${run.data.tags['oo-ml.rollout.order'] ?? ''}-${run.info.runId}`;
      entries.push({ key, entry: parseEntry(value, `rollout run ${run.info.runId} of model ${model}`) });
    }
  }
  return entries
    .sort((a, b) => Date.parse(a.entry.time) - Date.parse(b.entry.time) || a.key.localeCompare(b.key))
    .map((e) => e.entry);
}

function parseEntry(value: string, what: string): RolloutEntry {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    parsed = value;
  }
  return entryValidator.parse(parsed, what);
}
