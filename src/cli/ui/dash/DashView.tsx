/**
 * The `oo-ml dash` screen: a header with the keys, the loud warnings (a replica down, a snapshot
 * past its features' TTL, the bus degraded), then one of four panels — overview, policies,
 * prompts, replicas. Props only; dash-live.tsx polls and feeds it.
 */
import { Box, Text } from 'ink';
import { intervalBar, Sparkline } from '../components.js';
import type { DashFigures, PolicyRow, ReplicaFigures } from './figures.js';
import type { ShadowEstimate } from '../../../server/shadow-estimates.js';

/** The panels, in tab order. */
export const PANELS = ['overview', 'policies', 'prompts', 'replicas'] as const;
export type Panel = (typeof PANELS)[number];

/** Props of DashView. */
export interface DashViewProps {
  figures: DashFigures;
  panel: Panel;
  paused: boolean;
  intervalMs: number;
  /** False for a single poll printed as text (--once, a pipe): no keys, no retries to mention. */
  live?: boolean;
  /** False to leave out the header and warnings (a second panel printed under the first). */
  header?: boolean;
  /**
   * The terminal's rows, live: the frame stays shorter (the panel's end is cut). A frame as tall
   * as the window makes ink clear the screen and its scrollback at every poll, and scrolls the
   * header and key help away. The frame's parts do not shrink (flexShrink 0): shrunk, ink draws
   * their lines over one another instead of cutting the end.
   */
  height?: number;
  /** The terminal's columns: below 120 the tables drop their interval bars and empty columns, and lines are cut, not wrapped. */
  columns?: number;
}

const fixed = (x: number | null | undefined, digits = 1): string => (x === null || x === undefined ? '–' : x.toFixed(digits));

/** A duration in s as a short human figure (45 s, 12 min, 3.2 h, 2.1 d). */
export function age(seconds: number): string {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 129_600) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86_400).toFixed(1)} d`;
}

/** The dashboard. */
export function DashView({ figures, panel, paused, intervalMs, live = true, header = true, height, columns = 120 }: DashViewProps) {
  const up = figures.replicas.filter((r) => r.up).length;
  const unready = figures.replicas.filter((r) => r.up && r.notReady.length > 0).length;
  return (
    <Box flexDirection="column" {...(height === undefined ? {} : { height: Math.max(3, height - 1), overflow: 'hidden' as const })}>
      {header ? <Box flexShrink={0}><Text wrap="truncate-end">
        <Text bold>oo-ml dash</Text>
        {`  ${figures.replicas.length === 1 ? figures.replicas[0]!.url : `${up}/${figures.replicas.length} replicas up`}`}
        {unready > 0 ? <Text color="red">{figures.replicas.length === 1 ? '  NOT READY' : `, ${unready} not ready`}</Text> : null}
        {paused ? <Text color="yellow">{'  PAUSED'}</Text> : null}
      </Text></Box> : null}
      {live ? <Box flexShrink={0}>
        {PANELS.map((p) => (
          // Brackets besides inverse video: a terminal without attributes (TERM=dumb) shows the panel too.
          <Box key={p} flexShrink={0}>
            <Text inverse={p === panel}>{p === panel ? `[${p}]` : ` ${p} `}</Text>
          </Box>
        ))}
        {/* Cut, never wrapped: a wrapped line the terminal wraps again leaves ink erasing one line too few (stale headers pile up). The way out first: what a narrow terminal cuts is the least needed. */}
        <Text dimColor wrap="truncate-end">{`  q/esc quit · tab/←→ panel · p ${paused ? 'resume' : 'pause'} · every ${intervalMs} ms`}</Text>
      </Box> : null}
      {header ? <Warnings replicas={figures.replicas} intervalMs={live ? intervalMs : null} /> : null}
      {panel === 'overview' ? <Overview figures={figures} columns={columns} /> : null}
      {panel === 'policies' ? <Policies figures={figures} columns={columns} /> : null}
      {panel === 'prompts' ? <Prompts figures={figures} /> : null}
      {panel === 'replicas' ? <Replicas figures={figures} /> : null}
    </Box>
  );
}

/** What must not be missed: a replica down or not ready, a stale snapshot, a degraded bus. */
function Warnings({ replicas, intervalMs }: { replicas: readonly ReplicaFigures[]; intervalMs: number | null }) {
  const lines: { key: string; text: string; color: string }[] = [];
  // One line per stale snapshot, however many replicas serve it.
  const stale = new Map<string, { snapshot: NonNullable<ReplicaFigures['snapshot']>; urls: string[] }>();
  for (const r of replicas) {
    if (!r.up && !r.polled) lines.push({ key: `down ${r.url}`, text: `… waiting for the first answer from ${r.url}`, color: 'gray' });
    else if (!r.up) lines.push({ key: `down ${r.url}`, text: `✗ ${r.url} is not answering: ${r.error ?? 'no answer'}${intervalMs === null ? '' : ` — retrying every ${intervalMs} ms`}`, color: 'red' });
    else if (r.notReady.length > 0) lines.push({ key: `unready ${r.url}`, text: `✗ ${r.url} is not ready (its /readyz answers 503): ${r.notReady.join('; ')}`, color: 'red' });
    const s = r.snapshot;
    if (s !== null && s.stale_features.length > 0) {
      const seen = stale.get(s.id);
      if (seen === undefined) stale.set(s.id, { snapshot: s, urls: [r.url] });
      else seen.urls.push(r.url);
    }
    if (r.bus !== null && (!r.bus.connected || r.bus.mode === 'spill')) {
      lines.push({
        key: `bus ${r.url}`,
        text: `⚠ ${r.url}: event bus ${r.bus.connected ? 'draining its spill' : 'disconnected'} — ${r.bus.spill_backlog} events in the local spill${r.bus.last_error === null ? '' : ` (${r.bus.last_error})`}`,
        color: 'yellow',
      });
    }
  }
  for (const [id, { snapshot: s, urls }] of stale) {
    const where = stale.size > 1 ? ` (${urls.join(', ')})` : '';
    lines.push({
      key: `stale ${id}`,
      text: `⚠ snapshot ${id}${where} is ${age(s.age_s)} old, past the TTL of ${s.stale_features.join(', ')}: every /score falls back on them (build and export one from recent events, then restart the server or POST /admin/reload)`,
      color: 'yellow',
    });
  }
  if (lines.length === 0) return null;
  return (
    <Box flexDirection="column" marginTop={1} flexShrink={0}>
      {lines.map((l) => (
        <Text key={l.key} color={l.color} bold>
          {l.text}
        </Text>
      ))}
    </Box>
  );
}

function Overview({ figures, columns }: { figures: DashFigures; columns: number }) {
  // The sparklines take what the 24-column label leaves, up to 40 cells.
  const spark = Math.max(8, Math.min(40, columns - 25));
  // Below 100 columns the policy lines close up, so the rate's interval fits in 80.
  const [nameWidth, servesWidth, feedbackWidth] = columns < 100 ? [26, 13, 14] : [36, 16, 16];
  const rps = figures.requestsPerSecond;
  // A replica that answers now: one that stopped would show its last figures as current.
  const first = figures.replicas.find((r) => r.up);
  const errors = Object.entries(figures.errors).sort(([a], [b]) => a.localeCompare(b));
  const served = figures.policies.filter((p) => !p.shadow);
  const shadows = figures.policies.filter((p) => p.shadow);
  return (
    <Box flexDirection="column" marginTop={1} flexShrink={0}>
      <Box>
        <Text>{`requests/s  ${fixed(rps.at(-1))}`.padEnd(24)}</Text>
        <Sparkline values={rps} width={spark} minimum={0} />
      </Box>
      {figures.replicas.length > 1 && first !== undefined ? (
        // Latency, loaded versions, snapshot and bus are one replica's, not a sum: say whose.
        <Text dimColor>{`latency, loaded versions, snapshot and bus below: ${first.url} (each replica: the replicas panel)`}</Text>
      ) : null}
      <Box>
        <Text>{`p50 ms      ${fixed(first?.p50.at(-1), 2)}`.padEnd(24)}</Text>
        <Sparkline values={first?.p50 ?? []} width={spark} minimum={0} color="green" />
      </Box>
      <Box>
        <Text>{`p99 ms      ${fixed(first?.p99.at(-1), 2)}`.padEnd(24)}</Text>
        <Sparkline values={first?.p99 ?? []} width={spark} minimum={0} color="magenta" />
      </Box>
      {first === undefined ? (
        // Nothing answers: no news is not good news.
        <Text color="red">{'errors      unknown: no replica answers'}</Text>
      ) : (
        <Text color={errors.length === 0 ? 'green' : 'red'}>
          {`errors      ${errors.length === 0 ? 'none' : errors.map(([s, n]) => `${s} × ${n}`).join('  ')}${figures.windowSeconds > 0 ? `  (last ${age(figures.windowSeconds)})` : ' (since start)'}`}
        </Text>
      )}
      <Box marginTop={1} flexDirection="column">
        {served.map((p) => (
          <Text key={`${p.policy} ${p.modelVersion ?? ''} ${p.variant ?? ''}`} wrap="truncate-end">
            {`${p.policy}${p.modelVersion === null ? '' : ` v${p.modelVersion}`}${p.variant === null ? '' : ` [${p.variant}]`}`.padEnd(nameWidth)}
            {`serves ${p.serves}`.padEnd(servesWidth)}
            {`feedback ${p.rewards}`.padEnd(feedbackWidth)}
            {`rate ${fixed(p.rewardRate, 3)}${intervalText(p.ci95)}`}
          </Text>
        ))}
        {shadows.map((p) => (
          <Box key={`shadow ${p.policy} ${p.modelVersion ?? ''}`} flexDirection="column">
            <Text color="cyan" wrap="truncate-end">
              {`${p.policy}${p.modelVersion === null ? '' : ` v${p.modelVersion}`} (shadow)`.padEnd(nameWidth)}
              {`scored ${p.serves}`.padEnd(servesWidth)}
              {`agrees with the served arm ${p.agreement === null ? '–' : `${(100 * p.agreement).toFixed(1)} %`}`}
            </Text>
            <Text color="cyan">{`${''.padEnd(nameWidth)}${shadowEstimateText(p.estimate)}`}</Text>
          </Box>
        ))}
      </Box>
      {first?.learning != null ? (
        <Text dimColor>{`loaded: ${first.learning.policies.filter((p) => p.served).map((p) => `${p.name} v${p.model_version ?? '–'}`).join(', ') || 'no policies'}`}</Text>
      ) : null}
      {first?.snapshot != null ? <Text dimColor>{`snapshot ${first.snapshot.id}, as of ${first.snapshot.as_of}, ${age(first.snapshot.age_s)} old`}</Text> : null}
      {first?.bus != null ? (
        <Text dimColor>{`bus ${first.bus.kind}: ${first.bus.connected ? 'connected' : 'DISCONNECTED'}, ${first.bus.mode}, spill backlog ${first.bus.spill_backlog}, spilled ${first.bus.spilled_total}, rejected ${first.bus.rejected_total}`}</Text>
      ) : null}
    </Box>
  );
}

function Policies({ figures, columns }: { figures: DashFigures; columns: number }) {
  // Below 120 columns the interval bars go (the interval is in numbers beside them), and the
  // variant column when no row has one: 80 columns then hold a row.
  const bars = columns >= 120;
  const variants = bars || figures.policies.some((p) => p.variant !== null);
  const [nameWidth, rateWidth] = bars ? [34, 26] : [30, 24];
  return (
    <Box flexDirection="column" marginTop={1} flexShrink={0}>
      <Text bold wrap="truncate-end">
        {'policy'.padEnd(nameWidth) + (variants ? 'variant'.padEnd(10) : '') + 'serves'.padStart(8) + 'feedback'.padStart(9) + '  rate [95% CI]'.padEnd(rateWidth) + (bars ? 'on [0, 1]'.padEnd(24) : '') + 'agreement'}
      </Text>
      {figures.policies.map((p) => (
        <Text key={`${p.policy} ${p.modelVersion ?? ''} ${p.variant ?? ''} ${p.shadow}`} color={p.shadow ? 'cyan' : undefined} wrap="truncate-end">
          {`${p.policy}${p.modelVersion === null ? '' : ` v${p.modelVersion}`}${p.shadow ? ' (shadow)' : ''}`.padEnd(nameWidth)}
          {variants ? (p.variant ?? '–').padEnd(10) : ''}
          {String(p.serves).padStart(8)}
          {String(p.rewards).padStart(9)}
          {`  ${rateText(p)}`.padEnd(rateWidth)}
          {bars ? rateBar(p).padEnd(24) : ''}
          {p.agreement === null ? '' : `${(100 * p.agreement).toFixed(1)} %`}
        </Text>
      ))}
      {figures.policies.length === 0 ? <Text dimColor>{figures.replicas.some((r) => r.up) ? 'no serves yet' : 'no replica answers'}</Text> : null}
      {figures.policies.some((p) => p.shadow) ? <Text dimColor>a shadow's rate (~) is its estimated reward per decision on the served traffic (inverse propensity scoring)</Text> : null}
    </Box>
  );
}

/** ` [low, high]` of an interval, or nothing. */
const intervalText = (ci: { low: number; high: number } | null): string => (ci === null ? '' : ` [${fixed(ci.low, 3)}, ${fixed(ci.high, 3)}]`);

/** A shadow's IPS interval; none until enough rewards carry it (shadow-estimates.ts): a dash where it will be, as for a figure not known yet. */
const shadowIntervalText = (e: ShadowEstimate): string => (e.ips_ci95 === null ? ' [–]' : intervalText(e.ips_ci95));

/** A row's rate with its interval: the reward rate of a served row, the IPS estimate (~) of a shadow's. */
function rateText(p: PolicyRow): string {
  if (p.shadow) return p.estimate === null ? '' : `~${fixed(p.estimate.ips, 3)}${shadowIntervalText(p.estimate)}`;
  return `${fixed(p.rewardRate, 3)}${intervalText(p.ci95)}`;
}

/** The interval bar of `rateText`'s figure on [0, 1] (clipped: an IPS interval can leave it). */
function rateBar(p: PolicyRow): string {
  if (p.shadow) {
    const e = p.estimate;
    if (e === null || e.ips_ci95 === null) return '';
    const clip = (v: number): number => Math.min(1, Math.max(0, v));
    return intervalBar(clip(e.ips), clip(e.ips_ci95.low), clip(e.ips_ci95.high), 20);
  }
  return p.rewardRate === null || p.ci95 === null ? '' : intervalBar(p.rewardRate, p.ci95.low, p.ci95.high, 20);
}

/** A shadow's estimated reward on the served traffic, for the overview (– before its first decision). */
function shadowEstimateText(e: ShadowEstimate | null): string {
  if (e === null) return 'est. reward –';
  return `est. reward ${fixed(e.ips, 3)}${shadowIntervalText(e)}, SNIPS ${fixed(e.snips, 3)} (${e.rewarded} with feedback${e.late > 0 ? `, ${e.late} too late` : ''})`;
}

function Prompts({ figures }: { figures: DashFigures }) {
  const reactions = ['completed', 'liked', 'dismissed', 'ignored'];
  return (
    <Box flexDirection="column" marginTop={1} flexShrink={0}>
      <Text bold>{'prompt version'.padEnd(18) + reactions.map((r) => r.padStart(12)).join('') + 'total'.padStart(8) + '   good share'}</Text>
      {figures.prompts.map((p) => {
        const good = (p.reactions['completed'] ?? 0) + (p.reactions['liked'] ?? 0);
        return (
          <Text key={p.promptVersion}>
            {p.promptVersion.padEnd(18)}
            {reactions.map((r) => String(p.reactions[r] ?? 0).padStart(12)).join('')}
            {String(p.total).padStart(8)}
            {`   ${p.total === 0 ? '–' : `${((100 * good) / p.total).toFixed(1)} %`}`}
          </Text>
        );
      })}
      {figures.prompts.length === 0 ? <Text dimColor>{figures.replicas.some((r) => r.up) ? 'no reactions yet' : 'no replica answers'}</Text> : null}
    </Box>
  );
}

function Replicas({ figures }: { figures: DashFigures }) {
  return (
    <Box flexDirection="column" marginTop={1} flexShrink={0}>
      {figures.replicas.map((r) => (
        <Box key={r.url} flexDirection="column" marginBottom={1}>
          <Text bold color={r.up ? 'green' : 'red'}>{`${r.up ? '●' : '✗'} ${r.url}`}</Text>
          <Text dimColor={!r.up}>{`  ${r.up ? '' : 'last seen: '}requests/s ${fixed(r.requestsPerSecond.at(-1))}   p50 ${fixed(r.p50.at(-1), 2)} ms   p99 ${fixed(r.p99.at(-1), 2)} ms`}</Text>
          {r.learning !== null ? (
            <Text>{`  fold at seq ${r.learning.position}, ${r.learning.waiting_rewards} rewards waiting, serve window ${r.learning.serve_window.hot_records} hot`}</Text>
          ) : null}
          {r.learning?.policies.map((p) => <Text key={p.name} dimColor>{`  ${p.name} v${p.model_version ?? '–'}: ${p.updates} updates, state ${p.digest.slice(0, 12)}`}</Text>)}
        </Box>
      ))}
      {figures.converged.map((c) => (
        <Text key={c.name} color={c.equal ? 'green' : 'yellow'}>
          {c.equal ? `✓ ${c.name}: the same state on every replica that answered` : `… ${c.name}: ${c.digests} different states (replicas still folding, or diverged)`}
        </Text>
      ))}
    </Box>
  );
}
