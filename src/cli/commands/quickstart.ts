/**
 * `oo-ml quickstart`: the whole loop on embedded defaults and small data, in a fresh home
 * (default ./oo-ml-quickstart; an earlier quickstart there is moved to <folder>.previous, see
 * prepareQuickstartHome). Each step is one library call; its output location is printed.
 */
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { action } from '../command.js';
import type { StepResult } from '../../pipelines/quickstart.js';

/** Registers `quickstart`. */
export function registerQuickstart(program: Command): void {
  action(
    program
      .command('quickstart')
      .description('run the whole loop on embedded defaults in ./oo-ml-quickstart (or --home); an earlier quickstart there is moved to <folder>.previous'),
    async (ctx) => {
      const results: StepResult[] = [];
      const { prepareQuickstartHome, quickstartSteps, QUICKSTART_IGNORES } = await import('../../pipelines/quickstart.js');
      const ignored = QUICKSTART_IGNORES.filter((name) => (process.env[name] ?? '').trim() !== '');
      if (ignored.length > 0) ctx.note(`the quickstart runs on embedded defaults: ${ignored.join(', ')} ${ignored.length === 1 ? 'is' : 'are'} set and left alone`);
      const moved = await prepareQuickstartHome(ctx.config.paths.home);
      if (moved !== null) ctx.note(`the previous quickstart was moved to ${moved}`);
      const all = quickstartSteps(ctx);
      ctx.note(`oo-ml quickstart in ${ctx.config.paths.home}`);
      for (const [i, [step, run]] of all.entries()) {
        ctx.note(`[${i + 1}/${all.length}] ${step} …`);
        const r = await run();
        results.push({ step, ...r });
        ctx.note(`      ${r.summary}\n      → ${r.output}`);
      }
      const cardPath = `${ctx.config.paths.modelCards}/tip-policy.md`;
      const card = await readFile(cardPath, 'utf8');
      ctx.print(
        [
          `quickstart finished: ${results.length} steps in ${ctx.config.paths.home}`,
          ...results.map((r) => `  ${r.step.padEnd(24)} → ${r.output}`),
          ...results.flatMap((r) => (r.details === undefined ? [] : ['', `── ${r.step} ──`, ...r.details])),
          '',
          `── model card (${cardPath}) ──`,
          '',
          card,
          '── next ──',
          `  oo-ml serve --home ${ctx.config.paths.home}`,
          "      the scorer on this home. Its events are synthetic, from January 2026: on today's clock it warns that the",
          "      snapshot is past its features' TTL and scores on their fallbacks, as a server on an old snapshot would",
          `  oo-ml models --home ${ctx.config.paths.home}`,
          '      the registry: versions, aliases, estimates, model card',
          '  oo-ml dash',
          '      the running server, live',
        ].join('\n'),
        { home: ctx.config.paths.home, steps: results, card: cardPath },
      );
    },
    { home: 'oo-ml-quickstart' },
  );
}
