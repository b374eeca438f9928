/** fast-check arbitraries of valid events of every type (property tests of decoding and encoding). */
import fc from 'fast-check';
import { REACTIONS, type OoEvent } from '../../src/events/schemas.js';
import { ARM_IDS } from '../../src/features/arms.js';
import { PROFILE_FEATURES } from '../../src/features/registry.js';

/** Ids, versions and reasons: any well-formed text, JSON's escapes (quotes, backslashes, controls) included. */
const text = (maxLength: number): fc.Arbitrary<string> =>
  fc.oneof(fc.string({ maxLength, unit: 'grapheme' }), fc.string({ maxLength, unit: fc.constantFrom('"', '\\', '\n', '\u0000', '\u2028', 'é', '🙂', 'a') }));
const id = text(20).filter((s) => s.length > 0);
/** RFC 3339 times in UTC or with an offset, with 0–9 fractional digits. */
const ts = fc
  .tuple(fc.integer({ min: Date.parse('2025-01-01T00:00:00Z'), max: Date.parse('2027-01-01T00:00:00Z') }), fc.constantFrom('Z', '+02:00', '-05:30'), fc.integer({ min: 0, max: 9 }))
  .map(([ms, zone, digits]) => {
    const iso = new Date(ms).toISOString().slice(0, 19);
    return `${iso}${digits === 0 ? '' : `.${'123456789'.slice(0, digits)}`}${zone}`;
  });
/** A profile value within the contract's bounds (a preferred hour is 0–23). */
const profileValue = (f: (typeof PROFILE_FEATURES)[number]): fc.Arbitrary<number | null> => {
  const min = 'min' in f ? f.min : 0;
  const max = 'max' in f ? f.max : 1000;
  return fc.option(f.dtype === 'int' ? fc.integer({ min, max }) : fc.double({ min, max, noNaN: true }), { nil: null });
};
const features = fc.record({
  has_profile: fc.boolean(),
  ...Object.fromEntries(PROFILE_FEATURES.map((f) => [f.name, profileValue(f)])),
});

/** Any valid event of any type. */
export const anyEvent: fc.Arbitrary<OoEvent> = fc.oneof(
  fc.record(
    {
      type: fc.constant('tip.served' as const),
      event_id: id,
      ts,
      user_id: id,
      serve_id: id,
      arm: fc.constantFrom(...ARM_IDS),
      propensity: fc.double({ min: 0.001, max: 1, noNaN: true }),
      policy: id,
      model_version: fc.option(text(20), { nil: null }),
      prompt_version: fc.option(text(20), { nil: null }),
      context: fc.record({
        hour_of_day: fc.integer({ min: 0, max: 23 }),
        day_of_week: fc.integer({ min: 0, max: 6 }),
        open_tasks: fc.nat(50),
        overdue_tasks: fc.nat(50),
      }),
      shadow: fc.boolean(),
      features,
      experiment: fc.option(id, { nil: null }),
      variant: fc.option(id, { nil: null }),
    },
    { requiredKeys: ['type', 'event_id', 'ts', 'user_id', 'serve_id', 'arm', 'propensity', 'policy', 'model_version', 'prompt_version', 'context', 'shadow'] },
  ) as fc.Arbitrary<OoEvent>,
  fc.record({
    type: fc.constant('tip.reaction' as const),
    event_id: id,
    ts,
    user_id: id,
    serve_id: id,
    reaction: fc.constantFrom(...REACTIONS),
    dwell_ms: fc.nat(1_000_000),
  }),
  fc.record({ type: fc.constant('tip.reward' as const), event_id: id, ts, user_id: id, serve_id: id, reward: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ type: fc.constant('task.created' as const), event_id: id, ts, user_id: id, task_id: id, due_ts: fc.option(ts, { nil: null }) }),
  fc.record({ type: fc.constant('task.completed' as const), event_id: id, ts, user_id: id, task_id: id }),
  fc.record({ type: fc.constant('learning.reset' as const), event_id: id, ts, reason: fc.option(text(50), { nil: null }) }),
);
