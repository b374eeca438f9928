/**
 * How a command's result is written with `--json`. The CLI's own figures keep their camelCase
 * names; objects quoted from elsewhere keep theirs (an HTTP answer of `oo-ml serve`, a registry
 * tag's name). One rule for every command: a 95 % interval, a `[low, high]` pair named `ci95`
 * (or `<figure>Ci95`) inside the library, is written as `{low, high}`, the shape `oo-ml serve` answers with
 * (`reward_rate_ci95`, `ips_ci95`), so a script reads every interval of every command one way.
 */

/** A `ci95` pair as the library holds it. */
const isPair = (v: unknown): v is [number, number] => Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && typeof v[1] === 'number';

/** The replacer of `JSON.stringify` that applies the rule above. */
function replacer(key: string, value: unknown): unknown {
  return (key === 'ci95' || key.endsWith('Ci95')) && isPair(value) ? { low: value[0], high: value[1] } : value;
}

/** `value` as `--json` writes it: pretty (a command's one document) or on one line (an NDJSON event). */
export function jsonOutput(value: unknown, pretty: boolean): string {
  return JSON.stringify(value, replacer, pretty ? 2 : undefined);
}
