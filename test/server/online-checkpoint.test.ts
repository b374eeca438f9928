/**
 * Online-learning checkpoints across restarts and reloads: learning survives a bus that no
 * longer holds the old events, a restart after a checkpoint learns every later reward exactly
 * once (the same states as a full replay; rewards in one millisecond told apart by id), a
 * version a reload takes out of service gets its learning back, a reset or a new registry
 * version is not overridden by an older checkpoint, a bad checkpoint is ignored, and a
 * checkpoint waits for a reward in flight.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { OoMlApp } from '../../src/server/app.js';
import type { EventSink, ServerEvent } from '../../src/server/deps.js';
import { createMemoryEventSink } from '../../src/server/memory-event-sink.js';
import { createFileCheckpointStore, createMemoryCheckpointStore, type OnlineCheckpointStore } from '../../src/server/online-checkpoint.js';
import { tempHome } from '../helpers/temp-home.js';
import type { BusEventSink } from '../../src/server/bus-event-sink.js';
import { busServers, type BusServer } from './bus-servers.js';
import { createHarness, post, type PolicySpec } from './harness.js';

const servers = busServers();

/** A bus server with the given checkpoint store (written only on demand, reload, reset and close). */
const serverOn = (dir: string, checkpoints: OnlineCheckpointStore, opts: { clockMs?: number; policies?: Record<string, PolicySpec> } = {}) =>
  servers.start(dir, { ...opts, deps: { checkpoints, limits: { checkpointIntervalMs: 0 } } });
const stop = (s: BusServer): Promise<void> => servers.stop(s);

const ARMS = ['split_task', 'quick_win', 'plan_tomorrow'] as const;
/** Every test arm's score for one user (the test policy's score of an arm is its smoothed mean reward). */
const scores = async (app: OoMlApp): Promise<unknown[]> => Promise.all(ARMS.map(async (arm) => (await post(app, '/score', { user_id: 'u1', arms: [arm] })).body['score']));

/** `n` serves (numbered from `from`) of arm i % 3, each rewarded one second later with reaction i % 3. */
/** The summary the server logged for its replay of the event journal. */
const replaySummary = (logs: readonly string[]): { updates: number; alreadyLearned: number } =>
  (JSON.parse(logs.find((l) => l.includes('replayed the event journal'))!) as { replay: { updates: number; alreadyLearned: number } }).replay;

async function serveAndReward(h: { app: OoMlApp; clock: { ms: number } }, n: number, from = 0): Promise<void> {
  const reactions = ['completed', 'dismissed', 'liked'] as const;
  for (let i = from; i < from + n; i++) {
    const s = await post(h.app, '/score', { user_id: `u${i % 7}`, arms: [ARMS[i % 3]!] });
    h.clock.ms += 1000;
    const r = await post(h.app, '/reward', { serve_id: s.body['serve_id'], reaction: reactions[i % 3]! });
    expect(r.body['applied']).toBe(true);
  }
}

describe('online-learning checkpoints', () => {
  it('restores learning from the checkpoint when the bus no longer holds the events (retention)', async () => {
    const home = (await tempHome()).home;
    const checkpoints = createFileCheckpointStore(join(home, 'online-state.json'));
    const a = await serverOn(home, checkpoints);
    await serveAndReward(a, 9);
    const learned = await scores(a.app);
    const clock = a.clock.ms;
    await stop(a); // writes the last checkpoint

    // A bus in another home: everything the first server published is gone, the checkpoint is not.
    const elsewhere = (await tempHome()).home;
    const b = await serverOn(elsewhere, checkpoints, { clockMs: clock + 60_000 });
    expect(await scores(b.app)).toEqual(learned);
    expect(b.logs.join('')).toContain('restored online learning from its checkpoint');
    // Without the checkpoint the same bus gives the registered (untrained) states.
    const c = await serverOn((await tempHome()).home, createMemoryCheckpointStore(), { clockMs: clock + 60_000 });
    expect(await scores(c.app)).toEqual([0.5, 0.5, 0.5]);
  });

  it('learns the rewards after a checkpoint exactly once: the same states as a full replay, pending serves included', async () => {
    const home = (await tempHome()).home;
    const checkpoints = createMemoryCheckpointStore();
    const a = await serverOn(home, checkpoints);
    await serveAndReward(a, 6);
    await a.app.ooMl.checkpoint();
    const atCheckpoint = await checkpoints.read();
    expect(atCheckpoint?.through_event_ids.length).toBe(1);
    await serveAndReward(a, 5, 6);
    const waiting = await post(a.app, '/score', { user_id: 'u1', arms: ['quick_win'] });
    const learned = await scores(a.app);
    const clock = a.clock.ms;
    await stop(a);

    // A crash right after the middle checkpoint: restore it, replay the rest of the bus.
    const b = await serverOn(home, createMemoryCheckpointStore(atCheckpoint), { clockMs: clock + 60_000 });
    expect(await scores(b.app)).toEqual(learned);
    expect(replaySummary(b.logs)).toMatchObject({ updates: 5, alreadyLearned: 6 });
    // The serve made before the restart can still be rewarded, once.
    expect((await post(b.app, '/reward', { serve_id: waiting.body['serve_id'], reaction: 'completed' })).body['applied']).toBe(true);
    expect((await post(b.app, '/reward', { serve_id: waiting.body['serve_id'], reaction: 'completed' })).body['applied']).toBe(false);
    const afterB = await scores(b.app);
    expect(afterB).not.toEqual(learned);
    const clockB = b.clock.ms;
    await stop(b);

    // No checkpoint at all: the full replay of the same bus (the same home) gives the same states.
    const c = await serverOn(home, createMemoryCheckpointStore(), { clockMs: clockB + 60_000 });
    expect(await scores(c.app)).toEqual(afterB);
  });

  it('does not restore a checkpoint older than the last reset, nor an entry of another registry version (kept for a rollback)', async () => {
    const home = (await tempHome()).home;
    const checkpoints = createMemoryCheckpointStore();
    const a = await serverOn(home, checkpoints);
    await serveAndReward(a, 4);
    await a.app.ooMl.checkpoint();
    const beforeReset = await checkpoints.read();
    const learned = await scores(a.app);
    a.clock.ms += 1000;
    expect((await post(a.app, '/admin/reset', {}, { authorization: 'Bearer t' })).status).toBe(200);
    const clock = a.clock.ms;
    await stop(a);

    // The reset marker is later than this checkpoint: it is void.
    const b = await serverOn(home, createMemoryCheckpointStore(beforeReset), { clockMs: clock + 1000 });
    expect(await scores(b.app)).toEqual([0.5, 0.5, 0.5]);
    expect(b.logs.join('')).toContain('predates the last reset');
    await stop(b);

    // A fresh home: the champion is now registry version 2; version 1's learning is not its own.
    const other = (await tempHome()).home;
    const store = createMemoryCheckpointStore(beforeReset);
    const v2 = await serverOn(other, store, { clockMs: clock + 1000, policies: { 'tip-policy@champion': { version: '2' } } });
    expect(await scores(v2.app)).toEqual([0.5, 0.5, 0.5]);
    await v2.app.ooMl.checkpoint();
    const carried = (await store.read())!.policies.map((p) => `${p.name}@${p.model_version}`);
    expect(carried).toEqual(['tip-policy@champion@2', 'tip-policy@champion@1']);
    await stop(v2);
    // Rolled back to version 1: its checkpointed learning comes back.
    const v1 = await serverOn((await tempHome()).home, store, { clockMs: clock + 2000 });
    expect(await scores(v1.app)).toEqual(learned);
  });

  it('tells rewards in the same millisecond apart by id: the one after the checkpoint is learned', async () => {
    const home = (await tempHome()).home;
    const checkpoints = createMemoryCheckpointStore();
    const a = await serverOn(home, checkpoints);
    const first = await post(a.app, '/score', { user_id: 'u1', arms: ['split_task'] });
    const second = await post(a.app, '/score', { user_id: 'u2', arms: ['split_task'] });
    a.clock.ms += 1000;
    // Both rewards at the same clock reading, the checkpoint between them.
    expect((await post(a.app, '/reward', { serve_id: first.body['serve_id'], reaction: 'completed' })).body['applied']).toBe(true);
    await a.app.ooMl.checkpoint();
    const between = await checkpoints.read();
    expect((await post(a.app, '/reward', { serve_id: second.body['serve_id'], reaction: 'dismissed' })).body['applied']).toBe(true);
    const learned = await scores(a.app);
    const clock = a.clock.ms;
    await stop(a);
    const b = await serverOn(home, createMemoryCheckpointStore(between), { clockMs: clock + 1000 });
    expect(await scores(b.app)).toEqual(learned);
    expect(replaySummary(b.logs)).toMatchObject({ updates: 1, alreadyLearned: 1 });
  });

  it('keeps the learning of a version a reload takes out of service, for a rollback by reload', async () => {
    const checkpoints = createMemoryCheckpointStore();
    const h = await createHarness({ deps: { checkpoints, adminToken: 't', limits: { checkpointIntervalMs: 0 } } });
    const reload = async (version: string) => {
      h.policies.specs = { 'tip-policy@champion': { version } };
      expect((await post(h.app, '/admin/reload', {}, { authorization: 'Bearer t' })).status).toBe(200);
    };
    try {
      await serveAndReward(h, 4);
      // Learned after the last checkpoint, before the reload: the reload keeps these too.
      const v1 = await scores(h.app);
      await reload('2');
      expect(await scores(h.app)).toEqual([0.5, 0.5, 0.5]);
      await serveAndReward(h, 2, 4);
      const v2 = await scores(h.app);
      // The bus forgets (retention): only the checkpoint knows version 1's learning now.
      h.sink.events.length = 0;
      await reload('1');
      expect(await scores(h.app)).toEqual(v1);
      expect((await checkpoints.read())!.policies.map((p) => p.model_version)).toEqual(['1', '2']);
      await reload('2');
      expect(await scores(h.app)).toEqual(v2);
    } finally {
      await h.app.close();
    }
  });

  it('learns, at the swap, a reward that arrives for a returning version while its reload replays the bus', async () => {
    const memory = createMemoryEventSink();
    let hold: Promise<void> | null = null;
    // A sink whose replay waits (a slow bus) while `hold` is set.
    const slow: EventSink = {
      publish: (subject, event) => memory.publish(subject, event),
      async *readAll() {
        if (hold !== null) await hold;
        yield* memory.readAll();
      },
    };
    const h = await createHarness({ deps: { events: slow, checkpoints: createMemoryCheckpointStore(), adminToken: 't', limits: { checkpointIntervalMs: 0 } } });
    const reload = (version: string) => {
      h.policies.specs = { 'tip-policy@champion': { version } };
      return post(h.app, '/admin/reload', {}, { authorization: 'Bearer t' });
    };
    try {
      await serveAndReward(h, 3);
      const pendingServe = await post(h.app, '/score', { user_id: 'u1', arms: ['quick_win'] });
      expect((await reload('2')).status).toBe(200);
      let release!: () => void;
      hold = new Promise<void>((go) => (release = go));
      const rollingBack = reload('1');
      await new Promise((r) => setTimeout(r, 20));
      // Version 2 still serves, version 1 is on its way back: the reward is its own.
      const r = await post(h.app, '/reward', { serve_id: pendingServe.body['serve_id'], reaction: 'completed' });
      expect(r.body).toMatchObject({ applied: true, reason: null });
      release();
      expect((await rollingBack).status).toBe(200);
      hold = null;
      const live = await scores(h.app);
      // The same states as a server rebuilt from the bus alone.
      const rebuilt = await createHarness({ events: memory.events.slice(), policies: { 'tip-policy@champion': { version: '1' } } });
      try {
        expect(await scores(rebuilt.app)).toEqual(live);
      } finally {
        await rebuilt.app.close();
      }
      expect(live[1]).toBe((0 + 1 + 0.5) / 3); // quick_win: dismissed before, completed during the reload
    } finally {
      await h.app.close();
    }
  });

  it('voids every entry at a reset, and a checkpoint written under another reset marker', async () => {
    const home = (await tempHome()).home;
    const checkpoints = createMemoryCheckpointStore();
    const a = await serverOn(home, checkpoints);
    await serveAndReward(a, 3);
    // Version 1 leaves service by reload, then a reset: its entry must not survive the reset.
    a.policies.specs = { 'tip-policy@champion': { version: '2' } };
    expect((await post(a.app, '/admin/reload', {}, { authorization: 'Bearer t' })).status).toBe(200);
    a.clock.ms += 1000;
    expect((await post(a.app, '/admin/reset', {}, { authorization: 'Bearer t' })).status).toBe(200);
    const afterReset = (await checkpoints.read())!;
    expect(afterReset.policies.map((p) => p.model_version)).toEqual(['2']);
    const clock = a.clock.ms;
    await stop(a);
    const b = await serverOn(home, createMemoryCheckpointStore(afterReset), { clockMs: clock + 1000 });
    expect(await scores(b.app)).toEqual([0.5, 0.5, 0.5]);
    await stop(b);
    // A checkpoint written after the reset but under the old marker (a periodic one racing the
    // reset) is void, whatever its time says.
    const racing = { ...afterReset, reset_at_ms: null, written_at: new Date(clock + 500).toISOString() };
    const c = await serverOn(home, createMemoryCheckpointStore(racing), { clockMs: clock + 2000 });
    expect(c.logs.join('')).toContain('predates the last reset');
  });

  it('restores from the checkpoint over a sink that cannot replay', async () => {
    const checkpoints = createMemoryCheckpointStore();
    const a = await createHarness({ deps: { checkpoints, limits: { checkpointIntervalMs: 0 } } });
    await serveAndReward(a, 3);
    const learned = await scores(a.app);
    await a.app.close();
    const b = await createHarness({ deps: { events: { publish: () => Promise.resolve() }, checkpoints, limits: { checkpointIntervalMs: 0 } } });
    try {
      expect(await scores(b.app)).toEqual(learned);
    } finally {
      await b.app.close();
    }
  });

  // A reward the bus never stored (spilled at a shutdown with the bus down) is in the
  // checkpointed state: at the next start it is resent, or, while the bus still refuses it, read
  // from the spill file by the replay. Either way its serve is known to be rewarded, so a retried
  // /reward is not learned a second time.
  it.each([
    ['resent at start', true],
    ['still refused by the bus at start', false],
  ])('a reward spilled at shutdown and %s does not leave its serve rewardable twice', async (_, resend) => {
    const home = (await tempHome()).home;
    const checkpoints = createMemoryCheckpointStore();
    const a = await serverOn(home, checkpoints);
    const s = await post(a.app, '/score', { user_id: 'u1', arms: ['split_task'] });
    a.clock.ms += 1000;
    expect((await post(a.app, '/reward', { serve_id: s.body['serve_id'], reaction: 'completed' })).body['applied']).toBe(true);
    const learned = await scores(a.app);
    const clock = a.clock.ms;
    await stop(a); // the checkpoint holds the reward
    // As if the bus had been down at that shutdown: the reaction is in the spill file, not the bus.
    const journal = join(home, 'bus', 'feedback.tip.reaction.ndjson');
    await writeFile(join(home, 'unsent.ndjson'), await readFile(journal, 'utf8'));
    await writeFile(journal, '');
    const b = await servers.start(home, {
      clockMs: clock + 1000,
      deps: { checkpoints: createMemoryCheckpointStore(await checkpoints.read()), limits: { checkpointIntervalMs: 0 } },
      ...(resend ? { beforeStart: (sink: BusEventSink) => sink.resendSpilled() } : {}),
    });
    expect(await scores(b.app)).toEqual(learned);
    const retried = await post(b.app, '/reward', { serve_id: s.body['serve_id'], reaction: 'completed' });
    expect(retried.body['applied']).toBe(false);
    expect(await scores(b.app)).toEqual(learned);
  });

  it('reports a bad checkpoint file and rebuilds learning from the bus alone', async () => {
    const home = (await tempHome()).home;
    const path = join(home, 'online-state.json');
    const a = await serverOn(home, createFileCheckpointStore(path));
    await serveAndReward(a, 3);
    const learned = await scores(a.app);
    const clock = a.clock.ms;
    await stop(a);
    for (const bad of ['{"version":1,', '{"version":1,"written_at":"2026-02-05T12:00:00Z"}']) {
      await writeFile(path, bad);
      const b = await serverOn(home, createFileCheckpointStore(path), { clockMs: clock + 1000 });
      expect(b.logs.join('')).toMatch(/ignoring the online-learning checkpoint: online-learning checkpoint .*online-state\.json (is not JSON|is invalid)/);
      expect(await scores(b.app)).toEqual(learned);
      await stop(b);
    }
  });

  it('waits for a reward between its publish and its update before it writes', async () => {
    let release: (() => void) | null = null;
    const memory = createMemoryEventSink();
    // A sink that holds reward events until the test releases them.
    const holding: EventSink = {
      publish: (subject: string, event: ServerEvent) =>
        event.type === 'tip.served' ? memory.publish(subject, event) : new Promise<void>((go) => (release = go)).then(() => memory.publish(subject, event)),
    };
    const checkpoints = createMemoryCheckpointStore();
    const h = await createHarness({ deps: { events: holding, checkpoints, limits: { checkpointIntervalMs: 0 } } });
    try {
      const s = await post(h.app, '/score', { user_id: 'u1', arms: ['split_task'] });
      const rewarding = post(h.app, '/reward', { serve_id: s.body['serve_id'], reaction: 'completed' });
      while (release === null) await new Promise((r) => setTimeout(r, 1));
      let written = false;
      const writing = h.app.ooMl.checkpoint().then(() => (written = true));
      await new Promise((r) => setTimeout(r, 20));
      expect(written).toBe(false);
      (release as () => void)();
      await Promise.all([rewarding, writing]);
      const c = (await checkpoints.read())!;
      expect(c.through_ms).toBe(h.clock.ms);
      expect(c.through_event_ids).toHaveLength(1);
    } finally {
      await h.app.close();
    }
  });

  it('writes on its interval', async () => {
    const checkpoints = createMemoryCheckpointStore();
    const h = await createHarness({ deps: { checkpoints, limits: { checkpointIntervalMs: 10 } } });
    try {
      const deadline = Date.now() + 5_000;
      while (checkpoints.writes < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(checkpoints.writes).toBeGreaterThanOrEqual(2);
    } finally {
      await h.app.close();
    }
  });
});
