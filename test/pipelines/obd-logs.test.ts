import { mkdtemp, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOoMlError } from '../../src/errors.js';
import { evaluate } from '../../src/evaluation/evaluate.js';
import { uniformTarget } from '../../src/evaluation/target-policy.js';
import { empiricalPositionPolicy, readObdLogs, type ObdLogs } from '../../src/pipelines/obd-logs.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/obd/', import.meta.url));
const RANDOM = join(FIXTURES, 'random/men/men.csv');
const BTS = join(FIXTURES, 'bts/men/men.csv');

let random: ObdLogs;
let bts: ObdLogs;
let scratch: string;

beforeAll(async () => {
  random = await readObdLogs(RANDOM);
  bts = await readObdLogs(BTS);
  scratch = await mkdtemp(join(tmpdir(), 'oo-ml-obd-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** Expects an OoMlError `invalid_input` whose message matches every pattern. */
async function expectInvalid(p: Promise<unknown>, ...patterns: RegExp[]): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(isOoMlError(e, 'invalid_input'), String(e)).toBe(true);
  for (const pattern of patterns) expect((e as Error).message).toMatch(pattern);
}

describe('Open Bandit Dataset logs', () => {
  it('reads the random log as position-wise decisions over the 34 items', () => {
    const { logs } = random;
    expect(logs.n).toBe(2000);
    expect(logs.k).toBe(34);
    expect(random.positions).toBe(3);
    expect(random.itemContextFile).toBe(join(FIXTURES, 'random/men/item_context.csv'));
    // The random log's propensity is the literal text of 1/34, which parses to 1/34 exactly.
    expect(logs.propensity.every((p) => p === 1 / 34)).toBe(true);
    expect(logs.reward.reduce((s, v) => s + v, 0)).toBe(10);
    expect(Math.min(...logs.position!)).toBe(0);
    expect(Math.max(...logs.position!)).toBe(2);
    expect(logs.d).toBe(34);
    expect(random.featureNames[0]).toBe('user-item_affinity_0');
    // First data row: 2019-11-24 00:03:13.442536+00:00, item 14, position 3, no click.
    expect(random.timestampMs[0]).toBeCloseTo(Date.UTC(2019, 10, 24, 0, 3, 13, 442) + 0.536, 3);
    expect(logs.arm[0]).toBe(14);
    expect(logs.position![0]).toBe(2);
    expect(random.notes[0]).toMatch(/position-wise evaluation/);
  });

  it('IPS of the uniform target on the uniform log is the empirical CTR, exactly', () => {
    const { logs } = random;
    const r = evaluate(logs, uniformTarget(logs.n, logs.k), { estimators: ['ips', 'snips'] });
    const ctr = logs.reward.reduce((s, v) => s + v, 0) / logs.n;
    expect(r.estimates[0]!.value).toBe(ctr);
    expect(r.estimates[1]!.value).toBe(ctr);
    expect(r.loggingPolicy.value).toBe(ctr);
    expect(r.diagnostics.maxWeight).toBe(1);
  });

  it('evaluates the BTS behaviour policy on the random log: finite, with a sensible interval', () => {
    const target = empiricalPositionPolicy(bts.logs, random.logs);
    const r = evaluate(random.logs, target, { estimators: ['ips', 'snips', 'dm', 'dr'] });
    const btsCtr = bts.logs.reward.reduce((s, v) => s + v, 0) / bts.logs.n; // 18 / 2000
    for (const e of r.estimates) {
      expect(Number.isFinite(e.value) && Number.isFinite(e.stdErr), e.estimator).toBe(true);
      expect(e.value, e.estimator).toBeGreaterThanOrEqual(0);
      expect(e.value, e.estimator).toBeLessThan(0.05);
      expect(e.stdErr, e.estimator).toBeGreaterThan(0);
      expect(e.ci95[1] - e.ci95[0], e.estimator).toBeLessThan(0.05);
    }
    // The importance-weighted intervals cover BTS's own on-policy CTR on its log (18/2000 = 0.009).
    // (DM and DR lean on 34 per-item ridge models fitted on 10 clicks, so they are not asked to.)
    for (const name of ['ips', 'snips']) {
      const e = r.estimates.find((x) => x.estimator === name)!;
      expect(e.ci95[0], name).toBeLessThanOrEqual(btsCtr);
      expect(e.ci95[1], name).toBeGreaterThanOrEqual(btsCtr);
    }
    // Uniform logging at 1/34: weight = 34 · π(item | position), at most 34.
    expect(r.diagnostics.maxWeight).toBeLessThanOrEqual(34);
    expect(r.diagnostics.supportDeficient).toBe(false);
  });

  it('evaluates the uniform target on the BTS log with its varying propensities', () => {
    const r = evaluate(bts.logs, uniformTarget(bts.logs.n, bts.logs.k), { estimators: ['ips', 'snips', 'dr'] });
    expect(Math.min(...bts.logs.propensity)).toBeLessThan(0.01);
    for (const e of r.estimates) expect(Number.isFinite(e.value) && e.ci95[0] < e.ci95[1], e.estimator).toBe(true);
    expect(r.diagnostics.effectiveSampleSize).toBeLessThan(bts.logs.n);
  });

  it('one-hot user features: one 1 per user feature in every row', async () => {
    const onehot = await readObdLogs(RANDOM, { features: 'user-onehot' });
    const { x, d, n } = onehot.logs;
    expect(d).toBeGreaterThan(4);
    const rowSums = new Set<number>();
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < d!; j++) s += x![i * d! + j]!;
      rowSums.add(s);
    }
    expect([...rowSums]).toEqual([4]);
    expect(onehot.featureNames.every((name) => /^user_feature_[0-3]=/.test(name))).toBe(true);
  });

  it('reads several feature sets in one read, each as its own read gives it, and none when asked for none', async () => {
    const onehot = await readObdLogs(RANDOM, { features: 'user-onehot' });
    const both = await readObdLogs(RANDOM, { features: ['user-onehot', 'affinity'] });
    expect(both.vectors['user-onehot']).toEqual({ x: onehot.logs.x, d: onehot.logs.d, names: onehot.featureNames });
    expect(both.vectors.affinity).toEqual({ x: random.logs.x, d: random.logs.d, names: random.featureNames });
    // The first set listed is the logs' own x.
    expect([both.logs.x, both.logs.d, both.featureNames]).toEqual([onehot.logs.x, onehot.logs.d, onehot.featureNames]);
    expect({ ...both.logs, x: undefined, d: undefined }).toEqual({ ...random.logs, x: undefined, d: undefined });

    const none = await readObdLogs(RANDOM, { features: [] });
    expect([none.logs.x, none.logs.d, none.featureNames, none.vectors]).toEqual([undefined, undefined, [], {}]);
    expect(none.logs.reward).toEqual(random.logs.reward);
  });

  it('a CSV with a missing column is invalid_input naming the column and the file', async () => {
    const text = await readFile(RANDOM, 'utf8');
    const dropped = text
      .split('\n')
      .map((line) => line.split(',').filter((_, j) => j !== 5).join(','))
      .join('\n');
    const file = join(scratch, 'no-propensity.csv');
    await writeFile(file, dropped);
    await expectInvalid(readObdLogs(file, { itemContext: join(FIXTURES, 'random/men/item_context.csv') }), /missing column\(s\): propensity_score/, new RegExp(file));
  });

  it('without item_context.csv, k is max item_id + 1 and says so', async () => {
    const file = join(scratch, 'alone.csv');
    await copyFile(RANDOM, file);
    const alone = await readObdLogs(file);
    expect(alone.itemContextFile).toBeNull();
    expect(alone.logs.k).toBe(Math.max(...random.logs.arm) + 1);
    expect(alone.notes.join(' ')).toMatch(/k = max item_id \+ 1/);
  });

  it('a bad value is invalid_input naming the file, row and column', async () => {
    const lines = (await readFile(RANDOM, 'utf8')).split('\n');
    const cells = lines[3]!.split(',');
    cells[4] = '2'; // click of data row 2
    lines[3] = cells.join(',');
    const file = join(scratch, 'bad-click.csv');
    await writeFile(file, lines.join('\n'));
    await expectInvalid(readObdLogs(file, { itemContext: join(FIXTURES, 'random/men/item_context.csv') }), /row 2: click 2 is not 0 or 1/, new RegExp(file));
    cells[4] = '0';
    cells[1] = 'garbage';
    lines[3] = cells.join(',');
    await writeFile(file, lines.join('\n'));
    await expectInvalid(readObdLogs(file, { itemContext: join(FIXTURES, 'random/men/item_context.csv') }), /row 2: timestamp is missing or not a date-time$/, new RegExp(file));
  });

  it('a short row or a cell of the wrong type is invalid_input naming the file, not an internal error', async () => {
    const lines = (await readFile(RANDOM, 'utf8')).split('\n');
    const short = [...lines];
    short[3] = short[3]!.split(',').slice(0, 3).join(',');
    const typed = [...lines];
    const cells = typed[3]!.split(',');
    cells[5] = 'high'; // propensity_score of data row 2
    typed[3] = cells.join(',');
    for (const [name, content] of [
      ['short-row.csv', short],
      ['typed.csv', typed],
    ] as const) {
      const file = join(scratch, name);
      await writeFile(file, content.join('\n'));
      // Both with the item context and without it (then k comes from a first pass over the log).
      await expectInvalid(readObdLogs(file, { itemContext: join(FIXTURES, 'random/men/item_context.csv') }), /cannot be read/, new RegExp(file));
      await expectInvalid(readObdLogs(file), /cannot be read/, new RegExp(file));
    }
  });
});
