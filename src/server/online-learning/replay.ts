/**
 * Bringing a policy version that was not being trained up to the fold's position: a version a
 * reload (or a restart) loads that the fold did not train until now — a promotion, a rollback,
 * an experiment variant — learns the rewards of its serves that the stream holds, exactly as
 * the live fold would have applied them, so a replica that loads it late ends in the same state
 * as one that served it all along.
 *
 * Each target starts from a state that includes everything before `from` (its checkpoint
 * entry's position + 1, or its first serve when it starts from the registered state). The
 * claims in the serve window are final for every reward up to the fold's position, and each
 * holds the value it learned, so the replay applies exactly the claiming rewards, at the point
 * the live fold applied them: at the reward, or — for a reward that waited for its serve — at
 * the serve.
 */
import type { EventBus } from '../../events/event-bus.js';
import type { VectorLayoutName } from '../../features/vectors.js';
import type { LivePolicy } from '../serving-state.js';
import { learnOn, type Fold } from './fold.js';
import { learningKey } from './learning-key.js';
import { parseServeId } from './serve-id.js';
import type { ServeRecord } from './serve-record.js';
import type { ServeWindow } from './serve-window.js';

/** A version to bring up to date, and the first stream position its state lacks. */
export interface ReplayTarget {
  lp: LivePolicy;
  from: number;
}

/** What a replay did. */
export interface ReplaySummary {
  targets: { name: string; model_version: string | null; from: number; updates: number }[];
  fromSeq: number;
  toSeq: number;
  events: number;
  updates: number;
  tookMs: number;
}

/** Replays the stream from the earliest target's `from` to `to` (the fold's position) into the targets. */
export async function replayVersions(job: { bus: EventBus; window: ServeWindow; fold: Fold; targets: ReplayTarget[]; to: number; rewardWindowMs: number }): Promise<ReplaySummary> {
  const t0 = performance.now();
  const targets = job.targets.filter((t) => t.from <= job.to);
  const summary: ReplaySummary = {
    targets: targets.map((t) => ({ name: t.lp.name, model_version: t.lp.modelVersion, from: t.from, updates: 0 })),
    fromSeq: Math.min(...targets.map((t) => t.from)),
    toSeq: job.to,
    events: 0,
    updates: 0,
    tookMs: 0,
  };
  if (targets.length === 0) {
    summary.fromSeq = job.to + 1;
    return summary;
  }
  // Two aliases of one version loaded at once learn the same rewards (learning-key.ts).
  const byVersion = new Map<string, { target: ReplayTarget; row: ReplaySummary['targets'][number] }[]>();
  for (const [i, t] of targets.entries()) {
    const key = learningKey(t.lp.name, t.lp.modelVersion);
    const entry = { target: t, row: summary.targets[i]! };
    const group = byVersion.get(key);
    if (group === undefined) byVersion.set(key, [entry]);
    else group.push(entry);
  }
  const buffers = new Map<VectorLayoutName, Float64Array>();
  /** Applies the claim of the serve `serveId` if it was learned at `at` by a target. */
  const claimAt = async (serveId: string, at: number, wasLearnedAt: (serve: ServeRecord) => boolean): Promise<void> => {
    const id = parseServeId(serveId);
    if (id === null) return;
    const got = job.window.get(id);
    const serve = got instanceof Promise ? await got : got;
    if (serve === null || serve.claim === 0 || !wasLearnedAt(serve)) return;
    const owner = job.window.ownerAt(serve.owner);
    const hits = owner === undefined ? undefined : byVersion.get(learningKey(owner.policy, owner.modelVersion));
    for (const hit of hits ?? []) {
      if (at < hit.target.from) continue;
      learnOn(hit.target.lp, serve, serve.claimValue, buffers);
      hit.row.updates++;
      summary.updates++;
    }
  };
  const reader = await job.bus.reader(summary.fromSeq);
  try {
    let position = summary.fromSeq - 1;
    let quietSince: number | null = null;
    while (position < job.to) {
      const batch = await reader.next(1000, 1000);
      if (batch.length === 0) {
        // An empty read is not the end: a NATS reader being recreated (a node lost, a leader
        // elected) is quiet for a few seconds. The end is the stream holding nothing more up to
        // `to` — retention or a purge removed it: nothing after `position`, quiet for 5 s
        // while connected.
        const extent = await job.bus.extent();
        if (extent.firstSeq > job.to || extent.lastSeq <= position) break;
        if (!job.bus.health().connected) quietSince = null;
        else if (quietSince === null) quietSince = performance.now();
        else if (performance.now() - quietSince > 5_000) break;
        continue;
      }
      quietSince = null;
      for (const m of batch) {
        if (m.seq > job.to) {
          position = job.to;
          break;
        }
        position = m.seq;
        summary.events++;
        if (!m.ok) continue;
        const event = m.event;
        if (event.type === 'learning.reset') {
          for (const { target, row } of [...byVersion.values()].flat()) {
            if (target.from > m.seq) continue;
            target.lp.live = target.lp.policy.cloneState(target.lp.registered);
            target.lp.updates = 0;
            row.updates = 0;
          }
        } else if (event.type === 'tip.served' && !event.shadow) {
          // A reward that came before its serve in the stream was learned when the serve came.
          await claimAt(event.serve_id, m.seq, (serve) => serve.serveSeq === m.seq && serve.claim < m.seq);
        } else if (event.type === 'tip.reaction' || event.type === 'tip.reward') {
          await claimAt(event.serve_id, m.seq, (serve) => serve.claim === m.seq && serve.serveSeq < m.seq);
        }
      }
    }
  } finally {
    await reader.close();
  }
  summary.tookMs = performance.now() - t0;
  return summary;
}
