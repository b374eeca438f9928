/**
 * One line of a FileStore metric file: `<timestamp_ms> <value> <step>\n`
 * (`mlflow/store/tracking/file_store.py`, `_get_metric_from_line`). MLflow writes the value with
 * Python's `str(float)` — `0.5`, `1.0`, `1e-07`, `nan`, `inf`, `-inf` — and reads it back with
 * `float()`, which also takes JavaScript's `NaN`/`Infinity`. Readers accept 2 fields (step 0),
 * 3, or 5 (`… step dataset_name dataset_digest`); any other count makes every read of the run
 * fail in MLflow, so oo-ml reports it naming the file and line.
 */
import { invalidInput } from '../errors.js';

/** A parsed metric point (the key comes from the file name). */
export interface MetricPoint {
  timestamp: number;
  value: number;
  step: number;
}

/**
 * Python's `repr(float)`: the shortest round-tripping digits, fixed notation for decimal
 * exponents -4..15, otherwise `d.ddde±XX` with at least two exponent digits; `.0` on integers.
 */
export function pythonFloatRepr(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  if (v === 0) return Object.is(v, -0) ? '-0.0' : '0.0';
  const [mantissa = '', expText = '0'] = v.toExponential().split('e');
  const exp = Number(expText);
  const sign = v < 0 ? '-' : '';
  const digits = mantissa.replace('-', '').replace('.', '');
  if (exp >= -4 && exp < 16) {
    if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
    const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
    const frac = digits.slice(exp + 1);
    return `${sign}${intPart}.${frac === '' ? '0' : frac}`;
  }
  const head = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  const expAbs = String(Math.abs(exp)).padStart(2, '0');
  return `${sign}${head}e${exp < 0 ? '-' : '+'}${expAbs}`;
}

/** Formats one whole metric line, newline included. */
export function formatMetricLine(point: MetricPoint): string {
  return `${point.timestamp} ${pythonFloatRepr(point.value)} ${point.step}\n`;
}

const PY_FLOAT = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const PY_INT = /^[+-]?\d+$/;

/** Parses a value as Python's `float()` would (finite decimals, nan, inf, infinity, any case). */
export function parsePythonFloat(text: string): number | undefined {
  const t = text.trim();
  const lower = t.toLowerCase();
  if (lower === 'nan' || lower === '+nan' || lower === '-nan') return NaN;
  if (lower === 'inf' || lower === '+inf' || lower === 'infinity' || lower === '+infinity') return Infinity;
  if (lower === '-inf' || lower === '-infinity') return -Infinity;
  return PY_FLOAT.test(t) ? Number(t) : undefined;
}

/** Parses every line of a metric file, naming `file` and the line on any problem. */
export function parseMetricFile(text: string, file: string): MetricPoint[] {
  if (text.length === 0) throw invalidInput(`${file}: empty metric file (MLflow fails to read the run)`, { details: { file } });
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((raw, i) => parseMetricLine(raw, file, i + 1));
}

function parseMetricLine(raw: string, file: string, lineNo: number): MetricPoint {
  const fields = raw.trim().split(' ');
  const bad = (why: string) =>
    invalidInput(`${file}:${lineNo}: ${why} in metric line "${raw.slice(0, 80)}"`, { details: { file, line: lineNo } });
  if (fields.length !== 2 && fields.length !== 3 && fields.length !== 5) {
    throw bad(`expected 2, 3 or 5 space-separated fields, found ${fields.length}`);
  }
  const [ts = '', val = '', step = '0'] = fields;
  if (!PY_INT.test(ts)) throw bad(`timestamp "${ts}" is not an integer`);
  const value = parsePythonFloat(val);
  if (value === undefined) throw bad(`value "${val}" is not a number`);
  if (!PY_INT.test(step)) throw bad(`step "${step}" is not an integer`);
  return { timestamp: Number(ts), value, step: Number(step) };
}

/**
 * The run-summary point among `points`: Python's `max(points, key=(step, timestamp, value))`
 * as MLflow's FileStore computes it — the first of equal keys wins, and a NaN value never
 * compares greater, so a later NaN at the same (step, timestamp) does not replace a number.
 */
export function latestPoint<T extends MetricPoint>(points: readonly T[]): T | undefined {
  let best: T | undefined;
  for (const p of points) {
    if (best === undefined || isGreater(p, best)) best = p;
  }
  return best;
}

function isGreater(a: MetricPoint, b: MetricPoint): boolean {
  if (a.step !== b.step) return a.step > b.step;
  if (a.timestamp !== b.timestamp) return a.timestamp > b.timestamp;
  return a.value > b.value;
}
