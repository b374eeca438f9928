/**
 * The one table of MLflow error codes: each code's HTTP status (from `mlflow/protos/databricks.proto`
 * and `mlflow/exceptions.py`, see shared/mlflow-rest.md Part 1 §2) and the OoMlError code oo-ml
 * turns it into. The REST adapter reads it one way (code → ErrorCode), the loopback test server
 * the other (ErrorCode → MLflow code and status).
 */
import type { ErrorCode } from '../errors.js';

/** One MLflow error code: the HTTP status a server answers with and what oo-ml makes of it. */
export interface MlflowErrorCodeDef {
  readonly http: number;
  readonly code: ErrorCode;
}

/**
 * Every code a server may send. Auth and server-side failures become `unavailable`: the user
 * fixes them by fixing the server or the credentials, not the input. RESOURCE_ALREADY_EXISTS
 * is HTTP 400 on the wire (not 409) but still means `already_exists`.
 */
export const MLFLOW_ERROR_CODES = {
  INVALID_PARAMETER_VALUE: { http: 400, code: 'invalid_input' },
  RESOURCE_ALREADY_EXISTS: { http: 400, code: 'already_exists' },
  BAD_REQUEST: { http: 400, code: 'invalid_input' },
  INVALID_STATE: { http: 500, code: 'unavailable' },
  RESOURCE_DOES_NOT_EXIST: { http: 404, code: 'not_found' },
  NOT_FOUND: { http: 404, code: 'not_found' },
  // A route the server does not have: the URL is not an MLflow server of a suitable version.
  ENDPOINT_NOT_FOUND: { http: 404, code: 'unavailable' },
  UNAUTHENTICATED: { http: 401, code: 'unavailable' },
  CUSTOMER_UNAUTHORIZED: { http: 401, code: 'unavailable' },
  PERMISSION_DENIED: { http: 403, code: 'unavailable' },
  RESOURCE_CONFLICT: { http: 409, code: 'conflict' },
  ALREADY_EXISTS: { http: 409, code: 'already_exists' },
  ABORTED: { http: 409, code: 'conflict' },
  REQUEST_LIMIT_EXCEEDED: { http: 429, code: 'unavailable' },
  RESOURCE_EXHAUSTED: { http: 429, code: 'unavailable' },
  INTERNAL_ERROR: { http: 500, code: 'unavailable' },
  DATA_LOSS: { http: 500, code: 'unavailable' },
  NOT_IMPLEMENTED: { http: 501, code: 'unavailable' },
  TEMPORARILY_UNAVAILABLE: { http: 503, code: 'unavailable' },
  DEADLINE_EXCEEDED: { http: 504, code: 'unavailable' },
} as const satisfies Record<string, MlflowErrorCodeDef>;

/** An MLflow error code name. */
export type MlflowErrorCode = keyof typeof MLFLOW_ERROR_CODES;

/** True when `name` is a code of the table. */
export function isMlflowErrorCode(name: string): name is MlflowErrorCode {
  return Object.hasOwn(MLFLOW_ERROR_CODES, name);
}

/**
 * The code for a response without a JSON error body, as MLflow's own client infers it
 * (`mlflow/utils/rest_utils.py`): 400 → BAD_REQUEST, 404 → ENDPOINT_NOT_FOUND,
 * 500 → INTERNAL_ERROR, other statuses → the first code of the table with that status.
 */
export function mlflowCodeForStatus(status: number): MlflowErrorCode {
  if (status === 400) return 'BAD_REQUEST';
  if (status === 404) return 'ENDPOINT_NOT_FOUND';
  if (status === 500) return 'INTERNAL_ERROR';
  for (const [name, def] of Object.entries(MLFLOW_ERROR_CODES)) {
    if (def.http === status && isMlflowErrorCode(name)) return name;
  }
  return status >= 500 ? 'INTERNAL_ERROR' : 'BAD_REQUEST';
}

/** The OoMlError code for an MLflow error code (unknown codes are judged by HTTP status). */
export function errorCodeFor(mlflowCode: string, status: number): ErrorCode {
  if (isMlflowErrorCode(mlflowCode)) return MLFLOW_ERROR_CODES[mlflowCode].code;
  return MLFLOW_ERROR_CODES[mlflowCodeForStatus(status)].code;
}

/** The MLflow code a server reports for an OoMlError code (used by the loopback test server). */
export const MLFLOW_CODE_FOR_ERROR: Readonly<Record<ErrorCode, MlflowErrorCode>> = {
  invalid_usage: 'INVALID_PARAMETER_VALUE',
  invalid_input: 'INVALID_PARAMETER_VALUE',
  not_found: 'RESOURCE_DOES_NOT_EXIST',
  already_exists: 'RESOURCE_ALREADY_EXISTS',
  conflict: 'RESOURCE_CONFLICT',
  unavailable: 'TEMPORARILY_UNAVAILABLE',
  internal: 'INTERNAL_ERROR',
};
