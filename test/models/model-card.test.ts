import { describe, expect, it } from 'vitest';
import { cardSummary, renderModelCard, segmentFlagged, type ModelCardData, type VersionEvaluation } from '../../src/models/model-card.js';
import { readEvaluation, refreshModelCard } from '../../src/models/model-cards.js';
import { appendRollout, readRollout } from '../../src/models/rollout-history.js';
import { createFileStore } from '../../src/registry/file-store.js';
import { tempHome } from '../helpers/temp-home.js';
import { readFile } from 'node:fs/promises';

const evaluation: VersionEvaluation = {
  policy: 'linucb',
  layout: 'v2',
  params: { alpha: 1 },
  trainingSet: 'data/training-set.parquet',
  rows: 1000,
  holdoutRows: 200,
  dataFrom: '2026-01-05T00:00:00.000Z',
  dataTo: '2026-02-01T00:00:00.000Z',
  snapshotId: 'snap-1',
  contractHash: 'a'.repeat(64),
  metrics: { ips: { value: 0.4, ci95: [0.35, 0.45] }, dr: { value: 0.41, ci95: [0.37, 0.45] } },
  loggingValue: { value: 0.3, ci95: [0.28, 0.32] },
  overLogging: { value: 0.05, ci95: [0.01, 0.09] },
  fairness: [
    { segment: 'night_owl', rows: 50, estimate: { value: 0.42, ci95: [0.3, 0.5] }, ratio: 1.02, loggingRatio: 0.97, flagged: false },
    { segment: 'churn_risk', rows: 40, estimate: { value: 0.2, ci95: [0.1, 0.3] }, ratio: 0.49, loggingRatio: 0.7, flagged: true },
    { segment: 'new_user', rows: 30, estimate: { value: 0.25, ci95: [0.1, 0.4] }, ratio: 0.61, flagged: false },
  ],
  notes: [],
};

const data: ModelCardData = {
  model: 'tip-policy',
  generatedAt: '2026-02-02T00:00:00.000Z',
  aliases: { candidate: 1 },
  versions: [{ version: 1, createdAt: '2026-02-02T00:00:00.000Z', runId: 'r1', aliases: ['candidate'], evaluation }],
  rollout: [{ time: '2026-02-02T00:00:00.000Z', alias: 'candidate', from: null, to: 1, reason: 'trained', forced: false, figures: { dr: 0.41, sim_seeds: 5, shadow_serves: 0 } }],
};

describe('model card', () => {
  it('states inputs, training data, metrics with intervals, fairness flags, rollout and limitations', () => {
    const md = renderModelCard(data);
    expect(md).toContain('# Model card: tip-policy');
    expect(md).toContain('| `preferred_hour` | profile | int | 7 d | null |');
    expect(md).toContain('1000 logged decisions');
    expect(md).toContain('| dr | 0.4100 [0.3700, 0.4500] |');
    expect(md).toContain('| logging policy (on-policy) | 0.3000 [0.2800, 0.3200] |');
    expect(md).toContain('| DR − logging policy (paired by row) | 0.0500 [0.0100, 0.0900] |');
    expect(md).toContain('| churn_risk | 40 | 0.2000 [0.1000, 0.3000] | 0.49 | 0.70 | ⚠ left behind |');
    // A run from before the logging ratio was recorded shows a dash.
    expect(md).toContain('| new_user | 30 | 0.2500 [0.1000, 0.4000] | 0.61 | – | ok |');
    expect(md).toContain('Flagged: churn_risk. Review before promotion: the gate refuses a champion with a flagged segment unless forced with a reason.');
    expect(md).toMatch(/\| 2026-02-02T00:00:00.000Z \| candidate \| – \| v1 \| trained \| dr=0.4100, sim_seeds=5, shadow_serves=0 \|/);
    expect(md).toContain('## Limitations');
    expect(renderModelCard(data)).toBe(md);
  });

  it('writes a tiny exploration floor in exponent form, not as a propensity of 0.0000', () => {
    const tiny = renderModelCard({ ...data, versions: [{ ...data.versions[0]!, evaluation: { ...evaluation, explorationFloor: 1e-300 } }] });
    expect(tiny).toContain('1.00e-298% of decisions are uniform random, so every arm is served with propensity at least 1.25e-301');
    const usual = renderModelCard({ ...data, versions: [{ ...data.versions[0]!, evaluation: { ...evaluation, explorationFloor: 0.05 } }] });
    expect(usual).toContain('5.0% of decisions are uniform random, so every arm is served with propensity at least 0.0063');
  });

  it('flags a segment only when even its upper bound is left below four fifths of where the logging policy left it', () => {
    expect(segmentFlagged({ ratio: 0.49, ratioHigh: 0.55, loggingRatio: 0.7 })).toBe(true);
    // A wide interval (a small segment) is not evidence.
    expect(segmentFlagged({ ratio: 0.49, ratioHigh: 0.95, loggingRatio: 0.7 })).toBe(false);
    // Behind under the logging policy too, and not pushed further behind by a fifth: not the policy's doing.
    expect(segmentFlagged({ ratio: 0.49, ratioHigh: 0.55, loggingRatio: 0.49 })).toBe(false);
    // At par with the overall estimate: not behind, whatever the logging policy gave it.
    expect(segmentFlagged({ ratio: 0.85, ratioHigh: 0.9, loggingRatio: 1.5 })).toBe(false);
    // Runs without the bound or the logging ratio keep the four-fifths rule alone.
    expect(segmentFlagged({ ratio: 0.79 })).toBe(true);
    expect(segmentFlagged({ ratio: 0.81 })).toBe(false);
  });

  it('cuts the registry description at a line boundary within 5000 characters', () => {
    const long = Array.from({ length: 400 }, (_, i) => `line ${i} ${'x'.repeat(20)}`).join('\n');
    const s = cardSummary(long);
    expect(s.length).toBeLessThanOrEqual(5000);
    expect(s).toContain('truncated');
    expect(cardSummary('short')).toBe('short');
  });

  it('keeps the rollout history in the registry and regenerates the card file and description', async () => {
    const h = await tempHome();
    const store = createFileStore(h.mlruns);
    await store.createRegisteredModel('tip-policy');
    await appendRollout(store, 'tip-policy', { time: '2026-02-03T00:00:00.000Z', alias: 'shadow', from: null, to: 1, reason: 'gate passed', forced: false, figures: {} });
    await appendRollout(store, 'tip-policy', { time: '2026-02-02T00:00:00.000Z', alias: 'candidate', from: null, to: 1, reason: 'trained', forced: false, figures: {} });
    // A history from before rollout runs (one model tag per move) is still read, in time order.
    await store.setRegisteredModelTag('tip-policy', 'oo-ml.rollout.1769990400000-000-0badf00d', JSON.stringify({ time: '2026-02-02T12:00:00.000Z', alias: 'shadow', from: null, to: 1, reason: 'legacy', forced: false, figures: {} }));
    const history = await readRollout(store, 'tip-policy');
    expect(history.map((e) => [e.alias, e.reason])).toEqual([
      ['candidate', 'trained'],
      ['shadow', 'legacy'],
      ['shadow', 'gate passed'],
    ]);
    // The moves are runs of one experiment: the model's tags do not grow with them.
    expect(Object.keys((await store.getRegisteredModel('tip-policy')).tags)).toEqual(['oo-ml.rollout.1769990400000-000-0badf00d']);
    const exp = await store.getExperimentByName('oo-ml-rollouts');
    const runs = await store.searchRuns({ experimentIds: [exp.experimentId] });
    expect(runs.map((r) => [r.info.status, r.data.tags['oo-ml.model']])).toEqual([
      ['FINISHED', 'tip-policy'],
      ['FINISHED', 'tip-policy'],
    ]);
    await expect(appendRollout(store, 'tip-policy', { ...history[0]!, time: 'yesterday' })).rejects.toMatchObject({ code: 'invalid_input' });

    const { path, markdown } = await refreshModelCard(store, 'tip-policy', h.modelCards, new Date('2026-02-04T00:00:00Z'));
    expect(await readFile(path, 'utf8')).toBe(markdown);
    expect(markdown).toContain('| gate passed |');
    expect((await store.getRegisteredModel('tip-policy')).description).toBe(markdown);
  });

  it('reads a run’s evaluation, naming a malformed one (what the gate relies on is checked)', async () => {
    const h = await tempHome();
    const store = createFileStore(h.mlruns);
    const exp = await store.getOrCreateExperiment('oo-ml-train');
    const run = async (text: string | null): Promise<string> => {
      const r = await store.createRun(exp.experimentId);
      if (text !== null) await store.logArtifact(r.info.runId, 'evaluation.json', text);
      return r.info.runId;
    };
    expect(await readEvaluation(store, await run(null))).toBeNull();
    expect(await readEvaluation(store, await run(JSON.stringify(evaluation)))).toEqual(evaluation);
    const bad = await run('{"dataTo": 5, "fairness": []}');
    await expect(readEvaluation(store, bad)).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringMatching(new RegExp(`evaluation.json of run ${bad} is invalid: /dataTo`)) });
    await expect(readEvaluation(store, await run('{"dataTo"'))).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringContaining('is not JSON') });
  });
});
