/**
 * Promotion and rollback over the Store, written once for both adapters. A move is checked
 * first (version exists, not already there, gate or --force with a reason) and only then
 * applied: the gate's decision and figures become version tags, aliases move (the replaced
 * champion keeps `previous-champion`), each move is appended to the rollout history, and the
 * model card is regenerated. A refused move changes nothing in the registry.
 */
import { conflict, invalidUsage, isOoMlError, notFound, nullIfNotFound } from '../errors.js';
import type { RolloutEntry } from '../models/model-card.js';
import { refreshModelCard } from '../models/model-cards.js';
import { appendRollout, readRollout } from '../models/rollout-history.js';
import { applyMoves, clearPending, incompleteBecause, markPending } from '../models/pending-moves.js';
import type { Store } from '../registry/store.js';
import { evaluateGate, type GateDecision, type GateEvidence, type GateQuestion, type GateRules } from './gate.js';

/** The aliases of the rollout. */
export const ALIASES = { candidate: 'candidate', shadow: 'shadow', champion: 'champion', previous: 'previous-champion' } as const;

/** A promotion request. */
export interface PromoteRequest {
  model: string;
  version: number;
  to: 'shadow' | 'champion';
  reason?: string;
  force?: boolean;
  /** The gate's thresholds, where they differ from GATE_RULES (recorded with the decision's figures). */
  rules?: Partial<GateRules>;
}

/** What a promotion did. */
export interface PromoteResult {
  model: string;
  version: number;
  to: 'shadow' | 'champion';
  decision: GateDecision;
  forced: boolean;
  aliases: Record<string, number>;
  card: string;
}

/** Where the promotion writes the card, and its clock. */
export interface PromoteContext {
  store: Store;
  cardsDir: string;
  tmpDir?: string;
  now: () => Date;
  /** Gathers the gate's evidence (may run a simulation); called only when the move is allowed to be tried. */
  evidence: (question: GateQuestion) => Promise<GateEvidence>;
  /** The version `evidence` was gathered for (evidence.ts `promotionContext` sets it): a request for another is refused. */
  subject?: { model: string; version: number };
}

async function currentAlias(store: Store, model: string, alias: string): Promise<number | null> {
  return (await nullIfNotFound(store.getModelVersionByAlias(model, alias)))?.version ?? null;
}

/**
 * Promotes a version through the gate (or by force, with a reason). A refusal throws `conflict`
 * with the gate's decision (`GateDecision`) as its `details`, and changes nothing; the result's
 * decision is a passed one, or a forced one that failed.
 */
export async function promoteVersion(ctx: PromoteContext, req: PromoteRequest): Promise<PromoteResult> {
  const { store } = ctx;
  if (ctx.subject !== undefined && (ctx.subject.model !== req.model || ctx.subject.version !== req.version)) {
    throw invalidUsage(`the promotion context gathers evidence for ${ctx.subject.model} v${ctx.subject.version}, not for ${req.model} v${req.version}`, {
      hint: 'make the context with promotionContext(…) for the version being promoted',
    });
  }
  if (req.force === true && (req.reason === undefined || req.reason.trim() === '')) {
    throw invalidUsage('--force needs --reason', { hint: 'say why the gate is being overridden; it is recorded in the model card' });
  }
  await requireModel(store, req.model);
  const version = await store.getModelVersion(req.model, req.version).catch((e: unknown) => {
    if (isOoMlError(e, 'not_found')) throw notFound(`model ${req.model} has no version ${req.version}`, { hint: `see \`oo-ml models ${req.model}\`` });
    throw e;
  });
  // Before the gate and beyond --force: an alias never points at an incomplete version.
  const incomplete = await incompleteBecause(store, version);
  if (incomplete !== null) {
    throw conflict(`${req.model} v${req.version} cannot be promoted: ${incomplete}`, { hint: `nothing was changed; see \`oo-ml models ${req.model}\`, and train a new version` });
  }
  const champion = await currentAlias(store, req.model, ALIASES.champion);
  const shadow = await currentAlias(store, req.model, ALIASES.shadow);
  if (req.to === 'champion' && champion === req.version) throw conflict(`${req.model} v${req.version} is already champion`);
  if (req.to === 'shadow' && shadow === req.version) throw conflict(`${req.model} v${req.version} is already shadow`);
  if (req.to === 'shadow' && champion === req.version) throw conflict(`${req.model} v${req.version} is champion; roll back instead of demoting it to shadow`);
  const wasShadow = shadow === req.version || (await readRollout(store, req.model)).some((r) => r.alias === ALIASES.shadow && r.to === req.version);

  const forced = req.force === true;
  const decision = evaluateGate(req.to, await ctx.evidence({ to: req.to, champion, wasShadow, forced }), req.rules);
  if (!decision.passed && !forced) {
    const failed = decision.checks.filter((c) => !c.passed).map((c) => `${c.name}: ${c.detail}`);
    throw conflict(`the gate refused ${req.model} v${req.version} → ${req.to}: ${failed.join('; ')}`, {
      hint: 'nothing was changed; fix the evidence, or use --force --reason "…" to override (recorded as forced)',
      details: decision,
    });
  }
  const time = ctx.now().toISOString();
  const reason = req.reason ?? (decision.passed ? 'gate passed' : 'forced');
  const prefix = `oo-ml.gate.${req.to}`;
  const entry = { time, reason, forced, figures: decision.figures };
  const moves: RolloutEntry[] = [];
  if (req.to === 'shadow') {
    moves.push({ ...entry, alias: ALIASES.shadow, from: shadow, to: req.version });
  } else {
    if (champion !== null) moves.push({ ...entry, alias: ALIASES.previous, from: await currentAlias(store, req.model, ALIASES.previous), to: champion });
    moves.push({ ...entry, alias: ALIASES.champion, from: champion, to: req.version });
    if (shadow === req.version) moves.push({ ...entry, alias: ALIASES.shadow, from: req.version, to: null, reason: 'promoted to champion' });
  }
  // What is about to happen is recorded first and the aliases move after the gate's record: an
  // interrupted promote is finished (or retired) by `oo-ml models --repair` (pending-moves.ts).
  await markPending(store, req.model, req.version, { command: 'promote', time, runId: null, moves });
  await store.setModelVersionTag(req.model, req.version, `${prefix}.passed`, String(decision.passed));
  await store.setModelVersionTag(req.model, req.version, `${prefix}.forced`, String(forced));
  await store.setModelVersionTag(req.model, req.version, `${prefix}.time`, time);
  await store.setModelVersionTag(req.model, req.version, `${prefix}.figures`, JSON.stringify(decision.figures));
  await applyMoves(store, req.model, moves);
  await appendRollout(store, req.model, ...moves);
  const card = await refreshModelCard(store, req.model, ctx.cardsDir, ctx.now(), ctx.tmpDir);
  await clearPending(store, req.model, req.version);
  return { model: req.model, version: req.version, to: req.to, decision, forced, aliases: { ...(await store.getRegisteredModel(req.model)).aliases }, card: card.path };
}

/** Throws the store's `not_found` for a model it does not have, with what to do about it. */
async function requireModel(store: Store, model: string): Promise<void> {
  try {
    await store.getRegisteredModel(model);
  } catch (e) {
    if (!isOoMlError(e, 'not_found') || e.hint !== undefined) throw e;
    throw notFound(e.message, { hint: '`oo-ml models` lists the registered models; `oo-ml train` registers one (--home if it is elsewhere)', cause: e });
  }
}

/**
 * When @previous-champion was set by a rollback of oo-ml before 0.2.0, which swapped the two
 * aliases instead of removing it: the time of that rollback, else null. Its entries tell it: the
 * last champion move carries no gate figures (a rollback's) and, at the same time,
 * @previous-champion went the other way (a promotion of the previous champion again carries the
 * gate's figures).
 */
async function leftByEarlierRollback(store: Store, model: string, champion: number, previous: number): Promise<string | null> {
  const history = await readRollout(store, model);
  const last = history.findLast((e) => e.alias === ALIASES.champion);
  // 0.1.0's rollback wrote forced: false; a forced promotion of a version never shadow had no figures either.
  if (last === undefined || last.forced || last.to !== champion || last.from !== previous || Object.keys(last.figures).length > 0) return null;
  const swapped = history.some((e) => e.time === last.time && e.alias === ALIASES.previous && e.from === champion && e.to === previous);
  return swapped ? last.time : null;
}

/** What a rollback did. */
export interface RollbackResult {
  model: string;
  from: number;
  to: number;
  aliases: Record<string, number>;
  card: string;
}

/**
 * Moves `champion` back to `previous-champion` and removes that alias: a rollback is undone by a
 * promotion through the gate, never by a second rollback (which, were the alias to point at the
 * demoted version, would put it back as champion without any check).
 */
export async function rollbackChampion(
  ctx: Omit<PromoteContext, 'evidence'>,
  model: string,
  reason = 'rollback',
): Promise<RollbackResult> {
  const { store } = ctx;
  await requireModel(store, model);
  const champion = await currentAlias(store, model, ALIASES.champion);
  const previous = await currentAlias(store, model, ALIASES.previous);
  // The registry's state forbids it (as promoting a version that is already champion): a conflict.
  if (champion === null) throw conflict(`model ${model} has no champion to roll back`);
  if (previous === null) {
    throw conflict(`model ${model} has no previous champion to roll back to`, {
      hint: 'a rollback needs an earlier promotion to champion, and each promotion can be rolled back once; to go further back, promote that version again (oo-ml promote)',
    });
  }
  const left = await leftByEarlierRollback(store, model, champion, previous);
  if (left !== null) {
    throw conflict(`model ${model}'s @${ALIASES.previous} v${previous} was left by a rollback of an earlier oo-ml (${left}), which pointed it at the version it rolled back from: rolling back to it would put v${previous} in again unchecked`, {
      hint: `to make v${previous} champion, promote it through the gate (oo-ml promote ${model} ${previous} --to champion)`,
    });
  }
  const time = ctx.now().toISOString();
  const moves: RolloutEntry[] = [
    { time, alias: ALIASES.champion, from: champion, to: previous, reason, forced: false, figures: {} },
    { time, alias: ALIASES.previous, from: previous, to: null, reason, forced: false, figures: {} },
  ];
  // A version is never champion and shadow at once (promote to champion ends its shadow too).
  if ((await currentAlias(store, model, ALIASES.shadow)) === previous) {
    moves.push({ time, alias: ALIASES.shadow, from: previous, to: null, reason: 'rolled back to champion', forced: false, figures: {} });
  }
  await markPending(store, model, previous, { command: 'rollback', time, runId: null, moves });
  await applyMoves(store, model, moves);
  await appendRollout(store, model, ...moves);
  const card = await refreshModelCard(store, model, ctx.cardsDir, ctx.now(), ctx.tmpDir);
  await clearPending(store, model, previous);
  return { model, from: champion, to: previous, aliases: { ...(await store.getRegisteredModel(model)).aliases }, card: card.path };
}
