/**
 * What the server serves from: the snapshot, the policies with their online (learning) states,
 * and why it is not ready. A ServingState is built whole and never changed afterwards except
 * for the policies' learning states, which policies update in place; reload and reset build a
 * new one and swap a single reference, so a request sees either the old state or the new one.
 */
import { isDeepStrictEqual } from 'node:util';
import { servingPolicies, type ExperimentsConfig } from '../experiments/assignment.js';
import type { ProfileValues } from '../features/registry.js';
import type { SnapshotIndex } from '../features/snapshot.js';
import type { VectorLayoutName } from '../features/vectors.js';
import type { Policy } from '../policies/policy.js';
import { parseModelRef } from '../models/policy-artifacts.js';
import type { ExperimentsProvider, LoadedPolicies, PolicyProvider, SnapshotProvider } from './deps.js';
import { fallbackProfileOf } from './decision.js';

/** A policy as served: the registered state kept pristine, and the live state it learns on. */
export interface LivePolicy {
  name: string;
  policy: Policy<unknown>;
  /** The state as loaded; never updated (reset clones it again). */
  registered: unknown;
  /** The learning state: the registered one plus every reward the fold applied since (or since the last reset). */
  live: unknown;
  modelVersion: string | null;
  layout: VectorLayoutName;
  /** Rewards learned online into `live` (online-learning/fold.ts). */
  updates: number;
}

/** One immutable serving state. */
export interface ServingState {
  snapshot: SnapshotIndex | null;
  /** The snapshot's all-fallback profile (for `profile_features: null`). */
  fallbackProfile: ProfileValues | null;
  policies: ReadonlyMap<string, LivePolicy>;
  /** Name of the default policy (assigned to users outside any experiment). */
  champion: string;
  /** The experiments users are assigned by (`NO_EXPERIMENTS`: everyone gets the champion; null: never read, the server is not ready). */
  experiments: ExperimentsConfig | null;
  /** Loaded shadow policies. */
  shadows: readonly string[];
  /** Why the server is not ready (empty when ready), each with its cause: /readyz and the log. */
  reasons: readonly string[];
  /**
   * The same reasons without their causes, which may name the server's paths or what the
   * registry said: what an app's 503 from /score or /generate says (/readyz has the causes).
   */
  summaries: readonly string[];
  /** Problems that do not stop serving (a shadow that failed to load…). */
  warnings: readonly string[];
}

/** No experiment declared. */
export const NO_EXPERIMENTS: ExperimentsConfig = { experiments: [] };

/** An empty state: nothing loaded yet. */
export function emptyState(champion: string): ServingState {
  return {
    snapshot: null,
    fallbackProfile: null,
    policies: new Map(),
    champion,
    experiments: null,
    shadows: [],
    reasons: ['not loaded yet'],
    summaries: ['not loaded yet'],
    warnings: [],
  };
}

/** Where a state's parts come from. */
export interface StateSources {
  snapshot: SnapshotProvider;
  policies: PolicyProvider;
  /** None: no experiment. */
  experiments: ExperimentsProvider | undefined;
  nowMs: number;
}

/** A built state and what failed to load (each failed part kept its previous version). */
export interface BuiltState {
  state: ServingState;
  failures: string[];
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Loads snapshot and policies (concurrently) into a new state. A part that fails keeps the
 * previous state's version and is reported in `failures`. A policy whose name, registry version
 * and role (shadow or not) are unchanged keeps its live state object (online learning carries over); any other
 * policy starts from a clone of its loaded state (online learning then brings it up to the
 * stream: online-learning/online-learning.ts `swap`).
 */
export async function buildServingState(sources: StateSources, previous: ServingState | null): Promise<BuiltState> {
  const snapLoad = Promise.allSettled([sources.snapshot.load()]);
  const failures: string[] = [];
  // Which policies to load depends on the experiments: read first (the snapshot meanwhile).
  const before = previous?.experiments ?? null;
  let experiments: ExperimentsConfig | null = sources.experiments === undefined ? NO_EXPERIMENTS : before;
  let experimentsProblem: string | null = null;
  try {
    if (sources.experiments !== undefined) experiments = await sources.experiments.load();
  } catch (e) {
    experimentsProblem = messageOf(e);
    failures.push(`experiments: ${experimentsProblem}`);
  }
  const loadPolicies = (config: ExperimentsConfig | null) => Promise.allSettled([sources.policies.load(config ?? NO_EXPERIMENTS)]).then(([p]) => p);
  const [[snap], first] = await Promise.all([snapLoad, loadPolicies(experiments)]);
  let pols = first;
  // New experiments naming a policy that cannot be served (a typo in an alias) would take its
  // users out of service: the experiments before them stay, with the policies they need.
  if (before !== null && experiments !== null && !isDeepStrictEqual(experiments, before) && pols.status === 'fulfilled') {
    const loaded = pols.value;
    const unserved = servingPolicies(experiments).filter((name) => !loaded.byName.has(name) || loaded.shadows.includes(name));
    if (unserved.length > 0) {
      const why = (name: string) => loaded.problems?.find((p) => p.name === name)?.reason ?? (loaded.shadows.includes(name) ? 'it is the shadow, which never serves' : 'not loaded');
      experimentsProblem = `the new experiments need ${unserved.map((n) => `"${n}" (${why(n)})`).join(', ')}`;
      failures.push(`experiments: ${experimentsProblem}`);
      experiments = before;
      pols = await loadPolicies(before);
    }
  }

  let snapshot: SnapshotIndex | null = previous?.snapshot ?? null;
  let snapshotProblem: string | null = null;
  if (snap.status === 'fulfilled') {
    snapshot = snap.value;
  } else {
    snapshotProblem = messageOf(snap.reason);
    failures.push(`snapshot: ${snapshotProblem}`);
  }

  let loaded: LoadedPolicies | null = null;
  if (pols.status === 'fulfilled') loaded = pols.value;
  else failures.push(`policies: ${messageOf(pols.reason)}`);

  let policies: ReadonlyMap<string, LivePolicy>;
  let champion: string;
  let shadows: readonly string[];
  const warnings: string[] = [];
  if (loaded !== null) {
    const next = new Map<string, LivePolicy>();
    for (const [name, lp] of loaded.byName) {
      const old = previous?.policies.get(name);
      // A policy that turns shadow, or stops being one, starts afresh: a shadow never learns, and
      // a `@shadow` alias whose version another alias served learned meanwhile (it was no shadow).
      const sameRole = (previous?.shadows.includes(name) ?? false) === loaded.shadows.includes(name);
      if (old !== undefined && sameRole && old.modelVersion === lp.modelVersion && old.policy.name === lp.policy.name) {
        next.set(name, old);
      } else {
        next.set(name, {
          name,
          policy: lp.policy,
          registered: lp.state,
          live: lp.policy.cloneState(lp.state),
          modelVersion: lp.modelVersion,
          layout: lp.layout,
          updates: 0,
        });
      }
    }
    // A policy that served before and failed to load now (the registry down, its new version
    // unreadable) keeps its previous version: one bad reload must not take traffic away from it.
    // A shadow keeps its place too; a shadow alias that is gone (not a problem) is dropped.
    // What fails for a policy that serves is a failure (the reload answers 503 and is retried);
    // for one that does not (the shadow), a warning.
    const serving = new Set([loaded.champion, ...servingPolicies(experiments ?? NO_EXPERIMENTS)]);
    const fresh = loaded;
    const kept: string[] = [];
    for (const p of loaded.problems ?? []) {
      const old = previous?.policies.get(p.name);
      if (old === undefined || next.has(p.name)) continue;
      const wasShadow = previous?.shadows.includes(p.name) === true;
      if (wasShadow && servesVersion(next, fresh.shadows, p.name, old.modelVersion)) {
        warnings.push(`${p.name}: ${p.reason}; its version ${old.modelVersion} serves now, so it is no longer a shadow`);
        kept.push(p.name);
        continue;
      }
      next.set(p.name, old);
      kept.push(p.name);
      const line = `policy ${p.name}: ${p.reason} (kept version ${old.modelVersion ?? 'built-in'})`;
      if (serving.has(p.name)) failures.push(line);
      else warnings.push(line);
    }
    policies = next;
    champion = loaded.champion;
    const keptShadows = kept.filter((name) => previous?.shadows.includes(name) === true && next.has(name));
    shadows = [...loaded.shadows, ...keptShadows].filter((s) => next.has(s) && s !== champion);
    loaded = { ...loaded, problems: (loaded.problems ?? []).filter((p) => !kept.includes(p.name)) };
  } else {
    policies = previous?.policies ?? new Map();
    champion = previous?.champion ?? 'tip-policy@champion';
    shadows = previous?.shadows ?? [];
  }

  // Problems of policies that serving needs are reasons (not ready); the others are warnings.
  const problems = new Map((loaded?.problems ?? []).map((p) => [p.name, p.reason]));
  const causeOf = (name: string): string => problems.get(name) ?? (loaded === null ? failures.at(-1)! : 'not provided');
  const reasons: string[] = [];
  const summaries: string[] = [];
  const notReady = (summary: string, cause?: string): void => {
    summaries.push(summary);
    reasons.push(cause === undefined ? summary : `${summary}: ${cause}`);
  };
  const needed = new Set<string>([champion]);
  if (snapshot === null) notReady('no feature snapshot loaded', snapshotProblem ?? 'unknown reason');
  if (!policies.has(champion)) notReady(`champion policy "${champion}" is not loaded`, causeOf(champion));
  // The default policy serves everyone when there is no experiment (and no one beside one).
  // Never read (at start): serving everyone the champion would quietly end every experiment.
  if (experimentsProblem !== null && experiments === null) notReady('no experiments loaded', experimentsProblem);
  else if (experimentsProblem !== null) warnings.push(`kept the previous experiments: ${experimentsProblem}`);
  const defaultPolicy = experiments !== null && experiments.experiments.length === 0 ? experiments.default_policy : undefined;
  if (defaultPolicy !== undefined) {
    needed.add(defaultPolicy);
    if (!policies.has(defaultPolicy)) notReady(`the experiments file's default_policy "${defaultPolicy}" is not loaded`, causeOf(defaultPolicy));
    else if (shadows.includes(defaultPolicy)) notReady(`the experiments file's default_policy "${defaultPolicy}" is the shadow, which never serves: name its version (MODEL/N) or another alias`);
  }
  for (const e of experiments?.experiments ?? []) {
    // Two variants on one version (a promotion moved an alias onto the other's): an A/A test.
    const byVersion = new Map<string, string[]>();
    for (const v of e.variants) {
      needed.add(v.policy);
      const lp = policies.get(v.policy);
      if (lp === undefined) {
        notReady(`experiment "${e.name}" variant "${v.name}" needs policy "${v.policy}", which is not loaded`, causeOf(v.policy));
        continue;
      }
      if (shadows.includes(v.policy)) {
        // A shadow never serves nor learns from rewards (DESIGN): as a variant it would do both.
        notReady(`experiment "${e.name}" variant "${v.name}" names the shadow "${v.policy}", which never serves: name its version (MODEL/N) or another alias`);
      }
      const ref = parseModelRef(v.policy);
      const key = ref === null || lp.modelVersion === null ? v.policy : `${ref.model} v${lp.modelVersion}`;
      byVersion.set(key, [...(byVersion.get(key) ?? []), v.name]);
    }
    for (const [version, names] of byVersion) {
      if (names.length > 1) warnings.push(`experiment "${e.name}": variants ${names.map((n) => `"${n}"`).join(' and ')} all serve ${version}, so the experiment compares it with itself`);
    }
  }
  for (const [name, reason] of problems) if (!needed.has(name)) warnings.push(`${name}: ${reason}`);
  if (snapshot !== null && snapshotProblem !== null) warnings.push(`kept snapshot ${snapshot.manifest.snapshot_id}: ${snapshotProblem}`);

  return {
    state: {
      snapshot,
      fallbackProfile: snapshot === null ? null : fallbackProfileOf(snapshot, sources.nowMs),
      policies,
      champion,
      experiments,
      shadows,
      reasons,
      summaries,
      warnings,
    },
    failures,
  };
}

/**
 * Whether another policy of `name`'s model that is no shadow serves `version` in `policies`: a
 * shadow on a served version would only shadow its own decisions (as registry-policies.ts drops
 * such a shadow at load).
 */
function servesVersion(policies: ReadonlyMap<string, LivePolicy>, shadows: readonly string[], name: string, version: string | null): boolean {
  const model = parseModelRef(name)?.model;
  if (version === null || model === undefined) return false;
  for (const [other, lp] of policies) {
    if (other !== name && !shadows.includes(other) && parseModelRef(other)?.model === model && lp.modelVersion === version) return true;
  }
  return false;
}

/** Name, version and layout of each loaded policy (for admin responses). */
export function policyInfo(state: ServingState): { name: string; model_version: string | null; layout: string }[] {
  return [...state.policies.values()].map((p) => ({ name: p.name, model_version: p.modelVersion, layout: p.layout }));
}
