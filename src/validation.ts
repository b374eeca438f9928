/**
 * Schema validation at the edges. One TypeBox schema per payload gives both the static type
 * (`Static<typeof S>`) and, through `createValidator`, a compiled checker that throws an
 * `invalid_input` error naming every bad field. Unknown fields are rejected, never stripped:
 * schemas are declared with `additionalProperties: false`.
 */
import type { Static, TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { registerDateTimeFormat } from './date-time-format.js';
import { invalidInput } from './errors.js';

// Before any schema is compiled: compiled checks capture the format function they find.
registerDateTimeFormat();

/** One problem with a value: the JSON path of the field and what is wrong with it. */
export interface FieldIssue {
  path: string;
  message: string;
}

/** A compiled validator for one schema. */
export interface Validator<T> {
  /** True when `value` matches. */
  check(value: unknown): value is T;
  /**
   * `check` without the well-formed-strings walk: for values known to hold no lone surrogate
   * another way — parsed from JSON text without a `\u` escape (UTF-8 cannot encode one), or
   * whose JSON encoding has no `\ud` escape (the event bus).
   */
  checkParsedWithoutEscapes(value: unknown): value is T;
  /** Every problem with `value` (empty when it matches). */
  issues(value: unknown): FieldIssue[];
  /** Returns `value` typed, or throws `invalid_input` naming `what` and every bad field. */
  parse(value: unknown, what: string): T;
}

// A UTF-16 surrogate that is not half of a pair: JSON admits it as an escape (`"\ud800"`), but
// it is not Unicode, so UTF-8 encoders replace it and DuckDB's JSON reader refuses it. The
// built-in scan is half the cost of a `\p{Cs}` regex test per string, and every string of every
// event is checked.
const illFormed = (s: string): boolean => !s.isWellFormed();

/** At most this many bad fields are named by one error: a 256 KiB body can hold tens of thousands. */
export const MAX_NAMED_ISSUES = 20;
/** A path longer than this is named by its end: a deeply nested field's pointer can be as long as the body. */
const MAX_PATH_CHARS = 300;

/** `issues` as an error's details: the first MAX_NAMED_ISSUES, long paths cut to their last characters. */
export function namedIssues(issues: readonly FieldIssue[]): FieldIssue[] {
  return issues.slice(0, MAX_NAMED_ISSUES).map((i) => (i.path.length <= MAX_PATH_CHARS ? i : { ...i, path: `…${i.path.slice(-MAX_PATH_CHARS)}` }));
}

/** At most this many bad fields are looked for: past it, an error says "N+ more". */
export const MAX_FOUND_ISSUES = 5 * MAX_NAMED_ISSUES;

/** `issues` as one line (`path: message; …`), saying how many more there were when not all are named. */
export function issueSummary(issues: readonly FieldIssue[]): string {
  const named = namedIssues(issues);
  const rest = issues.length - named.length;
  const tail = rest <= 0 ? '' : `; and ${rest}${issues.length >= MAX_FOUND_ISSUES ? '+' : ''} more`;
  return named.map((i) => `${i.path}: ${i.message}`).join('; ') + tail;
}

/** illFormedStrings' marker, on its stack, of a field name that is not well-formed Unicode. */
const ILL_FORMED_KEY = Symbol('ill-formed field name');

/**
 * Where `value` holds a string (or object key) that is not well-formed Unicode: each path, at
 * most `limit` of them. An explicit stack, not recursion: a 256 KiB body nests deeper than the
 * call stack allows.
 */
export function illFormedStrings(value: unknown, limit = Number.POSITIVE_INFINITY): FieldIssue[] {
  const found: FieldIssue[] = [];
  // Children go on in reverse, so paths come out in document order; an ill-formed field name is
  // a marker just above its value, so it is named before anything inside the value.
  const stack: { value: unknown; path: string }[] = [{ value, path: '' }];
  while (stack.length > 0 && found.length < limit) {
    const { value: v, path } = stack.pop()!;
    if (v === ILL_FORMED_KEY) {
      found.push({ path, message: 'field name is not valid Unicode (it holds a lone UTF-16 surrogate)' });
    } else if (typeof v === 'string') {
      if (illFormed(v)) found.push({ path: path === '' ? '/' : path, message: 'is not valid Unicode (it holds a lone UTF-16 surrogate)' });
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], path: `${path}/${i}` });
    } else if (typeof v === 'object' && v !== null) {
      const entries = Object.entries(v);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, child] = entries[i]!;
        const at = `${path}/${k.replaceAll('~', '~0').replaceAll('/', '~1')}`;
        stack.push({ value: child, path: at });
        if (illFormed(k)) stack.push({ value: ILL_FORMED_KEY, path: at });
      }
    }
  }
  return found;
}

/** Nesting past which `wellFormed` continues on an explicit stack (recursion is faster for the shallow values every event is). */
const MAX_RECURSION = 200;

/** True when every string (and object key) in `value` is well-formed Unicode. Allocation-free on the common path. */
export function wellFormed(value: unknown): boolean {
  return wellFormedAt(value, 0);
}

function wellFormedAt(value: unknown, depth: number): boolean {
  if (typeof value === 'string') return value.isWellFormed();
  if (typeof value !== 'object' || value === null) return true;
  if (depth >= MAX_RECURSION) return illFormedStrings(value, 1).length === 0;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!wellFormedAt(value[i], depth + 1)) return false;
    return true;
  }
  for (const k in value) {
    if (illFormed(k) || !wellFormedAt((value as Record<string, unknown>)[k], depth + 1)) return false;
  }
  return true;
}

/** Options of `createValidator`. */
export interface ValidatorOptions {
  /** Also refuse strings that are not well-formed Unicode (lone surrogates), naming their paths. */
  wellFormedStrings?: boolean;
}

/**
 * `schema` with every optional property of its closed objects made required, or null when it has
 * none. Only objects reached through `properties`, `items` and `anyOf` change, and each of those
 * keywords admits less when its subschemas do, so the result admits a subset of what `schema`
 * admits: a value it accepts is valid. Each node is copied with all its own properties, hidden
 * ones too (TypeBox keeps a refinement in a non-enumerable `~refine`). Left as they are: subtrees
 * under any other keyword, objects with `patternProperties` (their required names need not be
 * properties), and objects with a property named like an `Object.prototype` member (`in`, which
 * the completed check tests, finds those on every object).
 */
export function completed(schema: TSchema): TSchema | null {
  let changed = false;
  const walk = (node: unknown): unknown => {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return node;
    const n = node as Record<string, unknown>;
    const out = Object.defineProperties({}, Object.getOwnPropertyDescriptors(n)) as Record<string, unknown>;
    const properties = n['properties'];
    if (n['type'] === 'object' && typeof properties === 'object' && properties !== null) {
      const props = properties as Record<string, unknown>;
      out['properties'] = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, walk(v)]));
      const required = Array.isArray(n['required']) ? (n['required'] as string[]) : [];
      const names = Object.keys(props);
      const closed = n['additionalProperties'] === false && n['patternProperties'] === undefined && !names.some((k) => k in Object.prototype);
      if (closed && names.some((k) => !required.includes(k))) {
        out['required'] = [...new Set([...required, ...names])];
        changed = true;
      }
    }
    if (n['type'] === 'array' && typeof n['items'] === 'object') out['items'] = walk(n['items']);
    if (Array.isArray(n['anyOf'])) out['anyOf'] = (n['anyOf'] as unknown[]).map(walk);
    return out;
  };
  const result = walk(schema) as TSchema;
  return changed ? result : null;
}

/** A date-time as every schema here takes it, in words: what a refusal asks for. */
export const DATE_TIME_EXPECTED = 'an RFC 3339 date-time with a zone, e.g. 2026-03-10T10:00:00Z or 2026-03-10T11:00:00+01:00';

/**
 * The spelling of an event's time (events/schemas.ts), narrower than RFC 3339 where the event
 * log could not store what it allows (see there); here so a refusal by it can be named.
 */
export const EVENT_TIME_PATTERN = '^(?!0000|9999)\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:[0-5]\\d(?:\\.\\d{1,9})?(?:Z|[+-]\\d{2}:\\d{2})$';

/**
 * The validators' words for the refusals whose stock message does not say what would do ("must
 * match format", "must be equal to one of the allowed values"), or null to keep it. Shared with the
 * HTTP edge (server/error-handler.ts), whose ajv reports the same keywords and params.
 */
export function plainIssueMessage(keyword: string | undefined, params: Record<string, unknown>): string | null {
  if (keyword === 'format' && params['format'] === 'date-time') return `must be ${DATE_TIME_EXPECTED}`;
  // What the format lets pass and the event log could not store.
  if (keyword === 'pattern' && params['pattern'] === EVENT_TIME_PATTERN) {
    return 'must be written YYYY-MM-DDThh:mm:ss, up to 9 fractional digits, then Z or ±hh:mm (upper-case T and Z, second 00–59, a year from 0001 to 9998)';
  }
  if (keyword === 'enum' && Array.isArray(params['allowedValues'])) return `must be one of ${(params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
  return null;
}

/** The check of `schema` (compiled as `exact`): its completed schema's first, when it has one. */
function schemaCheckOf(schema: TSchema, exact: { Check(v: unknown): boolean }): (v: unknown) => boolean {
  const complete = completed(schema);
  if (complete === null) return (v) => exact.Check(v);
  const full = Compile(complete);
  return (v) => full.Check(v) || exact.Check(v);
}

/**
 * Compiles `schema` once; call at module load, not per value.
 *
 * A closed object with optional properties compiles to a check that lists the value's keys and
 * tests each against a pattern of the allowed ones; with every property required it compares the
 * key count instead. So a value is first checked against `completed(schema)`, and against
 * `schema` only when that fails: a serve event, which carries every optional field, checks in
 * about a third of the time (bench:event-encoding; BENCHMARKS.md, "three cuts per decision").
 * A value that lacks an optional field pays for a few `in` tests more.
 */
export function createValidator<S extends TSchema>(schema: S, options: ValidatorOptions = {}): Validator<Static<S>> {
  const exact = Compile(schema);
  // Compiled at the first check, not at module load: most validators check few values in a
  // command's life, and a second compile for each would lengthen every command's start.
  let schemaCheck = (v: unknown): boolean => (schemaCheck = schemaCheckOf(schema, exact))(v);
  const unicode = options.wellFormedStrings === true;
  const schemaIssues = (value: unknown): FieldIssue[] => {
    const seen = new Map<string, string>();
    for (const e of exact.Errors(value)) {
      const path = e.instancePath === '' ? '/' : e.instancePath;
      const params = e.params as Record<string, unknown>;
      let message = e.message;
      if (e.keyword === 'additionalProperties' && Array.isArray(params['additionalProperties'])) {
        message = `unknown field(s): ${(params['additionalProperties'] as string[]).join(', ')}`;
      } else if (e.keyword === 'required' && Array.isArray(params['requiredProperties'])) {
        message = `missing required field(s): ${(params['requiredProperties'] as string[]).join(', ')}`;
      } else {
        message = plainIssueMessage(e.keyword, params) ?? message;
      }
      // anyOf reports every branch, and a closed object reports each unknown field twice;
      // the first concrete message per path is the useful one.
      if (e.keyword === 'boolean' && e.schemaPath.endsWith('additionalProperties')) continue;
      if (!seen.has(path)) seen.set(path, message);
      if (seen.size >= MAX_FOUND_ISSUES) break;
    }
    return [...seen].map(([path, message]) => ({ path, message }));
  };
  const issues = (value: unknown): FieldIssue[] => {
    const found = schemaIssues(value);
    if (!unicode) return found;
    const paths = new Set(found.map((i) => i.path));
    return [...found, ...illFormedStrings(value, MAX_FOUND_ISSUES).filter((i) => !paths.has(i.path))].slice(0, MAX_FOUND_ISSUES);
  };
  const check = unicode
    ? (value: unknown): value is Static<S> => schemaCheck(value) && wellFormed(value)
    : (value: unknown): value is Static<S> => schemaCheck(value);
  return {
    check,
    checkParsedWithoutEscapes: (value: unknown): value is Static<S> => schemaCheck(value),
    issues,
    parse(value: unknown, what: string): Static<S> {
      if (check(value)) return value;
      const found = issues(value);
      throw invalidInput(`${what} is invalid: ${issueSummary(found)}`, { details: namedIssues(found) });
    },
  };
}
