/**
 * How a replica records its events so that nothing it answered for is lost: a publish resolves
 * only once the event is durable — stored by the bus (the JetStream ack, replicated on a
 * cluster; the embedded journal's write, synced within OO_ML_BUS_SYNC_MS), or, while the bus
 * cannot take it, written to the local spill (spill.ts) and synced.
 *
 * Two modes:
 * - **direct**: each publish goes to the bus and waits for its ack. A publish the bus does not
 *   take in time (disconnected, no JetStream quorum, timeout) switches to spill mode and is
 *   spilled itself — its answer is only delayed by the failed attempt.
 * - **spill**: every publish is appended to the spill, and a drainer publishes the spill to the
 *   bus in order whenever the bus says it is connected (backing off while it refuses). New
 *   events keep going to the spill until it is drained, so one replica's events reach the bus
 *   in the order it answered them; then the spill file is removed and the mode is direct again.
 *
 * A start with a spill left by an earlier run (a crash or kill during an outage) begins in spill
 * mode and drains it first. An event the bus refuses as invalid (a bug: every event is built
 * and validated by this server) is appended to `<state dir>/rejected.ndjson` and the publish
 * fails with `internal`, so it is never silently dropped.
 */
import { appendFile } from 'node:fs/promises';
import { internal, isOoMlError, unavailable } from '../../errors.js';
import type { EventBus, PublishResult } from '../../events/event-bus.js';
import { EVENT_VALIDATORS } from '../../events/schemas.js';
import { parseEventSubject } from '../../events/subjects.js';
import type { Validator } from '../../validation.js';
import { SUBJECTS, type ServerEvent } from '../deps.js';
import type { Spill } from './spill.js';
import { replicaStatePaths } from './state-paths.js';

/** Where a published event went. */
export interface PublishReceipt {
  /** Its sequence in the events stream, or null when it was spilled. */
  seq: number | null;
  spilled: boolean;
}

/** The receipt of a publish the bus took (one function, not a closure per publish). */
const receiptOf = (r: PublishResult): PublishReceipt => ({ seq: r.seq, spilled: false });

/** The publisher's state, for /readyz, /stats and /metrics. */
export interface PublisherHealth {
  busKind: EventBus['kind'];
  busConnected: boolean;
  /** `spill` while events go to the local spill (the bus is down, or the spill is still draining). */
  mode: 'direct' | 'spill';
  /** Events in the spill not yet on the bus. */
  backlog: number;
  spilledTotal: number;
  drainedTotal: number;
  /** Publish attempts the bus did not take (each then spilled or retried). */
  refusedTotal: number;
  /** Events the bus refused as invalid (kept in rejected.ndjson). */
  rejectedTotal: number;
  /** Why the mode last changed to spill, or null. */
  lastError: string | null;
  /** Why the last append to the spill failed, while no event has been recorded since (the replica can record nothing: not ready), or null. */
  spillFailure: string | null;
}

/** Records server events durably. */
export interface EventPublisher {
  /** Resolves once `event` is durable (on the bus, or in the spill). */
  publish(event: ServerEvent): Promise<PublishReceipt>;
  health(): PublisherHealth;
  /** The user of a serve this process put in the spill and has not drained yet, else null (a /reward for it names no user). */
  spilledServeUser(serveId: string): string | null;
  /** Stops draining; what is left in the spill stays for the next start. */
  close(): Promise<void>;
}

/** Options of the publisher. */
export interface PublisherOptions {
  bus: EventBus;
  spill: Spill;
  /** Where events the bus refuses as invalid are kept. */
  stateDir: string;
  /** Events published at once while draining (default 256). */
  drainBatch?: number;
  /** Called when the mode changes or a drain round fails (logs). Must not throw. */
  onChange?(health: PublisherHealth, why: string): void;
}

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2_000;
/** Spilled serves whose users are kept for /reward (the oldest forgotten past it). */
const SPILLED_SERVES_KEPT = 100_000;

// Per type, once: every publish asks.
const CHANNELS_BY_TYPE = Object.fromEntries(Object.entries(SUBJECTS).map(([type, subject]) => [type, parseEventSubject(subject)!.channel])) as Record<ServerEvent['type'], 'signals' | 'feedback'>;
const channelOf = (event: ServerEvent): 'signals' | 'feedback' => CHANNELS_BY_TYPE[event.type];
const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** A publisher over `bus` and `spill`; starts draining at once when the spill holds events. */
export function createPublisher(options: PublisherOptions): EventPublisher {
  const { bus, spill } = options;
  const drainBatch = options.drainBatch ?? 256;
  let mode: 'direct' | 'spill' = spill.backlog > 0 ? 'spill' : 'direct';
  let lastError: string | null = mode === 'spill' ? 'events left in the spill by an earlier run' : null;
  let refusedTotal = 0;
  let rejectedTotal = 0;
  let drainedTotal = 0;
  let closed = false;
  let draining: Promise<void> | null = null;
  let wake: (() => void) | null = null;
  let spillFailure: string | null = null;
  // Serve id → user of the serves this process spilled, until drained: a /reward for one names
  // no user, and its serve reaches no window until the bus takes it.
  const spilledServes = new Map<string, string>();
  const forgetDrained = (event: ServerEvent): void => {
    if (event.type === 'tip.served') spilledServes.delete(event.serve_id);
  };

  const health = (): PublisherHealth => ({
    busKind: bus.kind,
    busConnected: bus.health().connected,
    mode,
    backlog: spill.backlog,
    spilledTotal: spill.appendedTotal,
    drainedTotal,
    refusedTotal,
    rejectedTotal,
    lastError,
    spillFailure,
  });
  const changed = (why: string): void => {
    try {
      options.onChange?.(health(), why);
    } catch {
      // a failing reporter must not stop publishing
    }
  };

  async function reject(event: unknown, why: string): Promise<void> {
    rejectedTotal++;
    await appendFile(replicaStatePaths(options.stateDir).rejected, JSON.stringify({ at: new Date().toISOString(), why, event }) + '\n');
  }

  function toSpill(event: ServerEvent): Promise<PublishReceipt> {
    // Checked as the bus would check it: an answer is never given for an event the drain would
    // then have to reject.
    const validator: Validator<ServerEvent> = EVENT_VALIDATORS[event.type];
    if (!validator.check(event)) {
      const why = validator.issues(event).map((i) => `${i.path}: ${i.message}`).join('; ');
      return reject(event, why).then(() => {
        throw internal(`a ${(event as ServerEvent).type} event this server built is invalid: ${why}`);
      });
    }
    return spill.append(JSON.stringify(event)).then(
      () => {
        if (event.type === 'tip.served' && !event.shadow) {
          spilledServes.set(event.serve_id, event.user_id);
          if (spilledServes.size > SPILLED_SERVES_KEPT) spilledServes.delete(spilledServes.keys().next().value!);
        }
        spillFailure = null;
        startDrain();
        return { seq: null, spilled: true };
      },
      (e: unknown) => {
        spillFailure = messageOf(e);
        throw unavailable(`the bus is down and the local spill failed: ${messageOf(e)}`, { hint: `check the disk under ${options.stateDir}`, cause: e });
      },
    );
  }

  function enterSpill(why: string): void {
    if (mode === 'spill') return;
    mode = 'spill';
    lastError = why;
    changed(`events go to the local spill: ${why}`);
  }

  async function drain(): Promise<void> {
    let wait = RETRY_MIN_MS;
    while (!closed && mode === 'spill') {
      if (!bus.health().connected) {
        await sleepOrWake(RETRY_MAX_MS);
        continue;
      }
      const batch = await spill.read(drainBatch);
      if (batch.lines.length === 0) {
        if (spill.idle) {
          // Nothing left and nothing being appended: switch back before any await, so no
          // publish can land in a spill that is being removed.
          mode = 'direct';
          lastError = null;
          spillFailure = null;
          changed('the spill is drained: events go to the bus again');
          await spill.clear();
          return;
        }
        await sleepOrWake(5);
        continue;
      }
      // Published in one go and in order (one connection keeps the order); the cursor moves
      // past the longest prefix the bus took.
      const outcomes = await Promise.all(
        batch.lines.map(async (line): Promise<'ok' | 'bad' | 'down'> => {
          let event: unknown;
          try {
            event = JSON.parse(line);
          } catch {
            await reject(line, 'spill line is not JSON');
            return 'bad';
          }
          const type = (event as { type?: unknown }).type;
          if (typeof type !== 'string' || !Object.hasOwn(SUBJECTS, type) || !EVENT_VALIDATORS[type as ServerEvent['type']].check(event)) {
            await reject(event, 'spill line is not a server event');
            return 'bad';
          }
          try {
            await bus.publish(channelOf(event as ServerEvent), event as ServerEvent);
            forgetDrained(event as ServerEvent);
            return 'ok';
          } catch (e) {
            refusedTotal++;
            if (isOoMlError(e) && e.code === 'invalid_input') {
              // Never on the stream: no reward may be taken for it as if it would be.
              forgetDrained(event as ServerEvent);
              await reject(event, e.message);
              return 'bad';
            }
            return 'down';
          }
        }),
      );
      let taken = 0;
      while (taken < outcomes.length && outcomes[taken] !== 'down') taken++;
      drainedTotal += outcomes.slice(0, taken).filter((o) => o === 'ok').length;
      if (taken > 0) await spill.commit(batch.ends[taken - 1]!, taken);
      if (taken < outcomes.length) {
        changed('the bus refused spilled events; retrying');
        await sleepOrWake(wait);
        wait = Math.min(wait * 2, RETRY_MAX_MS);
      } else {
        wait = RETRY_MIN_MS;
      }
    }
  }

  function sleepOrWake(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        wake = null;
        resolve();
      }
      wake = done;
    });
  }

  function startDrain(): void {
    draining ??= drain()
      .catch((e: unknown) => changed(`draining the spill failed: ${messageOf(e)}`))
      .finally(() => {
        draining = null;
        if (!closed && mode === 'spill') setTimeout(startDrain, RETRY_MAX_MS).unref();
      });
  }

  const unsubscribe = bus.onHealth((h) => {
    changed(h.connected ? `the ${bus.kind} bus is connected${h.detail === null ? '' : ` (${h.detail})`}` : `the ${bus.kind} bus is disconnected${h.detail === null ? '' : ` (${h.detail})`}`);
    if (h.connected) wake?.();
    // A spill that failed every append never started a drain: with the bus back, one finds it
    // empty and goes direct (no request need come first: a replica out of its balancer gets none).
    if (h.connected && mode === 'spill') startDrain();
  });
  if (mode === 'spill') startDrain();

  return {
    publish(event) {
      if (closed) return Promise.reject(unavailable('the event publisher is closed'));
      if (mode === 'spill') return toSpill(event);
      if (!bus.health().connected) {
        enterSpill(`the ${bus.kind} bus is disconnected`);
        return toSpill(event);
      }
      let sent;
      try {
        sent = bus.publish(channelOf(event), event);
      } catch (e) {
        sent = Promise.reject(e);
      }
      return sent.then(
        (r) => {
          spillFailure = null;
          return receiptOf(r);
        },
        async (e: unknown) => {
          refusedTotal++;
          if (isOoMlError(e) && e.code === 'invalid_input') {
            await reject(event, e.message);
            throw internal(`the event bus refused a ${event.type} event this server built: ${e.message}`, { cause: e });
          }
          enterSpill(messageOf(e));
          return toSpill(event);
        },
      );
    },
    health,
    spilledServeUser: (serveId) => spilledServes.get(serveId) ?? null,
    async close() {
      closed = true;
      unsubscribe();
      wake?.();
      await draining;
    },
  };
}
