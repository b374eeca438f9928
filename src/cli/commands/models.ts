/** `oo-ml models [MODEL]`: registered models, versions, aliases and headline metrics. */
import type { Command } from 'commander';
import type { ListedModel } from '../../registry/model-listing.js';
import { action } from '../command.js';
import { table } from '../format.js';

const num = (x: number | null): string => (x === null ? '–' : x.toFixed(4));

/** Plain-text rendering of the listing. */
export function renderModels(models: readonly ListedModel[]): string {
  if (models.length === 0) return 'no registered models (train one with `oo-ml train --policy linucb`)';
  return models
    .map((m) => {
      const aliases = Object.entries(m.aliases).map(([a, v]) => `@${a}=v${v}`).join(' ');
      const rows = [...m.versions]
        .reverse()
        .map((v) => [
          `v${v.version}`,
          v.policy ?? '–',
          v.createdAt.replace('T', ' ').slice(0, 19),
          v.aliases.join(', '),
          v.headline.dr === null ? '–' : `${num(v.headline.dr)} [${num(v.headline.drLow)}, ${num(v.headline.drHigh)}]`,
          num(v.headline.loggingValue),
        ]);
      return `${m.name}  ${aliases}\n${table(['version', 'policy', 'created (UTC)', 'aliases', 'DR value [95% CI]', 'logging value'], rows)}`;
    })
    .join('\n\n');
}

/** Registers `models`. */
export function registerModels(program: Command): void {
  action(
    program.command('models').description('list registered models with versions, aliases and headline metrics').argument('[model]', 'only this model'),
    async (ctx, _flags, args) => {
      const [{ createStore }, { listModels }] = await Promise.all([import('../../registry/create-store.js'), import('../../registry/model-listing.js')]);
      const store = createStore(ctx.config.trackingUri);
      const models = await listModels(store, args[0]);
      ctx.print(renderModels(models), { models });
    },
  );
}
