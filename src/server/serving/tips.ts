/**
 * /generate: the text of a tip, from the tip writer. Three ways to call it: without `arm` it
 * scores first and records that serve; with the `serve_id` of an earlier /score (made by any
 * replica) it writes that decision's tip, with the serve's arm and the prompt version its event
 * recorded, so reactions are bucketed under the version the tip used, and at the serve's time
 * (the window keeps the serve's hour, day and task counts, not its task list: the request's
 * context, titles included, is what the tip is about, and what it leaves out is the serve's);
 * with only an `arm` it writes a tip that belongs to no serve and records nothing.
 */
import { conflict, invalidInput, notFound } from '../../errors.js';
import { ARM_IDS, isArmId } from '../../features/arms.js';
import { isPromptVersion, PROMPT_VERSIONS } from '../../prompts/prompt-registry.js';
import type { VectorInput } from '../../features/vectors.js';
import { resolveContext, type ResolvedContext } from '../decision.js';
import { shadowOf } from '../online-learning/serve-id.js';
import type { GenerateBody, GenerateResponse, RequestContext, ScoreResponse } from '../schemas.js';
import type { ServingContext } from './context.js';
import { contextOf, type Scorer } from './score.js';

/** The tip part of the scorer. */
export interface Tips {
  generate(body: GenerateBody): Promise<GenerateResponse>;
}

/** A failing tip writer is logged at most this often (with how many failures in between). */
const FALLBACK_LOG_INTERVAL_MS = 60_000;

/**
 * The context of a tip for a serve: what the request gives, and for what it leaves out, what the
 * serve recorded (the hour and day the app sent then, its task counts), not the serve time's UTC
 * clock. `ts` in the request gives hour and day as in /score.
 */
function servedContext(given: RequestContext | undefined, at: Date, served: VectorInput): ResolvedContext {
  const context = resolveContext(given, at);
  const clockless = given?.ts === undefined;
  return {
    ...context,
    hourOfDay: given?.hour_of_day === undefined && clockless ? served.hourOfDay : context.hourOfDay,
    dayOfWeek: given?.day_of_week === undefined && clockless ? served.dayOfWeek : context.dayOfWeek,
    ...(given?.tasks === undefined ? { openTasks: served.openTasks, overdueTasks: served.overdueTasks } : {}),
  };
}

/** Tips over `ctx`, scoring through `scorer` when no arm is given. */
export function createTips(ctx: ServingContext, scorer: Scorer): Tips {
  const { deps, limits, metrics } = ctx;
  // A provider that fails (a wrong API key: every tip is the template) shows in each answer's
  // fallback_reason and on /metrics; the log says so too, once a minute rather than per call.
  let lastFallbackLogMs = -Infinity;
  let fallbacksSinceLog = 0;
  const logFallback = (reason: string): void => {
    fallbacksSinceLog++;
    const nowMs = deps.now().getTime();
    if (nowMs - lastFallbackLogMs < FALLBACK_LOG_INTERVAL_MS) return;
    ctx.log.warn({ fallback_reason: reason, fallbacks: fallbacksSinceLog }, `tip writer fell back to the template: ${reason}`);
    lastFallbackLogMs = nowMs;
    fallbacksSinceLog = 0;
  };

  /**
   * The arm and recorded prompt version of the serve a /generate names. Reactions are bucketed by
   * the version on the serve event, so a tip for a serve is written with that version: a request
   * asking for another one, or naming another user or an arm too, is refused rather than
   * silently recorded under the wrong variant.
   */
  async function servedTip(body: GenerateBody, serveId: string): Promise<{ arm: string; promptVersion: string | null; recorded: boolean; atMs: number; input: VectorInput }> {
    if (body.arm !== undefined) {
      throw invalidInput('give "serve_id" or "arm", not both: a serve has its arm', { details: [{ path: '/arm', message: 'exclusive with serve_id' }] });
    }
    if (shadowOf(serveId) !== null) {
      throw conflict(`serve_id "${serveId}" is a shadow decision; only served decisions get a tip`, { details: [{ path: '/serve_id', message: 'shadow serve' }] });
    }
    const found = await ctx.learning.waitForServe(serveId, limits.serveWaitMs);
    if (found === null || deps.now().getTime() - found.record.tsMs > limits.rewardWindowMs) {
      throw notFound(`serve_id "${serveId}" is unknown or older than the reward window`, { details: [{ path: '/serve_id', message: 'no such serve in the window' }] });
    }
    const { record, owner } = found;
    const sameUser = record.userId !== null ? record.userId === body.user_id : record.userHash === deps.hash32(body.user_id) >>> 0;
    if (!sameUser) {
      throw conflict(`serve_id "${serveId}" was made for another user`, { details: [{ path: '/user_id', message: "not the serve's user" }] });
    }
    const recorded = owner.promptVersion;
    // A serve made by another build may name a version this build does not have.
    if (recorded !== null && !isPromptVersion(recorded)) {
      throw conflict(`serve_id "${serveId}" recorded prompt_version "${recorded}", which this server does not have; its tip cannot be written`, {
        hint: `known prompt versions: ${PROMPT_VERSIONS.join(', ')}`,
        details: [{ path: '/serve_id', message: `recorded unknown prompt version "${recorded}"` }],
      });
    }
    if (recorded !== null && body.prompt_version !== undefined && body.prompt_version !== recorded) {
      throw conflict(`serve_id "${serveId}" recorded prompt_version "${recorded}"; its tip cannot use "${body.prompt_version}"`, {
        hint: 'leave prompt_version out to use the recorded one',
        details: [{ path: '/prompt_version', message: `the serve recorded "${recorded}"` }],
      });
    }
    // A serve whose event recorded no version: the request's rules apply.
    return { arm: ARM_IDS[record.arm]!, promptVersion: recorded ?? body.prompt_version ?? null, recorded: recorded !== null, atMs: record.tsMs, input: record.input };
  }

  return {
    async generate(request) {
      // A blank version counts as none, and a padded one as itself, as prompt selection reads it.
      const asked = request.prompt_version?.trim();
      const body = { ...request, prompt_version: asked === '' ? undefined : asked };
      if (body.prompt_version !== undefined && !isPromptVersion(body.prompt_version)) {
        throw invalidInput(`unknown prompt_version "${body.prompt_version}"`, {
          hint: `known prompt versions: ${PROMPT_VERSIONS.join(', ')}`,
          details: [{ path: '/prompt_version', message: 'unknown prompt version' }],
        });
      }
      let serve: ScoreResponse | null = null;
      let arm: string;
      // The version the tip is written with; for a serve, the one its tip.served event recorded.
      let promptVersion: string | null = body.prompt_version ?? null;
      let fromServe = false;
      // The decision's time: a serve's tip is written for the moment it was served, not this call's.
      let at = deps.now();
      let servedInput: VectorInput | null = null;
      if (body.serve_id !== undefined) {
        const tip = await servedTip(body, body.serve_id);
        arm = tip.arm;
        fromServe = tip.recorded;
        promptVersion = tip.promptVersion;
        at = new Date(tip.atMs);
        servedInput = tip.input;
      } else if (body.arm !== undefined) {
        if (!isArmId(body.arm)) {
          throw invalidInput(`unknown arm "${body.arm}"`, { hint: `known arms: ${ARM_IDS.join(', ')}`, details: [{ path: '/arm', message: 'unknown arm' }] });
        }
        arm = body.arm;
      } else {
        const scored = await scorer.score({ user_id: body.user_id, ...(body.context === undefined ? {} : { context: body.context }) }, body.prompt_version);
        serve = scored.response;
        arm = serve.arm;
      }
      const context = servedInput === null ? resolveContext(body.context, at) : servedContext(body.context, at, servedInput);
      // Selection is a pure function of (request version, user), so the tip gets the version the
      // serve recorded (promptVersionFor) and its source stays truthful (rotation, default…).
      const written = await deps.tipWriter.write({
        userId: body.user_id,
        arm,
        promptVersion,
        context: { ...contextOf(context), ...(context.titles.length > 0 ? { task_titles: [...context.titles] } : {}) },
      });
      metrics.generated(written.provider, written.fallback_reason === undefined ? 'ok' : 'fallback').inc();
      if (written.fallback_reason !== undefined) logFallback(written.fallback_reason);
      return {
        text: written.text,
        arm,
        prompt_version: written.prompt_version,
        prompt_source: fromServe ? 'serve' : written.prompt_source,
        provider: written.provider,
        model: written.model,
        latency_ms: written.latency_ms,
        fallback_reason: written.fallback_reason ?? null,
        serve,
      };
    },
  };
}
