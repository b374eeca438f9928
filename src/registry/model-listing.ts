/**
 * What `oo-ml models` shows: registered models, their versions, aliases and headline metrics
 * (read from each version's training run: the policy's estimated value by DR with its interval,
 * and the logging policy's value). Written once over the Store.
 */
import { isOoMlError } from '../errors.js';
import type { Store } from './store.js';

/** Headline metrics of a version (from its run; null when not logged). */
export interface Headline {
  dr: number | null;
  drLow: number | null;
  drHigh: number | null;
  loggingValue: number | null;
}

/** One version as listed. */
export interface ListedVersion {
  version: number;
  createdAt: string;
  runId: string;
  aliases: readonly string[];
  policy: string | null;
  headline: Headline;
}

/** One model as listed. */
export interface ListedModel {
  name: string;
  aliases: Readonly<Record<string, number>>;
  updatedAt: string;
  versions: ListedVersion[];
}

/** Run metric keys the training job logs and the listing reads. */
export const HEADLINE_METRICS = { dr: 'ope/dr', drLow: 'ope/dr_ci_low', drHigh: 'ope/dr_ci_high', loggingValue: 'logging/value' } as const;

/** Lists every registered model (or only `name`, which must exist). */
export async function listModels(store: Store, name?: string): Promise<ListedModel[]> {
  const models = name === undefined ? await store.searchRegisteredModels() : [await store.getRegisteredModel(name)];
  const out: ListedModel[] = [];
  for (const m of models) {
    const versions: ListedVersion[] = [];
    for (const v of await store.searchModelVersions(m.name)) {
      let metrics: Readonly<Record<string, { value: number }>> = {};
      let params: Readonly<Record<string, string>> = {};
      if (v.runId !== '') {
        try {
          const run = await store.getRun(v.runId);
          metrics = run.data.metrics;
          params = run.data.params;
        } catch (e) {
          if (!isOoMlError(e, 'not_found')) throw e;
        }
      }
      const metric = (key: string): number | null => metrics[key]?.value ?? null;
      versions.push({
        version: v.version,
        createdAt: new Date(v.creationTimestamp).toISOString(),
        runId: v.runId,
        aliases: v.aliases,
        policy: v.tags['oo-ml.policy'] ?? params['policy'] ?? null,
        headline: {
          dr: metric(HEADLINE_METRICS.dr),
          drLow: metric(HEADLINE_METRICS.drLow),
          drHigh: metric(HEADLINE_METRICS.drHigh),
          loggingValue: metric(HEADLINE_METRICS.loggingValue),
        },
      });
    }
    out.push({ name: m.name, aliases: m.aliases, updatedAt: new Date(m.lastUpdatedTimestamp).toISOString(), versions });
  }
  return out;
}
