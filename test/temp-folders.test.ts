/**
 * The run's temp folders (test/global-setup.ts): every test, and every process a test starts,
 * makes its folders under the run's own folder, which the run removes when it ends.
 */
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { basename, dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from './helpers/temp-home.js';

describe('temp folders of a test run', () => {
  it('are made under the run folder, in this worker and in the processes it starts', async () => {
    const run = tmpdir();
    expect(basename(run)).toMatch(/^oo-ml-tests-/);
    expect(dirname(await tempDir())).toBe(run);
    const child = execFileSync(process.execPath, ['-e', 'process.stdout.write(require("node:os").tmpdir())'], { encoding: 'utf8' });
    expect(child).toBe(run);
  });
});
