/**
 * Serialised policy states: the JSON schema of `SerializedPolicyState` and the encoding of its
 * numeric arrays. A Float64Array is written as the hex of its IEEE-754 little-endian bytes (16
 * hex digits per double), so every value — including −0, subnormals and the last bit of a
 * mantissa — round-trips exactly, whatever the platform's byte order; decimal JSON numbers do
 * not guarantee that across languages and libraries.
 */
import Type, { type Static } from 'typebox';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { invalidInput } from '../errors.js';
import { createValidator } from '../validation.js';
import { POLICY_NAMES, type SerializedPolicyState } from './policy.js';

/** The version of the serialised state layout written by this code. */
export const STATE_VERSION = 1;

/** Schema of a serialised state (closed objects: unknown fields are rejected). */
export const SerializedPolicyStateSchema = Type.Object(
  {
    policy: Type.Enum(POLICY_NAMES),
    stateVersion: Type.Integer({ minimum: 1 }),
    k: Type.Integer({ minimum: 1 }),
    d: Type.Integer({ minimum: 1 }),
    params: Type.Record(Type.String(), Type.Number()),
    arrays: Type.Record(Type.String(), Type.String({ pattern: '^([0-9a-f]{16})*$' })),
    updates: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);

// The interface in policy.ts is the contract other modules import; the schema must describe
// exactly it. These two lines fail to compile if either drifts from the other.
type SchemaState = Static<typeof SerializedPolicyStateSchema>;
const schemaMatchesInterface: [SchemaState extends SerializedPolicyState ? true : false, SerializedPolicyState extends SchemaState ? true : false] = [true, true];
void schemaMatchesInterface;

const validator = createValidator(SerializedPolicyStateSchema);

/** Checks the shape of a serialised state (types, integer fields, hex arrays); throws `invalid_input`. */
export function parseSerializedState(value: unknown): SerializedPolicyState {
  return validator.parse(value, 'policy state');
}

/** Hex of the little-endian IEEE-754 bytes of `a`. */
export function encodeFloat64(a: Float64Array): string {
  const bytes = new Uint8Array(a.length * 8);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < a.length; i++) view.setFloat64(i * 8, a[i]!, true);
  return bytesToHex(bytes);
}

/**
 * Decodes `encodeFloat64` output, requiring exactly `length` values, all finite; `what` names the
 * array in the error.
 */
export function decodeFloat64(hex: string, length: number, what: string): Float64Array {
  if (hex.length !== length * 16 || !/^[0-9a-f]*$/.test(hex)) {
    throw invalidInput(`policy state array "${what}" must be ${length} doubles (${length * 16} lowercase hex digits), got ${hex.length} characters`, {
      hint: 'the state was truncated or written for a different number of arms or features; re-export it',
      details: [{ path: `/arrays/${what}`, message: `expected ${length * 16} hex digits` }],
    });
  }
  const bytes = hexToBytes(hex);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float64Array(length);
  for (let i = 0; i < length; i++) {
    const v = view.getFloat64(i * 8, true);
    if (!Number.isFinite(v)) {
      throw invalidInput(`policy state array "${what}" holds a non-finite value (${v}) at index ${i}`, {
        hint: 'the state is corrupt; retrain or restore an earlier version',
        details: [{ path: `/arrays/${what}`, message: `index ${i} is ${v}` }],
      });
    }
    out[i] = v;
  }
  return out;
}
