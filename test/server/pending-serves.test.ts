import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { VectorInput } from '../../src/features/vectors.js';
import { PendingServes } from '../../src/server/pending-serves.js';

const input = (i: number): VectorInput => ({
  hourOfDay: i % 24,
  dayOfWeek: i % 7,
  openTasks: i % 11,
  overdueTasks: i % 3,
  hasProfile: i % 2 === 0,
  profile: { completion_rate: (i % 10) / 10, dismiss_rate: null, mean_dwell_sec: i, preferred_hour: i % 5 === 0 ? null : i % 24, tip_volume: 3 },
});

type Op =
  | { op: 'add'; dt: number; foreign: boolean }
  | { op: 'get'; pick: number; dt: number; shadow: boolean }
  | { op: 'reward'; pick: number }
  | { op: 'drop'; pick: number }
  | { op: 'clear' };

/** The plain version: a list of every serve ever added, searched linearly. */
interface RefServe {
  id: string;
  ts: number;
  arm: number;
  i: number;
  alive: boolean;
  rewardedAt: number | null;
  reward: number;
}

describe('PendingServes (ring of typed arrays) against a plain list', () => {
  it('finds, expires, overwrites, rewards and drops exactly like the reference', () => {
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 5, arbitrary: fc.record({ op: fc.constant('add' as const), dt: fc.integer({ min: 0, max: 40 }), foreign: fc.boolean() }) },
      { weight: 4, arbitrary: fc.record({ op: fc.constant('get' as const), pick: fc.nat(), dt: fc.integer({ min: 0, max: 40 }), shadow: fc.boolean() }) },
      { weight: 2, arbitrary: fc.record({ op: fc.constant('reward' as const), pick: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('drop' as const), pick: fc.nat() }) },
      { weight: 1, arbitrary: fc.constant({ op: 'clear' as const }) },
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.array(op, { maxLength: 300 }), (max, ops) => {
        const ttl = 100;
        const store = new PendingServes(max, ttl, 'p');
        const owner = store.owner({ policy: 'pol', modelVersion: '3', promptVersion: 'v1', statsKey: 'k' });
        const ref: RefServe[] = [];
        let now = 0;
        let n = 0;
        const live = () => ref.filter((r) => r.alive);
        for (const o of ops) {
          if (o.op === 'add') {
            now += o.dt;
            const i = n++;
            const id = store.add(owner, `user-${i}`, now, i % 8, input(i), o.foreign ? `journal-${i}` : undefined);
            expect(id).toBe(o.foreign ? `journal-${i}` : `p-${i.toString(36)}`);
            ref.push({ id, ts: now, arm: i % 8, i, alive: true, rewardedAt: null, reward: 0 });
            // The bound: only the newest `max` serves are held.
            if (ref.length > max) ref[ref.length - max - 1]!.alive = false;
          } else if (o.op === 'get') {
            const at = now + o.dt;
            const target = ref.length === 0 ? undefined : ref[o.pick % ref.length];
            const id = target === undefined ? 'p-zz' : o.shadow ? `${target.id}:shadow:1` : target.id;
            const held = target !== undefined && target.alive && at - target.ts <= ttl;
            const got = store.get(id, at);
            if (!held) {
              expect(got.kind).toBe('none');
            } else if (o.shadow) {
              expect(got).toEqual({ kind: 'shadow', serveId: target.id });
            } else {
              expect(got.kind).toBe('serve');
              if (got.kind !== 'serve') return;
              expect(got.serve).toMatchObject({ serveId: target.id, userId: `user-${target.i}`, tsMs: target.ts, arm: target.arm, rewardedAtMs: target.rewardedAt, reward: target.reward });
              expect(got.serve.owner).toEqual({ policy: 'pol', modelVersion: '3', promptVersion: 'v1', statsKey: 'k' });
              expect(got.serve.input).toEqual(input(target.i));
            }
          } else if (o.op === 'reward') {
            const target = ref.length === 0 ? undefined : ref[o.pick % ref.length];
            if (target === undefined) continue;
            const got = store.get(target.id, now);
            if (got.kind !== 'serve') continue;
            store.setReward(got.serve, now, 0.5);
            target.rewardedAt = now;
            target.reward = 0.5;
          } else if (o.op === 'drop') {
            const target = ref.length === 0 ? undefined : ref[o.pick % ref.length];
            if (target === undefined) continue;
            store.drop(target.id);
            target.alive = false;
          } else {
            store.clear();
            for (const r of ref) r.alive = false;
          }
          expect(store.size).toBe(live().length);
        }
      }),
      { seed: 5, numRuns: 300 },
    );
  });

  it('grows its arrays up to the bound and then wraps', () => {
    const store = new PendingServes(3000, 1e9, 'g');
    const owner = store.owner({ policy: 'p', modelVersion: null, promptVersion: null, statsKey: null });
    const ids = Array.from({ length: 5000 }, (_, i) => store.add(owner, `u${i}`, i, i % 8, input(i)));
    expect(store.size).toBe(3000);
    expect(store.get(ids[1999]!, 5000).kind).toBe('none');
    const last = store.get(ids[4999]!, 5000);
    expect(last.kind === 'serve' && last.serve.input).toEqual(input(4999));
    expect(store.get('g-' + (1e6).toString(36), 0).kind).toBe('none');
    expect(store.get('g-00', 0).kind).toBe('none'); // not the canonical spelling of 0
  });
});
