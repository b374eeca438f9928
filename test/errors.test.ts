/** Errors as the user sees them: the machine's or the user's file-system failures are not bugs. */
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT_CODE, toOoMlError } from '../src/errors.js';
import { runCli } from './helpers/cli.js';

describe('foreign errors', () => {
  it('reports a path that is a file where a folder must be as invalid input, naming the path, and a bug as internal', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oo-ml-errors-'));
    try {
      await writeFile(join(dir, 'afile'), '');
      const notDir = await mkdir(join(dir, 'afile', 'sub')).then(() => null, (e: unknown) => e);
      const err = toOoMlError(notDir);
      expect([err.code, EXIT_CODE[err.code], err.message, err.hint]).toEqual(['invalid_input', 1, expect.stringContaining(join(dir, 'afile', 'sub')), expect.stringContaining('names a file')]);
      expect(err.cause).toBe(notDir);
      // An errno-shaped code without a system call behind it is not a file-system failure.
      expect(toOoMlError(Object.assign(new Error('x'), { code: 'ENOTDIR' })).code).toBe('internal');
      expect(toOoMlError(new TypeError('undefined is not a function')).code).toBe('internal');
      // From the command line: one line and a hint, no stack trace.
      const r = await runCli(['data', 'synth', '--users', '2', '--days', '1', '--home', join(dir, 'afile')]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^error: ENOTDIR: not a directory, mkdir '.*afile/);
      expect(r.stderr).toContain('hint: a path that must be a folder');
      expect(r.stderr).not.toMatch(/\n\s+at /);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
