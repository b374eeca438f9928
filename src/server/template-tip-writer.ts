/**
 * The embedded TipWriter: a deterministic template (the arm's title plus the request's context),
 * no network. The default of `oo-ml serve` until the prompt registry's writer (src/prompts/) is
 * wired in its place; tests use it for exact texts.
 */
import { invalidInput } from '../errors.js';
import { ARMS, armIndex } from '../features/arms.js';
import type { TipWriter } from './deps.js';

/** The one prompt version this writer knows. */
export const TEMPLATE_PROMPT_VERSION = 'template-v1';

const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'] as const;

/** Creates the template writer. */
export function createTemplateTipWriter(): TipWriter {
  return {
    promptVersionFor: () => TEMPLATE_PROMPT_VERSION,
    write(request) {
      const version = request.promptVersion ?? TEMPLATE_PROMPT_VERSION;
      if (version !== TEMPLATE_PROMPT_VERSION) {
        return Promise.reject(
          invalidInput(`unknown prompt_version "${version}"`, {
            hint: `the template writer knows only ${TEMPLATE_PROMPT_VERSION}`,
            details: [{ path: '/prompt_version', message: 'unknown prompt version' }],
          }),
        );
      }
      const c = request.context;
      const title = ARMS[armIndex(request.arm)]!.title;
      const first = c.task_titles?.[0]?.replace(/\s+/g, ' ').trim().slice(0, 60);
      const focus = first === undefined || first === '' ? '' : ` Start with “${first}”.`;
      const when = `${DAYS[c.day_of_week] ?? 'Today'} ${String(c.hour_of_day).padStart(2, '0')}:00`;
      const load = `${c.open_tasks} open, ${c.overdue_tasks} overdue`;
      return Promise.resolve({
        text: `${title}${focus} (${when}; ${load})`,
        prompt_version: version,
        provider: 'template',
        model: 'embedded-template',
      });
    },
  };
}
