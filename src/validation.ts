/**
 * Schema validation at the edges. One TypeBox schema per payload gives both the static type
 * (`Static<typeof S>`) and, through `createValidator`, a compiled checker that throws an
 * `invalid_input` error naming every bad field. Unknown fields are rejected, never stripped:
 * schemas are declared with `additionalProperties: false`.
 */
import type { Static, TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { invalidInput } from './errors.js';

/** One problem with a value: the JSON path of the field and what is wrong with it. */
export interface FieldIssue {
  path: string;
  message: string;
}

/** A compiled validator for one schema. */
export interface Validator<T> {
  /** True when `value` matches. */
  check(value: unknown): value is T;
  /** Every problem with `value` (empty when it matches). */
  issues(value: unknown): FieldIssue[];
  /** Returns `value` typed, or throws `invalid_input` naming `what` and every bad field. */
  parse(value: unknown, what: string): T;
}

/** Compiles `schema` once; call at module load, not per value. */
export function createValidator<S extends TSchema>(schema: S): Validator<Static<S>> {
  const compiled = Compile(schema);
  const issues = (value: unknown): FieldIssue[] => {
    const seen = new Map<string, string>();
    for (const e of compiled.Errors(value)) {
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
  return {
    check: (value: unknown): value is Static<S> => compiled.Check(value),
    issues,
    parse(value: unknown, what: string): Static<S> {
      if (compiled.Check(value)) return value;
      const found = issues(value);
      const summary = found.map((i) => `${i.path}: ${i.message}`).join('; ');
      throw invalidInput(`${what} is invalid: ${summary}`, { details: found });
    },
  };
}
