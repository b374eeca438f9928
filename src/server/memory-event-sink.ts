/**
 * An in-memory EventSink: events kept in an array, in publish order. For tests, and for
 * benchmarks that must not measure the disk. Pass `events` to a new sink to simulate a restart
 * that replays what an earlier process published.
 */
import type { EventSink, ServerEvent } from './deps.js';

/** An in-memory sink with its recorded events (and their subjects) exposed. */
export interface MemoryEventSink extends EventSink {
  readonly events: ServerEvent[];
  readonly subjects: string[];
  readAll(): AsyncIterable<ServerEvent>;
}

/** A sink over `events` (appended to in place). */
export function createMemoryEventSink(events: ServerEvent[] = []): MemoryEventSink {
  const subjects: string[] = [];
  return {
    events,
    subjects,
    publish(subject, event) {
      subjects.push(subject);
      events.push(event);
      return Promise.resolve();
    },
    async *readAll() {
      // A copy: events published while replaying are not part of this replay.
      yield* events.slice();
    },
  };
}
