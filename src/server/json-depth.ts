/**
 * How deep a JSON text nests, found without parsing it: a deeply nested body holds the event loop
 * in the parser long after a depth limit could have refused it (BENCHMARKS.md, "Deep bodies").
 */

/** Deepest nesting of arrays and objects a request body may have (the schemas need four). */
export const MAX_BODY_DEPTH = 32;
/** Bodies up to this many characters parse fast at any depth they can reach, and are not scanned. */
export const DEPTH_SCAN_BYTES = 4096;

/** Whether the JSON text `text` opens more than `max` arrays or objects inside one another (brackets inside strings not counted). */
export function nestingDepthOver(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}
