/**
 * The contract's identity: a canonical description of the features, arms and vector layouts,
 * and its SHA-256. A snapshot, a training set and a registered policy each carry this hash, so a
 * server can refuse data built against a different contract and say which features differ.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { ARM_IDS } from './arms.js';
import { FEATURES, type FeatureDef } from './registry.js';
import { VECTOR_LAYOUTS, vectorNames } from './vectors.js';

/** The parts of a feature that change its meaning (descriptions and sources do not). */
export interface FeatureSignature {
  name: string;
  kind: string;
  dtype: string;
  ttlSec: number | null;
  fallback: string;
  windowDays: number | null;
  sums: Readonly<Record<string, string>> | null;
  value: string | null;
}

/** The signature of one feature. */
export function featureSignature(f: FeatureDef): FeatureSignature {
  return {
    name: f.name,
    kind: f.kind,
    dtype: f.dtype,
    ttlSec: f.ttlSec,
    fallback: f.fallback,
    windowDays: f.build?.windowDays ?? null,
    sums: f.build?.sums ?? null,
    value: f.build?.value ?? null,
  };
}

/** Signatures of every feature, in contract order. */
export function contractSignatures(): FeatureSignature[] {
  return (FEATURES as readonly FeatureDef[]).map(featureSignature);
}

/** SHA-256 (hex) of the canonical contract: feature signatures, arms and layouts. */
export function contractHash(): string {
  const layouts = Object.fromEntries(
    Object.keys(VECTOR_LAYOUTS).map((k) => [k, vectorNames(k as keyof typeof VECTOR_LAYOUTS)]),
  );
  const canonical = JSON.stringify({ features: contractSignatures(), arms: ARM_IDS, layouts });
  return bytesToHex(sha256(utf8ToBytes(canonical)));
}

/**
 * Names of the features whose signatures differ between `theirs` (e.g. a snapshot manifest)
 * and this contract, including features present on one side only. `kind` limits the comparison
 * to one kind (a snapshot only carries profile features).
 */
export function diffSignatures(theirs: readonly FeatureSignature[], kind?: 'profile' | 'context'): string[] {
  const mine = contractSignatures().filter((s) => kind === undefined || s.kind === kind);
  const ours = new Map(mine.map((s) => [s.name, JSON.stringify(s)]));
  const other = new Map(theirs.map((s) => [s.name, JSON.stringify(s)]));
  const names = new Set([...ours.keys(), ...other.keys()]);
  return [...names].filter((n) => ours.get(n) !== other.get(n)).sort();
}
