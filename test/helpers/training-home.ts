/** A home whose data steps ran as library calls: a synthetic event log, its features, its training set. */
import type { HomePaths } from '../../src/config.js';
import { buildFeatures } from '../../src/pipelines/feature-build.js';
import { DEFAULT_SYNTH_START, synthesize } from '../../src/pipelines/synth.js';
import { buildTrainingSet } from '../../src/pipelines/training-set.js';
import { tempHome } from './temp-home.js';

/** A fresh home with `users` synthetic users over `days` days (seed `seed`), features built at `now`, and the training set. */
export async function homeWithTrainingSet(options: { users: number; days: number; seed: number; now: Date }): Promise<HomePaths> {
  const h = await tempHome();
  await synthesize({ users: options.users, days: options.days, seed: options.seed, start: DEFAULT_SYNTH_START, eventsDir: h.events, tmpDir: h.tmp });
  await buildFeatures({ eventsDir: h.events, warehouse: h.warehouse, featuresDir: h.features, tmpDir: h.tmp, now: options.now });
  await buildTrainingSet({ eventsDir: h.events, warehouse: h.warehouse, out: h.trainingSet, tmpDir: h.tmp });
  return h;
}
