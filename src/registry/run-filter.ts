/**
 * The semantics of `RunQuery`, defined once: the file store evaluates it in memory with
 * `matchesRunQuery` / `compareRuns`, the REST store sends `formatRunFilter`'s string, which an
 * MLflow server evaluates the same way (`mlflow/utils/search_utils.py`: clauses joined by AND,
 * a run without the metric/param/tag never matches, default order start_time DESC then run_id).
 */
import { invalidInput } from '../errors.js';
import type { MetricComparator, Run, RunQuery } from './store.js';

/** True when `run` satisfies every condition of `query` (experiment membership included). */
export function matchesRunQuery(run: Run, query: RunQuery): boolean {
  if (!query.experimentIds.includes(run.info.experimentId)) return false;
  if (run.info.lifecycleStage !== 'active') return false;
  if (query.status !== undefined && run.info.status !== query.status) return false;
  if (query.runName !== undefined && run.info.runName !== query.runName) return false;
  for (const [k, v] of Object.entries(query.tags ?? {})) if (run.data.tags[k] !== v) return false;
  for (const [k, v] of Object.entries(query.params ?? {})) if (run.data.params[k] !== v) return false;
  for (const f of query.metrics ?? []) {
    const m = run.data.metrics[f.key];
    if (m === undefined || !compare(m.value, f.op, f.value)) return false;
  }
  return true;
}

function compare(a: number, op: MetricComparator, b: number): boolean {
  switch (op) {
    case '=':
      return a === b;
    case '!=':
      return a !== b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    case '<':
      return a < b;
    case '<=':
      return a <= b;
  }
}

/** Orders runs by start time (DESC unless asked otherwise), ties by run ID ascending. */
export function compareRuns(query: Pick<RunQuery, 'orderBy'>): (a: Run, b: Run) => number {
  const dir = query.orderBy === 'start_time ASC' ? 1 : -1;
  return (a, b) => {
    if (a.info.startTime !== b.info.startTime) return dir * (a.info.startTime - b.info.startTime);
    return a.info.runId < b.info.runId ? -1 : a.info.runId > b.info.runId ? 1 : 0;
  };
}

/** A key in backquotes: keys may hold `.`, `-`, `/`, `:` and spaces (validated upstream, never a backquote). */
function quoteKey(key: string): string {
  return `\`${key}\``;
}

/** A string literal: single quotes, or double quotes when the value holds a single quote. */
export function quoteFilterValue(value: string): string {
  if (!value.includes("'")) return `'${value}'`;
  if (!value.includes('"')) return `"${value}"`;
  throw invalidInput(`cannot search for the value ${JSON.stringify(value)}: MLflow filters cannot quote a value holding both ' and "`);
}

/** The MLflow search filter string for `query` (experiment IDs and order travel separately). */
export function formatRunFilter(query: RunQuery): string {
  const clauses: string[] = [];
  if (query.status !== undefined) clauses.push(`attributes.status = '${query.status}'`);
  if (query.runName !== undefined) clauses.push(`attributes.run_name = ${quoteFilterValue(query.runName)}`);
  for (const [k, v] of Object.entries(query.tags ?? {})) clauses.push(`tags.${quoteKey(k)} = ${quoteFilterValue(v)}`);
  for (const [k, v] of Object.entries(query.params ?? {})) clauses.push(`params.${quoteKey(k)} = ${quoteFilterValue(v)}`);
  for (const m of query.metrics ?? []) clauses.push(`metrics.${quoteKey(m.key)} ${m.op} ${String(m.value)}`);
  return clauses.join(' and ');
}
