/**
 * YAML as MLflow writes and reads it. MLflow dumps with PyYAML's safe dumper
 * (`mlflow/utils/yaml_utils.py`: block style, `sort_keys=True`, `allow_unicode=True`) and loads
 * with the safe loader, which resolves plain scalars by YAML 1.1 rules — so an unquoted `yes`,
 * `on`, `1:20` or `0012` would come back as a bool or a number. Emitting with the 1.1 schema makes
 * the `yaml` package quote every such string (and every numeric-looking ID, `'0'`), in single
 * quotes as PyYAML does.
 */
import { parse, stringify, YAMLParseError } from 'yaml';
import { invalidInput } from '../errors.js';

/** A YAML mapping as MLflow meta files hold it. */
export type YamlMap = Record<string, unknown>;

/** Serialises a meta file's mapping exactly as MLflow's safe dumper lays it out. */
export function dumpMlflowYaml(value: YamlMap): string {
  return stringify(value, {
    version: '1.1',
    sortMapEntries: true,
    singleQuote: true,
    // PyYAML folds long lines at 80 columns; both forms load identically, so never fold.
    lineWidth: 0,
    indentSeq: false,
  });
}

/**
 * Parses a meta file, naming it when the YAML is bad or not a mapping. Integers are read as
 * BigInt first so that a legacy unquoted 18-digit experiment ID keeps every digit: safe
 * integers become numbers, larger ones their decimal string.
 */
export function parseMlflowYaml(text: string, file: string): YamlMap {
  let doc: unknown;
  try {
    doc = parse(text, { version: '1.1', intAsBigInt: true, uniqueKeys: true });
  } catch (e) {
    const reason = e instanceof YAMLParseError ? e.message.split('\n')[0] : String(e);
    throw invalidInput(`${file}: not valid YAML: ${reason}`, { details: { file }, cause: e });
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw invalidInput(`${file}: expected a YAML mapping, found ${doc === null ? 'an empty document' : Array.isArray(doc) ? 'a list' : typeof doc}`, {
      details: { file },
    });
  }
  return normaliseInts(doc) as YamlMap;
}

function normaliseInts(v: unknown): unknown {
  if (typeof v === 'bigint') {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : v.toString();
  }
  if (Array.isArray(v)) return v.map(normaliseInts);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = normaliseInts(x);
    return out;
  }
  return v;
}
