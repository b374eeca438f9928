/** The models browser: a version's details from the registry, and the view driven by its keys. */
import { stripVTControlCharacters } from 'node:util';
import { render } from 'ink-testing-library';
import { describe, expect, it } from 'vitest';
import { Browser } from '../../../src/cli/ui/models/models-live.js';
import { browserRows, ModelsView } from '../../../src/cli/ui/models/ModelsView.js';
import { listModels } from '../../../src/models/model-listing.js';
import { versionDetails } from '../../../src/models/version-details.js';
import { SIM_EXPERIMENT, simMetricKey } from '../../../src/models/sim-runs.js';
import { createFileStore } from '../../../src/registry/file-store.js';
import type { Store } from '../../../src/registry/store.js';
import { until } from '../../server/harness.js';
import { tempHome } from '../../helpers/temp-home.js';

const estimate = (value: number) => ({ value, ci95: [value - 0.02, value + 0.02] as [number, number] });

/** Two trained versions (evaluation and card artifacts) and one simulation of both against uniform. */
async function registry(): Promise<Store> {
  const h = await tempHome();
  const store = createFileStore(h.mlruns);
  const train = await store.getOrCreateExperiment('oo-ml-train');
  await store.createRegisteredModel('tip-policy');
  for (const [i, dr] of [0.41, 0.47].entries()) {
    const run = await store.createRun(train.experimentId, { runName: `train-${i}` });
    const evaluation = { policy: i === 0 ? 'linucb' : 'thompson', metrics: { ips: estimate(dr - 0.01), dr: estimate(dr) }, loggingValue: estimate(0.3), support: { share: 1, minLoggedPropensity: 0.00625 }, fairness: [{ segment: 'night-owls', flagged: i === 1 }], dataTo: null };
    await store.logArtifact(run.info.runId, 'evaluation.json', JSON.stringify(evaluation));
    await store.logArtifact(run.info.runId, 'model-card.md', `# Model card: tip-policy v${i + 1}\n\nGenerated from the registry${' and its runs'.repeat(20)}.\n\nTrained ${evaluation.policy}.\n`);
    await store.logBatch(run.info.runId, { params: [{ key: 'policy', value: evaluation.policy }], metrics: [{ key: 'ope/dr', value: dr }] });
    await store.finishRun(run.info.runId, 'FINISHED');
    await store.createModelVersion('tip-policy', `runs:/${run.info.runId}/policy`, run.info.runId, 'described');
  }
  await store.setAlias('tip-policy', 'champion', 1);
  await store.setAlias('tip-policy', 'candidate', 2);
  const sim = await store.getOrCreateExperiment(SIM_EXPERIMENT);
  const run = await store.createRun(sim.experimentId, { runName: 'sim', tags: { 'oo-ml.sim.policies': 'uniform,tip-policy@champion,tip-policy/2', 'oo-ml.sim.version.tip-policy': '1,2' } });
  await store.logBatch(run.info.runId, {
    params: [],
    metrics: [
      { key: simMetricKey('tip-policy/2', 'mean_reward'), value: 0.52 },
      { key: simMetricKey('tip-policy/2', 'diff_vs_baseline'), value: 0.07 },
      { key: simMetricKey('tip-policy/2', 'diff_vs_baseline_ci_low'), value: 0.05 },
      { key: simMetricKey('tip-policy/2', 'diff_vs_baseline_ci_high'), value: 0.09 },
      { key: simMetricKey('tip-policy@champion', 'mean_reward'), value: 0.49 },
    ],
  });
  await store.finishRun(run.info.runId, 'FINISHED');
  return store;
}

describe('version details', () => {
  it('reads a version’s evaluation, card and the simulations it ran in (under whatever name it ran)', async () => {
    const store = await registry();
    const [model] = await listModels(store, 'tip-policy');
    const v2 = await versionDetails(store, 'tip-policy', model!.versions.find((v) => v.version === 2)!);
    expect(v2.evaluation?.metrics['dr']?.value).toBe(0.47);
    expect(v2.card).toContain('# Model card: tip-policy v2');
    expect(v2.simulations).toMatchObject([{ entrant: 'tip-policy/2', baseline: 'uniform', meanReward: 0.52, vsBaseline: 0.07, vsBaselineCi: [0.05, 0.09] }]);
    const v1 = await versionDetails(store, 'tip-policy', model!.versions.find((v) => v.version === 1)!);
    expect(v1.simulations).toMatchObject([{ entrant: 'tip-policy@champion', meanReward: 0.49, vsBaselineCi: null }]);
  });
});

describe('the models browser', () => {
  it('lists versions, shows the selected one, moves with the arrows, and compares two side by side', async () => {
    const store = await registry();
    const models = await listModels(store);
    const { lastFrame, stdin } = render(<Browser store={store} models={models} />);
    // Newest first: v2 is selected, its details load.
    await until(() => (lastFrame() ?? '').includes('off-policy on the holdout'), 'the first version’s details');
    let frame = lastFrame()!;
    expect(frame).toMatch(/tip-policy v2\s+@candidate/);
    expect(frame).toMatch(/tip-policy v1\s+@champion/);
    expect(frame).toMatch(/dr\s+0\.4700 \[0\.4500, 0\.4900\]/);
    expect(frame).toContain('⚠ flagged segments: night-owls');
    // Long lines wrap at the test terminal's width: read them as one line of words.
    expect(frame.replace(/\s+/g, ' ')).toMatch(/as tip-policy\/2: reward 0\.5200, vs uniform \+0\.0700 \[0\.0500, 0\.0900\]/);
    expect(frame).toContain('# Model card: tip-policy v2');
    // Past a line wider than the terminal: every line is cut at the width on its own.
    expect(frame).toContain('Trained thompson.');
    // Mark v2, go down to v1: the two side by side.
    stdin.write('c');
    await until(() => (lastFrame() ?? '').includes('◆'), 'the mark');
    stdin.write('\u001B[B');
    await until(() => (lastFrame() ?? '').includes('side by side'), 'the comparison');
    frame = lastFrame()!.replace(/\s+/g, ' ');
    expect(frame).toMatch(/side by side\s+tip-policy v2\s+tip-policy v1/);
    expect(frame).toMatch(/dr\s+0\.4700 \[0\.4500, 0\.4900\]\s+0\.4100 \[0\.3900, 0\.4300\]/);
    expect(frame).toMatch(/policy\s+thompson\s+linucb/);
    // Keys that arrive in one read (typed fast, held, pasted) each count: two k's go back up to v2.
    stdin.write('kk');
    await until(() => !(lastFrame() ?? '').includes('side by side'), 'the selection back on the marked version');
    // In order: a c after a j marks the row the j moved to.
    stdin.write('jc');
    await until(() => /›◆ tip-policy v1/.test(lastFrame() ?? ''), 'v1 selected and marked');
  });
});

describe('the models view in a small terminal', () => {
  it('fits 120 × 24, 80 × 24 and 40 × 12: the list scrolls with the selection, marked by a character, and no line is wider than the terminal', async () => {
    const store = await registry();
    const listed = await listModels(store);
    // Thirteen versions listed (the two of the registry, repeated), the selected one in the middle.
    const model = { ...listed[0]!, versions: Array.from({ length: 40 }, (_, i) => ({ ...listed[0]!.versions[i % 2]!, version: i + 1 })) };
    const rows = browserRows([model]);
    const details = await versionDetails(store, 'tip-policy', listed[0]!.versions[1]!);
    for (const [columns, height, error] of [[120, 24, null], [120, 24, 'cannot read tip-policy/3: boom'], [80, 24, null], [40, 12, null]] as const) {
      const frame = render(<ModelsView models={[model]} rows={rows} selected={20} details={details} marked={null} compare={null} error={error} columns={columns} height={height} />).lastFrame()!;
      const lines = frame.split('\n');
      // Shorter than the window: one as tall is redrawn by clearing the screen and its scrollback.
      expect(lines.length, `${columns} × ${height}`).toBeLessThan(height);
      expect(Math.max(...lines.map((l) => stripVTControlCharacters(l).length)), `${columns} × ${height}`).toBeLessThanOrEqual(columns);
      expect(frame).toMatch(/› {2}tip-policy v20\b/);
      expect(frame).toMatch(/↑ \d+ more/);
      expect(frame).toMatch(/↓ \d+ more/);
    }
  });
});
