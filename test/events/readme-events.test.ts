/** The README's "Your own events" is what a user writes events from: it must say what the schemas check. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ARM_IDS } from '../../src/features/arms.js';
import { EVENT_SCHEMAS, REACTIONS } from '../../src/events/schemas.js';
import { RequestContext, RewardBody, ScoreBody, ScoreResponse, Task } from '../../src/server/schemas.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const section = README.slice(README.indexOf('## Your own events'), README.indexOf('## Data at rest'));

describe('README, "Your own events"', () => {
  it('lists every event type with exactly its schema’s fields, the optional ones marked', () => {
    const rows = Object.fromEntries([...section.matchAll(/^\| `([a-z.]+)` \| ([^|]+) \|$/gm)].map((m) => [m[1], m[2]!.trim()]));
    const expected = Object.fromEntries(
      Object.entries(EVENT_SCHEMAS).map(([type, schema]) => {
        const s = schema as unknown as { properties: Record<string, unknown>; required?: string[] };
        return [type, Object.keys(s.properties).map((k) => ((s.required ?? []).includes(k) ? k : `${k}?`)).join(', ')];
      }),
    );
    expect(rows).toEqual(expected);
  });

  it('"Asking for a decision" names every field of the /score and /reward bodies and of the decision', () => {
    const asking = README.slice(README.indexOf('## Asking for a decision'), README.indexOf('## Data at rest'));
    const fields = [ScoreBody, RequestContext, Task, ScoreResponse, RewardBody].flatMap((schema) => Object.keys((schema as unknown as { properties: Record<string, unknown> }).properties));
    // Named as a field: in a {…} list (`?` marks the optional) or in backticks, not as part of a path such as /score.
    const listed = new Set([...asking.matchAll(/\{([^{}]*)\}/g)].flatMap((m) => m[1]!.split(/[\s,?[\]]+/)).filter(Boolean));
    for (const field of fields) expect(listed.has(field) || asking.includes(`\`${field}\``), field).toBe(true);
  });

  it('names every arm and reaction', () => {
    // As read, the lines' wrapping aside.
    const text = section.replace(/\s+/g, ' ');
    expect(text).toContain(ARM_IDS.join(', '));
    expect(text).toContain(`${REACTIONS.slice(0, -1).join(', ')} or ${REACTIONS.at(-1)}`);
  });
});
