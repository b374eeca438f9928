/**
 * What a prompt sees: the context recorded on a serve (hour, day, open and overdue counts — the
 * same fields as `tip.served`'s context, so there is one definition) plus, optionally, the titles
 * of the user's open tasks. Also the locale-free wording of that context shared by every prompt:
 * English day names and 24-hour times from fixed tables, never `toLocaleString`, so a rendering
 * does not depend on the machine it runs on.
 */
import Type, { type Static } from 'typebox';
import { ServeContext } from '../events/schemas.js';
import { createValidator } from '../validation.js';

/** Titles longer than this are cut: a prompt needs the gist, not a paragraph. */
export const MAX_TITLE_CHARS = 80;
/** At most this many titles reach a prompt; the request may carry more. */
export const MAX_PROMPT_TITLES = 5;

/** The context of one tip request (wire names, as on the serve event). */
export const TipContext = Type.Object(
  {
    ...ServeContext.properties,
    task_titles: Type.Optional(Type.Array(Type.String({ maxLength: 2000 }), { maxItems: 500 })),
  },
  { additionalProperties: false },
);
/** The context's type. */
export type TipContext = Static<typeof TipContext>;

/** Validator of a tip context (throws invalid_input naming the bad field). */
export const tipContextValidator = createValidator(TipContext);

// 0 = Monday … 6 = Sunday, as the `day_of_week` feature.
const DAY_NAMES = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'] as const;

/** English name of a `day_of_week` (0 = Monday). */
export function dayName(dayOfWeek: number): string {
  return DAY_NAMES[dayOfWeek] ?? 'today';
}

/** `HH:00` for an hour of the day. */
export function clockHour(hour: number): string {
  return `${String(hour).padStart(2, '0')}:00`;
}

/** The part of the day an hour falls in. */
export function partOfDay(hour: number): 'morning' | 'afternoon' | 'evening' | 'night' {
  if (hour >= 5 && hour < 12) return 'morning';
  if (hour >= 12 && hour < 18) return 'afternoon';
  if (hour >= 18 && hour < 22) return 'evening';
  return 'night';
}

/**
 * The task titles a prompt may show: whitespace (newlines included) collapsed, each cut to
 * MAX_TITLE_CHARS, empty ones dropped, at most MAX_PROMPT_TITLES. Titles are user text that
 * ends up inside a model prompt, so they are also kept to one line each.
 */
export function promptTitles(context: TipContext): string[] {
  const out: string[] = [];
  for (const raw of context.task_titles ?? []) {
    const t = raw.replace(/[\s\p{Cc}]+/gu, ' ').trim();
    if (t === '') continue;
    const chars = Array.from(t);
    out.push(chars.length <= MAX_TITLE_CHARS ? t : `${chars.slice(0, MAX_TITLE_CHARS - 1).join('').trimEnd()}…`);
    if (out.length === MAX_PROMPT_TITLES) break;
  }
  return out;
}

/** "1 open task" / "3 open tasks". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
