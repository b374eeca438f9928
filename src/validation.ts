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

/** Where `value` holds a string (or object key) that is not well-formed Unicode: each path, or none. */
export function illFormedStrings(value: unknown, path = ''): FieldIssue[] {
  if (typeof value === 'string') return illFormed(value) ? [{ path: path === '' ? '/' : path, message: 'is not valid Unicode (it holds a lone UTF-16 surrogate)' }] : [];
  if (typeof value !== 'object' || value === null) return [];
  const found: FieldIssue[] = [];
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) found.push(...illFormedStrings(value[i], `${path}/${i}`));
    return found;
  }
  for (const [k, v] of Object.entries(value)) {
    const at = `${path}/${k.replaceAll('~', '~0').replaceAll('/', '~1')}`;
    if (illFormed(k)) found.push({ path: at, message: 'field name is not valid Unicode (it holds a lone UTF-16 surrogate)' });
    found.push(...illFormedStrings(v, at));
  }
  return found;
}

/** True when every string (and object key) in `value` is well-formed Unicode. Allocation-free on the common path. */
export function wellFormed(value: unknown): boolean {
  if (typeof value === 'string') return value.isWellFormed();
  if (typeof value !== 'object' || value === null) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!wellFormed(value[i])) return false;
    return true;
  }
  for (const k in value) {
    if (illFormed(k) || !wellFormed((value as Record<string, unknown>)[k])) return false;
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
      }
      // anyOf reports every branch, and a closed object reports each unknown field twice;
      // the first concrete message per path is the useful one.
      if (e.keyword === 'boolean' && e.schemaPath.endsWith('additionalProperties')) continue;
      if (!seen.has(path)) seen.set(path, message);
    }
    return [...seen].map(([path, message]) => ({ path, message }));
  };
  const issues = (value: unknown): FieldIssue[] => {
    const found = schemaIssues(value);
    if (!unicode) return found;
    const paths = new Set(found.map((i) => i.path));
    return [...found, ...illFormedStrings(value).filter((i) => !paths.has(i.path))];
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
      const summary = found.map((i) => `${i.path}: ${i.message}`).join('; ');
      throw invalidInput(`${what} is invalid: ${summary}`, { details: found });
    },
  };
}
