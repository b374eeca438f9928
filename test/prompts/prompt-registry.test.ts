import fc from 'fast-check';
import xxhash from 'xxhash-wasm';
import { describe, expect, it } from 'vitest';
import { ARM_IDS } from '../../src/features/arms.js';
import { isOoMlError } from '../../src/errors.js';
import {
  BUILTIN_PROMPT_VERSION,
  PROMPTS,
  PROMPT_VERSIONS,
  promptSettingsFromEnv,
  renderPrompt,
  rotationSlot,
  selectPromptVersion,
  type PromptSettings,
  type PromptVersion,
} from '../../src/prompts/prompt-registry.js';
import { MAX_TIP_CHARS } from '../../src/prompts/tip-text.js';

const { h32 } = await xxhash();
const FC = { seed: 20260201, numRuns: 300 } as const;

const CONTEXT = { hour_of_day: 9, day_of_week: 0, open_tasks: 4, overdue_tasks: 1 };
const version = fc.constantFrom(...PROMPT_VERSIONS);
const settingsArb: fc.Arbitrary<PromptSettings> = fc.record({
  defaultVersion: fc.option(version, { nil: null }),
  rotation: fc.array(version, { maxLength: 5 }),
});
const userId = fc.string({ minLength: 1, maxLength: 40 });
const context = fc.record({
  hour_of_day: fc.integer({ min: 0, max: 23 }),
  day_of_week: fc.integer({ min: 0, max: 6 }),
  open_tasks: fc.integer({ min: 0, max: 500 }),
  overdue_tasks: fc.integer({ min: 0, max: 500 }),
  task_titles: fc.option(fc.array(fc.string({ maxLength: 300 }), { maxLength: 8 }), { nil: undefined }),
});

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('prompt registry', () => {
  it('declares each version once, with v1 and v2 present and v1 the builtin default', () => {
    expect(new Set(PROMPT_VERSIONS).size).toBe(PROMPTS.length);
    expect(PROMPT_VERSIONS).toEqual(expect.arrayContaining(['v1', 'v2']));
    expect(BUILTIN_PROMPT_VERSION).toBe('v1');
  });

  it('renders a system + user pair and a deterministic template for every version and arm', () => {
    for (const v of PROMPT_VERSIONS) {
      for (const arm of ARM_IDS) {
        const p = renderPrompt(v, arm, { ...CONTEXT, task_titles: ['Write Q1 report'] });
        expect(p.version).toBe(v);
        expect(p.messages.map((m) => m.role)).toEqual(['system', 'user']);
        expect(p.messages[1].content).toContain('09:00');
        expect(p.templateText).toBe(renderPrompt(v, arm, { ...CONTEXT, task_titles: ['Write Q1 report'] }).templateText);
      }
    }
    const v1 = renderPrompt('v1', 'split_task', CONTEXT);
    expect(v1.templateText).toBe('Split the biggest task into three small steps.');
    expect(v1.messages[1].content).toBe(
      'Tip: Split the biggest task into three small steps.\nWhen: Monday 09:00\nOpen tasks: 4, overdue: 1\nRewrite the tip for this moment, keeping its meaning.',
    );
    const v2 = renderPrompt('v2', 'split_task', { ...CONTEXT, task_titles: ['  Write\nQ1 report ', '', 'Call the bank'] });
    expect(v2.templateText).toBe('Good morning! Split the biggest task into three small steps. For example: “Write Q1 report”.');
    expect(v2.messages[1].content).toContain('Open tasks: 1. "Write Q1 report"; 2. "Call the bank"');
    expect(renderPrompt('v2', 'take_break', { ...CONTEXT, hour_of_day: 23, day_of_week: 6 }).templateText).toBe(
      'Hello! Take a five-minute break, then pick one task.',
    );
  });

  it('keeps every rendering one line and capped, and titles out of the system message', () => {
    fc.assert(
      fc.property(version, fc.constantFrom(...ARM_IDS), context, (v, arm, c) => {
        const p = renderPrompt(v, arm, c);
        expect(p.templateText).not.toMatch(/[\n\r]/);
        expect(Array.from(p.templateText).length).toBeLessThanOrEqual(MAX_TIP_CHARS);
        expect(p.messages[0].content).toBe(PROMPTS.find((d) => d.version === v)!.system);
        // Each context line stays a line: titles cannot inject extra lines into the user message.
        expect(p.messages[1].content.split('\n')).toHaveLength(4);
      }),
      FC,
    );
  });

  it('rejects an unknown arm or a bad context field with invalid_input naming it', () => {
    expect(() => renderPrompt('v1', 'nap', CONTEXT)).toThrow(/arm "nap" is not a tip arm \(known: split_task, /);
    const e = thrown(() => renderPrompt('v1', 'split_task', { ...CONTEXT, hour_of_day: 24 }));
    expect(isOoMlError(e, 'invalid_input')).toBe(true);
    expect((e as Error).message).toContain('/hour_of_day');
  });
});

describe('prompt selection', () => {
  const none: PromptSettings = { defaultVersion: null, rotation: [] };

  it('follows request → rotation → DEFAULT_PROMPT_VERSION → v1', () => {
    const env = promptSettingsFromEnv({ DEFAULT_PROMPT_VERSION: 'v2' });
    expect(selectPromptVersion(none, { userId: 'u1' }, h32)).toEqual({ version: 'v1', source: 'builtin' });
    expect(selectPromptVersion(env, { userId: 'u1' }, h32)).toEqual({ version: 'v2', source: 'default' });
    expect(selectPromptVersion(env, { userId: 'u1', promptVersion: 'v1' }, h32)).toEqual({ version: 'v1', source: 'request' });
    expect(selectPromptVersion(env, { userId: 'u1', promptVersion: '  ' }, h32)).toEqual({ version: 'v2', source: 'default' });
    expect(selectPromptVersion(env, { userId: 'u1', promptVersion: null }, h32)).toEqual({ version: 'v2', source: 'default' });
    const rotating = promptSettingsFromEnv({ DEFAULT_PROMPT_VERSION: 'v2', TIP_PROMPT_VERSION: 'v1' });
    expect(selectPromptVersion(rotating, { userId: 'u1' }, h32)).toEqual({ version: 'v1', source: 'rotation' });
  });

  it('lets a named version win over every setting (property)', () => {
    fc.assert(
      fc.property(settingsArb, version, userId, (s, v, u) => {
        expect(selectPromptVersion(s, { userId: u, promptVersion: v }, h32)).toEqual({ version: v, source: 'request' });
      }),
      FC,
    );
  });

  it('rotates by user: stable, within the list, independent of the default (property)', () => {
    fc.assert(
      fc.property(settingsArb, userId, (s, u) => {
        const got = selectPromptVersion(s, { userId: u }, h32);
        if (s.rotation.length > 0) {
          expect(got.source).toBe('rotation');
          expect(got.version).toBe(s.rotation[rotationSlot(u, s.rotation.length, h32)]);
          expect(selectPromptVersion({ ...s, defaultVersion: null }, { userId: u }, h32)).toEqual(got);
        } else {
          expect(got).toEqual(s.defaultVersion === null ? { version: 'v1', source: 'builtin' } : { version: s.defaultVersion, source: 'default' });
        }
        expect(selectPromptVersion(s, { userId: u }, h32)).toEqual(got);
      }),
      FC,
    );
  });

  it('splits users evenly over the rotation and honours repeats as weights', () => {
    const count = (s: PromptSettings): Record<string, number> => {
      const n: Record<string, number> = {};
      for (let i = 0; i < 20_000; i++) {
        const v = selectPromptVersion(s, { userId: `user-${i}` }, h32).version;
        n[v] = (n[v] ?? 0) + 1;
      }
      return n;
    };
    const even = count(promptSettingsFromEnv({ TIP_PROMPT_VERSION: 'v1, v2' }));
    expect(even['v1']! / 20_000).toBeGreaterThan(0.48);
    expect(even['v1']! / 20_000).toBeLessThan(0.52);
    const weighted = count(promptSettingsFromEnv({ TIP_PROMPT_VERSION: 'v1,v1,v2' }));
    expect(weighted['v1']! / 20_000).toBeGreaterThan(0.64);
    expect(weighted['v1']! / 20_000).toBeLessThan(0.69);
  });

  it('salts the rotation hash so the slot is not the raw user hash', () => {
    const calls: string[] = [];
    const spy = (s: string): number => {
      calls.push(s);
      return 7;
    };
    expect(rotationSlot('alice', 3, spy)).toBe(1);
    expect(calls).toEqual(['prompt-rotation:alice']);
    // A negative 32-bit hash still maps into [0, n).
    expect(rotationSlot('x', 3, () => -1)).toBe(0xffffffff % 3);
  });

  it('parses the environment: trims, skips blank entries, keeps order', () => {
    expect(promptSettingsFromEnv({})).toEqual({ defaultVersion: null, rotation: [] });
    expect(promptSettingsFromEnv({ DEFAULT_PROMPT_VERSION: ' ', TIP_PROMPT_VERSION: ' , ' })).toEqual({ defaultVersion: null, rotation: [] });
    expect(promptSettingsFromEnv({ DEFAULT_PROMPT_VERSION: ' v2 ', TIP_PROMPT_VERSION: 'v2, ,v1,' })).toEqual({
      defaultVersion: 'v2',
      rotation: ['v2', 'v1'] satisfies PromptVersion[],
    });
  });

  it('rejects unknown versions with invalid_input naming the version, its source and the known ones', () => {
    const known = `(known: ${PROMPT_VERSIONS.join(', ')})`;
    const fromRequest = thrown(() => selectPromptVersion(none, { userId: 'u', promptVersion: 'v9' }, h32));
    expect(isOoMlError(fromRequest, 'invalid_input')).toBe(true);
    expect((fromRequest as Error).message).toBe(`prompt_version "v9" is not a known prompt version ${known}`);
    expect(() => promptSettingsFromEnv({ DEFAULT_PROMPT_VERSION: 'v3' })).toThrow(`DEFAULT_PROMPT_VERSION "v3" is not a known prompt version ${known}`);
    expect(() => promptSettingsFromEnv({ TIP_PROMPT_VERSION: 'v1,V2' })).toThrow(`TIP_PROMPT_VERSION "V2" is not a known prompt version ${known}`);
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 12 }).filter((s) => s.trim() !== '' && !(PROMPT_VERSIONS as readonly string[]).includes(s.trim())),
        (bad) => {
          const e = thrown(() => selectPromptVersion(none, { userId: 'u', promptVersion: bad }, h32));
          expect(isOoMlError(e, 'invalid_input')).toBe(true);
          expect((e as Error).message).toContain(`"${bad.trim()}"`);
        },
      ),
      FC,
    );
  });
});
