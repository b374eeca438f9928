/** `oo-ml features list | build | export | training-set`. */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { contractHash } from '../../features/contract.js';
import { FEATURES, type FeatureDef } from '../../features/registry.js';
import { VECTOR_LAYOUTS, vectorNames, type VectorLayoutName } from '../../features/vectors.js';
import { parseTimeFlag } from '../flags.js';
import { action } from '../command.js';
import { keyValues, table } from '../format.js';

/** Human TTL: "1 day", "7 days", "never cached". */
function ttlText(f: FeatureDef): string {
  if (f.ttlSec === null) return 'never cached (JIT)';
  const days = f.ttlSec / 86_400;
  return Number.isInteger(days) ? `${days} day${days === 1 ? '' : 's'}` : `${f.ttlSec} s`;
}

/** The lines naming event ids stored more than once (read once), and those whose copies differ, when there are any. */
function copiesLines(copies: Record<string, number>, differing: Record<string, { ids: number; example: string }>): [string, string][] {
  const types = Object.entries(copies).filter(([, n]) => n > 0);
  if (types.length === 0) return [];
  const lines: [string, string][] = [['copies not read', `${types.map(([t, n]) => `${t} ${n}`).join(', ')} (event ids stored more than once; each read once, its first copy by time)`]];
  const differ = Object.entries(differing);
  if (differ.length > 0) {
    lines.push([
      'copies that differ',
      `${differ.map(([t, d]) => `${t} ${d.ids} (e.g. ${d.example})`).join(', ')}: event ids re-sent with other contents, not only another time; the first copy is read, check the producer`,
    ]);
  }
  return lines;
}

/** Registers the `features` commands. */
export function registerFeatures(program: Command): void {
  const features = program.command('features').description('feature contract, offline builds and snapshots');

  action(features.command('list').description('print the feature contract and the vector layouts'), async (ctx) => {
    const rows = (FEATURES as readonly FeatureDef[]).map((f) => [
      f.name,
      f.kind,
      f.dtype + (f.min !== undefined ? ` [${f.min}, ${f.max ?? '∞'}]` : ''),
      ttlText(f),
      f.source,
      f.fallback,
      f.description,
    ]);
    const layouts = (Object.keys(VECTOR_LAYOUTS) as VectorLayoutName[]).map(
      (l) => `${l} (D=${vectorNames(l).length}): ${vectorNames(l).join(', ')}`,
    );
    ctx.print(
      [
        table(['feature', 'kind', 'dtype', 'ttl', 'source', 'fallback', 'description'], rows),
        '',
        ...layouts,
        '',
        `contract hash: ${contractHash()}`,
      ].join('\n'),
      {
        contractHash: contractHash(),
        features: FEATURES,
        layouts: Object.fromEntries((Object.keys(VECTOR_LAYOUTS) as VectorLayoutName[]).map((l) => [l, vectorNames(l)])),
      },
    );
  });

  action<{ asOf?: string }>(
    features
      .command('build')
      .description('compute profile features as of a time, and their daily history, into the DuckDB warehouse')
      .option('--as-of <time>', 'ISO-8601 time (default: end of the last day with events, capped at now)'),
    async (ctx, flags) => {
      const asOf = flags.asOf === undefined ? undefined : parseTimeFlag('--as-of', flags.asOf);
      const p = ctx.config.paths;
      const { buildFeatures } = await import('../../pipelines/feature-build.js');
      const s = await buildFeatures({
        eventsDir: p.events,
        warehouse: p.warehouse,
        featuresDir: p.features,
        tmpDir: p.tmp,
        now: ctx.now(),
        ...(asOf === undefined ? {} : { asOf }),
      });
      ctx.print(
        keyValues([
          ['as of', s.asOf],
          ['users', s.users],
          ['history rows', s.historyRows],
          ['events in the log', `${Object.values(s.events).reduce((a, b) => a + b, 0)} (each event id once; the features count those before the as-of)`],
          ...copiesLines(s.copies, s.differingCopies),
          ['warehouse', s.warehouse],
          ['parquet', s.featuresDir],
          ['contract', s.contractHash.slice(0, 16)],
        ]),
        s,
      );
    },
  );

  action<{ out?: string }>(
    features
      .command('export')
      .description('export the latest profile features as an Arrow IPC snapshot with a manifest')
      .option('--out <dir>', 'snapshot folder (default <home>/data/snapshots)'),
    async (ctx, flags) => {
      const p = ctx.config.paths;
      const { exportSnapshot } = await import('../../pipelines/snapshot-files.js');
      const s = await exportSnapshot({
        warehouse: p.warehouse,
        outDir: flags.out === undefined ? p.snapshots : resolve(flags.out),
        tmpDir: p.tmp,
        now: ctx.now(),
      });
      ctx.print(
        keyValues([
          ['snapshot', s.snapshotId],
          ['folder', s.dir],
          ['rows', s.rows],
          ['bytes', s.bytes],
          ['as of', s.asOf],
          ['sha256', s.sha256],
        ]),
        s,
      );
    },
  );

  action<{ out?: string }>(
    features
      .command('training-set')
      .description('join every logged serve to its point-in-time features and reward (Parquet)')
      .option('--out <file>', 'output file (default <home>/data/training-set.parquet)'),
    async (ctx, flags) => {
      const p = ctx.config.paths;
      const { buildTrainingSet } = await import('../../pipelines/training-set.js');
      const s = await buildTrainingSet({
        eventsDir: p.events,
        warehouse: p.warehouse,
        out: flags.out === undefined ? p.trainingSet : resolve(flags.out),
        tmpDir: p.tmp,
      });
      ctx.print(
        keyValues([
          ['training set', s.out],
          ['rows', s.rows],
          ['reward rate', s.rows > 0 ? (s.positives / s.rows).toFixed(4) : '–'],
          ['serves', `${s.from} … ${s.to}`],
          ['immature excluded', `${s.immatureExcluded} (reward window still open at the as-of)`],
          ['after the as-of', s.afterAsOf],
          ...(s.conflictingServes === null
            ? []
            : ([['serves that conflict', `${s.conflictingServes.ids} (e.g. ${s.conflictingServes.example}): serve ids logged again with another arm or propensity; the first by time is the row, check the producer`]] as [string, string][])),
          ...(s.eventLogChecked
            ? []
            : ([['event log', 'not checked against the warehouse: an earlier oo-ml built it without recording which log it read; run `oo-ml features build` again to have it checked']] as [string, string][])),
          ['as of', s.asOf],
        ]),
        s,
      );
    },
  );
}
