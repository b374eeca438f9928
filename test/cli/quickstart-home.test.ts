/**
 * The quickstart's home: a fresh folder each run, an earlier quickstart moved aside, and
 * nothing of the user's ever moved or deleted.
 */
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isOoMlError } from '../../src/errors.js';
import { QUICKSTART_MARKER, prepareQuickstartHome } from '../../src/pipelines/quickstart.js';
import { tempHome } from '../helpers/temp-home.js';

/** A folder that looks like a finished quickstart's home, with `tag` in a file to tell runs apart. */
async function quickstartHome(dir: string, tag: string): Promise<void> {
  await mkdir(join(dir, 'data'), { recursive: true });
  await mkdir(join(dir, 'mlruns'), { recursive: true });
  await writeFile(join(dir, QUICKSTART_MARKER), '');
  await writeFile(join(dir, 'data', 'tag'), tag);
}

/** Expects `p` to reject with invalid_usage matching `pattern`. */
/** Refused with `code`: a conflict with what is there (exit 1), or bad usage (the working folder as the home). */
async function expectRefused(p: Promise<unknown>, pattern: RegExp, code: 'conflict' | 'invalid_usage' = 'conflict'): Promise<void> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(isOoMlError(e, code), String(e)).toBe(true);
  expect((e as Error).message).toMatch(pattern);
}

describe('quickstart home', () => {
  it('creates and marks a missing folder, and uses an empty one', async () => {
    const base = (await tempHome()).home;
    const cwd = (await tempHome()).home;
    expect(await prepareQuickstartHome(join(base, 'qs'), cwd)).toBeNull();
    expect(await readdir(join(base, 'qs'))).toEqual([QUICKSTART_MARKER]);
    await mkdir(join(base, 'empty'));
    expect(await prepareQuickstartHome(join(base, 'empty'), cwd)).toBeNull();
    expect(await readdir(join(base, 'empty'))).toEqual([QUICKSTART_MARKER]);
  });

  it('moves an earlier quickstart to .previous, replacing an earlier .previous of its own', async () => {
    const base = (await tempHome()).home;
    const cwd = (await tempHome()).home;
    const home = join(base, 'qs');
    await quickstartHome(home, 'first');
    expect(await prepareQuickstartHome(home, cwd)).toBe(`${home}.previous`);
    expect(await readFile(join(`${home}.previous`, 'data', 'tag'), 'utf8')).toBe('first');
    expect(await readdir(home)).toEqual([QUICKSTART_MARKER]);
    await quickstartHome(home, 'second');
    await prepareQuickstartHome(home, cwd);
    expect(await readFile(join(`${home}.previous`, 'data', 'tag'), 'utf8')).toBe('second');
    expect((await readdir(base)).sort()).toEqual(['qs', 'qs.previous']);
  });

  it("refuses, touching nothing, a folder with the user's files, a .previous that is not a quickstart's, a file, the working folder", async () => {
    const base = (await tempHome()).home;
    const cwd = (await tempHome()).home;
    const mine = join(base, 'mine');
    await mkdir(mine);
    await writeFile(join(mine, 'notes.txt'), 'mine');
    await expectRefused(prepareQuickstartHome(mine, cwd), /not empty and was not made by oo-ml quickstart/);
    expect(await readdir(mine)).toEqual(['notes.txt']);

    // A quickstart home the user has since put a file into.
    const used = join(base, 'used');
    await quickstartHome(used, 'x');
    await writeFile(join(used, 'thesis.tex'), 'mine');
    await expectRefused(prepareQuickstartHome(used, cwd), /holds files of yours/);
    expect((await readdir(used)).sort()).toEqual([QUICKSTART_MARKER, 'data', 'mlruns', 'thesis.tex'].sort());

    const home = join(base, 'qs');
    await quickstartHome(home, 'x');
    await mkdir(`${home}.previous`);
    await writeFile(join(`${home}.previous`, 'thesis.tex'), 'mine');
    await expectRefused(prepareQuickstartHome(home, cwd), /is in the way and is not an earlier quickstart/);
    expect(await readdir(`${home}.previous`)).toEqual(['thesis.tex']);
    expect(await readFile(join(home, 'data', 'tag'), 'utf8')).toBe('x');

    await writeFile(join(base, 'afile'), '');
    await expectRefused(prepareQuickstartHome(join(base, 'afile'), cwd), /is not a folder/);
    await symlink(join(base, 'nowhere'), join(base, 'dangling'));
    await expectRefused(prepareQuickstartHome(join(base, 'dangling'), cwd), /is not a folder/);
    await expectRefused(prepareQuickstartHome(cwd, cwd), /is the working folder or holds it/, 'invalid_usage');
    await expectRefused(prepareQuickstartHome(join(cwd, '..'), cwd), /is the working folder or holds it/, 'invalid_usage');
  });
});
