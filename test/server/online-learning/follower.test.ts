/** The follower feeding the fold from the events stream: it catches up a backlog without holding the event loop. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../helpers/temp-home.js';
import { createEventBusOver } from '../../../src/events/event-bus.js';
import { createEmbeddedTransport } from '../../../src/events/embedded-transport.js';
import type { TipServedEvent } from '../../../src/events/schemas.js';
import { ARM_COUNT, ARM_IDS } from '../../../src/features/arms.js';
import { getPolicy } from '../../../src/policies/catalog.js';
import { Fold } from '../../../src/server/online-learning/fold.js';
import { learningKey } from '../../../src/server/online-learning/learning-key.js';
import { Follower } from '../../../src/server/online-learning/follower.js';
import { formatServeId } from '../../../src/server/online-learning/serve-id.js';
import { openServeWindow } from '../../../src/server/online-learning/serve-window.js';
import type { LivePolicy } from '../../../src/server/serving-state.js';
import { hash32 } from '../harness.js';

const T = Date.parse('2026-03-01T08:00:00Z');

function serve(n: number): TipServedEvent {
  return {
    type: 'tip.served',
    event_id: `e${n}`,
    ts: new Date(T + n).toISOString(),
    user_id: `u${n % 97}`,
    serve_id: formatServeId('aaaaaaaaaaaa', n),
    arm: ARM_IDS[n % ARM_COUNT]!,
    propensity: 0.5,
    policy: 'tip-policy@champion',
    model_version: '1',
    prompt_version: 'v1',
    context: { hour_of_day: 8, day_of_week: 2, open_tasks: n % 7, overdue_tasks: n % 2 },
    shadow: false,
    features: { has_profile: true, completion_rate: 0.5, dismiss_rate: 0.1, mean_dwell_sec: 30, preferred_hour: 9, tip_volume: 3 },
    experiment: null,
    variant: null,
  };
}

describe('the follower', () => {
  it('lets other work run between batches while it catches up a backlog (a checkpoint paused it)', async () => {
    const dir = await tempDir('oo-ml-follower-');
    const bus = createEventBusOver(createEmbeddedTransport(join(dir, 'bus'), { pollMs: 5 }));
    const policy = getPolicy('linucb');
    const registered = policy.init(ARM_COUNT);
    const lp: LivePolicy = { name: 'tip-policy@champion', policy, registered, live: policy.cloneState(registered), modelVersion: '1', layout: policy.layout, updates: 0 };
    const window = await openServeWindow({ dir: null, hotRecords: 1 << 16, keepMs: 86_400_000, hash32 });
    const fold = new Fold({ window, learners: { of: (key) => (key === learningKey(lp.name, lp.modelVersion) ? [lp] : []), all: () => [lp].values() }, hash32, rewardWindowMs: 86_400_000, orphanLimit: 50, orphanWaitMs: 3_600_000 });
    const follower = new Follower({ bus, fold, batch: 100 });
    try {
      // The bus's writer is open before the reader, which then takes appends from memory.
      await bus.publish('signals', serve(1_000_000));
      follower.start();
      expect(await follower.waitForPosition(1, 10_000)).toBe(true);
      // The fold is paused (as while a checkpoint flushes) and a backlog of 20 batches builds up,
      // all of it in this process's memory (the reader takes appends from the writer).
      let release!: () => void;
      const paused = follower.exclusive(() => new Promise<void>((resolve) => (release = resolve)));
      const backlog = 2_000;
      for (let i = 0; i < backlog; i += 100) await Promise.all(Array.from({ length: 100 }, (_, k) => bus.publish('signals', serve(i + k))));
      const { lastSeq } = await bus.extent();
      // A task queued as the fold resumes (a request's I/O would be one) runs before the catch-up ends.
      let positionWhenItRan = -1;
      release();
      await paused;
      await new Promise<void>((resolve) =>
        setImmediate(() => {
          positionWhenItRan = fold.position;
          resolve();
        }),
      );
      expect(positionWhenItRan).toBeLessThan(lastSeq);
      expect(await follower.waitForPosition(lastSeq, 10_000)).toBe(true);
      expect(fold.position).toBe(lastSeq);
    } finally {
      await follower.close();
      await window.close();
      await bus.close();
    }
  });
});
