/**
 * Model cards over the Store: gathers a model's versions, their training runs' `evaluation.json`
 * artifacts, aliases and rollout history, renders the card, writes `<cards>/<model>.md`
 * atomically and sets it (cut to MLflow's 5000 characters) as the registered model's
 * description. Called after every registry change that touches a model.
 */
import { join } from 'node:path';
import Type from 'typebox';
import { invalidInput, isOoMlError } from '../errors.js';
import { createValidator } from '../validation.js';
import { writeFileAtomic } from '../io/atomic.js';
import { cardSummary, renderModelCard, type CardVersion, type ModelCardData, type RolloutEntry, type VersionEvaluation } from './model-card.js';
import { notYetIn, readRollout } from './rollout-history.js';
import type { Store } from '../registry/store.js';

/** Artifact path of a training run's evaluation. */
export const EVALUATION_ARTIFACT = 'evaluation.json';
/** Artifact path of the card logged with a training run. */
export const CARD_ARTIFACT = 'model-card.md';

// What the promotion gate reads of an evaluation (the card tolerates older runs' missing fields):
// checked, so a hand-edited or truncated artifact is named rather than misread.
const EvaluationRead = Type.Object(
  {
    dataTo: Type.Union([Type.String(), Type.Null()]),
    fairness: Type.Array(Type.Object({ segment: Type.String(), flagged: Type.Boolean() })),
  },
  { additionalProperties: true },
);
const evaluationValidator = createValidator(EvaluationRead);

/** When a version's training data ends (epoch ms), or null when its evaluation does not say. */
export function trainingDataEnd(evaluation: VersionEvaluation | null): number | null {
  const ms = evaluation?.dataTo == null ? Number.NaN : Date.parse(evaluation.dataTo);
  return Number.isNaN(ms) ? null : ms;
}

/** Reads a run's evaluation artifact; null when the run has none; `invalid_input` naming the run when it is not one. */
export async function readEvaluation(store: Store, runId: string): Promise<VersionEvaluation | null> {
  if (runId === '') return null;
  let bytes: Uint8Array;
  try {
    bytes = await store.downloadArtifact(runId, EVALUATION_ARTIFACT);
  } catch (e) {
    if (isOoMlError(e, 'not_found')) return null;
    throw e;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw invalidInput(`${EVALUATION_ARTIFACT} of run ${runId} is not JSON: ${(e as Error).message}`);
  }
  evaluationValidator.parse(parsed, `${EVALUATION_ARTIFACT} of run ${runId}`);
  return parsed as VersionEvaluation;
}

/**
 * Everything the card of `model` shows, from the registry; with `pending`, as it will be once
 * those alias moves are made (a command writes the card before it moves the aliases: see
 * pending-moves.ts).
 */
export async function gatherCardData(store: Store, model: string, now: Date, pending: readonly RolloutEntry[] = []): Promise<ModelCardData> {
  const registered = await store.getRegisteredModel(model);
  const versions = await store.searchModelVersions(model);
  const aliases: Record<string, number> = { ...registered.aliases };
  for (const m of pending) {
    if (m.to === null) delete aliases[m.alias];
    else aliases[m.alias] = m.to;
  }
  const cardVersions: CardVersion[] = [];
  for (const v of versions) {
    cardVersions.push({
      version: v.version,
      createdAt: new Date(v.creationTimestamp).toISOString(),
      runId: v.runId,
      aliases: pending.length === 0 ? v.aliases : Object.keys(aliases).filter((a) => aliases[a] === v.version).sort(),
      evaluation: await readEvaluation(store, v.runId),
    });
  }
  const history = await readRollout(store, model);
  const rollout = [...history, ...notYetIn(history, pending)];
  return { model, generatedAt: now.toISOString(), aliases, versions: cardVersions, rollout };
}

/** Regenerates the card of `model`: file, registered-model description; returns the Markdown and its path. */
export async function refreshModelCard(
  store: Store,
  model: string,
  cardsDir: string,
  now: Date,
  tmpDir?: string,
  pending: readonly RolloutEntry[] = [],
): Promise<{ path: string; markdown: string }> {
  const markdown = renderModelCard(await gatherCardData(store, model, now, pending));
  const path = join(cardsDir, `${model}.md`);
  await writeFileAtomic(path, markdown, tmpDir === undefined ? {} : { tmpDir });
  await store.updateRegisteredModel(model, cardSummary(markdown));
  return { path, markdown };
}
