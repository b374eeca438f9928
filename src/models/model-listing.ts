/**
 * What `oo-ml models` shows: registered models, their versions, aliases and headline metrics
 * (read from each version's training run: the policy's estimated value by DR with its interval,
 * and the logging policy's value). Written once over the Store.
 */
import { isOoMlError } from '../errors.js';
import { pendingOf, RETIRED_TAG, type PendingMove } from './pending-moves.js';
import type { Store } from '../registry/store.js';

/** A pending record in words. */
function describePending(p: PendingMove | 'unreadable' | null): string | null {
  if (p === null) return null;
  if (p === 'unreadable') return 'an interrupted command left an unreadable record';
  return `${p.command} interrupted at ${p.time}: ${p.moves.map((m) => `@${m.alias} → ${m.to === null ? 'removed' : `v${m.to}`}`).join(', ')} pending`;
}

/** Headline metrics of a version (from its run; null when not logged). */
export interface Headline {
  dr: number | null;
  /** DR's 95 % interval, null unless both ends were logged. */
  drCi95: [number, number] | null;
  loggingValue: number | null;
}

/** One version as listed. */
export interface ListedVersion {
  version: number;
  createdAt: string;
  runId: string;
  /** Its training run's status (null: no run, or the run is gone). */
  runStatus: string | null;
  aliases: readonly string[];
  policy: string | null;
  headline: Headline;
  /** What an interrupted command left on it (`oo-ml models --repair` finishes or retires it), else null. */
  interrupted: string | null;
  /** Why `--repair` retired it, else null. */
  retired: string | null;
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
      let runStatus: string | null = null;
      if (v.runId !== '') {
        try {
          const run = await store.getRun(v.runId);
          metrics = run.data.metrics;
          params = run.data.params;
          runStatus = run.info.status;
        } catch (e) {
          if (!isOoMlError(e, 'not_found')) throw e;
        }
      }
      const metric = (key: string): number | null => metrics[key]?.value ?? null;
      const drLow = metric(HEADLINE_METRICS.drLow);
      const drHigh = metric(HEADLINE_METRICS.drHigh);
      versions.push({
        version: v.version,
        createdAt: new Date(v.creationTimestamp).toISOString(),
        runId: v.runId,
        runStatus,
        aliases: v.aliases,
        policy: v.tags['oo-ml.policy'] ?? params['policy'] ?? null,
        headline: {
          dr: metric(HEADLINE_METRICS.dr),
          drCi95: drLow === null || drHigh === null ? null : [drLow, drHigh],
          loggingValue: metric(HEADLINE_METRICS.loggingValue),
        },
        interrupted: describePending(pendingOf(v)),
        retired: v.tags[RETIRED_TAG] ?? null,
      });
    }
    out.push({ name: m.name, aliases: m.aliases, updatedAt: new Date(m.lastUpdatedTimestamp).toISOString(), versions });
  }
  return out;
}
