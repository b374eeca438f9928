/**
 * Rollout history in the registry: every alias move (promotion, rollback) is one registered-model
 * tag `oo-ml.rollout.<epoch ms>-<random>` holding a JSON entry, so the history lives with the
 * model (in the file store and on an MLflow server alike), survives without any other state,
 * and two concurrent writers never overwrite each other's entry. Entries are validated on read.
 */
import { randomBytes } from 'node:crypto';
import Type from 'typebox';
import { createValidator } from '../validation.js';
import type { RolloutEntry } from './model-card.js';
import type { RegisteredModel, Store } from './store.js';

/** Tag key prefix of rollout entries. */
export const ROLLOUT_TAG_PREFIX = 'oo-ml.rollout.';

const Entry = Type.Object(
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
const entryValidator = createValidator(Entry);

/**
 * Appends entries (one move may touch several aliases) to the model's rollout history; their
 * order is kept by a sequence number in the key, after the time.
 */
export async function appendRollout(store: Store, model: string, ...entries: RolloutEntry[]): Promise<void> {
  for (const entry of entries) entryValidator.parse(entry, 'rollout entry');
  const batch = randomBytes(4).toString('hex');
  for (const [i, entry] of entries.entries()) {
    const key = `${ROLLOUT_TAG_PREFIX}${Date.parse(entry.time)}-${String(i).padStart(3, '0')}-${batch}`;
    await store.setRegisteredModelTag(model, key, JSON.stringify(entry));
  }
}

/** The model's rollout history, oldest first; entries that do not parse are reported, not dropped. */
export function readRollout(model: RegisteredModel): RolloutEntry[] {
  const entries: { key: string; entry: RolloutEntry }[] = [];
  for (const [key, value] of Object.entries(model.tags)) {
    if (!key.startsWith(ROLLOUT_TAG_PREFIX)) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      parsed = value;
    }
    entries.push({ key, entry: entryValidator.parse(parsed, `rollout tag ${key} of model ${model.name}`) });
  }
  return entries
    .sort((a, b) => Date.parse(a.entry.time) - Date.parse(b.entry.time) || a.key.localeCompare(b.key))
    .map((e) => e.entry);
}
