/** Reading a whole embedded-bus stream in tests. */
import { openStreamReader, type StreamLine } from '../../src/events/journal.js';

/** Every line of the stream in `dir` (a stream folder: `<bus>/events`, `<bus>/dlq`), read through one reader from `start`. */
export async function readStreamLines(dir: string, start = 1): Promise<StreamLine[]> {
  const reader = openStreamReader(dir, start, { pollMs: 10 });
  const out: StreamLine[] = [];
  for (;;) {
    const got = await reader.read(10_000);
    if (got.length === 0) break;
    out.push(...got);
  }
  await reader.close();
  return out;
}
