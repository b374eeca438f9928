/**
 * Three `oo-ml serve` replicas on a 3-node NATS JetStream cluster with R3 streams, behind a
 * client that sends each /score and each /reward to a random replica. Mid-run one NATS node and
 * one replica are killed with SIGKILL and started again. Afterwards every reward answered 200 was
 * applied exactly once, the replicas' policies are identical, and `oo-ml ingest` puts every
 * answered serve and reaction in the Parquet log exactly once (and nothing else but the serves
 * the killed replica recorded and could not answer).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventBusOver } from '../../src/events/event-bus.js';
import { createNatsTransport } from '../../src/events/nats-transport.js';
import { withDb } from '../../src/io/duckdb.js';
import { attachEventLog } from '../../src/pipelines/event-log.js';
import { createRng } from '../../src/random/rng.js';
import { homePaths } from '../../src/config.js';
import { runCli } from '../helpers/cli.js';
import { startNatsCluster, type NatsTestCluster } from '../helpers/nats-cluster.js';
import { getJson, learningOf, RandomRouter, servingHome, startReplica, USERS, type Replica } from '../helpers/serve-replicas.js';
import { until } from '../server/harness.js';

let cluster: NatsTestCluster;
let home: string;
let replicas: Replica[] = [];

beforeAll(async () => {
  cluster = await startNatsCluster(3);
  home = await servingHome();
  const env = { NATS_STREAM_REPLICAS: '3' };
  // Checkpoints every second: the replica killed mid-run restarts from one, its window on disk.
  replicas = await Promise.all(['a', 'b', 'c'].map((name) => startReplica(name, home, cluster.urls, env, ['--checkpoint-every', '1'])));
}, 60_000);

afterAll(async () => {
  for (const r of replicas) await r.kill();
  await cluster?.stop();
});

describe('replicas on a NATS cluster', () => {
  it('lose nothing they answered, apply each reward once and converge, through the loss of a NATS node and of a replica', async () => {
    const OPS = 360;
    /** Clients sending requests at once. */
    const WORKERS = 4;
    const router = new RandomRouter(replicas, 2026);
    const served = new Map<string, string>(); // serve_id → replica
    const rewards: { serveId: string; eventId: string | null; outcome: string }[] = [];
    /** Rewards sent without the user that a replica could not record: its serve had not reached that replica's stream (it sat in another replica's spill). */
    const unrecorded: string[] = [];
    const failures: string[] = [];
    let done = 0;
    let phase: Promise<void> = Promise.resolve();
    const victims = { node: cluster.nodes[0]!, replica: replicas[1]! };
    const worker = async (w: number): Promise<void> => {
      const rng = createRng(100 + w);
      for (let i = w; i < OPS; i += WORKERS) {
        const user = `u${rng.int(USERS)}`;
        const scored = await router.post('/score', { user_id: user, context: { hour_of_day: rng.int(24), tasks: [{ id: 't' }] } });
        if (scored.status !== 200) failures.push(`score ${scored.status} ${JSON.stringify(scored.body)}`);
        else served.set(scored.body['serve_id'] as string, scored.replica);
        if (scored.status === 200 && rng.next() < 0.6) {
          const reaction = rng.next() < 0.5 ? 'completed' : 'dismissed';
          // Half of them with the user, as apps should send it: a replica that has not seen the
          // serve yet (its replica spilled it while a NATS node was down) records the reaction
          // all the same; without it, that replica can only say 404.
          const withUser = rng.next() < 0.5;
          const r = await router.post('/reward', { serve_id: scored.body['serve_id'], ...(withUser ? { user_id: user } : {}), reaction });
          if (r.status === 404 && !withUser) unrecorded.push(scored.body['serve_id'] as string);
          else if (r.status !== 200) failures.push(`reward ${r.status} ${JSON.stringify(r.body)}`);
          else rewards.push({ serveId: scored.body['serve_id'] as string, eventId: r.body['event_id'] as string | null, outcome: r.body['outcome'] as string });
        }
        done++;
        // A third of the way: a NATS node and a replica die — once the replica has written a
        // checkpoint and its window is on disk; half way, both come back.
        if (done === Math.floor(OPS / 3)) {
          phase = until(() => existsSync(join(victims.replica.stateDir, 'checkpoint.json')), 'a checkpoint of the replica to kill').then(() =>
            Promise.all([victims.node.kill(), victims.replica.kill()]).then(() => undefined),
          );
        }
        if (done === Math.floor(OPS / 2)) phase = phase.then(() => Promise.all([victims.node.restart(), victims.replica.restart()])).then(() => undefined);
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
    await phase;
    expect(failures).toEqual([]);
    expect(served.size).toBe(OPS);

    // Every replica drains its spill, and then folds the whole stream.
    const state = async () => Promise.all(replicas.map(async (r) => ({ bus: (await getJson(r, '/stats'))['bus'] as { mode: string; spill_backlog: number }, learning: await learningOf(r) })));
    await until(async () => (await state()).every((x) => x.bus.mode === 'direct' && x.bus.spill_backlog === 0), 'every replica to drain its spill', 60_000);
    const bus = createEventBusOver(await createNatsTransport(cluster.urls));
    const { lastSeq } = await bus.extent().finally(() => bus.close());
    await until(async () => (await state()).every((x) => x.learning.position === lastSeq), 'every replica to fold the whole stream', 60_000);
    const final = await state();
    const rewardedServes = new Set(rewards.map((r) => r.serveId));
    for (const { learning } of final) {
      // One champion: each rewarded serve learned exactly once, by every replica, identically.
      expect(learning.policies).toHaveLength(1);
      expect(learning.policies[0]!.updates).toBe(rewardedServes.size);
      expect(learning.rewards['applied']).toBe(rewardedServes.size);
      expect(learning.policies[0]!.digest).toBe(final[0]!.learning.policies[0]!.digest);
    }
    // The replica that was killed restarted from a checkpoint (and its window on disk).
    expect(victims.replica.log).toMatch(/"learning":\{"restored":\{"position":\d+/);
    // Only rewards sent without their user can go unrecorded, and only while a node was lost.
    expect(unrecorded.length).toBeLessThan(rewards.length / 4);

    // The Parquet log: every answered serve and recorded reaction exactly once.
    const ingest = await runCli(['ingest', '--home', home, '--until-idle', '--idle-ms', '1500', '--batch-size', '1000', '--json'], { env: { NATS_URL: cluster.urls } });
    expect(ingest.code, ingest.stderr).toBe(0);
    await withDb(':memory:', async (db) => {
      await attachEventLog(db, homePaths(home).events);
      const dupes = await db.rows<{ n: bigint }>(
        "SELECT count(*) AS n FROM (SELECT event_id FROM tip_served UNION ALL SELECT event_id FROM tip_reaction) GROUP BY event_id HAVING count(*) > 1",
      );
      expect(dupes).toEqual([]);
      const serveIds = (await db.rows<{ serve_id: string }>('SELECT serve_id FROM tip_served WHERE NOT shadow')).map((r) => r.serve_id);
      const logged = new Set(serveIds);
      for (const id of served.keys()) expect(logged.has(id), `answered serve ${id}`).toBe(true);
      // A serve the killed replica recorded but never answered (it died between the two; the
      // client tried another replica) is in the log too: only its, at most one per client.
      const issuerOf = (id: string): string => id.slice(0, id.lastIndexOf('-'));
      const victimIssuers = new Set([...served].filter(([, replica]) => replica === victims.replica.name).map(([id]) => issuerOf(id)));
      const unanswered = serveIds.filter((id) => !served.has(id));
      expect(unanswered.length).toBeLessThanOrEqual(WORKERS);
      for (const id of unanswered) expect(victimIssuers.has(issuerOf(id)), `unanswered serve ${id}`).toBe(true);
      const reactionIds = new Set((await db.rows<{ event_id: string }>('SELECT event_id FROM tip_reaction')).map((r) => r.event_id));
      for (const r of rewards) if (r.eventId !== null) expect(reactionIds.has(r.eventId), `reaction ${r.eventId} of serve ${r.serveId}`).toBe(true);
    });
  });
});
