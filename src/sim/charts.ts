/**
 * Charts of a simulation: cumulative reward and cumulative expected regret over rounds, one line
 * per policy (averaged over replications), as Vega-Lite specs rendered server-side by Vega to SVG
 * and by resvg to PNG. No browser, no canvas.
 */
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { SimResults } from './summary.js';

/** One rendered chart. */
export interface Chart {
  name: string;
  svg: string;
  png: Uint8Array;
}

function spec(title: string, yTitle: string, curves: Record<string, number[]>, rounds: number[]): vl.TopLevelSpec {
  const values = Object.entries(curves).flatMap(([policy, ys]) => ys.map((y, i) => ({ round: rounds[i]! + 1, policy, value: y })));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    width: 560,
    height: 300,
    title,
    data: { values },
    mark: { type: 'line', strokeWidth: 2 },
    encoding: {
      x: { field: 'round', type: 'quantitative', title: 'round (simulated hour)' },
      y: { field: 'value', type: 'quantitative', title: yTitle },
      color: { field: 'policy', type: 'nominal' },
    },
  };
}

async function render(name: string, s: vl.TopLevelSpec): Promise<Chart> {
  const view = new vega.View(vega.parse(vl.compile(s).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const png = new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, background: 'white' }).render().asPng();
  return { name, svg, png: new Uint8Array(png) };
}

/** Renders the cumulative reward and regret charts of `results`. */
export async function renderSimCharts(results: SimResults): Promise<Chart[]> {
  const { rounds, cumReward, cumRegret } = results.curves;
  const reps = `mean over ${results.options.reps} replications`;
  return [
    await render('cumulative-reward', spec(`Cumulative reward (${reps})`, 'cumulative reward', cumReward, rounds)),
    await render('cumulative-regret', spec(`Cumulative expected regret vs oracle (${reps})`, 'cumulative regret', cumRegret, rounds)),
  ];
}
