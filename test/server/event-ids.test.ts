import { describe, expect, it } from 'vitest';
import { createEventIds } from '../../src/server/serving/context.js';

describe('event ids', () => {
  it('are a 96-bit random process prefix and a base-36 counter: unique within a process and across processes', () => {
    const a = createEventIds();
    const b = createEventIds();
    const ids = Array.from({ length: 5000 }, (_, i) => (i % 2 === 0 ? a() : b()));
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{24}-[0-9a-z]+$/);
    expect(ids[0]!.slice(0, 24)).not.toBe(ids[1]!.slice(0, 24));
    const fixed = createEventIds('p');
    expect([fixed(), fixed(), fixed()]).toEqual(['p-0', 'p-1', 'p-2']);
    for (let i = 3; i < 36; i++) fixed();
    expect(fixed()).toBe('p-10');
  });
});
