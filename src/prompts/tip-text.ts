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
 * The displayable form of `raw`, or null when there is nothing to show (not a string, or empty
 * once cleaned). Idempotent: cleaning a cleaned text changes nothing.
 */
export function sanitizeTipText(raw: unknown): string | null {
  if (typeof raw !== 'string') return null;
  // Line breaks (\s covers U+2028/2029) and control characters count as whitespace.
  let text = raw.replace(/[\s\p{Cc}]+/gu, ' ').trim();
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
