/**
 * The registry-backed PolicyProvider. A name `MODEL@ALIAS` resolves through the Store: the
 * version the alias points at → its training run → the run artifact `policy/state.json` (a
 * SerializedPolicyState) → the implementation named by the state's `policy` field, from the
 * catalog passed in → `fromJSON`. A name without `@` is a built-in policy started fresh (for
 * experiments that compare against an untrained baseline).
 *
 * Wanted: the champion `<model>@champion`, the shadow `<model>@shadow` (optional: a missing
 * alias is simply no shadow) and every policy the experiments given to `load` serve. Any failure is a
 * `problem` naming the policy and the cause; loading never throws for one bad policy, so the
 * server starts and /readyz says why.
 */
import { isOoMlError } from '../errors.js';
import { servingPolicies, type ExperimentsConfig } from '../experiments/assignment.js';
import { ARM_COUNT } from '../features/arms.js';
import type { Policy } from '../policies/policy.js';
import { loadRegisteredPolicy, parseModelRef, servedPolicy } from '../models/policy-artifacts.js';
import type { Store } from '../registry/store.js';
import type { LoadedPolicies, LoadedPolicy, PolicyProblem, PolicyProvider } from './deps.js';

/** Artifact path of a policy state within its training run. */


/** Turns a policy name (`linucb`, `thompson`…) into its implementation; throws for unknown names. */
export type PolicyCatalog = (name: string) => Policy<unknown>;

/** Options of the registry provider. */
export interface RegistryPoliciesOptions {
  store: Store;
  /** The policy catalog, or why there is none (then every policy is a problem with that reason). */
  catalog: PolicyCatalog | { missing: string };
  /** Registered model of the tip policy (default `tip-policy`). */
  model?: string;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function loadOne(store: Store, catalog: PolicyCatalog, name: string): Promise<LoadedPolicy> {
  if (parseModelRef(name) === null) {
    const policy = catalog(name);
    return { policy, state: policy.init(ARM_COUNT), modelVersion: null, layout: policy.layout };
  }
  // Resolution, download and shape validation are shared with sim, ope and the gate.
  const registered = await loadRegisteredPolicy(store, name);
  // The version decides with the floor it was registered with: its logs stay evaluable.
  const policy = servedPolicy(registered, catalog);
  // fromJSON validates the numbers; the arm count is the server's to check.
  const state = policy.fromJSON(registered.state);
  if (registered.state.k !== ARM_COUNT) {
    throw new Error(`version ${registered.version.version} was trained for ${registered.state.k} arms; the contract has ${ARM_COUNT}`);
  }
  return { policy, state, modelVersion: String(registered.version.version), layout: policy.layout };
}

/** Whether the registry says `model` has no alias `alias` (not registered at all, or without it); false when it cannot tell. */
function aliasAbsent(store: Store, model: string, alias: string): Promise<boolean> {
  return store.getRegisteredModel(model).then(
    (m) => !Object.hasOwn(m.aliases, alias),
    (e: unknown) => isOoMlError(e, 'not_found'),
  );
}

/** Creates the provider. */
export function createRegistryPolicyProvider(options: RegistryPoliciesOptions): PolicyProvider {
  const model = options.model ?? 'tip-policy';
  const champion = `${model}@champion`;
  const shadow = `${model}@shadow`;
  return {
    async load(experiments: ExperimentsConfig): Promise<LoadedPolicies> {
      const serving = servingPolicies(experiments);
      const wanted = new Set([champion, shadow, ...serving]);
      const byName = new Map<string, LoadedPolicy>();
      const problems: PolicyProblem[] = [];
      const catalog = options.catalog;
      await Promise.all(
        [...wanted].map(async (name) => {
          if (typeof catalog !== 'function') {
            problems.push({ name, reason: catalog.missing });
            return;
          }
          try {
            byName.set(name, await loadOne(options.store, catalog, name));
          } catch (e) {
            // No shadow alias is the normal case, not a problem; a registry that cannot say so
            // (down, unreadable) or a version that cannot be read is one: a reload keeps the shadow it has.
            if (name === shadow && isOoMlError(e, 'not_found') && (await aliasAbsent(options.store, model, 'shadow'))) return;
            problems.push({ name, reason: messageOf(e) });
          }
        }),
      );
      const shadows: string[] = [];
      const s = byName.get(shadow);
      // The shadow's version serving already, as the champion, a variant or the default policy,
      // would only shadow its own decisions (and count them as shadow exposure for the gate).
      const served = [champion, ...serving].filter((name) => name !== shadow && parseModelRef(name)?.model === model);
      const servesIt = s === undefined ? undefined : served.find((name) => byName.get(name)?.modelVersion === s.modelVersion);
      if (s !== undefined && servesIt === undefined) shadows.push(shadow);
      // Said (a /readyz warning), not dropped in silence: the operator set a shadow and none scores.
      else if (s !== undefined) problems.push({ name: shadow, reason: `not shadowed: its version ${s.modelVersion ?? 'built-in'} serves already, as ${servesIt}` });
      problems.sort((a, b) => a.name.localeCompare(b.name));
      return { byName, champion, shadows, problems };
    },
  };
}
