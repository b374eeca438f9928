/**
 * Builds the server app for tests: an in-memory snapshot of synthetic users, the test policy
 * under registry-like names, a memory event sink, a settable clock, seeded randomness and a
 * captured log. Every part can be replaced, and the snapshot and policies can be changed before
 * a reload.
 */
import xxhash from 'xxhash-wasm';
import { afterEach } from 'vitest';
import { ARM_COUNT } from '../../src/features/arms.js';
import type { SnapshotIndex } from '../../src/features/snapshot.js';
import { createRng } from '../../src/random/rng.js';
import { buildApp, type OoMlApp } from '../../src/server/app.js';
import type { LoadedPolicies, PolicyProvider, ServerDeps, ServerEvent } from '../../src/server/deps.js';
import { createMemoryEventSink, type MemoryEventSink } from '../../src/server/memory-event-sink.js';
import { createTipWriter, tipWriterSettingsFromEnv } from '../../src/prompts/tip-writer.js';
import { meanSoftmax, meanSoftmaxPolicy } from './mean-softmax-policy.js';
import { syntheticSnapshotIndex } from './synthetic-snapshot.js';

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

/** What a test can see and change. */
export interface Harness {
  app: OoMlApp;
  deps: ServerDeps;
  sink: MemoryEventSink;
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
  events?: ServerEvent[];
  deps?: Partial<ServerDeps>;
  seed?: number;
  /** The clock at start (default T0); start-up (replay, restore) runs at it. */
  clockMs?: number;
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

/** Builds an app (not listening). */
export async function createHarness(options: HarnessOptions = {}): Promise<Harness> {
  const clock = { ms: options.clockMs ?? T0.getTime() };
  const snapshot = { next: options.snapshot ?? syntheticSnapshotIndex({ users: options.users ?? 100, asOf: AS_OF }) };
  const policies = {
    specs: options.policies ?? { 'tip-policy@champion': { version: '1' } },
    champion: 'tip-policy@champion',
    shadows: options.shadows ?? [],
  };
  const sink = createMemoryEventSink(options.events ?? []);
  const logs: string[] = [];
  const deps: ServerDeps = {
    policies: specPolicyProvider(policies),
    snapshot: {
      load: () => (snapshot.next instanceof Error ? Promise.reject(snapshot.next) : Promise.resolve(snapshot.next)),
    },
    events: sink,
    tipWriter: createTipWriter(tipWriterSettingsFromEnv({}), { hash32 }),
    now: () => new Date(clock.ms),
    rng: createRng(options.seed ?? 7),
    shadowRng: createRng(11),
    hash32,
    logger: { level: 'info', stream: { write: (line: string) => void logs.push(line) } },
    ...options.deps,
  };
  const app = await buildApp(deps);
  return { app, deps, sink, clock, snapshot, policies, logs };
}

/**
 * `createHarness` whose apps are closed after each test; call once at the top of a test file
 * (it registers the afterEach hook there).
 */
export function closingHarness(): (options?: HarnessOptions) => Promise<Harness> {
  const apps: OoMlApp[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });
  return async (options) => {
    const h = await createHarness(options);
    apps.push(h.app);
    return h;
  };
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

/** Waits until shadow scorings scheduled so far have run (they start on setImmediate). */
export function afterShadows(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}
