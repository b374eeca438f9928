import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_TIP_CHARS, sanitizeTipText } from '../../src/prompts/tip-text.js';

const FC = { seed: 7, numRuns: 500 } as const;

describe('tip text', () => {
  it('makes one trimmed line without wrapping quotes', () => {
    expect(sanitizeTipText('  Split it\n\ninto   three steps.\t')).toBe('Split it into three steps.');
    expect(sanitizeTipText('"Block 50 minutes."')).toBe('Block 50 minutes.');
    expect(sanitizeTipText('“ \'Take a break.\' ”')).toBe('Take a break.');
    expect(sanitizeTipText('"Do A" or "do B"')).toBe('"Do A" or "do B"');
    expect(sanitizeTipText('line\u2028sep')).toBe('line sep');
  });

  it('treats empty and non-string content as nothing to show', () => {
    for (const raw of ['', '   \n ', '""', '“”', null, undefined, 42, { text: 'x' }, ['x']]) {
      expect(sanitizeTipText(raw)).toBeNull();
    }
  });

  it('caps long text at a word boundary with an ellipsis', () => {
    const long = 'word '.repeat(100);
    const out = sanitizeTipText(long)!;
    expect(Array.from(out).length).toBeLessThanOrEqual(MAX_TIP_CHARS);
    expect(out.endsWith('word…')).toBe(true);
    const noSpaces = 'x'.repeat(1000);
    expect(sanitizeTipText(noSpaces)).toBe(`${'x'.repeat(MAX_TIP_CHARS - 1)}…`);
    // Emoji are code points, never split into halves.
    const emoji = sanitizeTipText('🙂'.repeat(500))!;
    expect(Array.from(emoji)).toHaveLength(MAX_TIP_CHARS);
    expect(emoji).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  });

  it('drops what a client cannot show, or would show reordered, and keeps the joiners emoji need', () => {
    expect(sanitizeTipText('Open \u202Egnp.exe\u202C now')).toBe('Open gnp.exe now');
    expect(sanitizeTipText('a\u200B\u200Bb\u2066c\u2069\uFEFF')).toBe('abc');
    expect(sanitizeTipText('lone \ud800 end \udc00')).toBe('lone end');
    expect(sanitizeTipText('\u200B\u202E')).toBeNull();
    expect(sanitizeTipText('Family time 👨‍👩‍👧')).toBe('Family time 👨‍👩‍👧');
  });

  it('always yields one capped, trimmed, well-formed line without hidden characters, and is idempotent (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 600, unit: 'grapheme' }), fc.string({ maxLength: 300, unit: 'binary' })), (raw) => {
        const out = sanitizeTipText(raw);
        if (out === null) return;
        expect(out).not.toMatch(/[\n\r\t\u2028\u2029\u202A-\u202E\u2066-\u2069\u200B\uFEFF]/);
        expect(out.isWellFormed()).toBe(true);
        expect(out).toBe(out.trim());
        expect(out).not.toBe('');
        expect(Array.from(out).length).toBeLessThanOrEqual(MAX_TIP_CHARS);
        expect(sanitizeTipText(out)).toBe(out);
      }),
      FC,
    );
  });
});
