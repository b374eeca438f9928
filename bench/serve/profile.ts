/** Where a server's CPU goes: a V8 sampling profile split into parts of the request path. */

/** Where a server's CPU goes, from a sampling profile of one load (see `partOf`). */
export const PARTS = ['HTTP + framework', 'validation', 'decision', 'event publish + journal', 'learning fold', 'stats + metrics', 'garbage collection', 'other'] as const;
export type Part = (typeof PARTS)[number];

export interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

/**
 * The part a frame's own time belongs to, by its module (and, for compiled validators, by name);
 * null for a native or runtime frame, whose time goes to the nearest caller that has a part.
 */
export function partOf(fn: string, url: string): Part | null {
  if (fn === '(garbage collector)') return 'garbage collection';
  // Compiled code has no url: ajv's validators are validateN, TypeBox's checks check_N; the
  // serializers fast-json-stringify compiles (anonymousN) go to their caller: an event's encoding
  // to the event path, a response's to the framework.
  if (/typebox|ajv|\/validation\.js|\/schemas\.js|iso-time/.test(url) || (url === '' && /^(check_\d|validate\d|Is(Date|Time|DateTime)$)/.test(fn))) return 'validation';
  if (/\/server\/(decision|serving\/score|serving-state)\.js|\/policies\/|\/features\/|\/experiments\/|\/prompts\/|\/random\//.test(url)) return 'decision';
  if (/\/events\/(event-bus|event-encoder|embedded-transport|journal|dedupe-window|nats-transport|jetstream-publisher|published-events)\.js|@nats-io|online-learning\/publisher\.js|serving\/context\.js/.test(url)) return 'event publish + journal';
  if (/online-learning\/|event-decoder/.test(url)) return 'learning fold';
  if (/prom-client|\/server\/(serve-stats|metrics)\.js/.test(url)) return 'stats + metrics';
  // fast-json-stringify's helpers (asString, asNumber…) are left to their caller, like its compiled serializers.
  if (/fastify|find-my-way|avvio|secure-json-parse|node:_http|node:net|node:internal\/(streams|stream_base|http)|node:events|\/server\/(app|routes)/.test(url)) return 'HTTP + framework';
  return null;
}

/** Shares of CPU time (idle left out) per part in a V8 CPU profile. */
export function breakdownOf(profile: { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }): Record<Part, number> {
  const parent = new Map<number, number>();
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const partCache = new Map<number, Part>();
  const resolve = (id: number): Part => {
    const cached = partCache.get(id);
    if (cached !== undefined) return cached;
    const f = byId.get(id)!.callFrame;
    const up = parent.get(id);
    const part = partOf(f.functionName, f.url) ?? (up === undefined ? 'other' : resolve(up));
    partCache.set(id, part);
    return part;
  };
  const totals = Object.fromEntries(PARTS.map((p) => [p, 0])) as Record<Part, number>;
  let all = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    if (byId.get(id)!.callFrame.functionName === '(idle)') continue;
    const dt = profile.timeDeltas[i] ?? 0;
    totals[resolve(id)] += dt;
    all += dt;
  }
  for (const p of PARTS) totals[p] = all === 0 ? 0 : totals[p] / all;
  return totals;
}
