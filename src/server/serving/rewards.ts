/**
 * /reward on any replica: checks the body against what this replica's window knows of the serve,
 * publishes a `tip.reaction` (or, for a numeric reward, `tip.reward`) to the feedback stream,
 * and answers with what the fold made of it. Learning itself happens in the fold, on every
 * replica, from the stream — never here — so it does not matter which replica a load balancer
 * picked, nor whether the app published the reaction to `feedback.>` itself instead.
 *
 * - An id this replica would issue but has not yet is a 404, as is any id not of oo-ml's form.
 * - A serve this replica has not folded yet (made by another replica a moment ago) is waited
 *   for up to `serveWaitMs`; one still unknown is a 404 unless the body names the `user_id`,
 *   then the reaction is recorded and waits in the fold for its serve (an outage may delay it).
 *   A serve this replica put in its spill (the bus is down) is known without waiting, user and
 *   all, until the spill is drained.
 * - A serve the window already saw rewarded is answered `duplicate` without publishing again.
 * - The answer waits up to `rewardWaitMs` for this replica's fold to apply the reward: `applied`
 *   (learned), or why not; `queued` when it was recorded but not folded yet (the bus is down and
 *   it went to the local spill, or the fold is behind) — it is folded when it gets there, and
 *   learned unless another reward for the serve reached the stream first (the first claims it).
 */
import { conflict, invalidInput, notFound } from '../../errors.js';
import { FEEDBACK_SKEW_MS } from '../../events/reward.js';
import type { TipReactionEvent, TipRewardEvent } from '../../events/schemas.js';
import { isoFromMs } from '../iso-time.js';
import type { RewardReport } from '../online-learning/fold.js';
import { parseServeId, shadowOf } from '../online-learning/serve-id.js';
import type { RewardBody, RewardResponse } from '../schemas.js';
import type { ServingContext } from './context.js';

/**
 * The event id of a /reward's feedback: the same for the same serve and feedback, on any replica,
 * so a retried call (a lost answer, a timeout) records nothing twice. The bus drops a copy
 * published within its duplicate window, and the event log reads each id once however late a
 * copy comes. A different reaction to the serve is another event (the first still claims it).
 */
function feedbackEventId(serveId: string, feedback: string): string {
  return `${serveId}/${feedback}`;
}

/** The reward part of the scorer. */
export interface Rewards {
  reward(body: RewardBody): Promise<RewardResponse>;
}

function reasonOf(report: RewardReport, rewardWindowMs: number): string | null {
  switch (report.outcome) {
    case 'applied':
      return null;
    case 'duplicate':
      return 'the serve was already rewarded by an earlier reward in the stream';
    case 'expired':
      return `outside the reward window (from ${Math.round(FEEDBACK_SKEW_MS / 60_000)} min before the serve, as clocks differ, to ${Math.round(rewardWindowMs / 3_600_000)} h after it): recorded, not learned`;
    case 'version_changed':
      return `this replica does not serve version ${report.owner?.modelVersion ?? '(built-in)'} of ${report.owner?.policy ?? 'the policy'}, under that alias or any other: recorded, and learned by that version whenever it is loaded`;
    case 'before_reset':
      return 'the serve was made before the last reset of online learning: recorded, not learned';
    case 'waiting':
      return 'its serve has not reached the stream yet: recorded, and learned when the serve arrives';
    default:
      return `not learned (${report.outcome})`;
  }
}

/** Rewards over `ctx`. */
export function createRewards(ctx: ServingContext): Rewards {
  const { deps, limits, metrics } = ctx;

  /** Whether `userId` made the serve, as far as the spill (its user) or the window (its user, or a hash of a long one) tells; true when neither knows it. */
  function isServeUser(userId: string, spilledUser: string | null, known: Awaited<ReturnType<typeof ctx.learning.waitForServe>>): boolean {
    if (spilledUser !== null) return spilledUser === userId;
    if (known === null) return true;
    return known.record.userId !== null ? known.record.userId === userId : known.record.userHash === deps.hash32(userId) >>> 0;
  }

  return {
    async reward(body) {
      const reaction = body.reaction ?? null;
      if ((reaction === null) === (body.reward === undefined)) {
        throw invalidInput('give exactly one of "reaction" or "reward"', {
          details: [{ path: '/', message: reaction === null ? 'missing required field(s): reaction or reward' : 'reaction and reward are exclusive' }],
        });
      }
      if (body.dwell_ms !== undefined && reaction === null) {
        throw invalidInput('"dwell_ms" is only accepted with a "reaction"', { details: [{ path: '/dwell_ms', message: 'needs reaction' }] });
      }
      const shadowed = shadowOf(body.serve_id);
      if (shadowed !== null && parseServeId(shadowed) !== null) {
        throw conflict(`serve_id "${body.serve_id}" is a shadow decision made beside serve "${shadowed}"; shadow decisions are never rewarded`, {
          details: [{ path: '/serve_id', message: 'shadow serve' }],
        });
      }
      const parts = parseServeId(body.serve_id);
      // This replica's own ids are dense: one past its last was never issued, by it or anyone
      // (a reaction recorded for it would wait for, and then claim, a serve made later).
      if (parts === null || (parts.issuer === ctx.serveIds.issuer && parts.seq > ctx.serveIds.lastSeq)) {
        throw notFound(`serve_id "${body.serve_id}" is not a serve id oo-ml issued`, {
          hint: 'send the serve_id a /score answered',
          details: [{ path: '/serve_id', message: parts === null ? 'not an oo-ml serve id' : 'not issued (yet) by the replica it names' }],
        });
      }
      // A serve of this replica's still in its spill (the bus is down) is known here alone.
      const spilledUser = parts.issuer === ctx.serveIds.issuer ? ctx.learning.spilledServeUser(body.serve_id) : null;
      const known = spilledUser !== null ? null : await ctx.learning.waitForServe(body.serve_id, limits.serveWaitMs);
      if (known === null && body.user_id === undefined && spilledUser === null) {
        throw notFound(`serve_id "${body.serve_id}" has not reached this replica's events stream`, {
          hint: 'it is unknown, older than the window, or the replica that made it could not publish it yet (a bus outage); send user_id too to record the reaction anyway — it is learned when its serve arrives',
          details: [{ path: '/serve_id', message: 'no such serve in the stream yet' }],
        });
      }
      if (body.user_id !== undefined && !isServeUser(body.user_id, spilledUser, known)) {
        throw conflict(`serve_id "${body.serve_id}" was made for another user`, { details: [{ path: '/user_id', message: "not the serve's user" }] });
      }
      const userId = body.user_id ?? spilledUser ?? known?.record.userId ?? null;
      if (userId === null) {
        throw invalidInput(`serve_id "${body.serve_id}" belongs to a user id too long for the window to keep: send "user_id"`, {
          details: [{ path: '/user_id', message: 'required for this serve' }],
        });
      }
      const policy = known?.owner.policy ?? null;
      const modelVersion = known?.owner.modelVersion ?? null;
      if (known !== null && known.record.claim !== 0) {
        metrics.rewarded(policy ?? '(unknown)', 'duplicate').inc();
        return {
          serve_id: body.serve_id,
          event_id: null,
          outcome: 'duplicate',
          applied: false,
          reward: null,
          policy,
          model_version: modelVersion,
          reason: `already rewarded (the reward at position ${known.record.claim} of the stream claimed it); nothing recorded`,
        };
      }
      const nowMs = deps.now().getTime();
      const event: TipReactionEvent | TipRewardEvent =
        reaction === null
          ? { type: 'tip.reward', event_id: feedbackEventId(body.serve_id, `reward:${body.reward!}`), ts: isoFromMs(nowMs), user_id: userId, serve_id: body.serve_id, reward: body.reward! }
          : { type: 'tip.reaction', event_id: feedbackEventId(body.serve_id, reaction), ts: isoFromMs(nowMs), user_id: userId, serve_id: body.serve_id, reaction, dwell_ms: body.dwell_ms ?? 0 };
      const receipt = await ctx.publish(event);
      const report = receipt.seq === null ? null : await ctx.learning.waitForReward(event.event_id, limits.rewardWaitMs);
      if (report === null) {
        metrics.rewarded(policy ?? '(unknown)', 'queued').inc();
        return {
          serve_id: body.serve_id,
          event_id: event.event_id,
          outcome: 'queued',
          applied: false,
          reward: null,
          policy,
          model_version: modelVersion,
          reason: receipt.spilled
            ? 'the event bus is down: recorded in the local spill; folded once it reaches the stream (learned unless another reward for this serve gets there first)'
            : `recorded on the bus; this replica had not folded it within ${limits.rewardWaitMs} ms (learned unless another reward for this serve came first in the stream)`,
        };
      }
      metrics.rewarded(report.owner?.policy ?? policy ?? '(unknown)', report.outcome).inc();
      return {
        serve_id: body.serve_id,
        event_id: event.event_id,
        outcome: report.outcome,
        applied: report.outcome === 'applied',
        reward: report.value,
        policy: report.owner?.policy ?? policy,
        model_version: report.owner === null ? modelVersion : report.owner.modelVersion,
        reason: reasonOf(report, limits.rewardWindowMs),
      };
    },
  };
}
