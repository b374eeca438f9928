/** `oo-ml promote MODEL VERSION --to shadow|champion` and `oo-ml rollback MODEL`. */
import type { Command } from 'commander';
import { GATE_DR_MARGIN, GATE_RULES, type GateDecision } from '../../experiments/gate.js';
import { invalidUsage } from '../../errors.js';
import { parseIntFlag, parseNumberFlag } from '../flags.js';
import { action } from '../command.js';
import { keyValues } from '../format.js';

interface PromoteFlags {
  to: string;
  reason?: string;
  force?: boolean;
  drMargin: string;
  minShadowServes: string;
  minShadowHours: string;
}

/** The gate's checks as lines. */
export function renderDecision(d: GateDecision): string {
  return d.checks.map((c) => `  ${c.passed ? '✓' : '✗'} ${c.name}: ${c.detail}`).join('\n');
}

/** Registers `promote` and `rollback`. */
export function registerPromote(program: Command): void {
  action<PromoteFlags>(
    program
      .command('promote')
      .description('move a version to shadow or champion through the promotion gate')
      .argument('<model>', 'registered model')
      .argument('<version>', 'version number')
      .requiredOption('--to <alias>', 'shadow or champion')
      .option('--reason <text>', 'why (recorded in the model card)')
      .option('--force', 'override a failing gate (needs --reason; recorded as forced)')
      .option('--min-shadow-serves <n>', 'fewest shadow serves (in the event log, after `oo-ml ingest`) before a move to champion (recorded)', String(GATE_RULES.minShadowServes))
      .option('--min-shadow-hours <h>', 'fewest hours between the shadow’s first and last serve before a move to champion (recorded)', String(GATE_RULES.minShadowHours))
      .option('--dr-margin <x>', 'how much worse by DR (reward per decision) a new champion may be: the lower bound of the 95% interval of the paired DR difference must be ≥ −x (recorded)', String(GATE_DR_MARGIN)),
    async (ctx, flags, args) => {
      const [model, rawVersion] = args as [string, string];
      const version = parseIntFlag('VERSION', rawVersion, 1);
      if (flags.to !== 'shadow' && flags.to !== 'champion') throw invalidUsage(`--to must be shadow or champion, got "${flags.to}"`);
      const drMargin = parseNumberFlag('--dr-margin', flags.drMargin, 0, 1);
      const minShadowServes = parseIntFlag('--min-shadow-serves', flags.minShadowServes, 0);
      const minShadowHours = parseNumberFlag('--min-shadow-hours', flags.minShadowHours, 0, 24 * 365);
      const [{ openStore }, { promotionContext }, { promoteVersion }] = await Promise.all([
        import('../../registry/create-store.js'),
        import('../../experiments/evidence.js'),
        import('../../experiments/promotion.js'),
      ]);
      const result = await promoteVersion(
        promotionContext(openStore(ctx.config), ctx.config.paths, model, version, ctx.now),
        { model, version, to: flags.to, ...(flags.reason === undefined ? {} : { reason: flags.reason }), force: flags.force === true, rules: { drMargin, minShadowServes, minShadowHours } },
      );
      ctx.print(
        [
          `${model} v${version} → ${flags.to}${result.forced ? ' (forced)' : ''}`,
          renderDecision(result.decision),
          '',
          keyValues([
            ['aliases', Object.entries(result.aliases).map(([a, v]) => `@${a}=v${v}`).join(' ')],
            ['model card', result.card],
          ]),
        ].join('\n'),
        result,
      );
    },
  );

  action<{ reason?: string }>(
    program
      .command('rollback')
      .description('move champion back to the previous champion')
      .argument('<model>', 'registered model')
      .option('--reason <text>', 'why (recorded in the model card)', 'rollback'),
    async (ctx, flags, args) => {
      const p = ctx.config.paths;
      const [{ openStore }, { rollbackChampion }] = await Promise.all([import('../../registry/create-store.js'), import('../../experiments/promotion.js')]);
      const result = await rollbackChampion({ store: openStore(ctx.config), cardsDir: p.modelCards, tmpDir: p.tmp, now: ctx.now }, args[0]!, flags.reason);
      ctx.print(`${result.model}: champion v${result.from} → v${result.to}\nmodel card: ${result.card}`, result);
    },
  );
}
