/**
 * Feature vectors: the numeric input of every policy. Two layouts, declared as lists of named
 * components so names, dimensions and values come from one place. Train, sim and serve all call
 * `writeVector`; there is no other encoder.
 *
 * v1 (D=7): bias, sin/cos of the hour, weekend flag, log1p open tasks, log1p overdue tasks,
 *           has-profile flag.
 * v2 (D=12): v1 plus completion rate, dismiss rate, mean dwell (clipped to 600 s, scaled to
 *           [0,1]), preferred-hour alignment (cos of the angle between now and the preferred
 *           hour on the 24-hour clock; 0 when unknown), log1p tip volume.
 *
 * The component lists are the definition. v2 is written by a hand-written equivalent
 * (vector-d12.ts, bit-identical, differential test); v1 by the generic loop over its list.
 */
import type { ProfileValues } from './registry.js';
import { writeVectorD12 } from './vector-d12.js';

/** Everything a vector is computed from: JIT context plus the (fallback-resolved) profile. */
export interface VectorInput {
  hourOfDay: number;
  dayOfWeek: number;
  openTasks: number;
  overdueTasks: number;
  /** True when the user has a profile row (in the snapshot, or in the history for training). */
  hasProfile: boolean;
  /** Profile values with the contract's fallbacks already applied (null only where the
   *  fallback itself is null, e.g. an unknown preferred hour). */
  profile: ProfileValues;
}

/** A named vector component. */
export interface VectorComponent {
  name: string;
  value: (input: VectorInput) => number;
}

const TWO_PI = 2 * Math.PI;
const MAX_DWELL_SEC = 600;

const V1: readonly VectorComponent[] = [
  { name: 'bias', value: () => 1 },
  { name: 'hour_sin', value: (i) => Math.sin((TWO_PI * i.hourOfDay) / 24) },
  { name: 'hour_cos', value: (i) => Math.cos((TWO_PI * i.hourOfDay) / 24) },
  { name: 'weekend', value: (i) => (i.dayOfWeek >= 5 ? 1 : 0) },
  { name: 'log_open_tasks', value: (i) => Math.log1p(Math.max(0, i.openTasks)) },
  { name: 'log_overdue_tasks', value: (i) => Math.log1p(Math.max(0, i.overdueTasks)) },
  { name: 'has_profile', value: (i) => (i.hasProfile ? 1 : 0) },
];

const V2: readonly VectorComponent[] = [
  ...V1,
  { name: 'completion_rate', value: (i) => i.profile.completion_rate ?? 0 },
  { name: 'dismiss_rate', value: (i) => i.profile.dismiss_rate ?? 0 },
  {
    name: 'mean_dwell_scaled',
    value: (i) => Math.min(Math.max(i.profile.mean_dwell_sec ?? 0, 0), MAX_DWELL_SEC) / MAX_DWELL_SEC,
  },
  {
    name: 'preferred_hour_alignment',
    value: (i) => {
      const p = i.profile.preferred_hour;
      return p === null ? 0 : Math.cos((TWO_PI * (i.hourOfDay - p)) / 24);
    },
  },
  { name: 'log_tip_volume', value: (i) => Math.log1p(Math.max(0, i.profile.tip_volume ?? 0)) },
];

/** The vector layouts by name. */
export const VECTOR_LAYOUTS = { v1: V1, v2: V2 } as const;

/** A layout name (`v1` or `v2`). */
export type VectorLayoutName = keyof typeof VECTOR_LAYOUTS;

/** Dimension of a layout. */
export function vectorDim(layout: VectorLayoutName): number {
  return VECTOR_LAYOUTS[layout].length;
}

/** Component names of a layout, in order. */
export function vectorNames(layout: VectorLayoutName): string[] {
  return VECTOR_LAYOUTS[layout].map((c) => c.name);
}

/** Writes a layout's vector of `input` into `out` at `offset` (no allocation); returns `out`. */
export type VectorWriter = (input: VectorInput, out: Float64Array, offset: number) => Float64Array;

/** The plain encoder: every component of the layout's list, in order. The reference for fast paths. */
export function writeVectorGeneric(
  layout: VectorLayoutName,
  input: VectorInput,
  out: Float64Array,
  offset = 0,
): Float64Array {
  const components = VECTOR_LAYOUTS[layout];
  for (let j = 0; j < components.length; j++) out[offset + j] = components[j]!.value(input);
  return out;
}

const writeV1: VectorWriter = (input, out, offset) => writeVectorGeneric('v1', input, out, offset);

// v2 by hand: the simulator's hot path (vector-d12.ts; bench:sim).
const WRITERS: Readonly<Record<VectorLayoutName, VectorWriter>> = { v1: writeV1, v2: writeVectorD12 };

/** The encoder of a layout; hot loops fetch it once instead of dispatching per vector. */
export function vectorWriter(layout: VectorLayoutName): VectorWriter {
  return WRITERS[layout];
}

/** Writes the vector of `input` into `out` at `offset` (no allocation); returns `out`. */
export function writeVector(
  layout: VectorLayoutName,
  input: VectorInput,
  out: Float64Array,
  offset = 0,
): Float64Array {
  return WRITERS[layout](input, out, offset);
}

/** Allocates and returns the vector of `input`. */
export function toVector(layout: VectorLayoutName, input: VectorInput): Float64Array {
  return writeVector(layout, input, new Float64Array(vectorDim(layout)));
}
