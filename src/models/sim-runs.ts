/** How simulations are logged, as their writer (pipelines/simulation.ts) and their readers (the models browser) agree. */

/** The experiment of `oo-ml sim` runs. */
export const SIM_EXPERIMENT = 'oo-ml-sim';

/** The run metric key of one entrant's figure (`sim/<entrant>/<what>`, the entrant's name made a valid MLflow key). */
export function simMetricKey(entrant: string, what: string): string {
  return `sim/${entrant.replace(/[^A-Za-z0-9_\-. /]/g, '_')}/${what}`;
}
