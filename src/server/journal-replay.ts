/**
 * Rebuilds online learning from the event journal: every non-shadow `tip.served` becomes a
 * pending serve again, and the first `tip.reaction` (reward by events/reward.ts, with the
 * reaction's and the serve's timestamps) or `tip.reward` (its number) to it is its reward, exactly
 * as the live /reward computed it. A reward updates a policy only when the serve's policy name and registry version
 * match a policy being replayed, so updates made on an older registered version never leak
 * into a newer one. Events before the last /admin/reset are skipped.
 *
 * A policy restored from an online-learning checkpoint (online-checkpoint.ts) has the rewards up
 * to the checkpoint in its state already: those still mark their serves rewarded, and are not
 * learned again.
 *
 * The serve event records the JIT context (hour, day, open and overdue tasks) but not the
 * profile; it is looked up in the current snapshot at the serve's time. That equals what the
 * serve saw unless the snapshot changed since or the request carried `profile_features`.
 */
import { armIndex } from '../features/arms.js';
import { vectorDim, writeVector } from '../features/vectors.js';
import { rewardOf } from '../events/reward.js';
import type { ServerEvent } from './deps.js';
import { inputOfServe } from './decision.js';
import { msFromIso } from './iso-time.js';
import type { PendingServes } from './pending-serves.js';
import type { LivePolicy, ServingState } from './serving-state.js';

/** What a replay did. */
export interface ReplaySummary {
  events: number;
  serves: number;
  /** Reactions and numeric rewards (`tip.reaction` and `tip.reward` events). */
  reactions: number;
  /** Rewards applied to the replayed policies. */
  updates: number;
  /** Rewards a policy restored from a checkpoint had learned already. */
  alreadyLearned: number;
  /** Events before the reset marker, or reactions without a known pending serve. */
  skipped: number;
}

/** Inputs of a replay. */
export interface ReplayJob {
  events: AsyncIterable<ServerEvent>;
  /** Must hold a snapshot (the profile of each serve is looked up in it). */
  state: ServingState;
  /** Policies whose live states receive the journal's rewards. */
  targets: ReadonlySet<LivePolicy>;
  /** Receives the serves still awaiting a reward (pass a scratch map to only update policies). */
  pending: PendingServes;
  resetAtMs: number | null;
  /** The checkpoint a target was restored from: rewards before `ms`, or at `ms` with one of `ids`, are in its state. */
  restored?: (target: LivePolicy) => { ms: number; ids: ReadonlySet<string> } | undefined;
  /** Called with the time and id of every reward replayed after the reset (learned or not), in time order. */
  onReward?: (tsMs: number, eventId: string) => void;
  /** Receives the event id of every reward learned into a target. */
  learnedIds?: Set<string>;
}

/** Replays the journal into `targets` and `pending`. */
export async function replayJournal(job: ReplayJob): Promise<ReplaySummary> {
  const snapshot = job.state.snapshot;
  if (snapshot === null) throw new Error('replayJournal needs a snapshot');
  const summary: ReplaySummary = { events: 0, serves: 0, reactions: 0, updates: 0, alreadyLearned: 0, skipped: 0 };
  const buffers = new Map<string, Float64Array>();
  for await (const event of job.events) {
    summary.events++;
    const tsMs = msFromIso(event.ts);
    if (job.resetAtMs !== null && tsMs < job.resetAtMs) {
      summary.skipped++;
      continue;
    }
    if (event.type === 'tip.served') {
      summary.serves++;
      // Shadow decisions are not stored: their ids are recognised from the serve they shadowed.
      if (event.shadow) continue;
      const owner = job.pending.owner({ policy: event.policy, modelVersion: event.model_version, promptVersion: event.prompt_version, statsKey: null });
      job.pending.add(owner, event.user_id, tsMs, armIndex(event.arm), inputOfServe(event, snapshot), event.serve_id);
      continue;
    }
    summary.reactions++;
    job.onReward?.(tsMs, event.event_id);
    const found = job.pending.get(event.serve_id, tsMs);
    if (found.kind !== 'serve' || found.serve.rewardedAtMs !== null) {
      summary.skipped++;
      continue;
    }
    const serve = found.serve;
    job.pending.setReward(serve, tsMs, event.type === 'tip.reward' ? event.reward : rewardOf(event.reaction, tsMs - serve.tsMs));
    const target = job.state.policies.get(serve.owner.policy);
    if (target === undefined || !job.targets.has(target) || target.modelVersion !== serve.owner.modelVersion) continue;
    const through = job.restored?.(target);
    if (through !== undefined && (tsMs < through.ms || (tsMs === through.ms && through.ids.has(event.event_id)))) {
      summary.alreadyLearned++;
      continue;
    }
    let x = buffers.get(target.layout);
    if (x === undefined) buffers.set(target.layout, (x = new Float64Array(vectorDim(target.layout))));
    writeVector(target.layout, serve.input, x);
    target.policy.update(target.live, x, serve.arm, serve.reward);
    job.learnedIds?.add(event.event_id);
    summary.updates++;
  }
  for (const t of job.targets) t.needsReplay = false;
  return summary;
}
