/** `oo-ml dash [--url URL]… [--interval MS] [--once]`: a live terminal view of running `oo-ml serve` replicas. */
import type { Command } from 'commander';
import { invalidUsage, unavailable } from '../../errors.js';
import { redactUrl } from '../../redact.js';
import { action } from '../command.js';
import { drawEveryFrame, exitAsInterrupted } from '../ui/live-terminal.js';
import { parseIntFlag } from '../flags.js';

interface DashFlags {
  url?: string[];
  interval: string;
  once?: boolean;
}

/** The default: what `oo-ml serve` listens on. */
const DEFAULT_URL = 'http://127.0.0.1:8080';

/** Checked replica URLs (http(s), no path beyond the root). */
function checkUrls(raw: readonly string[]): string[] {
  const urls = raw.length === 0 ? [DEFAULT_URL] : raw;
  return urls.map((u) => {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw invalidUsage(`--url "${redactUrl(u)}" is not a URL`, { hint: `e.g. --url ${DEFAULT_URL}` });
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw invalidUsage(`--url "${redactUrl(u)}" must be an http(s) URL`, { hint: `e.g. --url ${DEFAULT_URL}` });
    return u.replace(/\/+$/, '');
  });
}

/** Registers `dash`. */
export function registerDash(program: Command): void {
  action<DashFlags>(
    program
      .command('dash')
      .description('live view of running `oo-ml serve` replicas: requests/s, latency, errors, policies and shadows, prompts, snapshot age, bus')
      .option('--url <url>', `a replica's base URL, repeat for several: the view sums them and shows each (default ${DEFAULT_URL})`, (v: string, acc: string[] | undefined) => [...(acc ?? []), v])
      .option('--interval <ms>', 'poll every MS milliseconds (at least 100)', '1000')
      .option('--once', 'poll twice, one interval apart (at most a second; the request rate needs two), print the panels as text (overview, policies, prompts; replicas when several), and exit (the default without a terminal)'),
    async (ctx, flags) => {
      const urls = checkUrls(flags.url ?? []);
      const intervalMs = parseIntFlag('--interval', flags.interval, 100, 3_600_000);
      const live = flags.once !== true && process.stdout.isTTY === true && process.stdin.isTTY === true;
      if (live) drawEveryFrame();
      const { dashOnce, runDash } = await import('../ui/dash/dash-live.js');
      if (!live) {
        const { text, up, figures } = await dashOnce({ urls, intervalMs }, process.stdout.columns ?? 120);
        const none = unavailable(`no replica answered GET /stats (${urls.map(redactUrl).join(', ')})`, { hint: 'start one with `oo-ml serve`, or pass its --url' });
        // With --json a failure is the error document alone; on a terminal the panels show what was tried.
        if (up === 0 && ctx.json) throw none;
        ctx.print(text, figures);
        if (up === 0) throw none;
        // Some down: the panels said which; the exit code tells a script (a health check, cron) too.
        if (up < urls.length) {
          const down = figures.replicas.filter((r) => !r.up).map((r) => `${redactUrl(r.url)}${r.error === null ? '' : ` (${r.error})`}`);
          throw unavailable(`${urls.length - up} of ${urls.length} replicas did not answer GET /stats: ${down.join(', ')}`, { hint: ctx.json ? 'the figures on stdout hold what the others answered' : 'the panels above show what the others answered' });
        }
        return;
      }
      if ((await runDash({ urls, intervalMs })) === 'interrupted') exitAsInterrupted();
    },
  );
}
