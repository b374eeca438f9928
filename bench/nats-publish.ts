/**
 * `npm run bench:nats-publish` — the client CPU of one JetStream publish, nats.js's `js.publish`
 * (a request per message) against events/jetstream-publisher.ts (core publishes, acks on one
 * subscription), side by side: interleaved rounds of BENCH_PUBLISHES serve-sized messages, 200
 * in flight, issued from one callback or each from its own (as a server does), to a memory stream of a nats-server started on a free loopback port. Medians of
 * µs of process CPU per publish; the nats-server's CPU is not counted. Then the header block of
 * one publish alone (its `Nats-Msg-Id`): nats.js's `headers()`, `set` and encoding against
 * events/msg-id-headers.ts, ns per message.
 */
import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect, headers } from '@nats-io/transport-node';
import { cpus, loadavg } from 'node:os';
import { createJetStreamPublisher } from '../src/events/jetstream-publisher.js';
import { MsgIdHeaders } from '../src/events/msg-id-headers.js';
import { startNatsServer } from '../fixtures/nats-server.js';

const PUBLISHES = Number(process.env['BENCH_PUBLISHES'] ?? 50_000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 5);
const IN_FLIGHT = 200;

const server = await startNatsServer();
const nc = await connect({ servers: server.url });
try {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'BENCH', subjects: ['bench.>'], storage: StorageType.Memory, max_msgs: 100_000 });
  const js = jetstream(nc);
  const publisher = createJetStreamPublisher(nc, 2000);
  // A serve event's size (~600 bytes of JSON).
  const data = new TextEncoder().encode(JSON.stringify({ type: 'tip.served', pad: 'x'.repeat(560) }));
  let id = 0;
  const variants: Record<string, (subject: string, msgId: string) => Promise<unknown>> = {
    'js.publish (nats.js)': (subject, msgId) => {
      // As nats-transport.ts called it: no stack traces for the errors nats.js builds in advance.
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 0;
      try {
        return js.publish(subject, data, { msgID: msgId, timeout: 2000 });
      } finally {
        Error.stackTraceLimit = limit;
      }
    },
    'jetstream-publisher (acks on one subscription)': (subject, msgId) => publisher.publish(subject, data, msgId),
  };
  // How the publishes are issued: all of a batch from one callback (a loop), or each from a
  // callback of its own, as a server publishes from each request's I/O callback (Node runs the
  // microtasks, where nats.js flushes its buffer, after each).
  const patterns = {
    'one callback': (publish: (typeof variants)[string]): Promise<unknown>[] => Array.from({ length: IN_FLIGHT }, () => publish('bench.a', `m${id++}`)),
    'a callback each': (publish: (typeof variants)[string]): Promise<unknown>[] =>
      Array.from({ length: IN_FLIGHT }, () => new Promise((resolve, reject) => setImmediate(() => publish('bench.a', `m${id++}`).then(resolve, reject)))),
  };
  const cases = Object.entries(variants).flatMap(([name, publish]) => Object.entries(patterns).map(([how, issue]) => ({ name: `${name}, ${how}`, publish, issue })));
  const figures = new Map<string, { cpu: number[]; rate: number[] }>(cases.map((c) => [c.name, { cpu: [], rate: [] }]));
  for (let r = 0; r < ROUNDS + 1; r++) {
    for (const { name, publish, issue } of cases) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < PUBLISHES; i += IN_FLIGHT) await Promise.all(issue(publish));
      const c = process.cpuUsage(c0);
      // Round 0 warms the JIT.
      if (r > 0) {
        figures.get(name)!.cpu.push((c.user + c.system) / PUBLISHES);
        figures.get(name)!.rate.push(PUBLISHES / ((performance.now() - t0) / 1000));
      }
    }
  }
  publisher.close();
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  process.stdout.write(`# bench:nats-publish — ${new Date().toISOString()}\n\n`);
  process.stdout.write(`Machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, Node ${process.version}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ${PUBLISHES.toLocaleString('en')} publishes × ${ROUNDS} rounds, ${IN_FLIGHT} in flight, nats-server on the same machine.\n\n`);
  process.stdout.write('| publish | client CPU µs per publish (median, range) | publishes/s (median) |\n|---|---:|---:|\n');
  for (const [name, f] of figures) {
    process.stdout.write(`| ${name} | ${median(f.cpu).toFixed(1)} (${Math.min(...f.cpu).toFixed(1)}–${Math.max(...f.cpu).toFixed(1)}) | ${Math.round(median(f.rate)).toLocaleString('en')} |\n`);
  }
  // The header block alone, built and encoded as a publish does (nats.js calls `encode()`).
  const encodeOf = (h: unknown): Uint8Array => (h as { encode(): Uint8Array }).encode();
  const blocks: Record<string, (msgId: string) => Uint8Array> = {
    "nats.js headers() + set + encode": (msgId) => {
      const h = headers();
      h.set('Nats-Msg-Id', msgId);
      return encodeOf(h);
    },
    'MsgIdHeaders (msg-id-headers.ts)': (msgId) => new MsgIdHeaders(msgId).encode(),
  };
  const CALLS = 500_000;
  const ns = new Map<string, number[]>(Object.keys(blocks).map((k) => [k, []]));
  let bytes = 0;
  for (let r = 0; r < ROUNDS + 1; r++) {
    for (const [name, block] of Object.entries(blocks)) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < CALLS; i++) bytes += block(`k3j4h5k3j4h5k3j4h5k3j4h5-${i.toString(36)}`).length;
      if (r > 0) ns.get(name)!.push(Number(process.hrtime.bigint() - t0) / CALLS);
    }
  }
  process.stdout.write(`\n| a publish's header block (${CALLS.toLocaleString('en')} × ${ROUNDS} rounds, ${bytes > 0 ? 'bytes used' : ''}) | ns per message (median, range) |\n|---|---:|\n`);
  for (const [name, xs] of ns) process.stdout.write(`| ${name} | ${median(xs).toFixed(0)} (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}) |\n`);
} finally {
  await nc.close();
  await server.stop();
}
