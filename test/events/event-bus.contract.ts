/**
 * The EventBus contract: one test body run against every adapter (the embedded journal on a temp
 * home, NATS JetStream against a real nats-server on a free loopback port). Publishing,
 * validation, dead-lettering, de-duplication, durable resume, the one sequence of the events
 * stream and ordered readers behave the same on both.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isOoMlError, type ErrorCode } from '../../src/errors.js';
import { createHash } from 'node:crypto';
import { DEAD_LETTER_VALIDATOR, DLQ_PAYLOAD_LIMIT, type DeadLetterEnvelope } from '../../src/events/dead-letter.js';
import { createEventBusOver, type EventBus, type EventConsumer, type EventDelivery, type EventReader, type StreamMessage } from '../../src/events/event-bus.js';
import { EVENT_TYPES, type OoEvent } from '../../src/events/schemas.js';
import type { Transport } from '../../src/events/transport.js';
import { completed, created, reacted, reset, rewarded, served } from '../helpers/events.js';

/** A dead letter as found on the DLQ. */
export interface StoredDeadLetter {
  subject: string;
  envelope: unknown;
}

/** An opened bus plus what the contract needs around it. */
export interface BusHarness {
  bus: EventBus;
  /** The transport under `bus`, to inject raw bytes other publishers might send. */
  transport: Transport;
  /** Every dead letter stored so far, in order. */
  readDlq(): Promise<StoredDeadLetter[]>;
  /** Closes the bus and opens a new one on the same storage (a process restart). */
  reopen(): Promise<{ bus: EventBus; transport: Transport }>;
  close(): Promise<void>;
}

/** Asserts that `promise` rejects with an OoMlError of `code` whose message matches `pattern`. */
export async function expectCode(promise: Promise<unknown>, code: ErrorCode, pattern?: RegExp): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected a ${code} error`).toBeDefined();
  expect(isOoMlError(caught) ? caught.code : caught).toBe(code);
  if (pattern !== undefined) expect((caught as Error).message).toMatch(pattern);
}

/** One event of every type. */
export function oneOfEach(user = 'u1'): OoEvent[] {
  return [
    served(user, '2026-01-05T09:00:00.000Z', `${user}-s1`, 'quick_win', 0.25),
    reacted(user, '2026-01-05T09:05:00.000Z', `${user}-s1`, 'completed', 4200),
    created(user, '2026-01-05T08:00:00.000Z', '2026-01-06T17:00:00.000Z'),
    completed(user, '2026-01-05T10:00:00.000Z'),
    rewarded(user, '2026-01-05T09:06:00.000Z', `${user}-s1`, 0.5),
    reset('2026-01-05T11:00:00.000Z', `reset by ${user}`),
  ];
}

/** Fetches until `n` messages (valid + rejected) arrived or `rounds` fetches came back empty. */
export async function drain(c: EventConsumer, n: number, maxWaitMs = 1000, rounds = 3) {
  const events: EventDelivery[] = [];
  const rejected: DeadLetterEnvelope[] = [];
  let empty = 0;
  while (events.length + rejected.length < n && empty < rounds) {
    const got = await c.fetch({ max: Math.max(1, n - events.length - rejected.length), maxWaitMs });
    if (got.events.length + got.rejected.length === 0) empty++;
    events.push(...got.events);
    rejected.push(...got.rejected);
  }
  return { events, rejected };
}

/** Reads until `n` messages arrived or a read came back empty after `maxWaitMs`. */
export async function readN(r: EventReader, n: number, maxWaitMs = 2000): Promise<StreamMessage[]> {
  const out: StreamMessage[] = [];
  while (out.length < n) {
    const got = await r.next(Math.min(n - out.length, 10_000), maxWaitMs);
    if (got.length === 0) break;
    out.push(...got);
  }
  return out;
}

/** The channel an event of `e`'s type travels on in these tests. */
const channelOf = (e: OoEvent): 'signals' | 'feedback' => (e.type === 'tip.reaction' || e.type === 'tip.reward' ? 'feedback' : 'signals');

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Registers the contract suite for one adapter. */
export function runEventBusContract(label: string, open: () => Promise<BusHarness>): void {
  describe(`EventBus contract: ${label}`, () => {
    let h: BusHarness;
    beforeEach(async () => {
      h = await open();
    });
    afterEach(async () => {
      await h.close();
    });

    it('delivers every event type on its subject, equal to what was published', async () => {
      const events = oneOfEach();
      const subjects = ['signals.tip.served', 'feedback.tip.reaction', 'signals.task.created', 'signals.task.completed', 'feedback.tip.reward', 'signals.learning.reset'];
      expect(await h.bus.extent()).toEqual({ firstSeq: 1, lastSeq: 0 });
      for (const [i, e] of events.entries()) {
        // One sequence for every subject of the events stream, in publish order.
        expect(await h.bus.publish(channelOf(e), e)).toEqual({ subject: subjects[i], duplicate: false, seq: i + 1 });
      }
      const c = await h.bus.consumer({ name: 'contract' });
      const got = await drain(c, events.length);
      expect(got.rejected).toEqual([]);
      expect(new Set(got.events.map((d) => d.event.type))).toEqual(new Set(EVENT_TYPES));
      const byId = new Map(got.events.map((d) => [d.event.event_id, d]));
      for (const [i, e] of events.entries()) {
        expect(byId.get(e.event_id)?.event).toEqual(e);
        expect(byId.get(e.event_id)?.subject).toBe(subjects[i]);
        expect(byId.get(e.event_id)?.deliveryCount).toBe(1);
        expect(byId.get(e.event_id)?.seq).toBe(i + 1);
      }
      // Delivered and not acked, until each is acked.
      expect(await c.unacked()).toBe(events.length);
      await got.events[0]!.ack();
      expect(await c.unacked()).toBe(events.length - 1);
      await Promise.all(got.events.map((d) => d.ack()));
      expect(await c.unacked()).toBe(0);
      await c.close();

      // A durable consumer resumes after its acks: nothing is left for it.
      const again = await h.bus.consumer({ name: 'contract' });
      expect((await again.fetch({ max: 10, maxWaitMs: 200 })).events).toEqual([]);
      await again.close();
    });

    it('hands its own readers the published events themselves; a reader of another bus on the stream decodes equal ones', async () => {
      const mine = await h.bus.reader(1);
      const events = oneOfEach('u-own');
      for (const e of events) await h.bus.publish(channelOf(e), e);
      const got = await readN(mine, events.length);
      expect(got.map((m) => m.ok && m.event)).toEqual(events);
      // The very objects: the fold of the server that published them does not decode them again.
      for (const [i, m] of got.entries()) expect(m.ok && m.event).toBe(events[i]);
      const other = createEventBusOver(h.transport);
      const theirs = await other.reader(1);
      const decoded = await readN(theirs, events.length);
      expect(decoded.map((m) => m.ok && m.event)).toEqual(events);
      for (const [i, m] of decoded.entries()) expect(m.ok && m.event).not.toBe(events[i]);
      await theirs.close();
      await mine.close();
    });

    it('refuses to publish an invalid event, naming the field, and stores nothing', async () => {
      const bad = { ...served('u2', '2026-01-05T09:00:00.000Z', 's'), arm: 'juggle' } as unknown as OoEvent;
      await expectCode(h.bus.publish('signals', bad), 'invalid_input', /\/arm/);
      const missing = { ...reacted('u2', '2026-01-05T09:00:00.000Z', 's', 'liked') } as Partial<OoEvent>;
      delete (missing as { dwell_ms?: number }).dwell_ms;
      await expectCode(h.bus.publish('feedback', missing as OoEvent), 'invalid_input', /dwell_ms/);
      await expectCode(h.bus.publish('signals', { type: 'tip.clicked' } as unknown as OoEvent), 'invalid_input', /tip\.clicked/);
      await expectCode(h.bus.publish('alerts' as 'signals', completed('u2', '2026-01-05T09:00:00.000Z')), 'invalid_input', /channel "alerts"/);
      const c = await h.bus.consumer({ name: 'contract' });
      expect(await c.fetch({ max: 10, maxWaitMs: 200 })).toEqual({ events: [], rejected: [] });
      await c.close();
    });

    it('refuses an event holding a lone surrogate in any string, naming the field, and only such an event (property)', async () => {
      const lone = fc.constantFrom('\ud800', '\udbff', '\udc00', '\udfff');
      // Short and long strings (the encoder escapes those two differently), pairs, literal "\\ud800" text, control characters.
      const piece = fc.oneof(fc.string({ maxLength: 6 }), lone, fc.constantFrom('\u{1F600}', '\\ud800', '\n', 'x'.repeat(45)));
      const str = fc.array(piece, { maxLength: 4 }).map((p) => p.join(''));
      let stored = 0;
      await fc.assert(
        fc.asyncProperty(str, str, fc.constantFrom('user_id', 'prompt_version', 'policy'), async (a, b, field) => {
          const e = { ...served('u9', '2026-01-05T09:00:00.000Z', `s-${a.length}`), [field]: `v${a}`, serve_id: `s${b}` } as OoEvent;
          const bad = [`v${a}`, `s${b}`].some((v) => !v.isWellFormed());
          const outcome = await h.bus.publish('signals', e).then(
            () => 'stored',
            (err: unknown) => String((err as Error).message),
          );
          if (outcome === 'stored') stored++;
          expect(outcome === 'stored').toBe(!bad);
          if (bad) expect(outcome).toMatch(new RegExp(`/(${field}|serve_id): is not valid Unicode`));
        }),
        { seed: 15, numRuns: 60 },
      );
      expect(stored).toBeGreaterThan(0);
    });

    it('stores a re-published event once (message id = event_id)', async () => {
      const e = completed('u3', '2026-01-05T11:00:00.000Z');
      const first = await h.bus.publish('signals', e);
      expect(first.duplicate).toBe(false);
      const again = await h.bus.publish('signals', e);
      expect(again.duplicate).toBe(true);
      // The first copy's seq when the adapter knows it, else 0.
      expect([0, first.seq]).toContain(again.seq);
      expect((await h.bus.extent()).lastSeq).toBe(first.seq);
      const c = await h.bus.consumer({ name: 'contract' });
      const got = await c.fetch({ max: 10, maxWaitMs: 500 });
      expect(got.events.map((d) => d.event.event_id)).toEqual([e.event_id]);
      await c.close();
    });

    it('dead-letters invalid payloads on dlq.<subject> with the reason and the field, then acks them', async () => {
      const ok = served('u4', '2026-01-05T09:00:00.000Z', 'u4-s1');
      const { type: _t, ...noType } = ok;
      void _t;
      const injected: [string, string, string, RegExp][] = [
        ['signals.tip.served', '{"type": "tip.served", oops', 'not_json', /not JSON/],
        ['signals.tip.served', JSON.stringify({ ...ok, event_id: 'x-missing', user_id: undefined }), 'invalid_event', /user_id/],
        ['signals.tip.served', JSON.stringify({ ...ok, event_id: 'x-wrongtype', propensity: 'high' }), 'invalid_event', /\/propensity/],
        ['signals.tip.served', JSON.stringify({ ...ok, event_id: 'x-arm', arm: 'juggle' }), 'invalid_event', /\/arm/],
        ['feedback.tip.reaction', JSON.stringify(ok), 'type_mismatch', /tip\.served.*tip\.reaction|tip\.reaction.*tip\.served/],
        ['signals.tip.clicked', JSON.stringify({ ...noType, type: 'tip.clicked' }), 'unknown_subject', /signals\.tip\.clicked/],
      ];
      for (const [i, [subject, text]] of injected.entries()) await h.transport.publish(subject, enc(text), `raw-${i}`);
      await h.bus.publish('signals', ok);

      const c = await h.bus.consumer({ name: 'contract' });
      const got = await drain(c, injected.length + 1);
      expect(got.events.map((d) => d.event)).toEqual([ok]);
      expect(got.rejected).toHaveLength(injected.length);
      await Promise.all(got.events.map((d) => d.ack()));
      await c.close();

      const dlq = await h.readDlq();
      expect(dlq).toHaveLength(injected.length);
      for (const [subject, text, reason, pattern] of injected) {
        const hit = dlq.find((d) => (d.envelope as DeadLetterEnvelope).payload_text === text);
        expect(hit, `dead letter of ${text}`).toBeDefined();
        expect(hit!.subject).toBe(`dlq.${subject}`);
        const env = DEAD_LETTER_VALIDATOR.parse(hit!.envelope, 'dead letter');
        expect(env).toMatchObject({ original_subject: subject, reason, consumer: 'contract', delivery_count: 1 });
        expect(env.message).toMatch(pattern);
        expect(Buffer.from(env.payload_base64, 'base64').toString('utf8')).toBe(text);
        expect(Number.isNaN(Date.parse(env.received_at))).toBe(false);
      }
      const missing = dlq.map((d) => d.envelope as DeadLetterEnvelope).find((e) => e.payload_text?.includes('x-missing'));
      expect(missing?.issues).toContainEqual({ path: '/', message: 'missing required field(s): user_id' });
      const mismatch = dlq.map((d) => d.envelope as DeadLetterEnvelope).find((e) => e.reason === 'type_mismatch');
      expect(mismatch?.issues.map((i) => i.path)).toEqual(['/type']);

      // The bus lists them, oldest first, as the stream holds them: all, or the newest few.
      const listed = await h.bus.deadLetters(100);
      expect(listed.held).toBe(injected.length);
      expect(listed.letters.map((l) => [l.subject, l.envelope, l.unreadable])).toEqual(dlq.map((d) => [d.subject, d.envelope, null]));
      expect(listed.letters.map((l) => l.seq)).toEqual([...listed.letters.map((l) => l.seq)].sort((a, b) => a - b));
      const newest = await h.bus.deadLetters(2);
      expect([newest.held, newest.letters.map((l) => l.envelope)]).toEqual([injected.length, dlq.slice(-2).map((d) => d.envelope)]);
      expect((await h.bus.deadLetters(0)).letters).toEqual([]);
      // Bytes another publisher put on dlq.> are listed as unreadable, not skipped.
      await h.transport.publish('dlq.signals.tip.served', enc('{"not": "an envelope"}'), 'raw-foreign');
      const foreign = (await h.bus.deadLetters(1)).letters[0]!;
      expect(foreign).toMatchObject({ subject: 'dlq.signals.tip.served', envelope: null, unreadable: expect.stringContaining('not a dead-letter envelope') });
      await expect(h.bus.deadLetters(-1)).rejects.toMatchObject({ code: 'invalid_usage' });

      // Acked: a new consumer under the same name gets neither the bad messages nor the good one.
      const again = await h.bus.consumer({ name: 'contract' });
      expect(await again.fetch({ max: 20, maxWaitMs: 200 })).toEqual({ events: [], rejected: [] });
      await again.close();
    });

    it('dead-letters non-UTF-8 bytes with the exact bytes in base64', async () => {
      const bytes = new Uint8Array([0xff, 0xfe, 0x7b, 0x00]);
      await h.transport.publish('signals.task.created', bytes, 'raw-bin');
      const c = await h.bus.consumer({ name: 'contract' });
      const got = await drain(c, 1);
      expect(got.rejected.map((r) => r.reason)).toEqual(['not_json']);
      await c.close();
      const [dl] = await h.readDlq();
      const env = DEAD_LETTER_VALIDATOR.parse(dl!.envelope, 'dead letter');
      expect(env.payload_text).toBeNull();
      expect([...Buffer.from(env.payload_base64, 'base64')]).toEqual([...bytes]);
      expect(env.message).toMatch(/not UTF-8/);
      // A small original travels whole: no size or hash beside it.
      expect(env.payload_bytes).toBeUndefined();
      expect(env.payload_sha256).toBeUndefined();
    });

    it('dead-letters an invalid message of 700 KB by its first bytes, size and hash, and delivers the valid ones fetched with it', async () => {
      // Past a third of NATS's 1 MB max_payload a whole copy (base64 and text) could not be published.
      const big = JSON.stringify({ ...completed('u6', '2026-01-05T09:00:00.000Z'), event_id: 'x-big', user_id: `é${'u'.repeat(700 * 1024)}` });
      const bytes = enc(big);
      await h.transport.publish('signals.task.completed', bytes, 'raw-big');
      const after = [created('u6', '2026-01-05T09:01:00.000Z'), completed('u6', '2026-01-05T09:02:00.000Z')];
      for (const e of after) await h.bus.publish('signals', e);
      const c = await h.bus.consumer({ name: 'contract' });
      const got = await drain(c, 3);
      expect(got.rejected.map((r) => r.reason)).toEqual(['invalid_event']);
      expect(got.events.map((d) => d.event)).toEqual(after);
      await Promise.all(got.events.map((d) => d.ack()));
      await c.close();
      const [dl] = await h.readDlq();
      const env = DEAD_LETTER_VALIDATOR.parse(dl!.envelope, 'dead letter');
      const kept = Buffer.from(env.payload_base64, 'base64');
      expect(kept.length).toBeLessThanOrEqual(DLQ_PAYLOAD_LIMIT);
      expect(kept.length).toBeGreaterThan(DLQ_PAYLOAD_LIMIT - 4);
      expect([...kept]).toEqual([...bytes.subarray(0, kept.length)]);
      expect(env.payload_text).toBe(kept.toString('utf8'));
      expect(env).toMatchObject({ payload_bytes: bytes.length, payload_sha256: createHash('sha256').update(bytes).digest('hex'), original_subject: 'signals.task.completed' });
      // The envelope stays far below NATS's 1 MB max_payload.
      expect(JSON.stringify(env).length).toBeLessThan(3 * DLQ_PAYLOAD_LIMIT);
    });

    it('redelivers what was fetched but not acked to the next consumer under the same name', async () => {
      const events = oneOfEach('u5');
      for (const e of events) await h.bus.publish(channelOf(e), e);
      const first = await h.bus.consumer({ name: 'contract', ackWaitMs: 1000 });
      const got = await drain(first, events.length);
      expect(got.events).toHaveLength(events.length);
      // Ack only the first two (in delivery order); drop the consumer like a crash would.
      await Promise.all(got.events.slice(0, 2).map((d) => d.ack()));
      await first.close();

      const second = await h.bus.consumer({ name: 'contract', ackWaitMs: 1000 });
      const redelivered = await drain(second, events.length - 2, 1500);
      expect(redelivered.events.map((d) => d.event.event_id).sort()).toEqual(got.events.slice(2).map((d) => d.event.event_id).sort());
      // Their second delivery, and the same stream sequences as the first.
      expect(redelivered.events.map((d) => d.deliveryCount)).toEqual(redelivered.events.map(() => 2));
      expect(redelivered.events.map((d) => d.seq).sort((a, b) => a - b)).toEqual(got.events.slice(2).map((d) => d.seq).sort((a, b) => a - b));
      await Promise.all(redelivered.events.map((d) => d.ack()));
      expect((await second.fetch({ max: 10, maxWaitMs: 200 })).events).toEqual([]);
      await second.close();
    });

    it('numbers the events stream across subjects in publish order; publish returns the seq a reader sees; a reader from seq k sees k, k+1, …', async () => {
      const events = [...oneOfEach('u6'), ...oneOfEach('u7')];
      const seqs: number[] = [];
      for (const [i, e] of events.entries()) {
        seqs.push((await h.bus.publish(channelOf(e), e)).seq);
        // A dead letter goes on its own stream and takes no seq of the events stream.
        if (i === 2) await h.transport.publish('dlq.signals.task.created', enc('{"not":"an envelope"}'), 'raw-dlq-seq');
      }
      expect(seqs).toEqual(events.map((_, i) => i + 1));
      expect(await h.bus.extent()).toEqual({ firstSeq: 1, lastSeq: events.length });

      const all = await h.bus.reader(1);
      const read = await readN(all, events.length);
      expect(read.map((m) => m.seq)).toEqual(seqs);
      expect(read.map((m) => (m.ok ? m.event : null))).toEqual(events);
      expect(read.map((m) => m.subject)).toEqual(events.map((e) => `${channelOf(e)}.${e.type}`));
      expect(await all.next(10, 100)).toEqual([]);
      await all.close();

      for (const k of [2, 6, events.length]) {
        const from = await h.bus.reader(k);
        expect((await readN(from, events.length - k + 1)).map((m) => m.seq)).toEqual(seqs.slice(k - 1));
        await from.close();
      }
    });

    it('wakes a reader waiting at the end of the stream with a later publish', async () => {
      const r = await h.bus.reader(1);
      expect(await r.next(10, 50)).toEqual([]);
      // Waits longer than the test's timeout: only the publish's wake-up can end them in time.
      const pending = r.next(10, 600_000);
      const e = completed('u8', '2026-01-05T10:00:00.000Z');
      const { seq } = await h.bus.publish('signals', e);
      expect(await pending).toEqual([{ ok: true, seq, subject: 'signals.task.completed', event: e }]);
      // Past the end: it waits for the next one.
      const later = await h.bus.reader(seq + 1);
      const waiting = later.next(10, 600_000);
      const next = created('u8', '2026-01-05T11:00:00.000Z');
      await h.bus.publish('signals', next);
      expect((await waiting).map((m) => (m.ok ? m.event : m.reason))).toEqual([next]);
      await later.close();
      await r.close();
    });

    it('survives a restart: a reader after reopening reads everything, and reports (not dead-letters) bad messages', async () => {
      const events = [...oneOfEach('u9'), ...oneOfEach('u10')];
      for (const e of events) await h.bus.publish(channelOf(e), e);
      const bad = await h.transport.publish('signals.task.completed', enc('not json'), 'raw-replay');
      const durable = await h.bus.consumer({ name: 'contract' });
      const consumed = await drain(durable, events.length + 1);
      await Promise.all(consumed.events.map((d) => d.ack()));
      await durable.close();
      expect(consumed.rejected.map((r) => r.seq)).toEqual([bad.seq]);
      const dlqBefore = (await h.readDlq()).length;
      expect(dlqBefore).toBe(1);

      const { bus } = await h.reopen();
      const reader = await bus.reader(1);
      const got = await readN(reader, events.length + 1);
      expect(got.filter((m) => m.ok).map((m) => (m.ok ? m.event : null))).toEqual(events);
      expect(got.filter((m) => !m.ok)).toMatchObject([{ ok: false, seq: bad.seq, subject: 'signals.task.completed', reason: 'not_json' }]);
      await reader.close();
      expect((await h.readDlq()).length).toBe(dlqBefore);

      // The durable consumer's position survived the restart too.
      const resumed = await bus.consumer({ name: 'contract' });
      expect(await resumed.fetch({ max: 10, maxWaitMs: 200 })).toEqual({ events: [], rejected: [] });
      await resumed.close();
    });

    it('parks an event the consumer cannot process: deadLetter publishes the envelope, then acks', async () => {
      const e = served('u11', '2026-01-05T09:00:00.000Z', 'u11-s1');
      const { seq } = await h.bus.publish('signals', e);
      const c = await h.bus.consumer({ name: 'contract' });
      const [d] = (await drain(c, 1)).events;
      expect(d?.event).toEqual(e);
      const env = await d!.deadLetter('unstorable', 'the event log refused it', [{ path: '/ts', message: 'out of range' }]);
      expect(env).toMatchObject({ original_subject: 'signals.tip.served', reason: 'unstorable', message: 'the event log refused it', consumer: 'contract', delivery_count: 1, seq });
      expect(env.issues).toEqual([{ path: '/ts', message: 'out of range' }]);
      await c.close();
      const dlq = await h.readDlq();
      expect(dlq.map((x) => x.subject)).toEqual(['dlq.signals.tip.served']);
      expect(DEAD_LETTER_VALIDATOR.parse(dlq[0]!.envelope, 'dead letter')).toEqual(env);
      // Acked: the next consumer under that name does not get it again.
      const again = await h.bus.consumer({ name: 'contract' });
      expect(await again.fetch({ max: 10, maxWaitMs: 200 })).toEqual({ events: [], rejected: [] });
      await again.close();
    });

    it('rejects bad consumer names and options as usage errors', async () => {
      await expectCode(h.bus.consumer({ name: 'has.dot' }), 'invalid_usage', /consumer name/);
      await expectCode(h.bus.consumer({ name: '' }), 'invalid_usage');
      await expectCode(h.bus.consumer({ name: 'ok', ackWaitMs: 10 }), 'invalid_usage', /ack wait/);
      const c = await h.bus.consumer({ name: 'ok' });
      await expectCode(c.fetch({ max: 0, maxWaitMs: 10 }), 'invalid_usage', /fetch size/);
      await c.close();
    });
  });
}
