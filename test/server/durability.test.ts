/**
 * The server's online learning across outages, restarts, promotions and resets, on the real
 * embedded bus (NATS and separate processes: test/cli/replicas.test.ts).
 */
import { mkdir, readdir, readFile, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createEventBusOver } from '../../src/events/event-bus.js';
import type { OoEvent } from '../../src/events/schemas.js';
import { parseExperimentsConfig } from '../../src/experiments/assignment.js';
import { createEmbeddedTransport } from '../../src/events/embedded-transport.js';
import { createNatsTransport, EVENTS_STREAM } from '../../src/events/nats-transport.js';
import { startNatsServer } from '../../fixtures/nats-server.js';
import { closeHarness, closingHarness, get, post, until, type Harness } from './harness.js';

const harness = closingHarness();
const TOKEN = { authorization: 'Bearer s3cret' };

interface PolicyLearning {
  name: string;
  model_version: string | null;
  updates: number;
  digest: string;
}
interface Learning {
  position: number;
  policies: PolicyLearning[];
  rewards: Record<string, number>;
}

async function learning(h: Harness): Promise<Learning> {
  return (await get(h.app, '/stats')).body['learning'] as Learning;
}

/** Waits until the fold of `h` reached the end of its stream. */
async function settled(h: Harness): Promise<Learning> {
  const { lastSeq } = await h.bus.extent();
  await until(async () => (await learning(h)).position >= lastSeq, 'the fold to reach the end of the stream');
  return learning(h);
}

/** A second replica on the stream of `a` (its own state folder). */
function replicaOf(a: Harness, name: string, extra: Parameters<typeof harness>[0] = {}): Promise<Harness> {
  return harness({ dir: a.dir, stateDir: join(a.dir, name), transport: createEmbeddedTransport(join(a.dir, 'bus'), { pollMs: 5 }), ...extra });
}

describe('online learning on the server', () => {
  it('keeps answering while the bus is down, reports itself degraded, and learns the spilled rewards once the bus is back', async () => {
    const h = await harness();
    const before = await post(h.app, '/score', { user_id: 'u1' });
    h.transport.setConnected(false);
    const during = await post(h.app, '/score', { user_id: 'u2' });
    expect(during.status).toBe(200);
    const reward = await post(h.app, '/reward', { serve_id: before.body['serve_id'], reaction: 'completed' });
    expect(reward.status).toBe(200);
    expect(reward.body).toMatchObject({ outcome: 'queued', applied: false });
    expect(reward.body['reason']).toContain('local spill');
    // A serve made during the outage is only in this replica's spill: rewarded without naming
    // its user all the same (the spill knows it), and refused for another user.
    expect(await post(h.app, '/reward', { serve_id: during.body['serve_id'], reaction: 'liked', user_id: 'u1' })).toMatchObject({ status: 409 });
    expect(await post(h.app, '/reward', { serve_id: during.body['serve_id'], reaction: 'liked' })).toMatchObject({ status: 200, body: { outcome: 'queued' } });
    const ready = await get(h.app, '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body['bus']).toEqual({ kind: 'embedded', connected: false, degraded: true, spill_backlog: 3 });
    expect((ready.body['warnings'] as string[]).join(' ')).toContain('disconnected; events go to the local spill (3 waiting)');
    const metrics = (await get(h.app, '/metrics')).text;
    expect(metrics).toContain('oo_ml_event_bus_connected 0');
    expect(metrics).toContain('oo_ml_event_bus_degraded 1');
    expect(metrics).toContain('oo_ml_spill_backlog 3');

    h.transport.setConnected(true);
    await until(async () => !((await get(h.app, '/readyz')).body['bus'] as { degraded: boolean }).degraded, 'the spill to drain');
    const after = await settled(h);
    expect(after.rewards).toMatchObject({ applied: 2 });
    expect(after.policies[0]!.updates).toBe(2);
    expect(h.published.map((p) => p.event.type)).toEqual(['tip.served', 'tip.served', 'tip.reaction', 'tip.reaction']);
    // Drained, the serve is the window's: a second reward is a duplicate, as anywhere.
    expect((await post(h.app, '/reward', { serve_id: during.body['serve_id'], reaction: 'completed' })).body).toMatchObject({ outcome: 'duplicate' });
  });

  it('learns a reaction the app publishes to feedback.> itself, with no HTTP call', async () => {
    const h = await harness();
    const s = await post(h.app, '/score', { user_id: 'u3', arms: ['quick_win'] });
    await h.bus.publish('feedback', {
      type: 'tip.reaction',
      event_id: 'app-reaction-1',
      ts: new Date(h.clock.ms + 60_000).toISOString(),
      user_id: 'u3',
      serve_id: s.body['serve_id'] as string,
      reaction: 'completed',
      dwell_ms: 1200,
    });
    const after = await settled(h);
    expect(after.rewards).toMatchObject({ applied: 1 });
    expect(after.policies[0]!.updates).toBe(1);
    // And a /reward for the same serve afterwards is a duplicate, on any replica.
    expect((await post(h.app, '/reward', { serve_id: s.body['serve_id'], reaction: 'liked' })).body).toMatchObject({ outcome: 'duplicate' });
  });

  it('restores learning from its checkpoint at restart, and rewards a serve made before it', async () => {
    const a = await harness();
    const serves: string[] = [];
    for (let i = 0; i < 12; i++) serves.push((await post(a.app, '/score', { user_id: `u${i}` })).body['serve_id'] as string);
    for (let i = 0; i < 6; i++) expect((await post(a.app, '/reward', { serve_id: serves[i], reaction: i % 2 === 0 ? 'completed' : 'dismissed' })).body['applied']).toBe(true);
    const was = await settled(a);
    await closeHarness(a);

    const b = await harness({ dir: a.dir });
    expect(b.logs.join('')).toContain(`"restored":{"position":${was.position}`);
    const now = await learning(b);
    expect(now.position).toBe(was.position);
    expect(now.policies).toEqual(was.policies);
    // A serve made before the restart is still rewardable, once, from the window on disk.
    expect((await post(b.app, '/reward', { serve_id: serves[7], reaction: 'liked' })).body).toMatchObject({ outcome: 'applied', applied: true });
    expect((await post(b.app, '/reward', { serve_id: serves[0], reaction: 'liked' })).body).toMatchObject({ outcome: 'duplicate' });
  });

  it('rebuilds learning from the stream when the serve window its checkpoint rests on is gone or emptied, instead of leaving every reward waiting', async () => {
    const a = await harness();
    const serves: string[] = [];
    for (let i = 0; i < 10; i++) serves.push((await post(a.app, '/score', { user_id: `u${i}` })).body['serve_id'] as string);
    await settled(a);
    await closeHarness(a);
    const windowDir = join(a.dir, 'state', 'window');
    // As an operator following "delete the window" would, or a disk that lost the files.
    for (const damage of [() => rm(windowDir, { recursive: true, force: true }), async () => {
      for (const issuer of await readdir(windowDir)) if (/^[0-9a-f]{12}$/.test(issuer)) for (const f of await readdir(join(windowDir, issuer))) await truncate(join(windowDir, issuer, f), 0);
    }]) {
      await damage();
      const b = await harness({ dir: a.dir });
      expect(b.logs.join('')).toContain('the serve window the online-learning checkpoint rests on is gone');
      for (const id of serves.slice(0, 3)) expect((await post(b.app, '/reward', { serve_id: id, reaction: 'liked' })).body).toMatchObject({ outcome: expect.stringMatching(/^(applied|duplicate)$/) });
      await closeHarness(b);
    }
    // Deleted under a running server, which then checkpoints: after a restart its serves are
    // still rewardable (what the window held in memory went back to disk, and what it did not
    // makes the checkpoint be set aside).
    const c = await harness({ dir: a.dir });
    await rm(windowDir, { recursive: true, force: true });
    await post(c.app, '/admin/reload', {}, TOKEN);
    await closeHarness(c);
    const d = await harness({ dir: a.dir });
    for (const id of serves.slice(3, 6)) expect((await post(d.app, '/reward', { serve_id: id, reaction: 'liked' })).body).toMatchObject({ outcome: 'applied' });
    await closeHarness(d);
  });

  it('checkpoints a long catch-up at once, not at the first interval', async () => {
    const a = await harness();
    await closeHarness(a);
    // 10,100 reactions the replica has not folded (another replica's traffic, while it was down).
    const bus = createEventBusOver(createEmbeddedTransport(join(a.dir, 'bus')));
    await Promise.all(Array.from({ length: 10_100 }, (_, i) => bus.publish('feedback', { type: 'tip.reaction', event_id: `r${i}`, ts: '2026-02-05T12:00:00.000Z', user_id: 'u1', serve_id: `0000000000ab-${i.toString(36)}`, reaction: 'liked', dwell_ms: 1 })));
    await bus.close();
    const b = await harness({ dir: a.dir });
    await until(async () => ((await learning(b)) as Learning & { last_checkpoint: { position: number } | null }).last_checkpoint?.position === (await b.bus.extent()).lastSeq, 'a checkpoint of the catch-up');
  });

  it('refuses a second server on the state folder of a running one, naming it, and starts once it is gone', async () => {
    const a = await harness();
    await expect(harness({ dir: a.dir })).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining(`is in use by process ${process.pid}`) });
    await closeHarness(a);
    const b = await harness({ dir: a.dir });
    expect((await get(b.app, '/readyz')).status).toBe(200);
  });

  it("starts on the locks its previous life left under the same pid and hostname (a restarted container's volume), once their beats are silent", async () => {
    const a = await harness();
    await post(a.app, '/score', { user_id: 'u1' });
    await closeHarness(a);
    // What a container killed under this pid left: the replica's lock (its beat silent for a
    // minute) and the bus writer's (beaten just now, so watched before it is taken).
    const left = async (path: string, heartbeatMs: number, agoMs: number) => {
      await mkdir(path);
      await writeFile(join(path, 'pid'), `${process.pid}\n${hostname()}\n${heartbeatMs}\n`);
      const at = new Date(Date.now() - agoMs);
      await utimes(join(path, 'pid'), at, at);
    };
    await left(join(a.dir, 'state', 'replica.lock'), 1_000, 60_000);
    await left(join(a.dir, 'bus', 'events.writer'), 20, 0);
    const b = await harness({ dir: a.dir });
    expect((await post(b.app, '/score', { user_id: 'u2' })).status).toBe(200);
    expect((await get(b.app, '/readyz')).status).toBe(200);
  });

  it('is not ready once its state folder lock is no longer its own', async () => {
    const a = await harness();
    expect((await get(a.app, '/readyz')).status).toBe(200);
    // Another process took the folder while this one stood still.
    const lock = join(a.dir, 'state', 'replica.lock');
    await rm(lock, { recursive: true });
    await mkdir(lock);
    await writeFile(join(lock, 'pid'), `${process.pid}\n${hostname()}\n1000\n`);
    await until(async () => (await get(a.app, '/readyz')).status === 503, 'readiness lost with the lock');
    expect(JSON.stringify((await get(a.app, '/readyz')).body)).toContain('replica.lock is no longer this server');
    const metrics = (await get(a.app, '/metrics')).text;
    expect([/^oo_ml_ready (\d)$/m.exec(metrics)?.[1], /^oo_ml_state_lock_lost (\d)$/m.exec(metrics)?.[1]]).toEqual(['0', '1']);
    // From then on nothing in the folder is written: not by traffic, not by the close's checkpoint.
    const files = async () => {
      const out: Record<string, string> = {};
      for (const e of await readdir(join(a.dir, 'state'), { recursive: true, withFileTypes: true })) {
        if (!e.isFile()) continue;
        const path = join(e.parentPath, e.name);
        const s = await stat(path);
        out[path] = `${s.size} ${s.mtimeMs}`;
      }
      return out;
    };
    const before = await files();
    for (let i = 0; i < 5; i++) await post(a.app, '/score', { user_id: `u${i}` });
    await closeHarness(a);
    expect(await files()).toEqual(before);
    // Its close left the other holder's lock in place.
    expect(await readdir(lock)).toEqual(['pid']);
  });

  it('brings a promoted version to the state of a replica that served it all along, at restart and at reload', async () => {
    const specsV1 = { 'tip-policy@champion': { version: '1' } };
    const specsV2 = { 'tip-policy@champion': { version: '2' } };
    const old = await harness({ policies: specsV1, deps: { adminToken: 's3cret' } });
    const promoted = await replicaOf(old, 'state-promoted', { policies: specsV2 });
    for (let i = 0; i < 8; i++) {
      for (const h of [old, promoted]) {
        const s = await post(h.app, '/score', { user_id: `u${i}` });
        await post(old.app, '/reward', { serve_id: s.body['serve_id'], reaction: i % 3 === 0 ? 'dismissed' : 'completed' });
      }
    }
    const target = (await settled(promoted)).policies[0]!;
    expect(target).toMatchObject({ model_version: '2', updates: 8 });
    // The old replica learns the v2 rewards only once it loads v2: by a reload…
    const oldView = await settled(old);
    expect(oldView.rewards['version_changed']).toBe(8);
    old.policies.specs = specsV2;
    const reload = await post(old.app, '/admin/reload', {}, TOKEN);
    expect(reload.status).toBe(200);
    expect(reload.body['replayed']).toMatchObject({ updates: 8 });
    expect((await learning(old)).policies[0]).toEqual(target);
    // …or at a restart, from its checkpoint (which keeps v1's learning for a rollback).
    await closeHarness(old);
    const restarted = await harness({ dir: old.dir, policies: specsV1, deps: { adminToken: 's3cret' } });
    expect((await learning(restarted)).policies[0]).toMatchObject({ model_version: '1', updates: 8 });
    restarted.policies.specs = specsV2;
    await post(restarted.app, '/admin/reload', {}, TOKEN);
    expect((await learning(restarted)).policies[0]).toEqual(target);
  });

  it('keeps learning by version: what a version learned as the candidate goes on as champion after a promotion, an A/A pair learns as one, and a replica started later agrees', async () => {
    const ab = (candidate: string) =>
      parseExperimentsConfig({ experiments: [{ name: 'e', salt: 's', variants: [{ name: 'control', weight: 1, policy: 'tip-policy@champion' }, { name: 'treatment', weight: 1, policy: candidate }] }] }, 'test');
    let experiments = ab('tip-policy@candidate');
    const source = { load: () => Promise.resolve(experiments) };
    const a = await harness({ policies: { 'tip-policy@champion': { version: '1' }, 'tip-policy@candidate': { version: '2' } }, deps: { adminToken: 's3cret', experiments: source } });
    const traffic = async (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const s = await post(a.app, '/score', { user_id: `u${i}` });
        await post(a.app, '/reward', { serve_id: s.body['serve_id'], reaction: i % 3 === 0 ? 'dismissed' : 'completed' });
      }
    };
    const byName = async (h: Harness) => Object.fromEntries((await settled(h)).policies.map((p) => [p.name, p]));
    await traffic(0, 30);
    const asCandidate = (await byName(a))['tip-policy@candidate']!;
    expect(asCandidate.updates).toBeGreaterThan(0);
    // Promoted: `@champion` now on version 2, the experiment over.
    a.policies.specs = { 'tip-policy@champion': { version: '2' } };
    experiments = { experiments: [] };
    expect((await post(a.app, '/admin/reload', {}, TOKEN)).status).toBe(200);
    expect((await byName(a))['tip-policy@champion']).toMatchObject({ model_version: '2', updates: asCandidate.updates, digest: asCandidate.digest });
    // An A/A test on that version: the candidate alias starts where the champion is, and both learn every reward of either.
    a.policies.specs = { 'tip-policy@champion': { version: '2' }, 'tip-policy@candidate': { version: '2' } };
    experiments = ab('tip-policy@candidate');
    expect((await post(a.app, '/admin/reload', {}, TOKEN)).status).toBe(200);
    await traffic(30, 50);
    const pair = await byName(a);
    expect(pair['tip-policy@candidate']).toMatchObject({ updates: pair['tip-policy@champion']!.updates, digest: pair['tip-policy@champion']!.digest });
    expect(pair['tip-policy@champion']!.updates).toBe(asCandidate.updates + 20);
    // A replica started now replays version 2 from its first serve, under either alias, to the same state.
    const late = await replicaOf(a, 'state-late', { policies: a.policies.specs, deps: { experiments: source } });
    const seen = await byName(late);
    for (const name of ['tip-policy@champion', 'tip-policy@candidate']) expect(seen[name]).toMatchObject({ updates: pair[name]!.updates, digest: pair[name]!.digest });
    // /metrics carries the same, for alerts on replicas that differ.
    const gauges = async (h: Harness) => (await get(h.app, '/metrics')).text.split('\n').filter((l) => l.startsWith('oo_ml_policy_')).sort();
    const here = await gauges(a);
    expect(here).toEqual(await gauges(late));
    expect(here).toContain(`oo_ml_policy_updates{policy="tip-policy@champion",model_version="2"} ${pair['tip-policy@champion']!.updates}`);
    expect(here).toContain(`oo_ml_policy_state_fingerprint{policy="tip-policy@candidate",model_version="2"} ${Number.parseInt(pair['tip-policy@candidate']!.digest.slice(0, 8), 16)}`);
    // And a restart from the checkpoint, which holds the version under both aliases.
    await closeHarness(a);
    const back = await byName(await harness({ dir: a.dir, policies: a.policies.specs, deps: { experiments: source } }));
    for (const name of ['tip-policy@champion', 'tip-policy@candidate']) expect(back[name]).toMatchObject({ updates: pair[name]!.updates, digest: pair[name]!.digest });
  });

  it('starts a `@shadow` alias afresh once it is a shadow again, and replays a version an old per-alias checkpoint held under two aliases', async () => {
    const ab = parseExperimentsConfig({ experiments: [{ name: 'e', salt: 's', variants: [{ name: 'control', weight: 1, policy: 'tip-policy@champion' }, { name: 'treatment', weight: 1, policy: 'tip-policy@candidate' }] }] }, 'test');
    let experiments = ab;
    const source = { load: () => Promise.resolve(experiments) };
    const specs = { 'tip-policy@champion': { version: '1' }, 'tip-policy@candidate': { version: '2' }, 'tip-policy@shadow': { version: '2' } };
    // Promoted to shadow while its version serves as the candidate: no shadow then (the registry provider drops it), so it learns.
    const a = await harness({ policies: specs, shadows: [], deps: { adminToken: 's3cret', experiments: source } });
    for (let i = 0; i < 30; i++) {
      const s = await post(a.app, '/score', { user_id: `u${i}` });
      await post(a.app, '/reward', { serve_id: s.body['serve_id'], reaction: i % 3 === 0 ? 'dismissed' : 'completed' });
    }
    const byName = async (h: Harness) => Object.fromEntries((await settled(h)).policies.map((p) => [p.name, p]));
    expect((await byName(a))['tip-policy@shadow']!.updates).toBeGreaterThan(0);
    // The experiment ends: `@shadow` is a shadow again, and a shadow never learns.
    experiments = { experiments: [] };
    a.policies.specs = { 'tip-policy@champion': { version: '1' }, 'tip-policy@shadow': { version: '2' } };
    a.policies.shadows = ['tip-policy@shadow'];
    expect((await post(a.app, '/admin/reload', {}, TOKEN)).status).toBe(200);
    const fresh = await replicaOf(a, 'state-fresh', { policies: a.policies.specs, shadows: a.policies.shadows, deps: { experiments: source } });
    const want = await byName(fresh);
    expect((await byName(a))['tip-policy@shadow']).toMatchObject({ updates: 0, digest: want['tip-policy@shadow']!.digest });

    // A checkpoint of the per-alias layout (2) that holds version 2 under two aliases, the
    // candidate's learned and the shadow's registered state, is replayed, not taken at its word.
    a.policies.specs = { 'tip-policy@champion': { version: '2' } };
    a.policies.shadows = [];
    expect((await post(a.app, '/admin/reload', {}, TOKEN)).status).toBe(200);
    const target = (await byName(a))['tip-policy@champion']!;
    expect(target.updates).toBeGreaterThan(0);
    await closeHarness(a);
    const file = join(a.dir, 'state', 'checkpoint.json');
    const cp = JSON.parse(await readFile(file, 'utf8')) as { version: number; policies: { name: string; model_version: string | null; updates: number; state: unknown }[] };
    const champion = cp.policies.find((e) => e.name === 'tip-policy@champion')!;
    const registered = JSON.parse(JSON.stringify(cp.policies.find((e) => e.name === 'tip-policy@champion' && e.model_version === '1')?.state ?? champion.state)) as unknown;
    cp.version = 2;
    cp.policies = [{ ...champion, name: 'tip-policy@shadow', updates: 0, state: registered }, ...cp.policies];
    await writeFile(file, JSON.stringify(cp));
    const back = await harness({ dir: a.dir, policies: a.policies.specs, deps: { experiments: source } });
    expect((await byName(back))['tip-policy@champion']).toMatchObject({ updates: target.updates, digest: target.digest });
  });

  it('takes a reset or a serve on signals only: one an app forges on feedback is not folded, and the library refuses to publish one there', async () => {
    const h = await harness();
    const s = await post(h.app, '/score', { user_id: 'u1' });
    await post(h.app, '/reward', { serve_id: s.body['serve_id'], reaction: 'completed' });
    const before = await settled(h);
    expect(before.policies[0]!.updates).toBe(1);
    const forged = { type: 'learning.reset', event_id: 'forged-reset', ts: '2026-02-05T12:00:00.000Z', reason: 'not an admin' };
    await h.transport.publish('feedback.learning.reset', Buffer.from(JSON.stringify(forged)), 'forged-reset');
    const after = await settled(h);
    expect(after.policies[0]).toMatchObject({ updates: 1, digest: before.policies[0]!.digest });
    expect(after as unknown as { resets: number; invalid_messages: number }).toMatchObject({ resets: 0, invalid_messages: 1 });
    await expect(h.bus.publish('feedback', forged as OoEvent)).rejects.toMatchObject({ code: 'invalid_input', message: 'learning.reset events go on signals only, not on feedback' });
  });

  it('keeps learning and answering rewards while a reload replays a version into the past', async () => {
    const a = await harness({ policies: { 'tip-policy@champion': { version: '1' } }, deps: { adminToken: 's3cret' } });
    const v2 = await replicaOf(a, 'state-v2', { policies: { 'tip-policy@champion': { version: '2' } } });
    for (let i = 0; i < 4; i++) {
      const s = await post(v2.app, '/score', { user_id: `u${i}` });
      await post(v2.app, '/reward', { serve_id: s.body['serve_id'], reaction: 'completed' });
    }
    await settled(a);
    // The reload's replay of version 2 from its first serve is held at its start…
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let replaying = false;
    a.transport.beforeReader = (startSeq) => {
      if (startSeq !== 1) return;
      replaying = true;
      return held;
    };
    a.policies.specs = { 'tip-policy@champion': { version: '2' } };
    const reload = post(a.app, '/admin/reload', {}, TOKEN);
    await until(() => replaying, 'the reload to start its replay');
    // …and meanwhile the fold goes on: a reward for a serve made now is learned and answered.
    const s = await post(v2.app, '/score', { user_id: 'u9' });
    expect((await post(a.app, '/reward', { serve_id: s.body['serve_id'], reaction: 'liked' })).body).toMatchObject({ outcome: 'version_changed' });
    release();
    expect((await reload).status).toBe(200);
    expect((await learning(a)).policies).toEqual((await settled(v2)).policies);
  });

  it('starts on a NATS stream whose messages are all gone (purged, or aged out), which still reports its last sequence', async () => {
    const nats = await startNatsServer();
    onTestFinished(() => nats.stop());
    const a = await harness({ transport: await createNatsTransport(nats.url) });
    for (let i = 0; i < 3; i++) await post(a.app, '/score', { user_id: `u${i}` });
    await settled(a);
    await closeHarness(a);
    const nc = await connect({ servers: nats.url });
    try {
      await (await jetstreamManager(nc)).streams.purge(EVENTS_STREAM);
    } finally {
      await nc.close();
    }
    // Fresh state (a new replica): nothing of the stream is left to fold, yet it is at seq 3.
    const b = await harness({ dir: a.dir, stateDir: join(a.dir, 'state-fresh'), transport: await createNatsTransport(nats.url), deps: { adminToken: 's3cret' } });
    expect((await b.bus.extent()).lastSeq).toBe(3);
    expect((await post(b.app, '/score', { user_id: 'u1' })).status).toBe(200);
    // Ready, but it says what it could not learn: replicas that folded those events hold other states.
    const ready = await get(b.app, '/readyz');
    expect(ready.status).toBe(200);
    const gap = 'this replica started without a checkpoint, but the events stream starts at 4: the 3 events before were removed';
    expect(ready.body['warnings']).toContainEqual(expect.stringContaining(gap));
    // A reset puts every replica back on the registered states: what this one missed no longer counts.
    expect((await post(b.app, '/admin/reset', {}, TOKEN)).status).toBe(200);
    await until(async () => !((await get(b.app, '/readyz')).body['warnings'] as string[]).some((w) => w.includes(gap)), 'the warning to go with the reset');
  });

  it('resets every replica at the same point of the stream', async () => {
    const a = await harness({ deps: { adminToken: 's3cret' } });
    const b = await replicaOf(a, 'state-b');
    const early = await post(a.app, '/score', { user_id: 'u1' });
    const s = await post(b.app, '/score', { user_id: 'u2' });
    await post(a.app, '/reward', { serve_id: s.body['serve_id'], reaction: 'completed' });
    const reset = await post(a.app, '/admin/reset', {}, TOKEN);
    expect(reset.status).toBe(200);
    expect(reset.body).toMatchObject({ reset: true, applied: true, position: 4 });
    const [la, lb] = [await settled(a), await settled(b)];
    expect(la.policies[0]!.updates).toBe(0);
    expect(lb.policies).toEqual(la.policies);
    // A serve made before the reset is no longer rewarded.
    expect((await post(b.app, '/reward', { serve_id: early.body['serve_id'], reaction: 'completed' })).body).toMatchObject({ outcome: 'before_reset', applied: false });
  });
});
