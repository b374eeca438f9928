/**
 * The fold over the events stream: its reward rule, and the property replicas rely on — the
 * same stream from the same starting state gives the same policy states bit for bit, whatever
 * the memory budget, wherever a checkpoint cut the stream, and however late a replica loaded a
 * policy version.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tempDir as tempFolder } from '../../helpers/temp-home.js';
import type { EventBus, StreamMessage } from '../../../src/events/event-bus.js';
import type { OoEvent, TipServedEvent } from '../../../src/events/schemas.js';
import { ARM_COUNT, ARM_IDS } from '../../../src/features/arms.js';
import { getPolicy } from '../../../src/policies/catalog.js';
import { Fold, verdict, type Learners, type RewardReport } from '../../../src/server/online-learning/fold.js';
import { FEEDBACK_SKEW_MS, settlingFeedbackSql } from '../../../src/events/reward.js';
import { withDb } from '../../../src/io/duckdb.js';
import { attachEventLog, writeEventLog } from '../../../src/pipelines/event-log.js';
import { join } from 'node:path';
import type { ServeRecord } from '../../../src/server/online-learning/serve-record.js';
import { learningKey } from '../../../src/server/online-learning/learning-key.js';
import { stateDigest } from '../../../src/server/online-learning/online-learning.js';
import { replayVersions } from '../../../src/server/online-learning/replay.js';
import { formatServeId, parseServeId } from '../../../src/server/online-learning/serve-id.js';
import { CHUNK_RECORDS, openServeWindow, type ServeWindow } from '../../../src/server/online-learning/serve-window.js';
import type { LivePolicy } from '../../../src/server/serving-state.js';
import { hash32 } from '../harness.js';

const tempDir = (): Promise<string> => tempFolder('oo-ml-fold-');

const DAY = 86_400_000;
const T = Date.parse('2026-03-01T08:00:00Z');
const iso = (ms: number): string => new Date(ms).toISOString();
let ids = 0;

function serve(serveId: string, tsMs: number, policy = 'tip-policy@champion', version: string | null = '1', arm = 2, user = 'u1'): TipServedEvent {
  return {
    type: 'tip.served',
    event_id: `e${ids++}`,
    ts: iso(tsMs),
    user_id: user,
    serve_id: serveId,
    arm: ARM_IDS[arm]!,
    propensity: 0.5,
    policy,
    model_version: version,
    prompt_version: 'v1',
    context: { hour_of_day: new Date(tsMs).getUTCHours(), day_of_week: 2, open_tasks: (arm * 3) % 7, overdue_tasks: arm % 2 },
    shadow: false,
    features: { has_profile: true, completion_rate: (arm + 1) / 9, dismiss_rate: 0.1, mean_dwell_sec: 30 + arm, preferred_hour: arm % 24, tip_volume: arm },
    experiment: null,
    variant: null,
  };
}
const reaction = (serveId: string, tsMs: number, kind: 'completed' | 'dismissed' | 'liked' | 'ignored' = 'completed'): OoEvent => ({
  type: 'tip.reaction',
  event_id: `e${ids++}`,
  ts: iso(tsMs),
  user_id: 'u1',
  serve_id: serveId,
  reaction: kind,
  dwell_ms: 10,
});
const numeric = (serveId: string, tsMs: number, reward: number): OoEvent => ({ type: 'tip.reward', event_id: `e${ids++}`, ts: iso(tsMs), user_id: 'u1', serve_id: serveId, reward });
const reset = (tsMs: number): OoEvent => ({ type: 'learning.reset', event_id: `e${ids++}`, ts: iso(tsMs), reason: null });

/** Events as a stream: sequences 1, 2, … in order. */
function stream(events: OoEvent[]): StreamMessage[] {
  return events.map((event, i) => ({ ok: true, seq: i + 1, subject: `${event.type === 'tip.reaction' || event.type === 'tip.reward' ? 'feedback' : 'signals'}.${event.type}` as never, event }));
}

/** Live policies (LinUCB: its floating-point state shows any difference in update order). */
function livePolicies(versions: [string, string | null][]): Map<string, LivePolicy> {
  const policy = getPolicy('linucb');
  return new Map(
    versions.map(([name, modelVersion]) => {
      const registered = policy.init(ARM_COUNT);
      return [name, { name, policy, registered, live: policy.cloneState(registered), modelVersion, layout: policy.layout, updates: 0 }];
    }),
  );
}

function learnersOf(policies: Map<string, LivePolicy>): Learners {
  return { of: (key) => [...policies.values()].filter((lp) => learningKey(lp.name, lp.modelVersion) === key), all: () => policies.values() };
}

interface Rig {
  fold: Fold;
  window: ServeWindow;
  policies: Map<string, LivePolicy>;
  reports: RewardReport[];
}

async function rig(options: { dir?: string | null; hot?: number; versions?: [string, string | null][]; windowMs?: number } = {}): Promise<Rig> {
  const dir = options.dir === undefined ? await tempDir() : options.dir;
  const window = await openServeWindow({ dir, hotRecords: options.hot ?? 1 << 20, keepMs: 2 * DAY, hash32 });
  const policies = livePolicies(options.versions ?? [['tip-policy@champion', '1']]);
  const reports: RewardReport[] = [];
  const fold = new Fold({ window, learners: learnersOf(policies), hash32, rewardWindowMs: options.windowMs ?? DAY, orphanLimit: 50, orphanWaitMs: 3_600_000, onReward: (r) => reports.push(r) });
  return { fold, window, policies, reports };
}

async function foldAll(r: Rig, messages: StreamMessage[]): Promise<void> {
  for (const m of messages) await r.fold.apply(m);
}

const digests = (r: Rig): string[] => [...r.policies.values()].map((lp) => `${lp.name}@${lp.modelVersion}:${lp.updates}:${stateDigest(lp)}`);

describe('the fold', () => {
  it('learns the first reward of a serve, once, and says why it learns no other', async () => {
    const r = await rig();
    const a = formatServeId('aaaaaaaaaaaa', 0);
    const b = formatServeId('aaaaaaaaaaaa', 1);
    const c = formatServeId('aaaaaaaaaaaa', 2);
    const old = formatServeId('aaaaaaaaaaaa', 3);
    const otherVersion = formatServeId('bbbbbbbbbbbb', 0);
    await foldAll(
      r,
      stream([
        serve(a, T),
        reaction(a, T + 1_000),
        reaction(a, T + 2_000, 'dismissed'),
        // Its serve comes later in the stream (spilled by a replica during an outage).
        numeric(b, T + 3_000, 0.5),
        serve(b, T + 500),
        serve(old, T),
        reaction(old, T + DAY + 1),
        serve(otherVersion, T, 'tip-policy@champion', '7'),
        reaction(otherVersion, T + 10),
        reaction(`${c}:shadow:0`, T),
        reaction('not-ours', T),
        serve(formatServeId('cccccccccccc', 0), T, 'tip-policy@champion', '1', 2, 'someone-else'),
        reaction(formatServeId('cccccccccccc', 0), T + 1),
        reset(T + 5_000),
        serve(c, T + 6_000),
        reaction(b, T + 7_000),
        reaction(c, T + 8_000, 'liked'),
      ]),
    );
    expect(r.reports.map((x) => [x.serveId, x.outcome, x.value])).toEqual([
      [a, 'applied', 1],
      [a, 'duplicate', 0],
      [b, 'waiting', null],
      [b, 'applied', 0.5],
      [old, 'expired', 0],
      [otherVersion, 'version_changed', 1],
      [`${c}:shadow:0`, 'shadow', null],
      ['not-ours', 'untracked', null],
      [formatServeId('cccccccccccc', 0), 'other_user', 1],
      [b, 'before_reset', 1],
      [c, 'applied', 1],
    ]);
    const lp = r.policies.get('tip-policy@champion')!;
    // The reset put the policy back to its registered state: one update since.
    expect(lp.updates).toBe(1);
    expect(r.fold.counters).toMatchObject({ serves: 6, resets: 1, rewards: { applied: 3, duplicate: 1, waiting: 0, other_user: 1 } });
    expect(r.fold.position).toBe(17);
    await r.window.close();
  });

  it('takes feedback stamped up to 5 minutes before its serve as immediate; stamped earlier, it settles nothing and later feedback still can', async () => {
    const r = await rig();
    const d = formatServeId('dddddddddddd', 0);
    const e = formatServeId('dddddddddddd', 1);
    await foldAll(r, stream([serve(d, T), reaction(d, T - 5 * 60_000 - 1), reaction(d, T + 1_000, 'liked'), serve(e, T), reaction(e, T - 5 * 60_000)]));
    expect(r.reports.map((x) => [x.serveId, x.outcome])).toEqual([
      [d, 'expired'],
      [d, 'applied'],
      [e, 'applied'],
    ]);
    expect(r.reports.filter((x) => x.outcome === 'applied').map((x) => x.value)).toEqual([1, 1]);
    // Folded again (a restart from a checkpoint), the message that claimed a serve claims it
    // again, whatever the rules would say of its time now.
    const claimed = { serveSeq: 1, tsMs: T, claim: 7, claimValue: 1, userHash: 1 } as ServeRecord;
    expect(verdict(claimed, 7, T - DAY, 1, 0, DAY)).toBe('claims');
    expect(verdict(claimed, 8, T + 1, 1, 0, DAY)).toBe('duplicate');
    await r.window.close();
  });

  it('counts each copy of a serve published twice in serves, the second in duplicateServes too, and keeps the first', async () => {
    const r = await rig();
    const a = formatServeId('dddddddddddd', 0);
    const first = serve(a, T, 'tip-policy@champion', '1', 2);
    // A publish retried after a lost ack, then a reaction: it claims the first copy's record.
    await foldAll(r, stream([first, { ...first, event_id: `e${ids++}`, arm: ARM_IDS[5]! }, serve(formatServeId('dddddddddddd', 1), T + 1), reaction(a, T + 2)]));
    expect(r.fold.counters).toMatchObject({ serves: 3, duplicateServes: 1, untrackedServes: 0, rewards: { applied: 1 } });
    // The record kept is the first copy's (arm 2), not the retry's.
    expect((await r.window.get(parseServeId(a)!))?.arm).toBe(2);
    await r.window.close();
  });

  it('gives up on a reward whose serve never comes, by count and by event time, and counts it unmatched', async () => {
    const r = await rig();
    const events: OoEvent[] = [];
    for (let i = 0; i < 60; i++) events.push(reaction(formatServeId('cccccccccccc', i), T + i));
    events.push(serve(formatServeId('cccccccccccc', 100), T + 2 * 3_600_000));
    await foldAll(r, stream(events));
    // The limit of 50 evicted the 10 oldest at once; the rest waited an hour of event time.
    expect(r.reports.filter((x) => x.outcome === 'unmatched')).toHaveLength(60);
    expect(r.reports.filter((x) => x.outcome === 'unmatched').slice(0, 10).map((x) => x.serveId)).toEqual(events.slice(0, 10).map((e) => (e as { serve_id: string }).serve_id));
    expect(r.fold.waiting).toBe(0);
    await r.window.close();
  });

  it('folds a reset re-published after a lost ack once, and judges a reward stale by the clock alone', async () => {
    const r = await rig();
    const a = formatServeId('ffffffffffff', 0);
    const twice = reset(T + 10);
    await foldAll(r, stream([serve(a, T), reaction(a, T + 1), twice, serve(formatServeId('ffffffffffff', 1), T + 3 * DAY), twice, reaction(formatServeId('ffffffffffff', 2), T + DAY)]));
    expect(r.fold.counters).toMatchObject({ resets: 1, duplicateResets: 1 });
    // The reaction stamped a day and more before the clock (the newest serve) is stale, whatever the window holds.
    expect(r.reports.at(-1)).toMatchObject({ outcome: 'expired', value: null });
    await r.window.close();
  });

  it('stores a claim before the policy learns: a claim the disk refused is learned once when the message is folded again', async () => {
    const r = await rig({ hot: 2 * CHUNK_RECORDS });
    const cold = formatServeId('abababababab', 0);
    // Three later chunks push the first one to disk: its claim is a disk write.
    await foldAll(r, stream([serve(cold, T), serve(formatServeId('abababababab', CHUNK_RECORDS), T), serve(formatServeId('abababababab', 2 * CHUNK_RECORDS), T), serve(formatServeId('abababababab', 3 * CHUNK_RECORDS), T)]));
    expect(r.window.stats().coldFiles).toBe(1);
    const setClaim = r.window.setClaim.bind(r.window);
    let failures = 1;
    r.window.setClaim = (id, claim, value) => (failures-- > 0 ? Promise.reject(new Error('ENOSPC')) : setClaim(id, claim, value));
    const [rewardMsg] = stream([serve(cold, T), reaction(cold, T + 1)]).slice(1).map((m) => ({ ...m, seq: 5 }));
    await expect(Promise.resolve(r.fold.apply(rewardMsg!))).rejects.toThrow('ENOSPC');
    expect(r.policies.get('tip-policy@champion')!.updates).toBe(0);
    // The follower reads again from the last message folded: the same reward, once.
    await r.fold.apply(rewardMsg!);
    expect(r.policies.get('tip-policy@champion')!.updates).toBe(1);
    expect(r.reports.filter((x) => x.outcome === 'applied')).toHaveLength(1);
    await r.window.close();
  });

  it('keeps its clock on the serves: a reaction stamped years ahead does not give up on waiting rewards', async () => {
    const r = await rig();
    const waiting = formatServeId('eeeeeeeeeeee', 0);
    await foldAll(r, stream([serve(formatServeId('eeeeeeeeeeee', 9), T), reaction(waiting, T + 1), reaction(formatServeId('eeeeeeeeeeee', 9), Date.parse('2090-01-01T00:00:00Z'))]));
    expect(r.fold.eventTimeMs).toBe(T);
    expect(r.fold.waiting).toBe(1);
    await foldAll(r, stream([serve(formatServeId('eeeeeeeeeeee', 9), T), reaction(waiting, T + 1), reaction(formatServeId('eeeeeeeeeeee', 9), T + 5), serve(waiting, T + 10)]).map((m) => ({ ...m, seq: m.seq + 3 })));
    expect(r.reports.find((x) => x.serveId === waiting && x.outcome === 'applied')).toBeDefined();
    await r.window.close();
  });

  // A stream of serves and rewards — first, repeated, late, ahead of their serve in the stream
  // (its replica spilled it during an outage), for a serve that never comes, for another
  // version — with resets between them.
  const streams = fc
    .record({
      serves: fc.array(fc.record({ arm: fc.integer({ min: 0, max: ARM_COUNT - 1 }), alt: fc.boolean(), other: fc.boolean(), dt: fc.integer({ min: 0, max: 60_000 }) }), { minLength: 1, maxLength: 30 }),
      rewards: fc.array(
        fc.record({
          target: fc.nat(),
          kind: fc.constantFrom('completed' as const, 'dismissed' as const, 'liked' as const, 'ignored' as const, 0.25, 1),
          lag: fc.oneof(fc.integer({ min: 0, max: 600_000 }), fc.constant(DAY + 5)),
          // Where in the stream: some serves after its own (normal), or before it.
          place: fc.integer({ min: -3, max: 8 }),
        }),
        { maxLength: 60 },
      ),
      resets: fc.array(fc.nat(), { maxLength: 2 }),
    })
    .map(({ serves, rewards, resets }) => {
      let t = T;
      const placed: { key: number; event: OoEvent }[] = serves.map((s, i) => {
        t += s.dt;
        // A chunk of the window per serve: with two chunks of memory most live on disk. Every
        // reaction comes from u1: a serve made for u2 is another user's.
        return { key: i * 100, event: serve(formatServeId(i % 2 === 0 ? 'aaaaaaaaaaaa' : 'bbbbbbbbbbbb', i * CHUNK_RECORDS), t, s.alt ? 'variant-b' : 'tip-policy@champion', s.alt ? '2' : '1', s.arm, s.other ? 'u2' : 'u1') };
      });
      rewards.forEach((rw, j) => {
        const i = rw.target % (serves.length + 1);
        const target = placed[i]?.event as TipServedEvent | undefined;
        const serveId = target?.serve_id ?? formatServeId('dddddddddddd', rw.target * CHUNK_RECORDS);
        const at = Date.parse(target?.ts ?? iso(T)) + rw.lag;
        const event = typeof rw.kind === 'number' ? numeric(serveId, at, rw.kind) : reaction(serveId, at, rw.kind);
        placed.push({ key: i * 100 + rw.place * 100 + (rw.place < 0 ? -1 : 1) - j / 1000, event });
      });
      resets.forEach((r, j) => placed.push({ key: (r % (serves.length * 100)) + 50 + j / 1000, event: reset(T + (r % 600_000)) }));
      placed.sort((a, b) => a.key - b.key);
      return stream(placed.map((p) => p.event));
    });
  const BOTH: [string, string | null][] = [
    ['tip-policy@champion', '1'],
    ['variant-b', '2'],
  ];

  it('gives identical policy states for the same stream whatever the memory budget (property)', async () => {
    await fc.assert(
      fc.asyncProperty(streams, async (messages) => {
        const small = await rig({ hot: 2 * CHUNK_RECORDS, versions: BOTH });
        const large = await rig({ dir: null, versions: BOTH });
        await foldAll(small, messages);
        await foldAll(large, messages);
        expect(digests(small)).toEqual(digests(large));
        expect(small.reports).toEqual(large.reports);
        await small.window.close();
      }),
      { seed: 4242, numRuns: 60 },
    );
  });

  it('gives identical policy states when a restart resumes from a checkpoint, even with the window ahead of it (property)', async () => {
    await fc.assert(
      fc.asyncProperty(streams, fc.nat(), fc.nat(), async (messages, cutAt, aheadBy) => {
        const straight = await rig({ dir: null, versions: BOTH });
        await foldAll(straight, messages);

        const dir = await tempDir();
        const cut = cutAt % (messages.length + 1);
        const first = await rig({ dir, versions: BOTH });
        await foldAll(first, messages.slice(0, cut));
        // The checkpoint: the window synced, the fold's state, the policy states.
        await first.window.flush();
        const snapshot = structuredClone(first.fold.snapshot());
        const states = [...first.policies.values()].map((lp) => ({ name: lp.name, state: lp.policy.toJSON(lp.live), updates: lp.updates }));
        // The replica went on folding after the checkpoint (its window on disk is ahead), then crashed.
        await foldAll(first, messages.slice(cut, cut + (aheadBy % 20)));
        await first.window.close();

        const restarted = await rig({ dir, versions: BOTH });
        restarted.fold.restore(snapshot);
        for (const s of states) {
          const lp = restarted.policies.get(s.name)!;
          lp.live = lp.policy.fromJSON(s.state);
          lp.updates = s.updates;
        }
        await foldAll(restarted, messages);
        expect(digests(restarted)).toEqual(digests(straight));
        await restarted.window.close();
      }),
      { seed: 5151, numRuns: 60 },
    );
  });

  it('gives a policy version loaded late the state of one trained all along (property)', async () => {
    await fc.assert(
      fc.asyncProperty(streams, async (messages) => {
        const all = await rig({ dir: null, versions: BOTH });
        await foldAll(all, messages);
        // This replica serves only the champion, then loads variant-b after the whole stream.
        const late = await rig({ dir: null, versions: [['tip-policy@champion', '1']] });
        await foldAll(late, messages);
        const [variant] = livePolicies([['variant-b', '2']]).values();
        const from = late.fold.firstServe('variant-b', '2');
        if (from !== null) {
          const bus = { reader: async (start: number) => readerOver(messages, start) } as unknown as EventBus;
          await replayVersions({ bus, window: late.window, fold: late.fold, targets: [{ lp: variant!, from }], to: late.fold.position, rewardWindowMs: DAY });
        }
        const trained = all.policies.get('variant-b')!;
        expect(`${variant!.updates}:${stateDigest(variant!)}`).toBe(`${trained.updates}:${stateDigest(trained)}`);
      }),
      { seed: 6161, numRuns: 60 },
    );
  });
});

function readerOver(messages: StreamMessage[], start: number) {
  let at = messages.findIndex((m) => m.seq >= start);
  if (at < 0) at = messages.length;
  return {
    next: async (max: number) => {
      const out = messages.slice(at, at + max);
      at += out.length;
      return out;
    },
    close: async () => undefined,
  };
}

describe('the fold and the log at rest', () => {
  it('give every serve one reward: the fold folding feedback in the order of its times, settlingFeedbackSql reading it from Parquet (property)', async () => {
    const home = await tempDir();
    const feedback = fc.record({
      serve: fc.constantFrom(0, 1),
      user: fc.constantFrom('u1', 'u2', 'u3'),
      // Minutes around the serve: from a day before to two days after, and the window's edges.
      offsetMs: fc.oneof(fc.integer({ min: -24 * 60, max: 48 * 60 }).map((m) => m * 60_000), fc.constantFrom(DAY, DAY + 1, -FEEDBACK_SKEW_MS, -FEEDBACK_SKEW_MS - 1)),
      kind: fc.oneof(fc.constantFrom('completed', 'dismissed', 'ignored', 'liked').map((reaction) => ({ reaction })), fc.integer({ min: 0, max: 4 }).map((q) => ({ reward: q / 4 }))),
    });
    let run = 0;
    await withDb(':memory:', async (db) => {
      await fc.assert(
        fc.asyncProperty(fc.array(feedback, { maxLength: 6 }), async (given) => {
          run++;
          const serves = [serve(formatServeId('ffffffffffff', 2 * run), T, 'tip-policy@champion', '1', 2, 'u1'), serve(formatServeId('ffffffffffff', 2 * run + 1), T + 3_600_000, 'tip-policy@champion', '1', 3, 'u2')];
          const events: OoEvent[] = given.map((f, i) => {
            const s0 = serves[f.serve]!;
            const ts = iso(Date.parse(s0.ts) + f.offsetMs);
            const base = { event_id: `f${run}-${i}`, ts, user_id: f.user, serve_id: s0.serve_id };
            return 'reaction' in f.kind ? { type: 'tip.reaction', ...base, reaction: f.kind.reaction as 'completed', dwell_ms: 10 } : { type: 'tip.reward', ...base, reward: f.kind.reward };
          });
          // The stream in the order of the feedback's times (ties by event id), after its serves.
          const inOrder = [...events].sort((a, b) => Date.parse(a.ts) - Date.parse(b.ts) || (a.event_id < b.event_id ? -1 : a.event_id > b.event_id ? 1 : 0));
          const r = await rig();
          await foldAll(r, stream([...serves, ...inOrder]));
          const online = serves.map((s0) => r.reports.find((x) => x.serveId === s0.serve_id && x.outcome === 'applied')?.value ?? 0);
          await r.window.close();

          const dir = join(home, `log-${run}`);
          await writeEventLog(db, dir, [...serves, ...events], null, join(home, 'tmp'));
          await attachEventLog(db, dir);
          const rows = await db.rows<{ serve_id: string; reward: number }>(settlingFeedbackSql('SELECT serve_id, user_id, ts FROM tip_served'));
          const offline = serves.map((s0) => Number(rows.find((x) => x.serve_id === s0.serve_id)?.reward ?? 0));
          expect(offline).toEqual(online);
        }),
        { seed: 20261206, numRuns: 40 },
      );
    });
  }, 60_000);
});
