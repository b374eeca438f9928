/** `oo-ml models [MODEL]`: registered models, versions, aliases and headline metrics. */
import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import type { ListedModel } from '../../models/model-listing.js';
import { notFound } from '../../errors.js';
import { action } from '../command.js';
import { drawEveryFrame, exitAsInterrupted } from '../ui/live-terminal.js';
import { table } from '../format.js';

const num = (x: number | null): string => (x === null ? '–' : x.toFixed(4));

/** Plain-text rendering of the listing. */
export function renderModels(models: readonly ListedModel[]): string {
  if (models.length === 0) return 'no registered models (train one with `oo-ml train --policy linucb`)';
  const listing = models
    .map((m) => {
      const aliases = Object.entries(m.aliases).map(([a, v]) => `@${a}=v${v}`).join(' ');
      const rows = [...m.versions]
        .reverse()
        .map((v) => [
          `v${v.version}`,
          v.policy ?? '–',
          v.createdAt.replace('T', ' ').slice(0, 19),
          v.aliases.join(', '),
          v.headline.dr === null ? '–' : `${num(v.headline.dr)} [${(v.headline.drCi95 ?? [null, null]).map(num).join(', ')}]`,
          num(v.headline.loggingValue),
          v.interrupted ?? (v.retired === null ? (v.runStatus === 'FINISHED' || v.runStatus === null ? '' : `run ${v.runStatus}`) : `retired: ${v.retired}`),
        ]);
      return `${m.name}  ${aliases}\n${table(['version', 'policy', 'created (UTC)', 'aliases', 'DR value [95% CI]', 'logging value', 'state'], rows)}`;
    })
    .join('\n\n');
  const interrupted = models.flatMap((m) => m.versions.filter((v) => v.interrupted !== null));
  return interrupted.length === 0 ? listing : `${listing}\n\n${interrupted.length} version(s) left by an interrupted command: \`oo-ml models --repair\` finishes what can be finished and retires the rest`;
}

/** Registers `models`. */
export function registerModels(program: Command): void {
  action(
    program
      .command('models')
      .description('browse (on a terminal) or list registered models: versions, aliases, headline metrics, evaluations, simulations, cards; what an interrupted command left')
      .argument('[model]', 'only this model')
      .option('--repair', 'finish the alias moves an interrupted train/promote/rollback left when its version is complete, retire the others; then list'),
    async (ctx, flags: { repair?: boolean }, args) => {
      const [{ openStore }, { listModels }] = await Promise.all([import('../../registry/create-store.js'), import('../../models/model-listing.js')]);
      // Listing creates nothing: a home that does not exist (a mistyped --home) is reported, and
      // a home without a registry yet has no models, and gets no empty registry either.
      const root = /^file:/i.test(ctx.config.trackingUri) ? fileURLToPath(ctx.config.trackingUri) : null;
      if (root !== null && !existsSync(root)) {
        if (!existsSync(dirname(root)) || !statSync(dirname(root)).isDirectory()) {
          throw notFound(`no folder ${dirname(root)}: no MLflow registry at ${root}`, { hint: 'check --home (or MLFLOW_TRACKING_URI)' });
        }
        ctx.print([...(flags.repair === true ? ['nothing to repair', ''] : []), renderModels([])].join('\n'), { models: [], ...(flags.repair === true ? { repairs: [] } : {}) });
        return;
      }
      const store = openStore(ctx.config);
      const repairs = [];
      if (flags.repair === true) {
        const { repairModel } = await import('../../models/pending-moves.js');
        const names = args[0] === undefined ? (await store.searchRegisteredModels()).map((m) => m.name) : [args[0]];
        for (const name of names) repairs.push(...(await repairModel({ store, cardsDir: ctx.config.paths.modelCards, tmpDir: ctx.config.paths.tmp, now: ctx.now }, name)));
      }
      const models = await listModels(store, args[0]);
      // On a terminal (and not --json or --repair), the interactive browser.
      if (flags.repair !== true && !ctx.json && process.stdout.isTTY === true && process.stdin.isTTY === true) {
        drawEveryFrame();
        const { browseModels } = await import('../ui/models/models-live.js');
        if ((await browseModels(store, models)) === 'interrupted') exitAsInterrupted();
        return;
      }
      const repaired = repairs.map((r) => `${r.outcome} ${r.model}${r.version === null ? '' : ` v${r.version}`} (${r.command}): ${r.why}`);
      ctx.print([...(flags.repair === true ? [repaired.length === 0 ? 'nothing to repair' : repaired.join('\n'), ''] : []), renderModels(models)].join('\n'), { models, ...(flags.repair === true ? { repairs } : {}) });
    },
  );
}
