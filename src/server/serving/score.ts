/**
 * /score: a request → the assigned (or requested) policy → the JIT context and the profile →
 * the feature vector → a draw, recorded as a `tip.served` event that carries what learning from
 * its reward needs (policy version, arm, propensity, the context and profile the vector was
 * computed from, the experiment variant). The answer waits until the event is durable (the
 * bus's ack, or the local spill's sync), so a replica killed right after answering has lost
 * nothing; shadows score after the answer (shadows.ts).
 */
import { conflict, invalidInput, unavailable } from '../../errors.js';
import type { ServeFeaturesValue, TipServedEvent } from '../../events/schemas.js';
import { assign } from '../../experiments/assignment.js';
import { ARM_IDS } from '../../features/arms.js';
import { writeVector, type VectorInput } from '../../features/vectors.js';
import { allowedArms, decide, resolveContext, resolveProfile, type ResolvedContext } from '../decision.js';
import { isoFromMs } from '../iso-time.js';
import type { ScoreBody, ScoreResponse } from '../schemas.js';
import { NO_EXPERIMENTS, type ServingState } from '../serving-state.js';
import type { ServingContext } from './context.js';
import type { Shadows } from './shadows.js';

/** A decision with the stats row it counted in (the route records its latency there). */
export interface ScoreOutcome {
  response: ScoreResponse;
  statsKey: string;
}

/** Where `scoreInto` records the stats row a decision counted in (the route's request). */
export interface StatsKeyHolder {
  ooStatsKey: string | null;
}

/** The scoring part of the scorer. */
export interface Scorer {
  score(body: ScoreBody, promptVersion?: string): Promise<ScoreOutcome>;
  /** `score` for the route: the response alone, the stats row written into `holder` once the decision is recorded. */
  scoreInto(body: ScoreBody, holder: StatsKeyHolder, promptVersion?: string): Promise<ScoreResponse>;
}

/** The context recorded on a serve event. */
export function contextOf(c: ResolvedContext): TipServedEvent['context'] {
  return { hour_of_day: c.hourOfDay, day_of_week: c.dayOfWeek, open_tasks: c.openTasks, overdue_tasks: c.overdueTasks };
}

const NOT_READY_HINT =
  'GET /readyz names the causes; is --home the folder that holds data/ and mlruns/? Export a snapshot (`oo-ml features export`) or promote a champion, then restart the server, or POST /admin/reload with OO_ML_ADMIN_TOKEN set';

/** An app's 503: what is missing, without the causes (they may name the server's paths; /readyz has them). */
function notReady(state: ServingState, what: string, hint = NOT_READY_HINT): never {
  throw unavailable(`${what}: ${state.summaries.join('; ')}`, { hint, details: { reasons: state.summaries } });
}

/** The scorer over `ctx`; shadow scoring is handed to `shadows`. */
export function createScorer(ctx: ServingContext, shadows: Shadows): Scorer {
  const { deps } = ctx;

  // Synchronous up to the publish, then one `.then` carrying both outcomes (not an async
  // function, no separate catch, no route-side `.then`: fewer promises and closures per decision).
  function decideAndRecord(body: ScoreBody, promptVersionOverride: string | undefined, holder: StatsKeyHolder): Promise<ScoreResponse> {
    const state = ctx.state();
    if (state.snapshot === null || state.fallbackProfile === null) notReady(state, 'cannot score: not ready');
    const mask = allowedArms(body.arms);
    let name: string;
    let experiment: string | null = null;
    let variant: string | null = null;
    if (body.policy !== undefined) {
      if (!state.policies.has(body.policy)) {
        throw invalidInput(`unknown policy "${body.policy}"`, {
          hint: `loaded policies: ${[...state.policies.keys()].join(', ') || '(none)'}`,
          details: [{ path: '/policy', message: `no loaded policy is named "${body.policy}"` }],
        });
      }
      // A shadow only scores beside the served policy: serving its arm would let it be rewarded.
      if (state.shadows.includes(body.policy)) {
        throw conflict(`policy "${body.policy}" is a shadow: shadows score beside the served policy and never serve or receive reward`, {
          hint: 'promote it first (oo-ml promote) to serve it',
          details: [{ path: '/policy', message: 'shadow policy' }],
        });
      }
      name = body.policy;
    } else {
      const a = assign(state.experiments ?? NO_EXPERIMENTS, body.user_id, deps.hash32, state.champion);
      name = a.policy;
      experiment = a.experiment;
      variant = a.variant;
    }
    const lp = state.policies.get(name);
    if (lp === undefined) {
      notReady(state, `cannot score: policy "${name}" is not loaded`, `see GET /readyz for why "${name}" did not load: fix its alias in the registry (oo-ml models) or the experiments file, then POST /admin/reload`);
    }

    const now = deps.now();
    const nowMs = now.getTime();
    const context = resolveContext(body.context, now);
    const profile = resolveProfile(state.snapshot, state.fallbackProfile, body.user_id, body.profile_features, nowMs);
    const input: VectorInput = {
      hourOfDay: context.hourOfDay,
      dayOfWeek: context.dayOfWeek,
      openTasks: context.openTasks,
      overdueTasks: context.overdueTasks,
      hasProfile: profile.hasProfile,
      profile: profile.values,
    };
    const x = writeVector(lp.layout, input, ctx.vectorBuffer(lp.layout));
    const d = decide(lp.policy, lp.live, x, mask, deps.rng, ctx.scratch);
    const promptVersion = promptVersionOverride ?? deps.tipWriter.promptVersionFor(body.user_id);
    const row = ctx.rowOf(lp, experiment, variant);
    const serveId = ctx.serveIds.take();
    const serveSeq = ctx.serveIds.lastSeq;
    const eventContext = contextOf(context);
    const event: TipServedEvent = {
      type: 'tip.served',
      event_id: ctx.newEventId(),
      ts: isoFromMs(nowMs),
      user_id: body.user_id,
      serve_id: serveId,
      arm: ARM_IDS[d.arm]!,
      propensity: d.propensity,
      policy: name,
      model_version: lp.modelVersion,
      prompt_version: promptVersion,
      context: eventContext,
      shadow: false,
      // Exactly the inputs of the vector: the fold learns from these, never from a later snapshot.
      features: { has_profile: profile.hasProfile, ...profile.values } as ServeFeaturesValue,
      experiment,
      variant,
    };
    return ctx.publish(event).then(() => {
      const statsKey = row.key;
      ctx.stats.serve(statsKey);
      row.served.inc();
      holder.ooStatsKey = statsKey;
      // After the reply, never delaying it.
      if (state.shadows.length > 0) shadows.queue({ state, served: name, servedArm: d.arm, servedPropensity: d.propensity, serveSeq, input, mask, userId: body.user_id, serveId, context: eventContext, promptVersion });
      return {
        serve_id: serveId,
        arm: event.arm,
        score: d.score,
        propensity: d.propensity,
        policy: name,
        model_version: lp.modelVersion,
        experiment,
        variant,
        prompt_version: promptVersion,
        fallbacks: context.fallbacks.length === 0 ? profile.fallbacks : [...context.fallbacks, ...profile.fallbacks],
      };
    });
  }

  function scoreInto(body: ScoreBody, holder: StatsKeyHolder, promptVersionOverride?: string): Promise<ScoreResponse> {
    try {
      return decideAndRecord(body, promptVersionOverride, holder);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  return {
    scoreInto,
    score(body, promptVersionOverride) {
      const holder: StatsKeyHolder = { ooStatsKey: null };
      return scoreInto(body, holder, promptVersionOverride).then((response) => ({ response, statsKey: holder.ooStatsKey! }));
    },
  };
}
