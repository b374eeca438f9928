import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { HomePaths } from '../../src/config.js';
import { exportSnapshot } from '../../src/pipelines/snapshot-files.js';
import { createFileStore } from '../../src/registry/file-store.js';
import { runCli } from '../helpers/cli.js';
import { homeWithTrainingSet } from '../helpers/training-home.js';

let h: HomePaths;

// The data steps are tested through the CLI elsewhere; here they are library calls, to keep
// the suite fast.
beforeAll(async () => {
  h = await homeWithTrainingSet({ users: 150, days: 21, seed: 3, now: new Date() });
  await exportSnapshot({ warehouse: h.warehouse, outDir: h.snapshots, tmpDir: h.tmp, now: new Date() });
}, 120_000);

describe('train, models, ope, sim, promote, rollback (CLI)', () => {
  it('trains a candidate with an MLflow run, a model card and headline metrics', async () => {
    const r = await runCli(['train', '--policy', 'linucb', '--home', h.home, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { version: number; runId: string; card: string; evaluation: { metrics: Record<string, { value: number; ci95: { low: number; high: number } }> } };
    expect(out.version).toBe(1);
    const dr = out.evaluation.metrics['dr']!;
    expect(dr.ci95.low).toBeLessThan(dr.value);
    expect(dr.ci95.high).toBeGreaterThan(dr.value);
    expect(readFileSync(out.card, 'utf8')).toContain('# Model card: tip-policy');
    expect(existsSync(`${h.mlruns}/models/tip-policy/aliases/candidate`)).toBe(true);
    const models = JSON.parse((await runCli(['models', '--home', h.home, '--json'])).stdout) as { models: { versions: { headline: { dr: number } }[] }[] };
    expect(models.models[0]!.versions[0]!.headline.dr).toBeCloseTo(dr.value, 12);

    // Where DR puts it against the logging policy is said at training (below, above, or not told apart: intervalSide's test).
    // Under a model of its own: the tests below count tip-policy's versions.
    const text = await runCli(['train', '--policy', 'egreedy-v1', '--model', 'tip-policy-text', '--home', h.home]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/vs the logging policy on the held-out rows: (below it|above it|not told apart): DR \d\.\d{4} − its \d\.\d{4} = [+-]\d\.\d{4} \[[+-]\d\.\d{4}, [+-]\d\.\d{4}\], paired by row/);
    const bad = await runCli(['train', '--policy', 'bandito', '--home', h.home]);
    // A bad flag value is bad usage, as for sim and ope.
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('bandito');
  });

  it('estimates a registered and an on-the-fly policy off-policy', async () => {
    const reg = await runCli(['ope', '--logs', h.trainingSet, '--policy', 'tip-policy@candidate', '--home', h.home, '--json']);
    expect(reg.code, reg.stderr).toBe(0);
    const o = JSON.parse(reg.stdout) as { report: { estimates: { estimator: string; value: number }[] }; run: { runId: string; experimentId: string } };
    expect(o.report.estimates.map((e) => e.estimator)).toEqual(['ips', 'snips', 'dm', 'dr']);
    // A registered target is logged as an MLflow run: metrics, the report, the chart, the version tag.
    const runDir = `${h.mlruns}/${o.run.experimentId}/${o.run.runId}`;
    expect(Number(readFileSync(`${runDir}/metrics/ope/dr`, 'utf8').split(' ')[1])).toBeCloseTo(o.report.estimates[3]!.value, 12);
    expect(readFileSync(`${runDir}/tags/oo-ml.ope.version.tip-policy`, 'utf8')).toBe('1');
    expect(readFileSync(`${runDir}/artifacts/charts/estimates.svg`, 'utf8')).toContain('<svg');
    expect(readFileSync(`${runDir}/artifacts/charts/estimates.png`).subarray(1, 4).toString()).toBe('PNG');
    expect(JSON.parse(readFileSync(`${runDir}/artifacts/report.json`, 'utf8'))).toMatchObject({ policy: 'tip-policy@candidate', registered: { model: 'tip-policy', version: 1 } });
    // The same version named by number.
    const byNumber = JSON.parse((await runCli(['ope', '--logs', h.trainingSet, '--policy', 'tip-policy/1', '--home', h.home, '--json'])).stdout) as typeof o;
    expect(byNumber.report.estimates.map((e) => e.value)).toEqual(o.report.estimates.map((e) => e.value));
    // A built-in policy fitted here is fitted at the floor train registers a version with: the
    // estimates are the training run's own holdout evaluation of that version (linucb, v1).
    const onTheFly = await runCli(['ope', '--logs', h.trainingSet, '--policy', 'linucb', '--home', h.home, '--json']);
    expect(onTheFly.code, onTheFly.stderr).toBe(0);
    const store = createFileStore(h.mlruns);
    const v1 = (await store.searchModelVersions('tip-policy')).find((v) => v.version === 1)!;
    const v1Run = await store.getRun(v1.runId);
    const trained = JSON.parse(readFileSync(`${h.mlruns}/${v1Run.info.experimentId}/${v1.runId}/artifacts/evaluation.json`, 'utf8')) as { metrics: Record<string, { value: number }> };
    const fitted = JSON.parse(onTheFly.stdout) as typeof o & { notes: string[] };
    expect(Object.fromEntries(fitted.report.estimates.map((e) => [e.estimator, e.value]))).toEqual(Object.fromEntries(['ips', 'snips', 'dm', 'dr'].map((e) => [e, trained.metrics[e]!.value])));
    expect(fitted.notes).toContainEqual(expect.stringContaining('at exploration floor 0.05'));
    const unfloored = JSON.parse((await runCli(['ope', '--logs', h.trainingSet, '--policy', 'linucb', '--exploration-floor', '0', '--home', h.home, '--json'])).stdout) as typeof fitted;
    expect(unfloored.report.estimates[3]!.value).not.toBe(fitted.report.estimates[3]!.value);
    const floorOnVersion = await runCli(['ope', '--logs', h.trainingSet, '--policy', 'tip-policy@candidate', '--exploration-floor', '0.1', '--home', h.home]);
    expect([floorOnVersion.code, floorOnVersion.stderr]).toEqual([2, expect.stringContaining('--exploration-floor is the floor a built-in policy')]);
    const uni = await runCli(['ope', '--policy', 'uniform', '--estimators', 'ips', '--home', h.home]); // --logs: the home's training set
    expect(uni.code, uni.stderr).toBe(0);
    expect(uni.stdout).toMatch(/ips\s+0\.\d{4}/);
    expect(uni.stdout).not.toContain('MLflow run');
    const logged = await runCli(['ope', '--logs', h.trainingSet, '--policy', 'uniform', '--estimators', 'dm,dr', '--reward-features', 'bias,completion_rate', '--log', '--home', h.home]);
    expect(logged.stdout).toContain('note: reward-model features: bias, completion_rate');
    expect(logged.stdout).toMatch(/MLflow run: [0-9a-f]{32} \(experiment oo-ml-ope\)/);
    // A per-row distribution file (one probability column per arm) that is uniform gives the
    // same estimates as `uniform`.
    const rows = JSON.parse((await runCli(['ope', '--logs', h.trainingSet, '--policy', 'uniform', '--home', h.home, '--json'])).stdout) as {
      rows: number;
      report: { estimates: { value: number }[] };
    };
    const csv = [Array.from({ length: 8 }, (_, a) => `p_${a}`).join(','), ...Array.from({ length: rows.rows }, () => Array(8).fill('0.125').join(','))].join('\n');
    writeFileSync(`${h.data}/uniform.csv`, csv + '\n');
    const fromFile = await runCli(['ope', '--logs', h.trainingSet, '--policy', `${h.data}/uniform.csv`, '--home', h.home, '--json']);
    expect(fromFile.code, fromFile.stderr).toBe(0);
    const f = JSON.parse(fromFile.stdout) as { report: { estimates: { value: number }[] } };
    expect(f.report.estimates.map((e) => e.value)).toEqual(rows.report.estimates.map((e) => e.value));
    writeFileSync(`${h.data}/short.csv`, csv.split('\n').slice(0, 5).join('\n') + '\n');
    const short = await runCli(['ope', '--logs', h.trainingSet, '--policy', `${h.data}/short.csv`, '--home', h.home]);
    expect(short.code).toBe(1);
    expect(short.stderr).toContain('has 4 rows, the logs have');
    // A cell that is not a number: named with the file, not an internal error with a stack.
    writeFileSync(`${h.data}/word.csv`, csv.replace(/\n0\.125/, '\nhigh') + '\n');
    const word = await runCli(['ope', '--logs', h.trainingSet, '--policy', `${h.data}/word.csv`, '--home', h.home]);
    expect([word.code, word.stderr]).toEqual([1, expect.stringContaining(`distribution file ${h.data}/word.csv cannot be read as probabilities`)]);
    expect(word.stderr).not.toMatch(/\n\s+at /);
    const badEst = await runCli(['ope', '--logs', h.trainingSet, '--policy', 'uniform', '--estimators', 'ips,magic', '--home', h.home]);
    expect(badEst.code).toBe(2);
    expect(badEst.stderr).toContain('magic');
  });

  it('simulates with byte-identical results for one seed, with or without workers', async () => {
    const args = ['sim', '--policies', 'egreedy-v1,tip-policy@candidate', '--users', '40', '--rounds', '72', '--reps', '2', '--seed', '9', '--home', h.home, '--json'];
    const a = await runCli([...args, '--workers', '0']);
    const b = await runCli([...args, '--workers', '2']);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const ra = JSON.parse(a.stdout) as { runId: string; results: unknown };
    const rb = JSON.parse(b.stdout) as { runId: string; results: unknown };
    expect(JSON.stringify(rb.results)).toBe(JSON.stringify(ra.results));
    expect(ra.runId).not.toBe(rb.runId);
    // Curves carry their band over the replications, and go to MLflow as metric steps.
    const curves = (ra.results as { curves: { rounds: number[]; cumReward: Record<string, number[]>; cumRewardBand: Record<string, [number, number][]> } }).curves;
    const band = curves.cumRewardBand['tip-policy@candidate']!;
    curves.cumReward['tip-policy@candidate']!.forEach((m, i) => {
      expect(band[i]![0]).toBeLessThanOrEqual(m);
      expect(band[i]![1]).toBeGreaterThanOrEqual(m);
    });
    expect(band.at(-1)![1]).toBeGreaterThan(band.at(-1)![0]);
    const store = createFileStore(h.mlruns);
    const history = await store.getMetricHistory(ra.runId, 'sim/tip-policy_candidate/cumulative_reward_by_round');
    expect(history.map((m) => m.step)).toEqual(curves.rounds.map((r) => r + 1));
    expect(history.map((m) => m.value)).toEqual(curves.cumReward['tip-policy@candidate']);
    const bad = await runCli(['sim', '--policies', 'linucb,nobody@champion', '--users', '5', '--rounds', '5', '--reps', '2', '--seed', '1', '--home', h.home]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('nobody');
    const zero = await runCli(['sim', '--policies', 'linucb', '--users', '0', '--rounds', '5', '--reps', '2', '--seed', '1', '--home', h.home]);
    expect(zero.code).toBe(2);
    const one = await runCli(['sim', '--policies', 'linucb', '--users', '5', '--rounds', '5', '--reps', '1', '--seed', '1', '--home', h.home]);
    expect(one.code).toBe(2);
    expect(one.stderr).toContain('--reps');
  });

  it('promotes through the gate, refuses what it must, and rolls back', async () => {
    const shadow = await runCli(['promote', 'tip-policy', '1', '--to', 'shadow', '--home', h.home]);
    expect(shadow.code, shadow.stderr).toBe(0);
    // Its shadow never served (nothing was ingested), and could not have: with no champion no
    // server serves. A first champion's exposure is waived, and said so; it must beat chance.
    const champ = await runCli(['promote', 'tip-policy', '1', '--to', 'champion', '--home', h.home, '--json']);
    expect(champ.code, champ.stderr).toBe(0);
    expect(JSON.parse(champ.stdout)).toMatchObject({
      aliases: { champion: 1 },
      decision: {
        checks: expect.arrayContaining([
          expect.objectContaining({ name: 'beats uniform random in simulation', passed: true }),
          expect.objectContaining({ name: 'enough shadow exposure', passed: true, detail: expect.stringContaining('waived while there is no champion: nothing serves, so a shadow has no traffic to score beside (0 shadow serves over 0.0 h') }),
        ]),
      },
    });
    // The champion move reused the shadow move's simulation of the same versions and settings.
    const store = createFileStore(h.mlruns);
    const sims = await store.searchRuns({ experimentIds: [(await store.getExperimentByName('oo-ml-sim')).experimentId], tags: { 'oo-ml.gate': 'true' } });
    expect(sims.map((r) => r.data.tags['oo-ml.sim.policies'])).toEqual(['uniform,tip-policy/1']);
    const again = await runCli(['promote', 'tip-policy', '1', '--to', 'champion', '--home', h.home]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already champion');

    expect((await runCli(['train', '--policy', 'egreedy-v1', '--home', h.home])).code).toBe(0);
    const skip = await runCli(['promote', 'tip-policy', '2', '--to', 'champion', '--home', h.home]);
    expect(skip.code).toBe(1);
    expect(skip.stderr).toContain('has been shadow');
    const forced = await runCli(['promote', 'tip-policy', '2', '--to', 'champion', '--force', '--reason', 'drill', '--home', h.home, '--json']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(JSON.parse(forced.stdout)).toMatchObject({ forced: true, aliases: { champion: 2, 'previous-champion': 1 } });
    const back = await runCli(['rollback', 'tip-policy', '--home', h.home]);
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout).toContain('champion v2 → v1');
    const twice = await runCli(['rollback', 'tip-policy', '--home', h.home]);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain('no previous champion to roll back to');
    const card = readFileSync(`${h.modelCards}/tip-policy.md`, 'utf8');
    expect(card).toContain('drill (forced)');
    expect(card).toContain('rollback');
  });

  it('keeps every version when two train processes register at once', async () => {
    const [a, b] = await Promise.all([
      runCli(['train', '--policy', 'egreedy-v2', '--home', h.home, '--json']),
      runCli(['train', '--policy', 'linucb', '--home', h.home, '--json']),
    ]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const versions = [JSON.parse(a.stdout) as { version: number; runId: string }, JSON.parse(b.stdout) as { version: number; runId: string }];
    expect(versions.map((v) => v.version).sort()).toEqual([3, 4]);
    expect(versions[0]!.runId).not.toBe(versions[1]!.runId);
    const listed = JSON.parse((await runCli(['models', 'tip-policy', '--home', h.home, '--json'])).stdout) as { models: { versions: { version: number; policy: string }[] }[] };
    expect(listed.models[0]!.versions.map((v) => v.version)).toEqual([1, 2, 3, 4]);
    expect(listed.models[0]!.versions.slice(2).map((v) => v.policy).sort()).toEqual(['egreedy-v2', 'linucb']);
  });

  it('records the exploration floor a version serves with, and what its holdout evaluation could use', async () => {
    const r = await runCli(['train', '--policy', 'linucb', '--home', h.home, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { runId: string; card: string; evaluation: { explorationFloor: number; support: { share: number; minLoggedPropensity: number } } };
    expect(out.evaluation.explorationFloor).toBe(0.05);
    // With a floor every arm has mass, so every logged row is usable; the synthetic logs are uniform over 8 arms.
    expect(out.evaluation.support).toEqual({ share: 1, minLoggedPropensity: 0.125 });
    const run = readFileSync(`${h.mlruns}/${readdirSync(h.mlruns).find((d) => existsSync(`${h.mlruns}/${d}/${out.runId}`))}/${out.runId}/params/exploration_floor`, 'utf8');
    expect(run).toBe('0.05');
    // The training curve: the prequential value as it learned, as metric steps up to every row.
    const curve = await createFileStore(h.mlruns).getMetricHistory(out.runId, 'train/prequential_snips');
    expect(curve.length).toBeGreaterThanOrEqual(50);
    expect(curve.map((m) => m.step)).toEqual([...curve.map((m) => m.step)].sort((a, b) => a - b));
    expect(curve.at(-1)!.step).toBe((JSON.parse(r.stdout) as { evaluation: { rows: number } }).evaluation.rows);
    for (const m of curve) expect(m.value).toBeGreaterThanOrEqual(0);
    expect(readFileSync(out.card, 'utf8')).toContain('**Exploration floor** 0.05: 5.0% of decisions are uniform random, so every arm is served with propensity at least 0.0063');
    const text = await runCli(['train', '--policy', 'linucb', '--exploration-floor', '0', '--home', h.home]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/exploration floor:\s+0\nsupport:\s+\d+\.\d% of held-out rows usable, min logged propensity 0\.125\n/);
    for (const bad of ['1', '-0.1', 'some']) {
      const refused = await runCli(['train', '--policy', 'linucb', '--exploration-floor', bad, '--home', h.home]);
      expect([refused.code, refused.stderr]).toEqual([2, expect.stringContaining(`--exploration-floor must be a number between 0 and 0.999999, got "${bad}"`)]);
    }
  });
});
