/**
 * `npm run bench:event-encoding` — the per-event CPU of a publish's encoding steps, for a serve
 * event as `/score` builds it: the schema check the bus makes (and the same check over the schema
 * as written, without validation.ts's completed-schema pass), JSON.stringify against the
 * schema-compiled serializer (events/event-encoder.ts), and the copy into a Buffer; and the
 * bus's whole check-and-encode, with the lone-surrogate walk of every event against the scan of
 * the encoded text (`encodeValid`); and a `/score` response through the serializer Fastify would
 * compile from its schema against the one the server compiles (json-serializer.ts). Interleaved
 * rounds in one process (the machine's speed drifts: only figures of one run compare); medians
 * of ns per call.
 */
import { cpus, loadavg } from 'node:os';
import fastJson from 'fast-json-stringify';
import { Compile } from 'typebox/compile';
import { encodeEvent, encodeValid } from '../src/events/event-encoder.js';
import { EVENT_VALIDATORS, TipServed, type TipServedEvent } from '../src/events/schemas.js';
import { ARM_IDS } from '../src/features/arms.js';
import { compileSerializer } from '../src/json-serializer.js';
import { ScoreResponse } from '../src/server/schemas.js';

const CALLS = Number(process.env['BENCH_CALLS'] ?? 500_000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 5);

const event: TipServedEvent = {
  type: 'tip.served',
  event_id: 'k3j4h5k3j4h5-1f3k',
  ts: '2026-02-05T12:00:00.123Z',
  user_id: 'u12345',
  serve_id: '0123456789ab-1f3k',
  arm: ARM_IDS[2]!,
  propensity: 0.125,
  policy: 'tip-policy@champion',
  model_version: '3',
  prompt_version: 'v1',
  context: { hour_of_day: 11, day_of_week: 3, open_tasks: 7, overdue_tasks: 1 },
  shadow: false,
  features: { has_profile: true, completion_rate: 0.4312, dismiss_rate: 0.1234, mean_dwell_sec: 45.2, preferred_hour: 9, tip_volume: 12 },
  experiment: null,
  variant: null,
};
const validator = EVENT_VALIDATORS['tip.served'];
/** /score answers: with and without a score, in and out of an experiment. */
const responses = Array.from({ length: 8 }, (_, i) => ({
  serve_id: `0123456789ab-${i}`,
  arm: ARM_IDS[i % ARM_IDS.length]!,
  score: i % 4 === 0 ? null : 0.125 * i,
  propensity: 0.8,
  policy: 'tip-policy@champion',
  model_version: '7',
  experiment: i % 2 === 0 ? null : 'exp-1',
  variant: i % 2 === 0 ? null : 'treatment',
  prompt_version: 'v1',
  fallbacks: i % 3 === 0 ? ['tasks'] : [],
}));
const responseAsFastify = fastJson(ScoreResponse as Parameters<typeof fastJson>[0]) as (r: unknown) => string;
const responseWithTypeLists = compileSerializer<unknown>(ScoreResponse);
let nextResponse = 0;

// The serve event's schema compiled as written: a closed object with optional properties, whose
// check lists the keys and tests each against a pattern (validation.ts checks the completed
// schema first).
const asWritten = Compile(TipServed);

const cases: Record<string, () => unknown> = {
  'schema check (validator.parse)': () => validator.parse(event, 'event'),
  'schema check alone, completed schema first (the bus now)': () => validator.checkParsedWithoutEscapes(event),
  'schema check alone, the schema as written': () => asWritten.Check(event),
  'JSON.stringify': () => JSON.stringify(event),
  'encodeEvent (fast-json-stringify)': () => encodeEvent(event),
  'Buffer.from(JSON.stringify)': () => Buffer.from(JSON.stringify(event)),
  'Buffer.from(encodeEvent)': () => Buffer.from(encodeEvent(event)),
  'check with the strings walk + encodeEvent (the bus before)': () => Buffer.from(encodeEvent(validator.parse(event, 'event'))),
  'encodeValid: schema check, encode, text scan (the bus now)': () => Buffer.from(encodeValid(event, validator, 'event')),
  '/score response, serializer compiled from its schema (Fastify default)': () => responseAsFastify(responses[nextResponse++ & 7]),
  '/score response, serializer with type lists (the server now)': () => responseWithTypeLists(responses[nextResponse++ & 7]),
};

const times = new Map<string, number[]>(Object.keys(cases).map((k) => [k, []]));
let sink = 0;
for (let r = 0; r < ROUNDS + 1; r++) {
  for (const [name, f] of Object.entries(cases)) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < CALLS; i++) if (f() !== undefined) sink++;
    const ns = Number(process.hrtime.bigint() - t0) / CALLS;
    if (r > 0) times.get(name)!.push(ns); // round 0 warms the JIT
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
process.stdout.write(`# bench:event-encoding — ${new Date().toISOString()}\n\n`);
process.stdout.write(`Machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, Node ${process.version}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ${CALLS.toLocaleString('en')} calls × ${ROUNDS} rounds (sink ${sink > 0 ? 'used' : 'unused'}).\n\n`);
process.stdout.write('| step, one serve event (or one /score answer) | ns per call (median) | range |\n|---|---:|---:|\n');
for (const [name, xs] of times) process.stdout.write(`| ${name} | ${median(xs).toFixed(0)} | ${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)} |\n`);
const before = median(times.get('schema check (validator.parse)')!) + median(times.get('Buffer.from(JSON.stringify)')!);
const after = median(times.get('schema check (validator.parse)')!) + median(times.get('Buffer.from(encodeEvent)')!);
process.stdout.write(`\nA publish's check + encoding: ${before.toFixed(0)} ns with JSON.stringify, ${after.toFixed(0)} ns with encodeEvent (${(100 * (1 - after / before)).toFixed(0)} % less).\n`);
