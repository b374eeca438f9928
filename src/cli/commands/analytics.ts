/** `oo-ml analytics prompts`: reactions and reward per prompt version, with 95% intervals. */
import type { Command } from 'commander';
import type { PromptAnalytics } from '../../pipelines/prompt-analytics.js';
import { action } from '../command.js';
import { table } from '../format.js';

const rate = (x: number): string => x.toFixed(4);
const signed = (x: number): string => (x >= 0 ? '+' : '') + x.toFixed(4);

/** Plain-text rendering of the report. */
export function renderPromptAnalytics(r: PromptAnalytics): string {
  const kinds = Object.keys(r.versions[0]?.reactions ?? {}) as (keyof PromptAnalytics['versions'][number]['reactions'])[];
  const rows = r.versions.map((v) => [
    v.promptVersion ?? '(none)',
    String(v.serves),
    ...kinds.map((k) => String(v.reactions[k])),
    `${rate(v.rewardRate)} [${rate(v.ci95[0])}, ${rate(v.ci95[1])}]`,
    v.promptVersion === r.baseline
      ? 'baseline'
      : v.diffVsBaseline === null
        ? '–'
        : `${signed(v.diffVsBaseline.diff)} [${signed(v.diffVsBaseline.ci95[0])}, ${signed(v.diffVsBaseline.ci95[1])}]`,
  ]);
  return [
    table(['prompt', 'serves', ...kinds, 'reward rate [95% CI]', `Δ vs ${r.baseline} [95% CI]`], rows),
    '',
    `serves: ${r.totalServes} (shadow serves excluded: ${r.shadowServesExcluded})` +
      (r.baselinePresent ? '' : `; no ${r.baseline} serves, so no differences`),
    `reward: ${r.method.reward}; reactions: the feedback that settled each serve within its reward window (numeric: a reward given as a number; late: feedback after that, reward 0)`,
    'intervals: Wilson score (rates), Newcombe hybrid score (differences); serves treated as independent',
    // The serve event is recorded before its text is written (src/prompts/tip-writer.ts).
    'by the prompt version each serve recorded: a tip the model failed to write (the template, after a fallback) counts under its version too; /metrics counts fallbacks (oo_ml_tips_generated_total)',
  ].join('\n');
}

/** Registers the `analytics` commands. */
export function registerAnalytics(program: Command): void {
  const analytics = program.command('analytics').description('analyses over the event log');
  action(
    analytics.command('prompts').description('reactions and reward rate per prompt version, with 95% intervals and the difference to v1'),
    async (ctx) => {
      const { analyzePrompts } = await import('../../pipelines/prompt-analytics.js');
      const report = await analyzePrompts({ eventsDir: ctx.config.paths.events });
      ctx.print(renderPromptAnalytics(report), report);
    },
  );
}
