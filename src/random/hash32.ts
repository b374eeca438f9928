/**
 * The stable 32-bit string hash that buckets users (experiment variants, prompt rotation):
 * xxhash32 with seed 0 from xxhash-wasm, so every replica and every language with an xxhash32
 * puts a user in the same bucket. Loading is asynchronous (a WebAssembly module), once per
 * process; the returned function is synchronous, for the /score hot path.
 */
import xxhash from 'xxhash-wasm';

let loaded: Promise<(s: string) => number> | undefined;

/** xxhash32 of a string (UTF-8), loaded once. */
export function loadXxhash32(): Promise<(s: string) => number> {
  loaded ??= xxhash().then(({ h32 }) => (s: string) => h32(s));
  return loaded;
}
