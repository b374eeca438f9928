/** `oo-ml dash`'s figures (pure, from /stats samples) and its view (frames asserted on content). */
import { stripVTControlCharacters } from 'node:util';
import { renderToString } from 'ink';
import { render } from 'ink-testing-library';
import { describe, expect, it, vi } from 'vitest';
import { DashView, age } from '../../../src/cli/ui/dash/DashView.js';
import { dashFigures, type ReplicaHistory } from '../../../src/cli/ui/dash/figures.js';
import { intervalBar } from '../../../src/cli/ui/components.js';
import { wilsonInterval } from '../../../src/evaluation/proportion-intervals.js';
import { Z95 } from '../../../src/evaluation/estimate.js';
import type { StatsResponse } from '../../../src/server/schemas.js';
import { shadowEstimateOf, type ShadowSums } from '../../../src/server/shadow-estimates.js';

const SINCE = '2026-02-05T12:00:00.000Z';

/** A /stats body with the parts the dashboard reads. */
function stats(o: { total: number; byStatus?: Record<string, number>; serves?: number; rewardSum?: number; shadowAgreement?: number; shadowSums?: ShadowSums; digest?: string; staleFeatures?: string[]; since?: string; p99?: number }): StatsResponse {
  const serves = o.serves ?? 0;
  return {
    since: o.since ?? SINCE,
    snapshot_id: 'snap-1',
    snapshot: { id: 'snap-1', as_of: '2026-02-05T11:00:00.000Z', age_s: o.staleFeatures === undefined ? 3600 : 3 * 86_400, stale_features: o.staleFeatures ?? [] },
    policies: [
      { policy: 'tip-policy@champion', model_version: '3', experiment: null, variant: null, shadow: false, serves, rewards: serves, reward_sum: o.rewardSum ?? 0, reward_rate: null, reward_rate_ci95: null, latency_ms: serves === 0 ? null : { count: serves, p50: 1.5, p90: 2, p99: o.p99 ?? 4, max: 9 }, agreement: null, estimate: null },
      { policy: 'tip-policy@shadow', model_version: '4', experiment: null, variant: null, shadow: true, serves, rewards: 0, reward_sum: 0, reward_rate: null, reward_rate_ci95: null, latency_ms: null, agreement: o.shadowAgreement ?? null, estimate: o.shadowSums === undefined ? null : shadowEstimateOf(o.shadowSums) },
    ],
    prompt_versions: [{ prompt_version: 'v1', reactions: { completed: 2, dismissed: 1, ignored: 0, liked: 1 }, total: 4 }],
    requests: { total: o.total, by_status: o.byStatus ?? { '200': o.total } },
    learning: {
      position: serves,
      event_time: null,
      policies: [{ name: 'tip-policy@champion', model_version: '3', updates: 2, digest: o.digest ?? 'abc', served: true }],
      rewards: {},
      serves,
      shadow_serves: serves,
      legacy_serves: 0,
      duplicate_serves: 0,
      resets: 0,
      invalid_messages: 0,
      waiting_rewards: 0,
      serve_window: { hot_records: serves, hot_bytes: 0, cold_files: 0, cold_bytes: 0, issuers: 1, forgotten: 0 },
      last_checkpoint: null,
    },
    bus: { kind: 'nats', connected: true, mode: 'direct', spill_backlog: 0, spilled_total: 0, drained_total: 0, refused_total: 0, rejected_total: 0, last_error: null },
  };
}

describe('dash figures', () => {
  it('turns successive samples into requests/s, errors in the window, and sums over replicas', () => {
    const a: ReplicaHistory = {
      url: 'http://a',
      samples: [
        { at: 0, stats: stats({ total: 100, byStatus: { '200': 98, '400': 2 }, serves: 10, rewardSum: 2 }), error: null },
        { at: 2000, stats: stats({ total: 301, byStatus: { '200': 296, '400': 4, '503': 1 }, serves: 40, rewardSum: 10, shadowAgreement: 0.5, shadowSums: { decisions: 40, rewarded: 12, weighted_rewards: 16, weighted_squares: 20, weights: 32, late: 0 } }), error: null },
      ],
    };
    const b: ReplicaHistory = {
      url: 'http://b',
      samples: [
        { at: 0, stats: stats({ total: 10, serves: 0 }), error: null },
        { at: 1000, stats: stats({ total: 61, serves: 20, rewardSum: 5, shadowAgreement: 0.8, shadowSums: { decisions: 20, rewarded: 2, weighted_rewards: 4, weighted_squares: 8, weights: 12, late: 1 } }), error: null },
      ],
    };
    const f = dashFigures([a, b]);
    // Less the dash's own poll counted between two samples (the earlier one's GET /stats).
    expect(f.replicas.map((r) => r.requestsPerSecond)).toEqual([[100], [50]]);
    expect(f.requestsPerSecond).toEqual([150]);
    // Errors within the window (the first sample is its start): 400 went 2 → 4, 503 0 → 1.
    expect(f.errors).toEqual({ '400': 2, '503': 1 });
    const champion = f.policies.find((p) => !p.shadow)!;
    expect(champion).toMatchObject({ policy: 'tip-policy@champion', serves: 60, rewardRate: 15 / 60 });
    const [low, high] = wilsonInterval(15, 60);
    expect(champion.ci95).toEqual({ low, high });
    // Serves-weighted agreement over the replicas: (0.5 × 40 + 0.8 × 20) / 60.
    expect(f.policies.find((p) => p.shadow)!.agreement).toBeCloseTo((0.5 * 40 + 0.8 * 20) / 60, 12);
    // The shadow's estimate from the replicas' sums, not an average of their estimates.
    const estimate = f.policies.find((p) => p.shadow)!.estimate!;
    expect(estimate).toMatchObject({ decisions: 60, rewarded: 14, late: 1 });
    expect(estimate.ips).toBeCloseTo(20 / 60, 12);
    expect(estimate.snips).toBeCloseTo(20 / 44, 12);
    const half = Z95 * Math.sqrt((28 - 60 * (20 / 60) ** 2) / 59 / 60);
    expect(estimate.ips_ci95!.low).toBeCloseTo(20 / 60 - half, 12);
    expect(f.prompts).toEqual([{ promptVersion: 'v1', reactions: { completed: 4, dismissed: 2, ignored: 0, liked: 2 }, total: 8 }]);
    expect(f.converged).toEqual([{ name: 'tip-policy@champion', digests: 1, equal: true }]);
  });

  it('does not count its own polls as traffic: an idle replica reads 0 requests/s, a timed-out poll included', () => {
    // The server counts each GET /stats once it has answered it: the next sample holds it.
    const idle: ReplicaHistory = {
      url: 'http://a',
      samples: [
        { at: 0, stats: stats({ total: 7 }), error: null },
        { at: 1000, stats: stats({ total: 8 }), error: null },
        { at: 2000, stats: null, error: 'timeout' },
        { at: 3000, stats: stats({ total: 10 }), error: null },
        { at: 4000, stats: stats({ total: 31 }), error: null },
      ],
    };
    expect(dashFigures([idle]).replicas[0]!.requestsPerSecond).toEqual([0, 0, 20]);
  });

  it('starts a new series when a replica restarts, and shows a replica that stopped answering as down', () => {
    const h: ReplicaHistory = {
      url: 'http://a',
      samples: [
        { at: 0, stats: stats({ total: 500 }), error: null },
        { at: 1000, stats: stats({ total: 20, since: '2026-02-05T13:00:00.000Z' }), error: null },
        { at: 2000, stats: stats({ total: 121, since: '2026-02-05T13:00:00.000Z' }), error: null },
        { at: 3000, stats: null, error: 'ECONNREFUSED' },
      ],
    };
    const f = dashFigures([h, { url: 'http://b', samples: [{ at: 0, stats: stats({ total: 1, digest: 'def' }), error: null }] }]);
    expect(f.replicas[0]).toMatchObject({ up: false, error: 'ECONNREFUSED', requestsPerSecond: [100] });
    // Its last traffic is not added to the traffic of those that answer (b has one sample: no rate yet).
    expect(f.requestsPerSecond).toEqual([]);
    const replicas = render(<DashView figures={f} panel="replicas" paused={false} intervalMs={1000} />).lastFrame()!;
    expect(replicas).toMatch(/✗ http:\/\/a\s+last seen: requests\/s 100/);
    // The down replica's last answer still counts for the sums; its digest differs from b's.
    expect(f.converged).toEqual([{ name: 'tip-policy@champion', digests: 1, equal: true }]);
    // The latency too: a restarted process that has served nothing yet has none, not the old one's.
    const restarted = dashFigures([
      { url: 'http://a', samples: [{ at: 0, stats: stats({ total: 50, serves: 40, p99: 7 }), error: null }, { at: 1000, stats: stats({ total: 2, since: '2026-02-05T13:00:00.000Z' }), error: null }] },
    ]);
    expect([restarted.replicas[0]!.p50, restarted.replicas[0]!.p99]).toEqual([[], []]);
    const g = dashFigures([{ url: 'http://a', samples: [{ at: 0, stats: stats({ total: 1 }), error: null }] }, { url: 'http://b', samples: [{ at: 0, stats: stats({ total: 1, digest: 'def' }), error: null }] }]);
    expect(g.converged).toEqual([{ name: 'tip-policy@champion', digests: 2, equal: false }]);
  });
});

describe('DashView', () => {
  const busy: ReplicaHistory = {
    url: 'http://127.0.0.1:8080',
    samples: [
      { at: 0, stats: stats({ total: 100, serves: 10 }), error: null },
      { at: 1000, stats: stats({ total: 401, byStatus: { '200': 399, '400': 2 }, serves: 40, rewardSum: 12, shadowAgreement: 0.625, p99: 3.25, shadowSums: { decisions: 40, rewarded: 12, weighted_rewards: 18, weighted_squares: 30, weights: 26, late: 0 } }), error: null },
    ],
  };

  it('shows rates, latency, errors, the served policy with its interval and the shadow agreement', () => {
    const { lastFrame } = render(<DashView figures={dashFigures([busy])} panel="overview" paused={false} intervalMs={1000} />);
    const frame = lastFrame()!;
    expect(frame).toContain('oo-ml dash  http://127.0.0.1:8080');
    // One replica: its figures are the only ones, nothing to attribute.
    expect(frame).not.toContain('below: http');
    expect(frame).toMatch(/requests\/s\s+300\.0/);
    expect(frame).toMatch(/p99 ms\s+3\.25/);
    expect(frame).toContain('errors      400 × 2');
    expect(frame).toMatch(/tip-policy@champion v3\s+serves 40\s+feedback 40\s+rate 0\.300 \[0\.\d{3}, 0\.\d{3}\]/);
    expect(frame).toMatch(/tip-policy@shadow v4 \(shadow\)\s+scored 40\s+agrees with the served arm 62\.5 %\s+est\. reward 0\.450 \[0\.\d{3}, 0\.\d{3}\], SNIPS 0\.692 \(12 with feedback\)/);
    expect(frame).not.toContain('⚠');
  });

  it("marks a shadow's interval not known yet ([–]) while too few rewards carry one, instead of drawing [0, 0]", () => {
    const early: ReplicaHistory = {
      url: 'http://127.0.0.1:8080',
      samples: [
        { at: 0, stats: stats({ total: 10, serves: 2 }), error: null },
        { at: 1000, stats: stats({ total: 14, serves: 4, shadowAgreement: 0.5, shadowSums: { decisions: 4, rewarded: 0, weighted_rewards: 0, weighted_squares: 0, weights: 16, late: 0 } }), error: null },
      ],
    };
    const frame = render(<DashView figures={dashFigures([early])} panel="overview" paused={false} intervalMs={1000} />).lastFrame()!;
    expect(frame).toMatch(/est\. reward 0\.000 \[–\], SNIPS 0\.000 \(0 with feedback\)/);
    expect(frame).not.toContain('[0.000, 0.000]');
    const policies = render(<DashView figures={dashFigures([early])} panel="policies" paused={false} intervalMs={1000} />).lastFrame()!;
    expect(policies).toMatch(/tip-policy@shadow[^\n]*~0\.000 \[–\]/);
  });

  it('shows each version of a served policy on its own row during a rollout (two replicas, two versions)', () => {
    const onV4 = (st: StatsResponse): StatsResponse => ({ ...st, policies: st.policies.map((p) => (p.shadow ? p : { ...p, model_version: '4' })) });
    const older: ReplicaHistory = { url: 'http://a', samples: [{ at: 0, stats: stats({ total: 10, serves: 10 }), error: null }, { at: 1000, stats: stats({ total: 30, serves: 30 }), error: null }] };
    const newer: ReplicaHistory = { url: 'http://b', samples: [{ at: 0, stats: onV4(stats({ total: 5, serves: 5 })), error: null }, { at: 1000, stats: onV4(stats({ total: 25, serves: 25 })), error: null }] };
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const frame = render(<DashView figures={dashFigures([older, newer])} panel="overview" paused={false} intervalMs={1000} />).lastFrame()!;
      expect(frame).toContain('latency, loaded versions, snapshot and bus below: http://a (each replica: the replicas panel)');
      expect(frame).toMatch(/tip-policy@champion v3\s+serves 30/);
      expect(frame).toMatch(/tip-policy@champion v4\s+serves 25/);
      // React warns (console.error) when two rows share a key, and may then drop one.
      expect(errors.mock.calls.map((c) => String(c[0])).filter((m) => m.includes('same key'))).toEqual([]);
    } finally {
      errors.mockRestore();
    }
  });

  it('is loud about a stale snapshot and a replica that is down, and shows the other panels', () => {
    const stale: ReplicaHistory = { url: 'http://a', samples: [{ at: 0, stats: stats({ total: 1, staleFeatures: ['completion_rate', 'tip_volume'] }), error: null }] };
    const down: ReplicaHistory = { url: 'http://b', samples: [{ at: 0, stats: null, error: 'ECONNREFUSED' }] };
    const figures = dashFigures([stale, down]);
    // Long warnings wrap at the test terminal's width: read the frame as one line of words.
    const overview = render(<DashView figures={figures} panel="overview" paused intervalMs={500} />).lastFrame()!.replace(/\s+/g, ' ');
    expect(overview).toContain('1/2 replicas up');
    expect(overview).toContain('PAUSED');
    expect(overview).toContain('⚠ snapshot snap-1 is 3.0 d old, past the TTL of completion_rate, tip_volume: every /score falls back on them');
    expect(overview).toContain('✗ http://b is not answering: ECONNREFUSED — retrying every 500 ms');
    // With nothing answering, no news is not told as good news.
    const none = dashFigures([down]);
    expect(render(<DashView figures={none} panel="overview" paused={false} intervalMs={500} />).lastFrame()).toContain('errors      unknown: no replica answers');
    expect(render(<DashView figures={none} panel="policies" paused={false} intervalMs={500} />).lastFrame()).toContain('no replica answers');
    expect(render(<DashView figures={none} panel="prompts" paused={false} intervalMs={500} />).lastFrame()).toContain('no replica answers');
    // Answering is not ready: a replica whose /readyz answers 503 is named with why.
    const unready: ReplicaHistory = { url: 'http://u', samples: [{ at: 0, stats: { ...stats({ total: 1 }), not_ready: ['champion policy "tip-policy@champion" is not loaded: no alias champion'] }, error: null }] };
    const both = render(<DashView figures={dashFigures([stale, unready])} panel="overview" paused={false} intervalMs={500} />).lastFrame()!.replace(/\s+/g, ' ');
    expect(both).toContain('2/2 replicas up, 1 not ready');
    expect(both).toContain('✗ http://u is not ready (its /readyz answers 503): champion policy "tip-policy@champion" is not loaded: no alias champion');
    expect(render(<DashView figures={dashFigures([unready])} panel="overview" paused={false} intervalMs={500} />).lastFrame()).toContain('NOT READY');
    // A server that does not say (an older one) is not called unready.
    expect(dashFigures([stale]).replicas[0]!.notReady).toEqual([]);
    // One line per stale snapshot, not per replica serving it; replicas named when they serve different ones.
    const twin: ReplicaHistory = { ...stale, url: 'http://a2' };
    const shared = render(<DashView figures={dashFigures([stale, twin])} panel="overview" paused intervalMs={500} />).lastFrame()!.replace(/\s+/g, ' ');
    expect(shared.match(/⚠ snapshot/g)).toHaveLength(1);
    const older = stats({ total: 1, staleFeatures: ['tip_volume'] });
    const other: ReplicaHistory = { url: 'http://a3', samples: [{ at: 0, stats: { ...older, snapshot: { ...older.snapshot!, id: 'snap-0' } }, error: null }] };
    const split = render(<DashView figures={dashFigures([stale, twin, other])} panel="overview" paused intervalMs={500} />).lastFrame()!.replace(/\s+/g, ' ');
    expect(split).toContain('⚠ snapshot snap-1 (http://a, http://a2) is 3.0 d old');
    expect(split).toContain('⚠ snapshot snap-0 (http://a3) is 3.0 d old, past the TTL of tip_volume');
    // Before the first poll comes back there is nothing to be alarmed about.
    const starting = render(<DashView figures={dashFigures([{ url: 'http://c', samples: [] }])} panel="overview" paused={false} intervalMs={500} />).lastFrame()!;
    expect(starting).toContain('… waiting for the first answer from http://c');
    expect(starting).not.toContain('not answering');
    const policies = render(<DashView figures={dashFigures([busy])} panel="policies" paused={false} intervalMs={1000} />).lastFrame()!;
    expect(policies).toContain('rate [95% CI]');
    expect(policies).toMatch(/tip-policy@champion v3\s+–\s+40\s+40\s+0\.300/);
    expect(policies).toMatch(/tip-policy@shadow v4 \(shadow\)\s+–\s+40\s+0\s+~0\.450 \[0\.\d{3}, 0\.\d{3}\]/);
    expect(policies).toContain("a shadow's rate (~) is its estimated reward per decision");
    const prompts = render(<DashView figures={figures} panel="prompts" paused={false} intervalMs={1000} />).lastFrame()!;
    expect(prompts).toMatch(/v1\s+2\s+1\s+1\s+0\s+4\s+75\.0 %/);
    const replicas = render(<DashView figures={figures} panel="replicas" paused={false} intervalMs={1000} />).lastFrame()!;
    expect(replicas).toContain('✗ http://b');
    expect(replicas).toContain('✓ tip-policy@champion: the same state on every replica that answered');
  });

  it('cuts its header and key help to a narrow terminal instead of wrapping them, and marks the panel without colours', () => {
    const frame = renderToString(<DashView figures={dashFigures([busy])} panel="policies" paused intervalMs={1000} />, { columns: 60 });
    const [title, tabs] = frame.split('\n');
    // The way out is what a narrow terminal keeps.
    expect(stripVTControlCharacters(tabs!)).toMatch(/^ overview \[policies\] prompts {2}replicas {3}q\/esc quit · .*…$/);
    expect(stripVTControlCharacters(tabs!).length).toBeLessThanOrEqual(60);
    expect(title).toContain('PAUSED');
  });

  it('keeps a live frame shorter than the terminal, header and key help first', () => {
    for (const panel of ['overview', 'policies', 'replicas'] as const) {
      const lines = render(<DashView figures={dashFigures([busy])} panel={panel} paused={false} intervalMs={1000} height={10} />).lastFrame()!.split('\n');
      expect(lines.length, panel).toBeLessThanOrEqual(9);
      expect(lines[0]).toContain('oo-ml dash');
      expect(lines[1]).toContain('q/esc quit');
    }
  });

  it('cuts a short terminal\'s frame at its end, each line as in the full frame (not squeezed onto one another)', () => {
    const stale: ReplicaHistory = { url: busy.url, samples: busy.samples.map((x) => ({ ...x, stats: x.stats === null ? null : { ...x.stats, snapshot: { ...x.stats.snapshot!, age_s: 3 * 86_400, stale_features: ['completion_rate'] } } })) };
    for (const panel of ['overview', 'policies', 'replicas'] as const) {
      const full = render(<DashView figures={dashFigures([stale])} panel={panel} paused={false} intervalMs={1000} />).lastFrame()!.split('\n');
      for (const height of [8, 12, 16]) {
        const frame = render(<DashView figures={dashFigures([stale])} panel={panel} paused={false} intervalMs={1000} height={height} />).lastFrame()!.split('\n');
        // A frame shorter than its height ends in blank lines.
        const cut = frame.slice(0, Math.min(frame.length, full.length));
        expect(cut, `${panel} at ${height} rows`).toEqual(full.slice(0, cut.length));
        expect(frame.length).toBeLessThanOrEqual(height - 1);
        expect(cut.length).toBe(Math.min(full.length, height - 1));
      }
    }
  });

  it('fits 80 columns: no line of a panel wraps, the policies table drops its bars and unused variant column, the rates keep their intervals', () => {
    const figures = dashFigures([busy]);
    for (const panel of ['overview', 'policies'] as const) {
      const frame = stripVTControlCharacters(renderToString(<DashView figures={figures} panel={panel} paused={false} intervalMs={1000} columns={80} />, { columns: 80 }));
      for (const line of frame.split('\n')) expect(line.length, `${panel}: ${line}`).toBeLessThanOrEqual(80);
      expect(frame, panel).toMatch(/tip-policy@champion v3 .*0\.300 \[0\.\d{3}, 0\.\d{3}\]/);
    }
    const policies = stripVTControlCharacters(renderToString(<DashView figures={figures} panel="policies" paused={false} intervalMs={1000} columns={80} />, { columns: 80 }));
    expect(policies).not.toContain('on [0, 1]');
    expect(policies).not.toContain('variant');
    expect(policies).toMatch(/policy\s+serves\s+feedback\s+rate \[95% CI\]\s+agreement/);
    // At 120 the bars come back.
    expect(renderToString(<DashView figures={figures} panel="policies" paused={false} intervalMs={1000} />, { columns: 120 })).toContain('on [0, 1]');
  });

  it('draws small pieces right: ages, interval bars', () => {
    expect([age(30), age(600), age(7200), age(3 * 86_400)]).toEqual(['30 s', '10 min', '2.0 h', '3.0 d']);
    expect(intervalBar(0.5, 0.25, 0.75, 9)).toBe('──━━●━━──');
  });
});
