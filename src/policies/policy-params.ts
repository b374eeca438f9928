/**
 * Hyper-parameters of the built-in policies: each policy's parameters are declared once here
 * (name, default, range, meaning), apart from the math, so that the CLI's help lists them without
 * loading the policies; `resolveParams` applies defaults and rejects unknown names and
 * out-of-range values with `invalid_input`, for `init` and for `fromJSON` alike.
 */
import { invalidInput } from '../errors.js';
import { POLICY_NAMES, type PolicyName } from './policy.js';

/** One hyper-parameter: its default and the closed range [min, max] it must lie in. */
export interface ParamSpec {
  readonly name: string;
  readonly defaultValue: number;
  readonly min: number;
  readonly max: number;
  /** When true the range is (min, max] — e.g. a ridge penalty must be strictly positive. */
  readonly exclusiveMin?: boolean;
  readonly description: string;
}

/** The ridge penalty, shared by every linear policy. */
export const LAMBDA_PARAM: ParamSpec = {
  name: 'lambda',
  defaultValue: 1,
  min: 0,
  max: Infinity,
  exclusiveMin: true,
  description: 'ridge penalty λ > 0: each arm starts from A = λI (a prior θ ~ N(0, I/λ))',
};

/** Hyper-parameters of the ε-greedy policies. */
export const EPSILON_GREEDY_PARAMS: readonly ParamSpec[] = [
  { name: 'epsilon', defaultValue: 0.1, min: 0, max: 1, description: 'exploration probability ε ∈ [0, 1]' },
  LAMBDA_PARAM,
];

/** Hyper-parameters of LinUCB. */
export const LINUCB_PARAMS: readonly ParamSpec[] = [
  { name: 'alpha', defaultValue: 1, min: 0, max: Infinity, description: 'exploration width α ≥ 0 (score = mean + α·std)' },
  LAMBDA_PARAM,
];

/** Hyper-parameters of linear Thompson sampling. */
export const THOMPSON_PARAMS: readonly ParamSpec[] = [
  { name: 'v', defaultValue: 0.5, min: 0, max: Infinity, description: 'posterior scale v ≥ 0: θ ~ N(θ̂, v²A⁻¹)' },
  LAMBDA_PARAM,
];

/** Hyper-parameters of each built-in policy (name, default, range, meaning). */
export const POLICY_PARAMS: Readonly<Record<PolicyName, readonly ParamSpec[]>> = {
  'egreedy-v1': EPSILON_GREEDY_PARAMS,
  'egreedy-v2': EPSILON_GREEDY_PARAMS,
  linucb: LINUCB_PARAMS,
  thompson: THOMPSON_PARAMS,
};

/** The built-in policies' parameters with their defaults (policies that share them on one line), then what each means (`oo-ml train --help`). */
export function policyParamsText(): string {
  const groups = new Map<readonly ParamSpec[], PolicyName[]>();
  for (const name of POLICY_NAMES) groups.set(POLICY_PARAMS[name], [...(groups.get(POLICY_PARAMS[name]) ?? []), name]);
  const defaults = [...groups].map(([specs, names]) => `  ${names.join(', ')}: ${specs.map((p) => `${p.name}=${p.defaultValue}`).join(', ')}`);
  const meanings = new Map([...groups.keys()].flat().map((p) => [p.name, p.description]));
  return [...defaults, ...[...meanings].map(([name, description]) => `  ${name}: ${description}`)].join('\n');
}

/** Largest arm count a state may have: a sanity bound against corrupt or hostile inputs. */
export const MAX_ARMS = 4096;

function rangeText(spec: ParamSpec): string {
  const lower = `${spec.exclusiveMin ? '>' : '≥'} ${spec.min}`;
  return spec.max === Infinity ? `a finite number ${lower}` : `a number ${lower} and ≤ ${spec.max}`;
}

/**
 * Every parameter of `specs` with `given` applied over the defaults. With `requireAll` (a stored
 * state) a missing parameter is an error instead of taking its default.
 */
export function resolveParams(
  policy: PolicyName,
  specs: readonly ParamSpec[],
  given: Readonly<Record<string, number>> = {},
  requireAll = false,
): Record<string, number> {
  const names = specs.map((s) => s.name);
  for (const key of Object.keys(given)) {
    if (!names.includes(key)) {
      throw invalidInput(`unknown parameter "${key}" for policy ${policy}`, {
        hint: `valid parameters of ${policy}: ${names.join(', ')}`,
        details: [{ path: `/params/${key}`, message: 'unknown parameter' }],
      });
    }
  }
  const out: Record<string, number> = {};
  for (const spec of specs) {
    const raw = given[spec.name];
    if (raw === undefined && requireAll) {
      throw invalidInput(`parameter "${spec.name}" of policy ${policy} is missing`, {
        hint: `${spec.name}: ${spec.description}`,
        details: [{ path: `/params/${spec.name}`, message: 'missing' }],
      });
    }
    const value = raw ?? spec.defaultValue;
    const aboveMin = spec.exclusiveMin ? value > spec.min : value >= spec.min;
    if (typeof value !== 'number' || !Number.isFinite(value) || !aboveMin || value > spec.max) {
      throw invalidInput(`parameter "${spec.name}" of policy ${policy} must be ${rangeText(spec)}, got ${String(value)}`, {
        hint: `${spec.name}: ${spec.description}`,
        details: [{ path: `/params/${spec.name}`, message: `must be ${rangeText(spec)}` }],
      });
    }
    out[spec.name] = value;
  }
  return out;
}

/** Checks an arm count: an integer in [1, MAX_ARMS]. */
export function assertArmCount(policy: PolicyName, k: number): void {
  if (!Number.isInteger(k) || k < 1 || k > MAX_ARMS) {
    throw invalidInput(`policy ${policy} needs an integer number of arms between 1 and ${MAX_ARMS}, got ${k}`, {
      hint: 'pass the arm count of the contract (ARM_COUNT)',
    });
  }
}
