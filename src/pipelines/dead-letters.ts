/**
 * `oo-ml dlq`: the newest dead letters of the home's event bus (NATS JetStream with NATS_URL,
 * else the embedded bus): what a consumer (`oo-ml ingest`) refused, when, why, and the original
 * payload. A home without an embedded bus folder is named (a mistyped --home would otherwise
 * read as a bus that refused nothing), and nothing is created there.
 */
import type { Config } from '../config.js';
import { createEventBus, requireEmbeddedBus, type DeadLetters } from '../events/event-bus.js';
import type { TransportKind } from '../events/transport.js';

/** The most dead letters one listing reads (on NATS, one request each). */
export const MAX_DEAD_LETTERS = 1000;

/** The newest `last` dead letters of the bus `config` names, and how many it holds. */
export async function listDeadLetters(config: Config, last: number): Promise<DeadLetters & { bus: TransportKind }> {
  await requireEmbeddedBus(config);
  const bus = await createEventBus(config);
  try {
    return { bus: bus.kind, ...(await bus.deadLetters(Math.min(last, MAX_DEAD_LETTERS))) };
  } finally {
    await bus.close();
  }
}
