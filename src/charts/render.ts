/**
 * Rendering a Vega-Lite chart server-side: Vega to SVG, resvg to PNG. No browser, no canvas.
 * Simulation curves and off-policy estimates are drawn with it.
 */
import type * as vl from 'vega-lite';

/** One rendered chart. */
export interface Chart {
  name: string;
  svg: string;
  png: Uint8Array;
}

/** Renders a Vega-Lite spec as `name` (SVG, and PNG at twice the size on white). */
export async function renderChart(name: string, spec: vl.TopLevelSpec): Promise<Chart> {
  // Loaded when a chart is drawn, not with the module: they were much of the library's import
  // time (BENCHMARKS.md, "Importing the library"), and Vega's top-level await kept
  // `require('oo-ml')` from loading at all.
  const [{ Resvg }, vega, vlc] = await Promise.all([import('@resvg/resvg-js'), import('vega'), import('vega-lite')]);
  const view = new vega.View(vega.parse(vlc.compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const png = new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, background: 'white' }).render().asPng();
  return { name, svg, png: new Uint8Array(png) };
}

/** The Vega-Lite schema every spec names. */
export const VEGA_LITE_SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
