/** Decoding bus messages: subject → schema, every refusal with a reason and the fields. */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { DEAD_LETTER_REASONS } from '../../src/events/dead-letter.js';
import { decodeEvent } from '../../src/events/event-decoder.js';
import { EVENT_SCHEMAS, EVENT_TYPES, EVENT_VALIDATORS } from '../../src/events/schemas.js';
import { CHANNELS, EVENT_SUBJECTS, dlqSubject, eventSubject, isChannelSubject, parseEventSubject } from '../../src/events/subjects.js';
import { anyEvent } from '../helpers/event-arbitraries.js';
import { PROFILE_FEATURES } from '../../src/features/registry.js';

const enc = (v: unknown): Uint8Array => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));

describe('subjects', () => {
  it('are <channel>.<event type> for every channel and type, and dead letters are dlq.<subject>', () => {
    expect(EVENT_SUBJECTS).toHaveLength(CHANNELS.length * EVENT_TYPES.length);
    expect(EVENT_SUBJECTS).toContain('signals.tip.served');
    expect(EVENT_SUBJECTS).toContain('feedback.tip.reaction');
    for (const s of EVENT_SUBJECTS) {
      const p = parseEventSubject(s);
      expect(p).not.toBeNull();
      expect(eventSubject(p!.channel, p!.type)).toBe(s);
    }
    expect(parseEventSubject('signals.tip.clicked')).toBeNull();
    expect(parseEventSubject('alerts.tip.served')).toBeNull();
    expect(parseEventSubject('signals')).toBeNull();
    expect(isChannelSubject('signals.anything')).toBe(true);
    expect(isChannelSubject('signals.')).toBe(false);
    expect(isChannelSubject('dlq.signals.tip.served')).toBe(false);
    expect(dlqSubject('feedback.tip.reaction')).toBe('dlq.feedback.tip.reaction');
  });
});

describe('decodeEvent', () => {
  it('accepts every valid event on the channels of its type: a serve or a reset on signals only (an app cannot forge one on feedback)', () => {
    fc.assert(
      fc.property(anyEvent, fc.constantFrom(...CHANNELS), (e, channel) => {
        const d = decodeEvent(`${channel}.${e.type}`, enc(e));
        if (channel === 'feedback' && (e.type === 'tip.served' || e.type === 'learning.reset')) {
          expect(d).toMatchObject({ ok: false, reason: 'wrong_channel', message: expect.stringContaining(`${e.type} is taken on signals.${e.type} only`) });
        } else {
          expect(d).toEqual({ ok: true, subject: `${channel}.${e.type}`, event: e });
        }
      }),
      { seed: 20260105, numRuns: 300 },
    );
  });

  it('refuses the same event on another type’s subject as a type mismatch naming /type', () => {
    fc.assert(
      fc.property(anyEvent, fc.constantFrom(...EVENT_TYPES), (e, other) => {
        fc.pre(other !== e.type);
        const d = decodeEvent(`signals.${other}`, enc(e));
        expect(d).toMatchObject({ ok: false, reason: 'type_mismatch' });
        expect(d.ok ? [] : d.issues.map((i) => i.path)).toEqual(['/type']);
      }),
      { seed: 7, numRuns: 200 },
    );
  });

  it('refuses an event missing any one field, naming that field', () => {
    fc.assert(
      fc.property(anyEvent, fc.nat(), (e, k) => {
        // The schema's required fields (a tip.served's features, experiment and variant are optional).
        const required = EVENT_SCHEMAS[e.type].required as readonly string[];
        const keys = Object.keys(e).filter((f) => f !== 'type' && required.includes(f));
        const drop = keys[k % keys.length]!;
        const { [drop]: _gone, ...rest } = e as unknown as Record<string, unknown>;
        void _gone;
        const d = decodeEvent(`signals.${e.type}`, enc(rest));
        expect(d).toMatchObject({ ok: false, reason: 'invalid_event' });
        expect(d.ok ? '' : d.message).toContain(drop);
      }),
      { seed: 11, numRuns: 200 },
    );
  });

  it('never throws on arbitrary bytes or subjects, and always gives a known reason', () => {
    fc.assert(
      fc.property(fc.oneof(fc.constantFrom(...EVENT_SUBJECTS), fc.string()), fc.uint8Array({ maxLength: 64 }), (subject, bytes) => {
        const d = decodeEvent(subject, bytes);
        if (!d.ok) expect(DEAD_LETTER_REASONS).toContain(d.reason);
      }),
      { seed: 3, numRuns: 500 },
    );
  });

  it('explains each refusal: unknown subject, non-UTF-8, not JSON, wrong type, unknown arm, unknown field', () => {
    const e = { type: 'tip.reaction', event_id: 'e', ts: '2026-01-05T09:00:00Z', user_id: 'u', serve_id: 's', reaction: 'liked', dwell_ms: 5 };
    expect(decodeEvent('signals.tip.clicked', enc(e))).toMatchObject({ ok: false, reason: 'unknown_subject', message: expect.stringContaining('signals.tip.clicked') });
    expect(decodeEvent('feedback.tip.reaction', new Uint8Array([0xc3, 0x28]))).toMatchObject({ ok: false, reason: 'not_json', message: expect.stringContaining('not UTF-8') });
    expect(decodeEvent('feedback.tip.reaction', enc('{"type":'))).toMatchObject({ ok: false, reason: 'not_json' });
    expect(decodeEvent('feedback.tip.reaction', enc('[1,2]'))).toMatchObject({ ok: false, reason: 'invalid_event' });
    const wrongType = decodeEvent('feedback.tip.reaction', enc({ ...e, dwell_ms: 'long' }));
    expect(wrongType).toMatchObject({ ok: false, reason: 'invalid_event' });
    expect(wrongType.ok ? [] : wrongType.issues.map((i) => i.path)).toEqual(['/dwell_ms']);
    const arm = decodeEvent('signals.tip.served', enc({ type: 'tip.served', event_id: 'e', ts: '2026-01-05T09:00:00Z', user_id: 'u', serve_id: 's', arm: 'juggle', propensity: 0.5, policy: 'p', model_version: null, prompt_version: null, context: { hour_of_day: 9, day_of_week: 0, open_tasks: 1, overdue_tasks: 0 }, shadow: false }));
    expect(arm.ok ? [] : arm.issues.map((i) => i.path)).toEqual(['/arm']);
    const extra = decodeEvent('feedback.tip.reaction', enc({ ...e, mood: 'happy' }));
    expect(extra.ok ? '' : extra.message).toContain('unknown field(s): mood');
  });

  it('refuses a lone surrogate in any string as invalid_event naming the field (DuckDB cannot store it)', () => {
    const e = { type: 'tip.reaction', event_id: 'e', ts: '2026-01-05T09:00:00Z', user_id: 'u', serve_id: 's', reaction: 'liked', dwell_ms: 5 };
    // The bytes are valid UTF-8 JSON: the surrogate is a JSON escape.
    const text = JSON.stringify(e).replace('"user_id":"u"', '"user_id":"\\ud800"');
    expect(text).toContain('"user_id":"\\ud800"');
    const d = decodeEvent('feedback.tip.reaction', enc(text));
    expect(d).toMatchObject({ ok: false, reason: 'invalid_event', message: expect.stringContaining('/user_id: is not valid Unicode') });
    expect(d.ok ? [] : d.issues.map((i) => i.path)).toEqual(['/user_id']);
    // A proper pair is fine, and a lone low surrogate inside a nested field is named there.
    expect(decodeEvent('feedback.tip.reaction', enc({ ...e, user_id: 'u😀' })).ok).toBe(true);
    const served = { type: 'tip.served', event_id: 'e', ts: '2026-01-05T09:00:00Z', user_id: 'u', serve_id: 's', arm: 'split_task', propensity: 0.5, policy: 'p', model_version: null, prompt_version: 'v1\udc00', context: { hour_of_day: 9, day_of_week: 0, open_tasks: 1, overdue_tasks: 0 }, shadow: false };
    const nested = decodeEvent('signals.tip.served', enc(served));
    expect(nested.ok ? [] : nested.issues.map((i) => i.path)).toEqual(['/prompt_version']);
  });

  it('accepts a tip.served with the features, experiment and variant of its decision, and refuses a feature outside its bounds', () => {
    const served = { type: 'tip.served', event_id: 'e', ts: '2026-01-05T09:00:00Z', user_id: 'u', serve_id: 's', arm: 'split_task', propensity: 0.5, policy: 'p', model_version: '3', prompt_version: 'v1', context: { hour_of_day: 9, day_of_week: 0, open_tasks: 1, overdue_tasks: 0 }, shadow: false };
    const features = { has_profile: true, ...Object.fromEntries(PROFILE_FEATURES.map((f) => [f.name, null])) };
    const full = { ...served, features, experiment: 'exp-1', variant: null };
    expect(decodeEvent('signals.tip.served', enc(full))).toEqual({ ok: true, subject: 'signals.tip.served', event: full });
    const [first] = PROFILE_FEATURES;
    const out = decodeEvent('signals.tip.served', enc({ ...full, features: { ...features, [first!.name]: -1 } }));
    expect(out.ok ? [] : out.issues.map((i) => i.path)).toEqual([`/features/${first!.name}`]);
    const missing = decodeEvent('signals.tip.served', enc({ ...full, features: { has_profile: false } }));
    expect(missing.ok ? '' : missing.message).toContain(first!.name);
  });

  it('refuses what the event log could not store (a leap second, an integer beyond INTEGER), so it is dead-lettered instead of stopping the ingest', () => {
    const e = { type: 'tip.reaction', event_id: 'e', ts: '2026-01-05T09:00:00Z', user_id: 'u', serve_id: 's', reaction: 'liked', dwell_ms: 5 };
    const cases: [Record<string, unknown>, string][] = [
      [{ ...e, ts: '2026-12-31T23:59:60Z' }, '/ts'],
      [{ ...e, ts: '2026-12-31T23:59:60+00:00' }, '/ts'],
      // Spellings DuckDB's TIMESTAMP reader refuses, and an offset past year 9999.
      [{ ...e, ts: '2026-01-05t09:00:00Z' }, '/ts'],
      [{ ...e, ts: '2026-01-05T09:00:00z' }, '/ts'],
      [{ ...e, ts: '9999-12-31T23:59:59-01:00' }, '/ts'],
      [{ ...e, dwell_ms: 3_000_000_000 }, '/dwell_ms'],
      // A JSON line DuckDB cannot read whole (beyond 32 MiB) needs an unbounded string: there is none.
      [{ ...e, ts: '2026-01-05T09:00:00.1234567890Z' }, '/ts'],
    ];
    for (const [event, path] of cases) {
      const d = decodeEvent('feedback.tip.reaction', enc(event));
      expect(d.ok ? [] : [d.reason, ...d.issues.map((i) => i.path)], JSON.stringify(event)).toEqual(['invalid_event', path]);
    }
    for (const ts of ['2026-01-05T09:00:00.123456Z', '2026-01-05T09:00:00.123456789Z', '2026-01-05T09:00:00+05:30', '0001-01-01T00:00:00Z']) {
      expect(decodeEvent('feedback.tip.reaction', enc({ ...e, ts })).ok, ts).toBe(true);
    }
    const served = { type: 'tip.served', event_id: 'e', ts: '2026-01-05T09:00:00Z', user_id: 'u', serve_id: 's', arm: 'split_task', propensity: 0.5, policy: 'p', model_version: null, prompt_version: null, shadow: false };
    const tooMany = decodeEvent('signals.tip.served', enc({ ...served, context: { hour_of_day: 9, day_of_week: 0, open_tasks: 2 ** 31, overdue_tasks: 0 } }));
    expect(tooMany.ok ? [] : tooMany.issues.map((i) => i.path)).toEqual(['/context/open_tasks']);
    expect(decodeEvent('signals.tip.served', enc({ ...served, context: { hour_of_day: 9, day_of_week: 0, open_tasks: 2 ** 31 - 1, overdue_tasks: 0 } })).ok).toBe(true);
    const context = { hour_of_day: 9, day_of_week: 0, open_tasks: 1, overdue_tasks: 0 };
    for (const field of ['model_version', 'prompt_version']) {
      const long = decodeEvent('signals.tip.served', enc({ ...served, context, [field]: 'v'.repeat(201) }));
      expect(long.ok ? [] : long.issues.map((i) => i.path)).toEqual([`/${field}`]);
      expect(decodeEvent('signals.tip.served', enc({ ...served, context, [field]: 'v'.repeat(200) })).ok).toBe(true);
    }
  });
});

describe('the decoder fast path', () => {
  it('skips the Unicode walk only for texts without a \\u escape, and decides exactly as the full check (differential)', () => {
    const validator = EVENT_VALIDATORS['tip.reaction'];
    const fast = vi.spyOn(validator, 'checkParsedWithoutEscapes');
    // Strings of any UTF-16 code units, lone surrogates included; JSON.stringify escapes the
    // lone ones (`\udXXX`), and sometimes other characters are escaped by hand too.
    const unit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
    const text = fc.array(unit, { minLength: 1, maxLength: 12 }).map((a) => a.join(''));
    let fastRuns = 0;
    fc.assert(
      fc.property(text, fc.boolean(), (user, escapeA) => {
        const event = { type: 'tip.reaction', event_id: 'e1', ts: '2026-01-05T09:00:00Z', user_id: user, serve_id: 's1', reaction: 'liked', dwell_ms: 5 };
        let json = JSON.stringify(event);
        if (escapeA) json = json.replace('"e1"', '"\\u0065\\u0031"');
        const before = fast.mock.calls.length;
        const decoded = decodeEvent('feedback.tip.reaction', new TextEncoder().encode(json));
        const full = validator.check(JSON.parse(json));
        expect(decoded.ok).toBe(full);
        const tookFastPath = fast.mock.calls.length > before;
        expect(tookFastPath).toBe(!json.includes('\\u'));
        if (tookFastPath) fastRuns++;
      }),
      { seed: 1204, numRuns: 400 },
    );
    // Both paths were exercised.
    expect(fastRuns).toBeGreaterThan(20);
    expect(fastRuns).toBeLessThan(400);
    fast.mockRestore();
  });
});
