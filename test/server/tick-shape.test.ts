/**
 * keepTickShape (server/tick-shape.ts) keeps one of Node's tick objects alive: the object a
 * `nextTick` callback runs for, with the async-id symbols and the fields Node gives it. Should
 * Node build tick objects otherwise, this fails and the workaround needs a new look.
 */
import { describe, expect, it } from 'vitest';
import { keepTickShape, keptTickObject } from '../../src/server/tick-shape.js';

describe('keepTickShape', () => {
  it('keeps the resource of a nextTick callback — a tick object — and keeps the same one on later calls', async () => {
    // (Another test file in this worker may have started a server, which keeps one first.)
    await keepTickShape();
    const kept = keptTickObject();
    expect(kept).toBeDefined();
    expect(Object.keys(kept!)).toEqual(['callback', 'args']);
    // Node 24 adds its async context frame to these.
    expect(Object.getOwnPropertySymbols(kept!).map((s) => s.description)).toEqual(expect.arrayContaining(['async_id_symbol', 'trigger_async_id_symbol']));
    expect(typeof (kept as { callback: unknown }).callback).toBe('function');
    await keepTickShape();
    expect(keptTickObject()).toBe(kept);
  });
});
