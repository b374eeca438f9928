/**
 * `oo-ml dlq`: the newest dead letters of the home's event bus (NATS JetStream with NATS_URL,
 * else the embedded bus): what a consumer (`oo-ml ingest`) refused, when, why, and the original
 * payload. A home without an embedded bus folder is named (a mistyped --home would otherwise
 * read as a bus that refused nothing), and nothing is created there.
 */
import type { Config } from '../config.js';
import { notFound } from '../errors.js';
import { createEventBus, type DeadLetters } from '../events/event-bus.js';
import type { TransportKind } from '../events/transport.js';
import { exists } from '../io/atomic.js';

/** The most dead letters one listing reads (on NATS, one request each). */
export const MAX_DEAD_LETTERS = 1000;

/** The newest `last` dead letters of the bus `config` names, and how many it holds. */
export async function listDeadLetters(config: Config, last: number): Promise<DeadLetters & { bus: TransportKind }> {
  const bus = await createEventBus(config);
  try {
    if (bus.kind === 'embedded' && !(await exists(config.paths.bus))) {
      throw notFound(`no folder ${config.paths.bus}: no embedded bus there`, { hint: 'is --home the folder oo-ml serve and ingest use? With NATS, set NATS_URL' });
    }
    return { bus: bus.kind, ...(await bus.deadLetters(Math.min(last, MAX_DEAD_LETTERS))) };
  } finally {
    await bus.close();
  }
}
