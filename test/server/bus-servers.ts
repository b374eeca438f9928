/**
 * Servers over a real event bus, as `oo-ml serve` wires them: the bus sink over the embedded
 * journal under `<dir>/bus` (or NATS), the reset marker in `dir`, an admin token, and whatever
 * else a test adds to the deps. `busServers()` registers an afterEach that closes what is
 * still open; call it once at the top of a test file.
 */
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { createEventBusOver } from '../../src/events/event-bus.js';
import { createEmbeddedTransport } from '../../src/events/embedded-transport.js';
import { createNatsTransport } from '../../src/events/nats-transport.js';
import { createBusEventSink, type BusEventSink } from '../../src/server/bus-event-sink.js';
import type { ServerDeps } from '../../src/server/deps.js';
import { createFileResetMarker } from '../../src/server/reset-marker.js';
import { createHarness, type Harness, type PolicySpec } from './harness.js';

/** A started server and its sink. */
export type BusServer = Omit<Harness, 'sink'> & { sink: BusEventSink };

/** What a bus server may differ in. */
export interface BusServerOptions {
  clockMs?: number;
  natsUrl?: string;
  policies?: Record<string, PolicySpec>;
  deps?: Partial<ServerDeps>;
  /** Runs on the sink before the app is built (as `oo-ml serve` resends spilled events). */
  beforeStart?: (sink: BusEventSink) => Promise<unknown>;
}

/** Starts and stops bus servers; whatever a test leaves open is closed after it. */
export function busServers(): { start(dir: string, options?: BusServerOptions): Promise<BusServer>; stop(server: BusServer): Promise<void> } {
  const open: BusServer[] = [];
  const close = async (s: BusServer): Promise<void> => {
    await s.app.close();
    await s.sink.close();
  };
  afterEach(async () => {
    for (const s of open.splice(0)) await close(s);
  });
  return {
    async start(dir, options = {}) {
      const transport = options.natsUrl === undefined ? createEmbeddedTransport(join(dir, 'bus'), { pollMs: 5 }) : await createNatsTransport(options.natsUrl);
      const sink = createBusEventSink(createEventBusOver(transport), { spillPath: join(dir, 'unsent.ndjson') });
      await options.beforeStart?.(sink);
      const h = await createHarness({
        deps: { events: sink, resetMarker: createFileResetMarker(join(dir, 'reset-at')), adminToken: 't', ...options.deps },
        ...(options.policies === undefined ? {} : { policies: options.policies }),
        ...(options.clockMs === undefined ? {} : { clockMs: options.clockMs }),
      });
      const server = { ...h, sink };
      open.push(server);
      return server;
    },
    /** Closes the app (drain: flush, last checkpoint) and then the sink. */
    async stop(server) {
      open.splice(open.indexOf(server), 1);
      await close(server);
    },
  };
}

