import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createEmbeddedTransport } from '../../src/events/embedded-transport.js';
import { runCli } from '../helpers/cli.js';
import { served } from '../helpers/events.js';
import { tempHome } from '../helpers/temp-home.js';

describe('oo-ml dlq', () => {
  it('lists what ingest refused, newest last, with the reason and the payload; names a home without a bus', async () => {
    const h = await tempHome();
    const transport = createEmbeddedTransport(h.bus);
    const good = served('u1', '2026-03-10T10:00:00Z', 's1');
    const bad = { ...served('u2', '2026-03-10T10:01:00Z', 's2'), arm: 'juggle' };
    await transport.publish('signals.tip.served', new TextEncoder().encode(JSON.stringify(good)), good.event_id);
    await transport.publish('signals.tip.served', new TextEncoder().encode(JSON.stringify(bad)), bad.event_id);
    await transport.publish('feedback.tip.reaction', new TextEncoder().encode('{"oops'), 'raw-1');
    await transport.close();
    const ingest = await runCli(['ingest', '--until-idle', '--idle-ms', '200', '--home', h.home, '--json']);
    expect(ingest.code, ingest.stderr).toBe(0);
    expect(JSON.parse(ingest.stdout)).toMatchObject({ consumed: 3, deadLettered: 2 });

    const json = await runCli(['dlq', '--home', h.home, '--json']);
    expect(json.code, json.stderr).toBe(0);
    const listed = JSON.parse(json.stdout) as { bus: string; held: number; letters: { subject: string; envelope: { reason: string; original_subject: string; payload_text: string } }[] };
    expect([listed.bus, listed.held]).toEqual(['embedded', 2]);
    expect(listed.letters.map((l) => [l.subject, l.envelope.reason, l.envelope.payload_text])).toEqual([
      ['dlq.signals.tip.served', 'invalid_event', JSON.stringify(bad)],
      ['dlq.feedback.tip.reaction', 'not_json', '{"oops'],
    ]);
    const text = await runCli(['dlq', '--last', '1', '--home', h.home]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/dead letters held: 2/);
    expect(text.stdout).toMatch(/feedback\.tip\.reaction\s+not_json/);
    expect(text.stdout).not.toContain('juggle');
    expect(text.stdout).toContain('(the newest 1; --last N shows more)');

    const nowhere = join(h.home, 'typo');
    const missing = await runCli(['dlq', '--home', nowhere]);
    expect([missing.code, missing.stderr]).toEqual([1, expect.stringContaining(`no folder ${join(nowhere, 'data', 'bus')}: no embedded bus there`)]);
    expect(existsSync(nowhere)).toBe(false);
    // So does ingest: a nightly `ingest --until-idle` with a typo in --home used to succeed, reading nothing.
    const typoIngest = await runCli(['ingest', '--until-idle', '--home', nowhere], { env: { NATS_URL: '' } });
    expect([typoIngest.code, typoIngest.stderr]).toEqual([1, expect.stringContaining(`no folder ${join(nowhere, 'data', 'bus')}: no embedded bus there`)]);
    expect(existsSync(nowhere)).toBe(false);
    expect((await runCli(['dlq', '--last', 'all', '--home', h.home])).code).toBe(2);
  });
});
