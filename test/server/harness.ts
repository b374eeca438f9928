/**
 * Builds the server app for tests: an in-memory snapshot of synthetic users, the test policy
 * under registry-like names, the real embedded event bus in a temp folder (behind a transport
 * that records what was stored and can be made to fail or disconnect), a state folder, a
 * settable clock, seeded randomness and a captured log. Every part can be replaced, and the
 * snapshot and policies can be changed before a reload.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import xxhash from 'xxhash-wasm';
import { afterEach } from 'vitest';
import { unavailable } from '../../src/errors.js';
import { createEventBusOver, type EventBus, type StreamMessage } from '../../src/events/event-bus.js';
import { createEmbeddedTransport } from '../../src/events/embedded-transport.js';
import type { OoEvent } from '../../src/events/schemas.js';
import type { Transport, TransportHealth } from '../../src/events/transport.js';
import { ARM_COUNT } from '../../src/features/arms.js';
import type { SnapshotIndex } from '../../src/features/snapshot.js';
import { createRng } from '../../src/random/rng.js';
import { buildApp, type OoMlApp } from '../../src/server/app.js';
import type { LoadedPolicies, PolicyProvider, ServerDeps } from '../../src/server/deps.js';
import { createTipWriter, tipWriterSettingsFromEnv } from '../../src/prompts/tip-writer.js';
import { meanSoftmax, meanSoftmaxPolicy } from './mean-softmax-policy.js';
import { syntheticSnapshotIndex } from '../../fixtures/synthetic-snapshot.js';

const { h32 } = await xxhash();
/** xxhash32, as the server uses it. */
export const hash32 = (s: string): number => h32(s);

/** The tests' "now": one hour after the synthetic snapshot's as-of, so profiles are fresh. */
export const T0 = new Date('2026-02-05T12:00:00Z');
/** As-of of the default synthetic snapshot. */
export const AS_OF = new Date('2026-02-05T11:00:00Z');

/** One policy of the test provider: a registry version (null: built-in) and its temperature. */
export interface PolicySpec {
  version: string | null;
  t?: number;
}

/** A stored message as the recording transport saw it. */
export interface Published {
  subject: string;
  event: OoEvent;
  seq: number;
}

/**
 * A transport over another that records what it stored and that a test can disconnect (health
 * false, publishes refused at once) or make slow/failing per message.
 */
export interface TestTransport extends Transport {
  readonly published: Published[];
  /** Health as reported; setting `connected` notifies listeners. */
  setConnected(connected: boolean, detail?: string): void;
  /** Called before each publish: a promise delays it, a thrown error refuses it. */
  beforePublish: ((subject: string, event: OoEvent) => void | Promise<void>) | null;
  /** Called before a reader is opened at `startSeq`: a promise delays it. */
  beforeReader: ((startSeq: number) => void | Promise<void>) | null;
}

/** Wraps `inner` as a TestTransport. */
export function testTransport(inner: Transport): TestTransport {
  const published: Published[] = [];
  const listeners = new Set<(h: TransportHealth) => void>();
  let health: TransportHealth = inner.health();
  const t: TestTransport = {
    kind: inner.kind,
    published,
    beforePublish: null,
    beforeReader: null,
    setConnected(connected, detail = connected ? 'test reconnect' : 'test disconnect') {
      health = { connected, since: Date.now(), detail };
      for (const l of listeners) l(health);
    },
    async publish(subject, data, msgId) {
      if (!health.connected) throw unavailable('test transport disconnected');
      const event = JSON.parse(Buffer.from(data).toString('utf8')) as OoEvent;
      if (t.beforePublish !== null && !subject.startsWith('dlq.')) await t.beforePublish(subject, event);
      const ack = await inner.publish(subject, data, msgId);
      if (!ack.duplicate && !subject.startsWith('dlq.')) published.push({ subject, event, seq: ack.seq });
      return ack;
    },
    consumer: (o) => inner.consumer(o),
    async reader(s) {
      if (t.beforeReader !== null) await t.beforeReader(s);
      return inner.reader(s);
    },
    extent: () => inner.extent(),
    deadLetters: (last) => inner.deadLetters(last),
    claimWriter: () => inner.claimWriter(),
    setupWarnings: () => inner.setupWarnings(),
    health: () => health,
    onHealth(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close: () => inner.close(),
  };
  return t;
}

/** What a test can see and change. */
export interface Harness {
  app: OoMlApp;
  deps: ServerDeps;
  bus: EventBus;
  transport: TestTransport;
  /** The events stored on the bus by this harness's transport, in order. */
  published: Published[];
  /** The temp folder (bus under bus/, state under state/). */
  dir: string;
  clock: { ms: number };
  /** What the next snapshot load returns (or throws). */
  snapshot: { next: SnapshotIndex | Error };
  /** What the next policy load returns; change before /admin/reload. */
  policies: { specs: Record<string, PolicySpec>; champion: string; shadows: string[] };
  logs: string[];
}

/** Options of `createHarness`. */
export interface HarnessOptions {
  users?: number;
  snapshot?: SnapshotIndex | Error;
  policies?: Record<string, PolicySpec>;
  shadows?: string[];
  deps?: Partial<ServerDeps>;
  seed?: number;
  /** The clock at start (default T0); start-up runs at it. */
  clockMs?: number;
  /** The folder to use (a restart reuses one; default a new temp folder). */
  dir?: string;
  /** The transport to record through (default the embedded journal under `<dir>/bus`). */
  transport?: Transport;
  /** The state folder (default `<dir>/state`; a second replica needs its own). */
  stateDir?: string;
}

/** A provider over `holder` (fresh states at every load, like a registry download). */
export function specPolicyProvider(holder: Harness['policies']): PolicyProvider {
  return {
    load: (): Promise<LoadedPolicies> => {
      const byName = new Map(
        Object.entries(holder.specs).map(([name, spec]) => [
          name,
          {
            policy: meanSoftmaxPolicy,
            state: meanSoftmax.init(ARM_COUNT, spec.t === undefined ? {} : { t: spec.t }),
            modelVersion: spec.version,
            layout: meanSoftmax.layout,
          },
        ]),
      );
      const problems = byName.has(holder.champion) ? [] : [{ name: holder.champion, reason: 'no alias champion' }];
      return Promise.resolve({ byName, champion: holder.champion, shadows: holder.shadows, problems });
    },
  };
}

/** Builds an app (not listening) over a bus in a temp folder. */
export async function createHarness(options: HarnessOptions = {}): Promise<Harness> {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'oo-ml-server-')));
  const clock = { ms: options.clockMs ?? T0.getTime() };
  const snapshot = { next: options.snapshot ?? syntheticSnapshotIndex({ users: options.users ?? 100, asOf: AS_OF }) };
  const policies = {
    specs: options.policies ?? { 'tip-policy@champion': { version: '1' } },
    champion: 'tip-policy@champion',
    shadows: options.shadows ?? [],
  };
  const transport = testTransport(options.transport ?? createEmbeddedTransport(join(dir, 'bus'), { pollMs: 5 }));
  const bus = createEventBusOver(transport);
  const logs: string[] = [];
  const deps: ServerDeps = {
    policies: specPolicyProvider(policies),
    snapshot: {
      load: () => (snapshot.next instanceof Error ? Promise.reject(snapshot.next) : Promise.resolve(snapshot.next)),
    },
    bus,
    stateDir: options.stateDir ?? join(dir, 'state'),
    tipWriter: createTipWriter(tipWriterSettingsFromEnv({}), { hash32 }),
    now: () => new Date(clock.ms),
    rng: createRng(options.seed ?? 7),
    shadowRng: createRng(11),
    hash32,
    logger: { level: 'info', stream: { write: (line: string) => void logs.push(line) } },
    ...options.deps,
    // No retried loads unless a test asks for them: they would add loads, reloads and log lines to what a test counts.
    limits: { reloadRetryMs: 0, ...options.deps?.limits },
  };
  let app: OoMlApp;
  try {
    app = await buildApp(deps);
  } catch (e) {
    await bus.close();
    throw e;
  }
  return { app, deps, bus, transport, published: transport.published, dir, clock, snapshot, policies, logs };
}

/** Closes a harness's app, then its bus (its folder stays: a restart may reuse it). */
export async function closeHarness(h: Harness): Promise<void> {
  await h.app.close();
  await h.bus.close();
}

/**
 * `createHarness` whose apps and buses are closed and folders removed after each test; call once
 * at the top of a test file (it registers the afterEach hook there).
 */
export function closingHarness(): (options?: HarnessOptions) => Promise<Harness> {
  const open: Harness[] = [];
  const dirs = new Set<string>();
  afterEach(async () => {
    for (const h of open.splice(0)) await closeHarness(h).catch(() => undefined);
    for (const d of dirs) await rm(d, { recursive: true, force: true });
    dirs.clear();
  });
  return async (options) => {
    const h = await createHarness(options);
    open.push(h);
    dirs.add(h.dir);
    return h;
  };
}

/** A new temp folder whose events stream already holds `events` (what earlier servers published); pass it as `dir`. */
export async function seededDir(events: readonly OoEvent[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'oo-ml-server-'));
  const bus = createEventBusOver(createEmbeddedTransport(join(dir, 'bus')));
  try {
    for (const e of events) await bus.publish(e.type === 'tip.reaction' || e.type === 'tip.reward' ? 'feedback' : 'signals', e);
  } finally {
    await bus.close();
  }
  return dir;
}

/** Every message of the events stream of `bus`, from the start. */
export async function streamOf(bus: EventBus): Promise<StreamMessage[]> {
  const { lastSeq } = await bus.extent();
  const reader = await bus.reader(1);
  const out: StreamMessage[] = [];
  try {
    while ((out.at(-1)?.seq ?? 0) < lastSeq) {
      const batch = await reader.next(1000, 1000);
      if (batch.length === 0) break;
      out.push(...batch);
    }
  } finally {
    await reader.close();
  }
  return out;
}

/** POSTs JSON through inject and returns status and parsed body. */
export async function post(app: OoMlApp, url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await app.inject({ method: 'POST', url, payload: body as object, headers });
  return { status: res.statusCode, body: res.json() };
}

/** GETs through inject. */
export async function get(app: OoMlApp, url: string): Promise<{ status: number; body: Record<string, unknown>; text: string }> {
  const res = await app.inject({ method: 'GET', url });
  const isJson = (res.headers['content-type'] ?? '').toString().includes('json');
  return { status: res.statusCode, body: isJson ? res.json() : {}, text: res.body };
}

/**
 * Resolves once `check()` is true, checking after each turn of the event loop and then every
 * few milliseconds; fails naming `what` if it never happens (a safety net, not a timing bound).
 */
export async function until(check: () => boolean | Promise<boolean>, what: string, limitMs = 20_000): Promise<void> {
  const started = Date.now();
  for (let i = 0; ; i++) {
    if (await check()) return;
    if (Date.now() - started > limitMs) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => (i < 20 ? setImmediate(resolve) : setTimeout(resolve, 5)));
  }
}
