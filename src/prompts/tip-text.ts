/**
 * Tip text as the app shows it: one line, trimmed, without wrapping quotation marks, at most
 * MAX_TIP_CHARS characters. Models add quotes, line breaks and run-on text despite the prompt,
 * and the app has room for one short line; every writer's output passes through here.
 */

/** Longest tip the app shows, in characters (code points, so emoji are never split). */
export const MAX_TIP_CHARS = 240;

// Pairs a model wraps a whole answer in.
const QUOTE_PAIRS: readonly (readonly [string, string])[] = [
  ['"', '"'],
  ["'", "'"],
  ['“', '”'],
  ['‘', '’'],
  ['«', '»'],
  ['`', '`'],
];

/**
 * What a client could not show as text, or would show out of order: lone UTF-16 surrogates (not
 * Unicode: strict JSON decoders refuse them), bidirectional overrides and isolates (they reorder
 * what follows: "gnp.exe"), and zero-width spaces, word joiners and byte-order marks. The
 * zero-width joiner and non-joiner stay: emoji sequences and several scripts need them.
 */
const HIDDEN = /[\p{Cs}\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C\u200B\u2060\uFEFF]/gu;

/** `raw` on one line: hidden characters removed, line breaks (\s covers U+2028/2029) and control characters read as spaces, trimmed. */
const oneLine = (raw: string): string => raw.replace(HIDDEN, '').replace(/[\s\p{Cc}]+/gu, ' ').trim();

/** `raw` as a short label (a model name a provider reports): one line, at most `max` characters. */
export function sanitizeLabel(raw: string, max: number): string {
  return Array.from(oneLine(raw)).slice(0, max).join('');
}

/**
 * The displayable form of `raw`, or null when there is nothing to show (not a string, or empty
 * once cleaned). Idempotent: cleaning a cleaned text changes nothing.
 */
export function sanitizeTipText(raw: unknown): string | null {
  if (typeof raw !== 'string') return null;
  let text = oneLine(raw);
  for (;;) {
    // Only a pair around the whole answer: `"Do A" or "do B"` keeps its quotes.
    const pair = QUOTE_PAIRS.find(([open, close]) => {
      if (text.length < 2 || !text.startsWith(open) || !text.endsWith(close)) return false;
      const inner = text.slice(open.length, text.length - close.length);
      return !inner.includes(open) && !inner.includes(close);
    });
    if (pair === undefined) break;
    text = text.slice(pair[0].length, text.length - pair[1].length).trim();
  }
  if (text === '') return null;
  const chars = Array.from(text);
  if (chars.length <= MAX_TIP_CHARS) return text;
  // Cut at the last word boundary that leaves room for the ellipsis (a hard cut when none).
  const head = chars.slice(0, MAX_TIP_CHARS - 1).join('');
  const space = head.lastIndexOf(' ');
  const cut = (space > MAX_TIP_CHARS / 2 ? head.slice(0, space) : head).trimEnd();
  return `${cut}…`;
}
