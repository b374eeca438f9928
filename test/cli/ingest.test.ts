/**
 * `oo-ml ingest` as a user runs it: the built CLI (bin/oo-ml.js → dist/) against a real
 * nats-server on a free loopback port (NATS_URL), and against the embedded bus of a temp home.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createEventBus } from '../../src/events/event-bus.js';
import type { OoEvent } from '../../src/events/schemas.js';
import { withDb } from '../../src/io/duckdb.js';
import { attachEventLog } from '../../src/pipelines/event-log.js';
import type { IngestSummary } from '../../src/pipelines/ingest.js';
import { publishRawNats, readNatsDlq } from '../events/nats-inspect.js';
import { runCli } from '../helpers/cli.js';
import { everyEventType } from '../helpers/events.js';
import { startNatsServer, type NatsTestServer } from '../../fixtures/nats-server.js';
import { tempHome } from '../helpers/temp-home.js';

async function publishAll(home: string, natsUrl: string, events: readonly OoEvent[]): Promise<void> {
  const bus = await createEventBus(loadConfig(home, { NATS_URL: natsUrl }));
  try {
    for (const e of events) await bus.publish(e.type === 'tip.reaction' ? 'feedback' : 'signals', e);
  } finally {
    await bus.close();
  }
}

async function logCounts(eventsDir: string): Promise<Record<string, number>> {
  return withDb(':memory:', async (db) => (await attachEventLog(db, eventsDir)).counts);
}

describe('oo-ml ingest (CLI)', () => {
  let server: NatsTestServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('ingests from NATS_URL until idle, prints a --json summary and dead-letters the bad message', async () => {
    server = await startNatsServer();
    const h = await tempHome('oo-ml-cli-ingest-');
    const events = [...everyEventType('c1'), ...everyEventType('c2')];
    await publishAll(h.home, server.url, events);
    await publishRawNats(server.url, 'signals.task.completed', '{"type":"task.completed"}');

    const args = ['ingest', '--until-idle', '--idle-ms', '1000', '--batch-size', String(events.length + 1), '--home', h.home, '--json'];
    const run = await runCli(args, { env: { NATS_URL: server.url } });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout) as IngestSummary & { eventsDir: string };
    expect(summary).toMatchObject({
      transport: 'nats',
      consumer: 'oo-ml-ingest',
      consumed: events.length + 1,
      written: { 'tip.served': 4, 'tip.reaction': 2, 'tip.reward': 2, 'task.created': 2, 'task.completed': 2, 'learning.reset': 2 },
      duplicates: 0,
      deadLettered: 1,
      deadLetterReasons: { invalid_event: 1 },
      stoppedBy: 'idle',
      eventsDir: h.events,
    });
    expect(summary.files.length).toBe(6);
    expect(await logCounts(h.events)).toEqual({ 'tip.served': 4, 'tip.reaction': 2, 'tip.reward': 2, 'task.created': 2, 'task.completed': 2, 'learning.reset': 2 });
    const dlq = await readNatsDlq(server.url);
    expect(dlq.map((d) => d.subject)).toEqual(['dlq.signals.task.completed']);
    expect(JSON.stringify(dlq[0]!.envelope)).toContain('missing required field(s): event_id, ts, user_id, task_id');
  });

  it('ingests from the embedded bus of the home when NATS_URL is unset, without duplicating on re-runs', async () => {
    const h = await tempHome('oo-ml-cli-ingest-');
    const events = everyEventType('c4');
    await publishAll(h.home, '', events);
    const args = ['--home', h.home, 'ingest', '--until-idle', '--idle-ms', '200', '--max-wait-ms', '50', '--json'];
    const first = await runCli(args, { env: { NATS_URL: '' } });
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ transport: 'embedded', consumed: events.length, deadLettered: 0 });
    expect(await logCounts(h.events)).toEqual({ 'tip.served': 2, 'tip.reaction': 1, 'tip.reward': 1, 'task.created': 1, 'task.completed': 1, 'learning.reset': 1 });

    // The consumer position is kept in the home: a re-run finds nothing new (human output this time).
    const again = await runCli(['--home', h.home, 'ingest', '--until-idle', '--idle-ms', '100', '--max-wait-ms', '50'], { env: { NATS_URL: '' } });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/bus:\s+embedded \(consumer oo-ml-ingest\)/);
    expect(again.stdout).toMatch(/consumed:\s+0\n/);
    expect(again.stdout).toMatch(/dead-lettered:\s+0\n/);
    expect(again.stdout).toMatch(/learning\.reset\s+0/);
    expect(again.stdout).toMatch(/task\.completed\s+0/);
    expect(again.stderr).toContain('ingesting from the embedded bus as consumer oo-ml-ingest until idle');
    expect(await logCounts(h.events)).toEqual({ 'tip.served': 2, 'tip.reaction': 1, 'tip.reward': 1, 'task.created': 1, 'task.completed': 1, 'learning.reset': 1 });
  });

  it('exits 1 with a hint, and no stack, when NATS_URL cannot be reached', async () => {
    const h = await tempHome('oo-ml-cli-ingest-');
    server = await startNatsServer();
    const url = server.url;
    await server.stop();
    server = undefined;
    const down = await runCli(['ingest', '--until-idle', '--home', h.home, '--json'], { env: { NATS_URL: url } });
    expect(down.code).toBe(1);
    const err = JSON.parse(down.stderr) as { error: string; message: string; hint: string };
    expect(err).toMatchObject({ error: 'unavailable', hint: expect.stringContaining('nats-server -js') });
    expect(err.message).toContain(url);
    expect(down.stderr).not.toMatch(/\n\s+at /);
  });
});
