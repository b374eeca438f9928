/**
 * Policy states in the registry. A training run logs the policy's serialised state as the
 * artifact `policy/state.json`; the model version's `source` points at that folder. Loading
 * MODEL@ALIAS resolves the alias, downloads the state and validates its shape; the policy
 * implementation itself checks the numbers (`Policy.fromJSON`).
 */
import Type from 'typebox';
import { invalidInput, invalidUsage } from '../errors.js';
import { getPolicy } from '../policies/catalog.js';
import { withExplorationFloor } from '../policies/exploration-floor.js';
import type { Policy, SerializedPolicyState } from '../policies/policy.js';
import { createValidator } from '../validation.js';
import type { ModelVersion, Run, Store } from '../registry/store.js';

/** Artifact path of a policy state within its training run. */
export const POLICY_STATE_ARTIFACT = 'policy/state.json';

const SerializedState = Type.Object(
  {
    // Any name: the policy catalog that restores the state rejects names it does not know.
    policy: Type.String({ minLength: 1 }),
    stateVersion: Type.Integer({ minimum: 1 }),
    k: Type.Integer({ minimum: 1 }),
    d: Type.Integer({ minimum: 1 }),
    params: Type.Record(Type.String(), Type.Number()),
    arrays: Type.Record(Type.String(), Type.String()),
    updates: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
const stateValidator = createValidator(SerializedState);

/**
 * `MODEL@ALIAS` split, or null when `ref` is not a model reference. `MODEL/N` names version N
 * and reads as `MODEL@vN` (MLflow reserves `v<digits>` as an alias, so that is unambiguous).
 */
export function parseModelRef(ref: string): { model: string; alias: string } | null {
  const at = ref.lastIndexOf('@');
  if (at > 0 && at < ref.length - 1) return { model: ref.slice(0, at), alias: ref.slice(at + 1) };
  const numbered = /^(.+)\/([1-9]\d*)$/.exec(ref);
  return numbered === null ? null : { model: numbered[1]!, alias: `v${numbered[2]}` };
}

/** The training-run param holding a version's exploration floor (policies/exploration-floor.ts). */
export const EXPLORATION_FLOOR_PARAM = 'exploration_floor';

/** A registered policy ready to use. */
export interface RegisteredPolicy {
  ref: string;
  version: ModelVersion;
  state: SerializedPolicyState;
  /** The floor the version decides with: its run's `exploration_floor` param, 0 for versions trained before floors existed. */
  explorationFloor: number;
  /** Its training run (params, metrics, tags). */
  run: Run;
}

/** The policy a registered version decides with: its implementation (from `catalog`) at its exploration floor. */
export function servedPolicy(registered: RegisteredPolicy, catalog: (name: string) => Policy<unknown> = getPolicy): Policy<unknown> {
  return withExplorationFloor(catalog(registered.state.policy), registered.explorationFloor, registered.state.k);
}

/** Parses and validates a serialised state (from an artifact or a file). */
export function parsePolicyState(text: string, source: string): SerializedPolicyState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw invalidInput(`policy state ${source} is not valid JSON: ${(e as Error).message}`);
  }
  return stateValidator.parse(raw, `policy state ${source}`) as SerializedPolicyState;
}

/**
 * Loads MODEL@ALIAS from the registry (unknown model or alias → not_found from the store).
 * `MODEL@v<N>` names version N: MLflow reserves `v<digits>` as an alias, so it is unambiguous.
 */
export async function loadRegisteredPolicy(store: Store, ref: string): Promise<RegisteredPolicy> {
  const parsed = parseModelRef(ref);
  if (parsed === null) throw invalidUsage(`"${ref}" is not of the form MODEL@ALIAS or MODEL/N`);
  const pinned = /^v(\d+)$/i.exec(parsed.alias);
  const version =
    pinned === null
      ? await store.getModelVersionByAlias(parsed.model, parsed.alias)
      : await store.getModelVersion(parsed.model, Number(pinned[1]));
  if (version.runId === '') throw invalidInput(`${ref} (v${version.version}) has no training run to load its state from`);
  const bytes = await store.downloadArtifact(version.runId, POLICY_STATE_ARTIFACT);
  const state = parsePolicyState(new TextDecoder().decode(bytes), `${ref} (v${version.version}, run ${version.runId})`);
  const run = await store.getRun(version.runId);
  const raw = run.data.params[EXPLORATION_FLOOR_PARAM];
  const explorationFloor = raw === undefined ? 0 : Number(raw);
  if (!(raw === undefined || (raw.trim() !== '' && explorationFloor >= 0 && explorationFloor < 1))) {
    throw invalidInput(`${ref} (v${version.version}, run ${version.runId}) has param ${EXPLORATION_FLOOR_PARAM}="${raw}", not a number in [0, 1)`);
  }
  return { ref, version, state, explorationFloor, run };
}
