/**
 * Alias moves that survive an interrupted command. A command that moves aliases (train's
 * @candidate, promote, rollback) first records what it is about to do on the version it moves to
 * (version tag `oo-ml.pending`: the command, its time, the moves as rollout entries, the run),
 * then writes everything a reader needs (the version's run, card and description), moves the
 * aliases last, appends the rollout entries, refreshes the card, and clears the record (an empty
 * value). So a reader that resolves an alias always finds a complete version, and a command that
 * died on the way (a server gone, a killed process) leaves a record that `oo-ml models` shows and
 * `oo-ml models --repair` finishes (when the version is complete and the aliases are still where
 * the command found them or already where it put them) or retires (the version keeps no alias;
 * its run is marked FAILED).
 */
import Type from 'typebox';
import { isOoMlError, nullIfNotFound } from '../errors.js';
import { createValidator } from '../validation.js';
import type { RolloutEntry } from './model-card.js';
import { CARD_ARTIFACT, refreshModelCard } from './model-cards.js';
import { appendRollout, notYetIn, readRollout, RolloutEntrySchema } from './rollout-history.js';
import type { ModelVersion, Store } from '../registry/store.js';

/** Version tag of a pending move (an empty value: nothing pending). */
export const PENDING_TAG = 'oo-ml.pending';
/** Version tag of a version an interrupted command left that `--repair` retired (the reason). */
export const RETIRED_TAG = 'oo-ml.retired';

const Pending = Type.Object(
  {
    command: Type.Union([Type.Literal('train'), Type.Literal('promote'), Type.Literal('rollback')]),
    time: Type.String(),
    /** The training run whose card and finish make the version complete (train only). */
    runId: Type.Union([Type.String(), Type.Null()]),
    moves: Type.Array(RolloutEntrySchema, { minItems: 1 }),
  },
  { additionalProperties: false },
);
const pendingValidator = createValidator(Pending);

/** What a command is about to do. */
export interface PendingMove {
  command: 'train' | 'promote' | 'rollback';
  time: string;
  runId: string | null;
  moves: RolloutEntry[];
}

/** Records `pending` on version `version` of `model` (before any of its writes). */
export async function markPending(store: Store, model: string, version: number, pending: PendingMove): Promise<void> {
  pendingValidator.parse(pending, 'pending move');
  await store.setModelVersionTag(model, version, PENDING_TAG, JSON.stringify(pending));
}

/** Clears the record (after the last write). */
export async function clearPending(store: Store, model: string, version: number): Promise<void> {
  await store.setModelVersionTag(model, version, PENDING_TAG, '');
}

/** The version's pending move; null when none. A record that does not parse is reported as such (so --repair can retire it). */
export function pendingOf(version: Pick<ModelVersion, 'tags'>): PendingMove | 'unreadable' | null {
  const raw = version.tags[PENDING_TAG];
  if (raw === undefined || raw === '') return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return 'unreadable';
  }
  return pendingValidator.check(parsed) ? parsed : 'unreadable';
}

/** Why `--repair` (or a failed train) retired the version, or null when it is not retired. */
function retiredOf(version: Pick<ModelVersion, 'tags'>): string | null {
  const why = version.tags[RETIRED_TAG];
  return why === undefined || why === '' ? null : why;
}

/**
 * Why `version` may not be given an alias, or null when it is complete: retired by `--repair`,
 * left by an interrupted command (a pending record), or made by a run that did not finish.
 * Not a gate check: `--force` does not override it.
 */
export async function incompleteBecause(store: Store, version: ModelVersion): Promise<string | null> {
  const retired = retiredOf(version);
  if (retired !== null) return `it was retired (${retired})`;
  const pending = pendingOf(version);
  if (pending !== null) return `an interrupted ${pending === 'unreadable' ? 'command' : pending.command} left it incomplete: run \`oo-ml models --repair\` first`;
  if (version.runId === '') return null;
  const run = await nullIfNotFound(store.getRun(version.runId));
  if (run === null) return `its run ${version.runId} is gone`;
  return run.info.status === 'FINISHED' ? null : `its run ${version.runId} is ${run.info.status}${run.info.status === 'RUNNING' ? ' (a command is still on it, or died: `oo-ml models --repair`)' : ''}`;
}

/** Moves the aliases as `moves` say, in order (`to` null deletes the alias). */
export async function applyMoves(store: Store, model: string, moves: readonly RolloutEntry[]): Promise<void> {
  for (const m of moves) {
    if (m.to === null) await store.deleteAlias(model, m.alias);
    else await store.setAlias(model, m.alias, m.to);
  }
}

/** What `--repair` did with one interrupted command. */
export interface Repair {
  model: string;
  /** The version (null: a run no version refers to). */
  version: number | null;
  command: string;
  outcome: 'finished' | 'retired';
  why: string;
}

/** Options of repairModel. */
export interface RepairContext {
  store: Store;
  cardsDir: string;
  tmpDir?: string;
  now: () => Date;
}

/**
 * Finishes or retires every interrupted command of `model` (see the module comment); returns
 * what it did. Runs after the interruption, never beside a running command on the same model.
 */
export async function repairModel(ctx: RepairContext, model: string): Promise<Repair[]> {
  const { store } = ctx;
  const out: Repair[] = [];
  const versions = await store.searchModelVersions(model);
  for (const v of versions) {
    const pending = pendingOf(v);
    if (pending === null) continue;
    if (pending === 'unreadable') {
      await retire(ctx, model, v, null, 'its pending record does not parse');
      out.push({ model, version: v.version, command: 'unknown', outcome: 'retired', why: 'its pending record does not parse' });
      continue;
    }
    const blocked = await finishBlocker(store, model, v, pending);
    if (blocked !== null) {
      await retire(ctx, model, v, pending, blocked);
      out.push({ model, version: v.version, command: pending.command, outcome: 'retired', why: blocked });
      continue;
    }
    if (pending.runId !== null) {
      const run = await store.getRun(pending.runId);
      if (run.info.status === 'RUNNING') await store.finishRun(pending.runId, 'FINISHED', ctx.now().getTime());
    }
    await applyMoves(store, model, pending.moves);
    // Entries the interrupted command already appended are not appended twice.
    const history = await readRollout(store, model);
    const missing = notYetIn(history, pending.moves);
    if (missing.length > 0) await appendRollout(store, model, ...missing);
    await refreshModelCard(store, model, ctx.cardsDir, ctx.now(), ctx.tmpDir);
    await clearPending(store, model, v.version);
    out.push({ model, version: v.version, command: pending.command, outcome: 'finished', why: `moved ${pending.moves.map((m) => `@${m.alias} → ${m.to === null ? 'removed' : `v${m.to}`}`).join(', ')}` });
  }
  // Runs of this model a command left RUNNING without a pending record (it died before it made
  // one, and could not mark them FAILED): marked FAILED now, and a version made from such a run
  // (registered, never complete, no alias) is retired. No command runs beside --repair. The
  // versions read above still hold for those: the loop above touched only versions with a record,
  // whose runs it finished or failed.
  const experiments = (await store.searchExperiments()).map((e) => e.experimentId);
  const running = experiments.length === 0 ? [] : await store.searchRuns({ experimentIds: experiments, tags: { 'oo-ml.model': model }, status: 'RUNNING', maxResults: 50_000 });
  for (const run of running) {
    await store.finishRun(run.info.runId, 'FAILED', ctx.now().getTime());
    const made = versions.find((v) => v.runId === run.info.runId);
    if (made !== undefined && made.aliases.length === 0) await store.setModelVersionTag(model, made.version, RETIRED_TAG, 'train interrupted before the version was complete');
    out.push({
      model,
      version: made?.version ?? null,
      command: run.data.tags['oo-ml.kind'] ?? 'a command',
      outcome: 'retired',
      why: `its run ${run.info.runId} (${run.info.runName}) was left RUNNING: marked FAILED`,
    });
  }
  // A version whose run failed without leaving a record (a train that failed after registering
  // it, before this version retired its own) and that no alias names is retired too.
  for (const v of versions) {
    if (v.aliases.length > 0 || pendingOf(v) !== null || retiredOf(v) !== null || v.runId === '' || running.some((r) => r.info.runId === v.runId)) continue;
    const run = await nullIfNotFound(store.getRun(v.runId));
    const status = run?.info.status ?? 'gone';
    if (status !== 'FAILED' && status !== 'KILLED' && status !== 'gone') continue;
    await store.setModelVersionTag(model, v.version, RETIRED_TAG, `its run ${v.runId} is ${status}`);
    out.push({ model, version: v.version, command: 'train', outcome: 'retired', why: `its run ${v.runId} is ${status}` });
  }
  // The card may show a move that never happened (train writes it before moving @candidate).
  if (out.length > 0) await refreshModelCard(store, model, ctx.cardsDir, ctx.now(), ctx.tmpDir);
  return out;
}

/** Why the pending move cannot be finished, or null when it can. */
async function finishBlocker(store: Store, model: string, v: ModelVersion, pending: PendingMove): Promise<string | null> {
  if (pending.runId !== null) {
    let run;
    try {
      run = await store.getRun(pending.runId);
    } catch (e) {
      if (isOoMlError(e, 'not_found')) return `its run ${pending.runId} is gone`;
      throw e;
    }
    if (run.info.status === 'FAILED' || run.info.status === 'KILLED') return `its run ${pending.runId} is ${run.info.status}`;
    try {
      await store.downloadArtifact(pending.runId, CARD_ARTIFACT);
    } catch (e) {
      if (isOoMlError(e, 'not_found')) return `its run ${pending.runId} has no model card: training did not finish`;
      throw e;
    }
    if (v.description === '') return 'the version has no description: training did not finish';
  }
  const aliases = (await store.getRegisteredModel(model)).aliases;
  for (const m of pending.moves) {
    const now = aliases[m.alias] ?? null;
    if (now !== m.from && now !== m.to) return `@${m.alias} has moved since (to ${now === null ? 'nothing' : `v${now}`}): finishing would undo that`;
  }
  return null;
}

async function retire(ctx: RepairContext, model: string, v: ModelVersion, pending: PendingMove | null, why: string): Promise<void> {
  const { store } = ctx;
  if (pending?.runId != null) {
    const run = await nullIfNotFound(store.getRun(pending.runId));
    if (run !== null && run.info.status === 'RUNNING') await store.finishRun(pending.runId, 'FAILED', ctx.now().getTime());
  }
  await store.setModelVersionTag(model, v.version, RETIRED_TAG, `${pending?.command ?? 'an interrupted command'} interrupted; ${why}`);
  await clearPending(store, model, v.version);
}
