/**
 * Charts of a simulation: cumulative reward and cumulative expected regret over rounds, one line
 * per policy (averaged over replications) in its 95% band over the replications, rendered by
 * charts/render.ts.
 */
import type * as vl from 'vega-lite';
import { renderChart as render, VEGA_LITE_SCHEMA, type Chart } from '../charts/render.js';
import type { SimResults } from './summary.js';

export type { Chart } from '../charts/render.js';

function spec(title: string, yTitle: string, curves: Record<string, number[]>, bands: Record<string, [number, number][]> | undefined, rounds: number[]): vl.TopLevelSpec {
  const values = Object.entries(curves).flatMap(([policy, ys]) =>
    ys.map((y, i) => ({ round: rounds[i]! + 1, policy, value: y, low: bands?.[policy]?.[i]?.[0] ?? y, high: bands?.[policy]?.[i]?.[1] ?? y })),
  );
  const x = { field: 'round', type: 'quantitative', title: 'round (simulated hour)' } as const;
  // Full names in the legend: they are how a reader tells tip-policy@candidate from @champion.
  const color = { field: 'policy', type: 'nominal', legend: { labelLimit: 0, orient: 'bottom', columns: 2 } } as const;
  return {
    $schema: VEGA_LITE_SCHEMA,
    width: 560,
    height: 300,
    title,
    data: { values },
    layer: [
      { mark: { type: 'area', opacity: 0.18 }, encoding: { x, y: { field: 'low', type: 'quantitative', title: yTitle }, y2: { field: 'high' }, color } },
      { mark: { type: 'line', strokeWidth: 2 }, encoding: { x, y: { field: 'value', type: 'quantitative', title: yTitle }, color } },
    ],
  };
}

/** Renders the cumulative reward and regret charts of `results`. */
export async function renderSimCharts(results: SimResults): Promise<Chart[]> {
  const { rounds, cumReward, cumRegret, cumRewardBand, cumRegretBand } = results.curves;
  const reps = `mean over ${results.options.reps} replications, 95% band`;
  return [
    await render('cumulative-reward', spec(`Cumulative reward (${reps})`, 'cumulative reward', cumReward, cumRewardBand, rounds)),
    await render('cumulative-regret', spec(`Cumulative expected regret vs oracle (${reps})`, 'cumulative regret', cumRegret, cumRegretBand, rounds)),
  ];
}
