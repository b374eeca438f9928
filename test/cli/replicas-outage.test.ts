/**
 * NATS down for 60 s under load, with two `oo-ml serve` replicas: both keep answering, report
 * themselves degraded, and spill what they answer to disk; one of them is killed with SIGKILL
 * during the outage. When NATS is back the surviving replica reconnects by itself and drains its
 * spill, the killed one drains its spill when it is started again, and every serve and reaction
 * either replica answered 200 for is on the stream; both replicas end with the same policy. The
 * killed replica is started again while NATS is still down: it waits for NATS instead of exiting,
 * answering its probes (alive, not ready) on the address it then serves on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventBusOver, type EventBus } from '../../src/events/event-bus.js';
import { createNatsTransport } from '../../src/events/nats-transport.js';
import { createRng } from '../../src/random/rng.js';
import { startNatsServer, type NatsTestServer } from '../../fixtures/nats-server.js';
import { getJson, learningOf, RandomRouter, servingHome, startReplica, USERS, type Replica } from '../helpers/serve-replicas.js';
import { streamOf, until } from '../server/harness.js';

const OUTAGE_MS = 60_000;

let nats: NatsTestServer;
let replicas: Replica[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  const home = await servingHome();
  replicas = await Promise.all(['a', 'b'].map((name) => startReplica(name, home, nats.url)));
}, 60_000);

afterAll(async () => {
  for (const r of replicas) await r.kill();
  await nats?.stop();
});

const busOf = async (r: Replica) => (await getJson(r, '/readyz'))['bus'] as { connected: boolean; degraded: boolean; spill_backlog: number };

describe('a NATS outage of 60 s under load', () => {
  it('is survived by reconnecting, reported as degraded meanwhile, and loses nothing answered — even by a replica killed during it', async () => {
    const [a, b] = replicas as [Replica, Replica];
    const router = new RandomRouter(replicas, 60, 120_000);
    const rng = createRng(61);
    const serves = new Set<string>();
    const reactions = new Set<string>();
    const failures: string[] = [];
    let stop = false;
    // A steady trickle of traffic (~20 decisions a second), to whichever replica is up.
    const load = (async () => {
      while (!stop) {
        const user = `u${rng.int(USERS)}`;
        const s = await router.post('/score', { user_id: user });
        if (s.status !== 200) failures.push(`score ${s.status} ${JSON.stringify(s.body)}`);
        else serves.add(s.body['serve_id'] as string);
        if (s.status === 200 && rng.next() < 0.5) {
          const r = await router.post('/reward', { serve_id: s.body['serve_id'], user_id: user, reaction: 'completed' });
          if (r.status !== 200) failures.push(`reward ${r.status} ${JSON.stringify(r.body)}`);
          else if (r.body['event_id'] !== null) reactions.add(r.body['event_id'] as string);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();

    await until(() => serves.size >= 20, 'traffic before the outage');
    await nats.kill();
    const downAt = Date.now();
    await until(async () => (await busOf(a)).degraded && (await busOf(b)).degraded, 'both replicas to report the bus degraded');
    const ready = await fetch(`${a.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { warnings: string[] }).warnings.join(' ')).toContain('disconnected; events go to the local spill');
    const metrics = await (await fetch(`${a.url}/metrics`)).text();
    expect(metrics).toContain('oo_ml_event_bus_connected 0');
    expect(metrics).toContain('oo_ml_event_bus_degraded 1');

    // A third of the way into the outage, replica b dies with what it answered only in its spill.
    await until(() => Date.now() - downAt >= OUTAGE_MS / 3, 'a third of the outage', OUTAGE_MS);
    const spilledByB = (await busOf(b)).spill_backlog;
    expect(spilledByB).toBeGreaterThan(0);
    await b.kill();
    // Restarted while NATS is still down (as an orchestrator would), it waits for NATS rather
    // than exiting: alive to its probes but not ready, and not routed to (no `listening` yet).
    await until(() => Date.now() - downAt >= (2 * OUTAGE_MS) / 3, 'two thirds of the outage', OUTAGE_MS);
    const logBefore = b.log.length;
    const bBack = b.restart();
    await until(() => b.log.slice(logBefore).includes('waiting for NATS at'), 'replica b to say it waits for NATS', OUTAGE_MS);
    expect(b.url).toBeNull();
    const answering = /starting; (http:\/\/127\.0\.0\.1:\d+) answer/.exec(b.log.slice(logBefore))![1]!;
    expect((await fetch(`${answering}/healthz`)).status).toBe(200);
    const waiting = await fetch(`${answering}/readyz`);
    expect(waiting.status).toBe(503);
    expect(JSON.stringify(await waiting.json())).toContain('waiting for NATS at');
    await until(() => Date.now() - downAt >= OUTAGE_MS, 'the end of the outage', 2 * OUTAGE_MS);
    expect((await busOf(a)).spill_backlog).toBeGreaterThan(0);
    await nats.restart();

    // a reconnects by itself (nats.js' default would have given up after ~20 s) and drains.
    await until(async () => {
      const bus = await busOf(a);
      return bus.connected && !bus.degraded && bus.spill_backlog === 0;
    }, 'replica a to reconnect and drain its spill', 60_000);
    await bBack;
    // Once started it serves on the address it answered its probes on.
    expect(b.url).toBe(answering);
    await until(async () => !(await busOf(b)).degraded, 'replica b to drain the spill it was killed with', 60_000);
    stop = true;
    await load;
    expect(failures).toEqual([]);

    // Nothing answered is missing from the stream.
    const bus: EventBus = createEventBusOver(await createNatsTransport(nats.url));
    try {
      const stream = (await streamOf(bus)).flatMap((m) => (m.ok ? [m.event] : []));
      const streamServes = new Set(stream.flatMap((e) => (e.type === 'tip.served' ? [e.serve_id] : [])));
      const streamReactions = new Set(stream.flatMap((e) => (e.type === 'tip.reaction' ? [e.event_id] : [])));
      expect([...serves].filter((id) => !streamServes.has(id))).toEqual([]);
      expect([...reactions].filter((id) => !streamReactions.has(id))).toEqual([]);
      // Both replicas fold all of it to the same policy.
      const { lastSeq } = await bus.extent();
      await until(async () => (await learningOf(a)).position >= lastSeq && (await learningOf(b)).position >= lastSeq, 'both replicas to fold the whole stream', 60_000);
      const [la, lb] = [await learningOf(a), await learningOf(b)];
      expect(la.policies).toEqual(lb.policies);
      expect(la.policies[0]!.updates).toBe(new Set(stream.flatMap((e) => (e.type === 'tip.reaction' ? [e.serve_id] : []))).size);
    } finally {
      await bus.close();
    }
  }, 240_000);
});
