/**
 * The progress bar leaves the terminal's modes alone: a Ctrl-C kills the command before it
 * could restore them, and a shell without a cursor that cuts every long line followed. Its line
 * fits the terminal's width instead.
 */
import { PassThrough } from 'node:stream';
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createProgressFactory } from '../../src/cli/progress.js';

/** A stream that says it is a terminal of `columns`, collecting what is drawn. */
function terminal(columns: number): { stream: NodeJS.WriteStream; drawn: () => string } {
  const chunks: string[] = [];
  const stream = Object.assign(new PassThrough(), { isTTY: true, columns, cursorTo: () => true, clearLine: () => true, moveCursor: () => true }) as unknown as NodeJS.WriteStream;
  stream.on('data', (c: Buffer) => chunks.push(c.toString()));
  return { stream, drawn: () => chunks.join('') };
}

describe('progress bar', () => {
  it('neither hides the cursor nor turns line wrapping off, and fits its line to the width', async () => {
    for (const columns of [80, 50]) {
      const t = terminal(columns);
      const p = createProgressFactory(true, t.stream).start('synth users');
      for (let i = 0; i <= 20_000; i += 5_000) p.update(i, 20_000);
      // Mid-run is what a Ctrl-C leaves: nothing to restore.
      await new Promise((resolve) => setImmediate(resolve));
      const text = t.drawn();
      expect(text).not.toContain('\x1b[?25l');
      expect(text).not.toContain('\x1b[?7l');
      const widest = Math.max(...text.split(/\r|\n/).map((line) => stripVTControlCharacters(line).length));
      expect(widest, `${columns} columns`).toBeLessThanOrEqual(columns);
      expect(widest).toBeGreaterThan(0);
      p.stop();
    }
  });

  it('draws nothing in a pipe', () => {
    const t = terminal(80);
    Object.assign(t.stream, { isTTY: false });
    const p = createProgressFactory(true, t.stream).start('synth users');
    p.update(1, 2);
    p.stop();
    expect(t.drawn()).toBe('');
  });
});
