/** Dead-letter envelopes stay small whatever the original: its payload, its message and its issues are capped. */
import { describe, expect, it } from 'vitest';
import { deadLetterOf, DEAD_LETTER_VALIDATOR, DLQ_PAYLOAD_LIMIT } from '../../src/events/dead-letter.js';
import { decodeEvent } from '../../src/events/event-decoder.js';

describe('dead-letter envelopes', () => {
  it('stay far below NATS’s 1 MB max_payload for a 400 KB event nested deep with a lone surrogate at the bottom', () => {
    const depth = 30_000;
    const text = `{"type":"task.completed","event_id":"e","ts":"2026-01-05T00:00:00Z","user_id":"u","task_id":"t","x":${'['.repeat(depth)}"\\ud800"${']'.repeat(depth)},"${'k'.repeat(300_000)}":1}`;
    const data = new TextEncoder().encode(text);
    const decoded = decodeEvent('signals.task.completed', data);
    expect(decoded.ok).toBe(false);
    if (decoded.ok) return;
    const env = deadLetterOf({ subject: 'signals.task.completed', data, reason: decoded.reason, message: decoded.message, issues: decoded.issues, consumer: 'c', deliveryCount: 1, seq: 9 }, new Date(0));
    expect(DEAD_LETTER_VALIDATOR.check(env)).toBe(true);
    expect(JSON.stringify(env).length).toBeLessThan(3 * DLQ_PAYLOAD_LIMIT);
    expect(env.issues.length).toBeLessThanOrEqual(20);
    for (const i of env.issues) expect(i.path.length).toBeLessThanOrEqual(301);
    expect(env.message.length).toBeLessThanOrEqual(1_001);
  });

  it('cut a message and issues a consumer made from a huge payload, and keep short ones as they are', () => {
    const base = { subject: 'signals.x', data: new Uint8Array([1]), reason: 'not_json' as const, consumer: 'c', deliveryCount: 1, seq: 1 };
    const big = deadLetterOf({ ...base, message: 'm'.repeat(500_000), issues: Array.from({ length: 5_000 }, (_, i) => ({ path: `/${i}`, message: 'x'.repeat(10_000) })) }, new Date(0));
    expect(big.message).toBe(`${'m'.repeat(1_000)}…`);
    expect(big.issues).toHaveLength(20);
    expect(big.issues[0]).toEqual({ path: '/0', message: `${'x'.repeat(1_000)}…` });
    const small = deadLetterOf({ ...base, message: 'short', issues: [{ path: '/a', message: 'bad' }] }, new Date(0));
    expect([small.message, small.issues]).toEqual(['short', [{ path: '/a', message: 'bad' }]]);
  });
});
