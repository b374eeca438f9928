/**
 * The container of `oo-ml dash`: polls `GET /stats` of every replica each interval, keeps the
 * recent samples, and renders DashView; q quits, p pauses, tab and the arrow keys switch panels.
 * A replica that goes away is shown as down and polled again every interval; nothing it does
 * throws a stack at the user. Every answer is validated against the /stats schema, so a server of
 * another version is named as such instead of drawing nonsense.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { renderToString, useApp, useInput, useStdout } from 'ink';
import type { ViewEnd } from '../live-terminal.js';
import { runView } from '../run-view.js';
import { useEffect, useRef, useState } from 'react';
import { errnoOf } from '../../../errors.js';
import { StatsResponse } from '../../../server/schemas.js';
import { createValidator } from '../../../validation.js';
import { DashView, PANELS, type Panel } from './DashView.js';
import { dashFigures, type DashFigures, type ReplicaHistory, type Sample } from './figures.js';

/** Samples kept per replica (10 minutes at the default interval). */
const KEPT = 600;

const statsValidator = createValidator(StatsResponse);

/** One poll of `url`'s /stats: the body, or why there is none (never throws). */
export async function pollStats(url: string, timeoutMs: number, now: () => number = Date.now): Promise<Sample> {
  try {
    const res = await fetch(`${url.replace(/\/+$/, '')}/stats`, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
    if (!res.ok) return { at: now(), stats: null, error: `GET /stats answered ${res.status}` };
    const body: unknown = await res.json();
    if (!statsValidator.check(body)) {
      const first = statsValidator.issues(body)[0];
      return { at: now(), stats: null, error: `GET /stats answered a body this dash does not read (${first === undefined ? 'unknown shape' : `${first.path}: ${first.message}`}): another oo-ml version?` };
    }
    return { at: now(), stats: body, error: null };
  } catch (e) {
    return { at: now(), stats: null, error: describeFailure(e, timeoutMs) };
  }
}

/** A fetch failure in a few words (the errno behind undici's "fetch failed", or a timeout). */
function describeFailure(e: unknown, timeoutMs: number): string {
  if (e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')) return `no answer within ${timeoutMs} ms`;
  const code = errnoOf(e);
  if (code !== undefined) return code;
  // No errno (fetch refusing a port, say): the innermost message says why.
  let innermost = e instanceof Error ? e.message : String(e);
  for (let cur: unknown = e; cur instanceof Error; cur = cur.cause) if (cur.message !== '') innermost = cur.message;
  return innermost;
}

/** Options of the dashboard. */
export interface DashOptions {
  urls: readonly string[];
  intervalMs: number;
}

function Dash({ urls, intervalMs, onInterrupt }: DashOptions & { onInterrupt?: () => void }) {
  const { exit } = useApp();
  const { stdout } = useStdout();
  const [rows, setRows] = useState(stdout.rows ?? 24);
  const [columns, setColumns] = useState(stdout.columns ?? 120);
  useEffect(() => {
    const resized = (): void => {
      setRows(stdout.rows ?? 24);
      setColumns(stdout.columns ?? 120);
    };
    stdout.on('resize', resized);
    return () => {
      stdout.off('resize', resized);
    };
  }, [stdout]);
  const [histories, setHistories] = useState<ReplicaHistory[]>(() => urls.map((url) => ({ url, samples: [] })));
  const [panel, setPanel] = useState<Panel>('overview');
  const [paused, setPaused] = useState(false);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;

  useEffect(() => {
    let stopped = false;
    let timer: NodeJS.Timeout | null = null;
    const tick = async (): Promise<void> => {
      if (!pausedRef.current) {
        const samples = await Promise.all(urls.map((u) => pollStats(u, Math.max(1000, intervalMs))));
        if (stopped) return;
        setHistories((hs) => hs.map((h, i) => ({ url: h.url, samples: [...h.samples.slice(-(KEPT - 1)), samples[i]!] })));
      }
      if (!stopped) timer = setTimeout(() => void tick(), intervalMs);
    };
    void tick();
    return () => {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
    };
  }, [urls, intervalMs]);

  const turn = (by: number): void => setPanel((p) => PANELS[(PANELS.indexOf(p) + PANELS.length + by) % PANELS.length]!);
  useInput((input, key) => {
    if (key.ctrl && input === 'c') {
      onInterrupt?.();
      return exit();
    }
    // Esc quits as in `oo-ml models` (live-terminal.ts' views end on q or Esc).
    if (key.escape) return exit();
    if (key.tab) return turn(key.shift ? -1 : 1);
    if (key.rightArrow) return turn(1);
    if (key.leftArrow) return turn(-1);
    // Keys held down, pasted or typed while busy arrive as one string: each counts.
    for (const ch of input) {
      if (ch === 'q') return exit();
      if (ch === 'p') setPaused((p) => !p);
      else if (ch === '\t') turn(1);
    }
  });

  return <DashView figures={dashFigures(histories)} panel={panel} paused={paused} intervalMs={intervalMs} height={rows} columns={columns} />;
}

/** Runs the live dashboard on the terminal until q or Ctrl-C; says which ended it. */
export function runDash(options: DashOptions): Promise<ViewEnd> {
  return runView((onInterrupt) => <Dash {...options} onInterrupt={onInterrupt} />);
}

/**
 * One frame of every replica, rendered as text (a pipe, or `--once`): the overview and the
 * policies. A request rate needs two polls, so a second is made one interval (at most a second)
 * after the first, unless no replica answered the first.
 */
export async function dashOnce(options: DashOptions, columns = 120): Promise<{ text: string; up: number; figures: DashFigures }> {
  const poll = (): Promise<Sample[]> => Promise.all(options.urls.map((u) => pollStats(u, Math.max(1000, options.intervalMs))));
  const first = await poll();
  let second: Sample[] | null = null;
  if (first.some((s) => s.stats !== null)) {
    // At most a second apart: a script waiting on a long --interval learns nothing more from the wait.
    await sleep(Math.min(options.intervalMs, 1000));
    second = await poll();
  }
  const figures = dashFigures(options.urls.map((url, i) => ({ url, samples: second === null ? [first[i]!] : [first[i]!, second[i]!] })));
  // Every panel with something to show: the replicas panel only for more than one.
  const panels = PANELS.filter((p) => p !== 'replicas' || figures.replicas.length > 1);
  const text = panels
    .map((panel, i) => renderToString(<DashView figures={figures} panel={panel} paused={false} intervalMs={options.intervalMs} live={false} header={i === 0} columns={columns} />, { columns }))
    .join('\n');
  return { text, up: figures.replicas.filter((r) => r.up).length, figures };
}
