import { connect, type AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ARM_IDS } from '../../src/features/arms.js';
import type { OoMlApp } from '../../src/server/app.js';
import { closeHarness, createHarness, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ deps: { limits: { bodyLimitBytes: 64 * 1024 } } });
});
afterAll(async () => {
  await closeHarness(h);
});

async function raw(app: OoMlApp, url: string, payload: string | Buffer, contentType = 'application/json') {
  const res = await app.inject({ method: 'POST', url, payload, headers: { 'content-type': contentType } });
  return { status: res.statusCode, body: res.json<Record<string, unknown>>(), type: String(res.headers['content-type']) };
}

function expectErrorShape(r: { status: number; body: Record<string, unknown> }): void {
  expect(typeof r.body['error']).toBe('string');
  expect(typeof r.body['message']).toBe('string');
  expect(r.body).toHaveProperty('details');
}

describe('bad input', () => {
  it('answers each client mistake with a 4xx naming the field or cause, and logs no stack', async () => {
    const cases: { body: string | Buffer; type?: string; status: number; message: string | RegExp; details?: unknown }[] = [
      { body: '{"user_id": "u1",', status: 400, message: /JSON/ },
      { body: '', status: 400, message: /empty/i },
      { body: JSON.stringify({ user_id: 42 }), status: 400, message: 'body is invalid: /user_id: must be string', details: [{ path: '/user_id', message: 'must be string' }] },
      { body: JSON.stringify({ user_id: 'u1', colour: 'red' }), status: 400, message: 'body is invalid: /colour: unknown field', details: [{ path: '/colour', message: 'unknown field' }] },
      { body: JSON.stringify({ user_id: 'u1', context: { hour_of_day: 24 } }), status: 400, message: 'body is invalid: /context/hour_of_day: must be <= 23' },
      { body: JSON.stringify({ user_id: 'u1', context: { hour_of_day: '9' } }), status: 400, message: 'body is invalid: /context/hour_of_day: must be integer' },
      { body: JSON.stringify({ user_id: 'u1', context: { tasks: [{ id: 't', due: 'tomorrow' }] } }), status: 400, message: /\/context\/tasks\/0\/due: must be an RFC 3339 date-time with a zone, e.g. / },
      { body: JSON.stringify({ user_id: 'u1', context: { tasks: [{ id: 't' }, { id: 'u', due: '2026-13-01T00:00:00Z' }] } }), status: 400, message: 'body is invalid: /context/tasks/1/due: "2026-13-01T00:00:00Z" is not a valid date-time', details: [{ path: '/context/tasks/1/due', message: 'not a valid date-time' }] },
      { body: JSON.stringify({ user_id: 'u1', context: { ts: '2026-02-05T25:00:00Z' } }), status: 400, message: 'body is invalid: /context/ts: "2026-02-05T25:00:00Z" is not a valid date-time' },
      // Times Date.parse would roll over (T24:00 is the next day, 30 February is 2 March).
      { body: JSON.stringify({ user_id: 'u1', context: { ts: '2026-02-05T24:00:00Z' } }), status: 400, message: 'body is invalid: /context/ts: "2026-02-05T24:00:00Z" is not a valid date-time', details: [{ path: '/context/ts', message: 'not a valid date-time' }] },
      { body: JSON.stringify({ user_id: 'u1', context: { ts: '2026-02-30T10:00:00Z' } }), status: 400, message: 'body is invalid: /context/ts: "2026-02-30T10:00:00Z" is not a valid date-time' },
      { body: JSON.stringify({ user_id: 'u1', context: { tasks: [{ id: 't', due: '2026-04-31T23:00:00+02:00' }] } }), status: 400, message: 'body is invalid: /context/tasks/0/due: "2026-04-31T23:00:00+02:00" is not a valid date-time' },
      { body: JSON.stringify({ user_id: 'u1', context: { tasks: [{ id: 't', due: '2026-02-05T24:00:00Z' }] } }), status: 400, message: 'body is invalid: /context/tasks/0/due: "2026-02-05T24:00:00Z" is not a valid date-time' },
      { body: JSON.stringify({ user_id: 'u1', profile_features: { completion_rate: 2 } }), status: 400, message: 'body is invalid: /profile_features/completion_rate: must be <= 1' },
      // As a serve event can carry it (an INTEGER of the event log): refused here, not after the answer.
      { body: JSON.stringify({ user_id: 'u1', profile_features: { tip_volume: 3_000_000_000 } }), status: 400, message: 'body is invalid: /profile_features/tip_volume: must be <= 2147483647' },
      { body: JSON.stringify({ context: {} }), status: 400, message: 'body is invalid: /user_id: required field is missing' },
      { body: JSON.stringify({ user_id: 'u1', arms: ['nope'] }), status: 400, message: 'unknown arm(s): "nope"' },
      { body: JSON.stringify({ user_id: 'u1', policy: 'ghost' }), status: 400, message: 'unknown policy "ghost"' },
      { body: JSON.stringify([1, 2]), status: 400, message: 'body is invalid: /: must be object' },
      // A lone surrogate is JSON but not Unicode: the event log could not store it.
      { body: '{"user_id":"\\ud800"}', status: 400, message: 'body is invalid: /user_id: is not valid Unicode (it holds a lone UTF-16 surrogate)', details: [{ path: '/user_id', message: 'is not valid Unicode (it holds a lone UTF-16 surrogate)' }] },
      { body: '{"user_id":"u1","context":{"tasks":[{"id":"t","title":"x\\udc00y"}]}}', status: 400, message: /\/context\/tasks\/0\/title: is not valid Unicode/ },
      { body: '{"__proto__": {"x": 1}, "user_id": "u1"}', status: 400, message: /prototype poisoning/ },
      { body: 'user_id=u1', type: 'application/x-www-form-urlencoded', status: 415, message: 'content-type "application/x-www-form-urlencoded" is not accepted: send the body as JSON with content-type application/json', details: [{ path: '/', message: 'content-type "application/x-www-form-urlencoded" is not accepted' }] },
      // JSON sent as text is refused for its type, not parsed as a string and then refused as "not an object".
      { body: '{"user_id":"u1"}', type: 'text/plain', status: 415, message: /^content-type "text\/plain" is not accepted/ },
      // Valid JSON that only the prototype-poisoning guard refuses says so, rather than "not valid JSON".
      { body: '{"user_id":"u1","__proto__":{"x":1}}', status: 400, message: 'body holds a "__proto__" key, or "constructor" with a "prototype": refused (prototype poisoning)' },
      { body: '{"user_id":"u1","context":{"constructor":{"prototype":{}}}}', status: 400, message: /prototype poisoning/ },
      // Spelled with escapes, the key is the same key.
      { body: '{"user_id":"u1","\\u005f_proto__":{"x":1}}', status: 400, message: /prototype poisoning/ },
      { body: '{"user_id":"u1","context":{"\\u0063onstructor":{"prototype":{}}}}', status: 400, message: /prototype poisoning/ },
      { body: '{"user_id":"u1","__proto__":', status: 400, message: /^body is not valid JSON: .*JSON/, details: [{ path: '/', message: expect.stringMatching(/^not valid JSON: /) }] },
      { body: '', status: 400, message: 'body is empty: send a JSON object', details: [{ path: '/', message: 'empty' }] },
      { body: '{"user_id":"\\u0075', status: 400, message: /not valid JSON/ },
      { body: Buffer.alloc(10 * 1024 * 1024, 0x20), status: 413, message: /^body is larger than \d+ bytes$/, details: [{ path: '/', message: expect.stringMatching(/^larger than \d+ bytes$/) }] },
      // Nested past any schema's need, long enough to cost the parser: refused before parsing.
      { body: `{"user_id":"a","x":${'['.repeat(3_000)}${']'.repeat(3_000)}}`, status: 400, message: 'body nests deeper than 32 levels', details: [{ path: '/', message: 'nested deeper than 32 levels' }] },
      // Brackets inside a long string are text, not nesting: the schema answers.
      { body: JSON.stringify({ user_id: 'a', context: { tasks: [{ id: 't', title: '['.repeat(200) }] }, x: 'y'.repeat(5000) }), status: 400, message: 'body is invalid: /x: unknown field' },
    ];
    for (const c of cases) {
      const r = await raw(h.app, '/score', c.body, c.type);
      expect({ body: typeof c.body === 'string' ? c.body.slice(0, 60) : '(10 MB)', status: r.status }).toEqual({
        body: typeof c.body === 'string' ? c.body.slice(0, 60) : '(10 MB)',
        status: c.status,
      });
      expectErrorShape(r);
      expect(r.body['error']).toBe('invalid_input');
      if (typeof c.message === 'string') expect(r.body['message']).toBe(c.message);
      else expect(r.body['message']).toMatch(c.message);
      if (c.details !== undefined) expect(r.body['details']).toEqual(c.details);
    }
    // A URL Fastify cannot decode is answered before routing, in the same shape, not content-sniffed.
    const badUrl = await h.app.inject({ method: 'GET', url: '/%' });
    expect([badUrl.statusCode, badUrl.headers['x-content-type-options'], badUrl.json()]).toEqual([400, 'nosniff', { error: 'invalid_input', message: expect.stringMatching(/^the request is malformed: /), details: { code: 'FST_ERR_BAD_URL' } }]);
    const unknownRoute = await h.app.inject({ method: 'GET', url: '/nope?x=1' });
    expect(unknownRoute.statusCode).toBe(404);
    expect(unknownRoute.json()).toEqual({ error: 'not_found', message: 'no route GET /nope', details: null });
    // A route asked for with a method it does not take: 405, naming the ones it does.
    const getScore = await h.app.inject({ method: 'GET', url: '/score?user_id=u1' });
    expect([getScore.statusCode, getScore.headers['allow'], getScore.json()]).toEqual([405, 'POST', { error: 'method_not_allowed', message: '/score takes POST, not GET', details: { allow: ['POST'] } }]);
    const postHealth = await h.app.inject({ method: 'DELETE', url: '/healthz' });
    expect([postHealth.statusCode, postHealth.headers['allow']]).toEqual([405, 'GET, HEAD']);
    expect(h.published).toHaveLength(0);
    // No answer is content-sniffed by a browser: 404s, 4xx and 2xx alike.
    const ok = await h.app.inject({ method: 'POST', url: '/score', payload: { user_id: 'u1' } });
    const refused = await h.app.inject({ method: 'POST', url: '/score', payload: '{', headers: { 'content-type': 'application/json' } });
    for (const res of [unknownRoute, getScore, ok, refused]) expect({ status: res.statusCode, nosniff: res.headers['x-content-type-options'] }).toEqual({ status: res.statusCode, nosniff: 'nosniff' });
    expect([ok.statusCode, refused.statusCode]).toEqual([200, 400]);
    // Client mistakes are logged as one-line info records, never with a stack.
    expect(h.logs.join('')).not.toMatch(/"stack"|\n\s+at /);
    expect(h.logs.some((l) => l.includes('unknown arm(s)'))).toBe(true);
    // Logged through the request's own logger (made on first use), with its request id.
    expect(h.logs.find((l) => l.includes('unknown arm(s)'))).toMatch(/"reqId":"[0-9a-f]{8}-[0-9a-z]+"/);
    expect((await h.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('refuses a lone surrogate wherever it is, and only then: escaped pairs and raw UTF-8 pass, on every route', async () => {
    // In an object key, named as a field name.
    const key = await raw(h.app, '/score', '{"user_id":"u1","context":{"\\udbff":1}}');
    expect([key.status, key.body['message']]).toEqual([400, expect.stringContaining('field name is not valid Unicode')]);
    // On another route (the check is the JSON parser's, not /score's).
    const reward = await raw(h.app, '/reward', '{"serve_id":"s\\udc00","reward":1}');
    expect([reward.status, reward.body['message']]).toEqual([400, 'body is invalid: /serve_id: is not valid Unicode (it holds a lone UTF-16 surrogate)']);
    // A surrogate pair written as escapes is one character: accepted, as is the same character in raw UTF-8.
    const pair = await raw(h.app, '/score', '{"user_id":"u\\ud83d\\ude00"}');
    const rawEmoji = await raw(h.app, '/score', Buffer.from('{"user_id":"u\u{1F600}"}', 'utf8'));
    expect([pair.status, rawEmoji.status]).toEqual([200, 200]);
    // The bytes of an encoded surrogate are not UTF-8: decoded as U+FFFD, which is well-formed.
    const bytes = Buffer.concat([Buffer.from('{"user_id":"u'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]);
    expect((await raw(h.app, '/score', bytes)).status).toBe(200);
    // Any body: refused for Unicode exactly when a parsed string or key holds a lone surrogate.
    const lone = fc.constantFrom('\ud800', '\udbff', '\udc00', '\udfff');
    const text = fc.array(fc.oneof(fc.string({ maxLength: 4 }), lone, fc.constant('\u{1F600}')), { maxLength: 4 }).map((parts) => parts.join(''));
    await fc.assert(
      fc.asyncProperty(text, text, async (userId, title) => {
        const body = JSON.stringify({ user_id: `u${userId}`, context: { tasks: [{ id: 't', title }] } });
        const r = await raw(h.app, '/score', body);
        const illFormed = !`u${userId}`.isWellFormed() || !title.isWellFormed();
        expect(r.status === 400 && String(r.body['message']).includes('is not valid Unicode')).toBe(illFormed);
      }),
      { seed: 15, numRuns: 150 },
    );
  });

  it('names at most the first 20 bad strings of a body, however many, and refuses deep nesting before any walk', async () => {
    // Thousands of lone surrogates: one short answer, not one line per string.
    const flat = await raw(h.app, '/score', `{"user_id":"u","x":[${Array(6_000).fill('"\\ud800"').join(',')}]}`);
    expect(flat.status).toBe(400);
    expect(flat.body['details']).toHaveLength(20);
    expect((flat.body['details'] as { path: string }[])[19]!.path).toBe('/x/19');
    expect(flat.body['message']).toMatch(/^body is invalid: \/x\/0: is not valid Unicode .*; and 80\+ more$/);
    // Nested deeper than the call stack allows (under the default 256 KiB limit), each level
    // holding a bad string: refused for its depth before the parser or the walk sees it.
    const d = await createHarness();
    try {
      const depth = 20_000;
      const deep = await raw(d.app, '/score', `{"user_id":"u","x":${'["\\ud800",'.repeat(depth)}1${']'.repeat(depth)}}`);
      expect([deep.status, deep.body['message']]).toEqual([400, 'body nests deeper than 32 levels']);
      // Deep enough for any schema, with a bad string at the bottom: named by its path.
      const bottom = await raw(d.app, '/score', `{"user_id":"u","x":${'['.repeat(30)}"\\ud800"${']'.repeat(30)}}`);
      expect(bottom.status).toBe(400);
      expect(bottom.body['details']).toEqual([{ path: `/x${'/0'.repeat(30)}`, message: expect.stringContaining('lone UTF-16 surrogate') }]);
    } finally {
      await closeHarness(d);
    }
  });

  it('answers a bug with 500 and the request id, not its message (which may name paths), and logs it whole; the id is the client\'s x-request-id when it sent a sane one, and every answer echoes it', async () => {
    const d = await createHarness();
    try {
      // A bug where the tip writer should have answered: its message names a path of the host.
      d.deps.tipWriter.promptVersionFor = () => {
        throw new Error('EACCES: permission denied, open /srv/oo-ml/state/secret.json');
      };
      const r = await d.app.inject({ method: 'POST', url: '/score', payload: { user_id: 'u1' } });
      const body = r.json<{ error: string; message: string; details: { request_id: string } }>();
      expect([r.statusCode, body.error, body.message]).toEqual([500, 'internal', `internal error; the server's log has it under request id ${body.details.request_id}`]);
      // An id of this process and request, not a counter every replica and restart repeats.
      expect(body.details.request_id).toMatch(/^[0-9a-f]{8}-[0-9a-z]+$/);
      expect(r.body).not.toContain('/srv/oo-ml');
      expect(d.logs.some((l) => l.includes('/srv/oo-ml/state/secret.json') && l.includes(body.details.request_id))).toBe(true);
      expect(r.headers['x-request-id']).toBe(body.details.request_id);
      // The id a proxy or the app sent is the one logged and answered; one that is not visible
      // ASCII of at most 128 characters is replaced by the server's own, not refused.
      const sent = await d.app.inject({ method: 'POST', url: '/score', payload: { user_id: 'u1' }, headers: { 'x-request-id': 'edge-7f3a:42' } });
      expect([sent.headers['x-request-id'], sent.json<{ details: { request_id: string } }>().details.request_id]).toEqual(['edge-7f3a:42', 'edge-7f3a:42']);
      expect(d.logs.some((l) => l.includes('"reqId":"edge-7f3a:42"'))).toBe(true);
      for (const bad of ['has space', 'x'.repeat(129), '']) {
        const r2 = await d.app.inject({ method: 'POST', url: '/score', payload: { user_id: 'u1' }, headers: { 'x-request-id': bad } });
        expect(r2.headers['x-request-id']).toMatch(/^[0-9a-f]{8}-[0-9a-z]+$/);
      }
      // A 200 echoes it too.
      const fine = await d.app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'probe-1' } });
      expect([fine.statusCode, fine.headers['x-request-id']]).toEqual([200, 'probe-1']);
    } finally {
      await closeHarness(d);
    }
  });

  it('answers 408 and closes the connection of a client that drips its body past the request timeout', async () => {
    const d = await createHarness({ deps: { limits: { requestTimeoutMs: 500 } } });
    try {
      await d.app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = d.app.server.address() as AddressInfo;
      const socket = connect(port, '127.0.0.1', () => socket.write('POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2000\r\n\r\n{'));
      // A byte now and then: each arrives well within any idle timeout, the whole never does.
      const drip = setInterval(() => socket.write(' '), 100);
      let answer = '';
      socket.on('data', (b: Buffer) => (answer += b.toString()));
      await new Promise<void>((resolve) => socket.once('close', () => resolve()));
      clearInterval(drip);
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
      // In the shape of every other error.
      expect(answer).toMatch(/\r\nX-Content-Type-Options: nosniff\r\n/i);
      expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toEqual({ error: 'invalid_input', message: 'the request did not arrive within 500 ms', details: { code: 'ERR_HTTP_REQUEST_TIMEOUT' } });
    } finally {
      await closeHarness(d);
    }
  });

  it('refuses a 10 MB body with 413 under the default body limit, and goes on serving', async () => {
    const d = await createHarness();
    try {
      const big = JSON.stringify({ user_id: 'u1', context: { tasks: [{ id: 'x'.repeat(10 * 1024 * 1024), due: '2026-02-05T10:00:00Z' }] } });
      const r = await raw(d.app, '/score', big);
      expect(r.status).toBe(413);
      expectErrorShape(r);
      expect(r.body['message']).toBe('body is larger than 262144 bytes');
      expect((await d.app.inject({ method: 'POST', url: '/score', payload: { user_id: 'u1' } })).statusCode).toBe(200);
    } finally {
      await closeHarness(d);
    }
  });

  it('answers every generated body (valid-ish and garbage) with well-formed JSON: 2xx, or 4xx with the error shape', async () => {
    const arm = fc.oneof(fc.constantFrom(...ARM_IDS), fc.string({ maxLength: 12 }));
    const iso = fc.oneof(fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString()), fc.string({ maxLength: 30 }));
    const context = fc.record(
      {
        hour_of_day: fc.oneof(fc.integer({ min: -2, max: 26 }), fc.double(), fc.string({ maxLength: 3 })),
        day_of_week: fc.oneof(fc.integer({ min: -1, max: 8 }), fc.constant(null)),
        tasks: fc.array(fc.record({ id: fc.string({ maxLength: 8 }), due: iso, title: fc.string({ maxLength: 20 }) }, { requiredKeys: ['id'] }), { maxLength: 5 }),
        ts: iso,
        extra: fc.anything(),
      },
      { requiredKeys: [] },
    );
    const score = fc.record(
      {
        user_id: fc.oneof(fc.constantFrom('u1', 'u2', 'nobody'), fc.string({ maxLength: 250 }), fc.integer()),
        arms: fc.array(arm, { maxLength: 10 }),
        context,
        profile_features: fc.oneof(fc.constant(null), fc.dictionary(fc.constantFrom('completion_rate', 'tip_volume', 'preferred_hour', 'bogus'), fc.oneof(fc.double(), fc.integer({ min: -5, max: 30 }), fc.constant(null)))),
        policy: fc.oneof(fc.constant('tip-policy@champion'), fc.string({ maxLength: 10 })),
      },
      { requiredKeys: [] },
    );
    // Serve ids the rewards can hit, so /reward reaches its success path too.
    const serveIds: string[] = [];
    for (let i = 0; i < 8; i++) serveIds.push((await h.app.inject({ method: 'POST', url: '/score', payload: { user_id: `fuzz-${i}` } })).json<{ serve_id: string }>().serve_id);
    // Valid bodies too, so the success path is checked as often as the refusals.
    const validScore = fc.record(
      {
        user_id: fc.constantFrom('u1', 'u2', 'nobody'),
        arms: fc.subarray([...ARM_IDS], { minLength: 1 }),
        context: fc.record(
          {
            hour_of_day: fc.integer({ min: 0, max: 23 }),
            day_of_week: fc.integer({ min: 0, max: 6 }),
            tasks: fc.array(fc.record({ id: fc.string({ minLength: 1, maxLength: 8 }), due: fc.date({ min: new Date('2026-01-01'), max: new Date('2026-03-01'), noInvalidDate: true }).map((d) => d.toISOString()) }), { maxLength: 5 }),
          },
          { requiredKeys: [] },
        ),
      },
      { requiredKeys: ['user_id'] },
    );
    const reward = fc.record(
      { serve_id: fc.oneof(fc.constantFrom(...serveIds), fc.string({ maxLength: 40 })), reaction: fc.oneof(fc.constantFrom('completed', 'dismissed', 'ignored', 'liked'), fc.string()), reward: fc.oneof(fc.double(), fc.integer()), dwell_ms: fc.integer({ min: -5, max: 100 }) },
      { requiredKeys: [] },
    );
    const generate = fc.record(
      { user_id: fc.oneof(fc.constantFrom('fuzz-0', 'fuzz-1'), fc.string({ maxLength: 20 })), serve_id: fc.oneof(fc.constantFrom(...serveIds), fc.string({ maxLength: 20 })), arm, prompt_version: fc.string({ maxLength: 12 }), context },
      { requiredKeys: [] },
    );
    const validGenerate = fc.oneof(
      fc.integer({ min: 0, max: serveIds.length - 1 }).map((i) => ({ user_id: `fuzz-${i}`, serve_id: serveIds[i]! })),
      fc.record({ user_id: fc.constantFrom('u1', 'nobody'), arm: fc.constantFrom(...ARM_IDS) }),
    );
    const garbage = fc.oneof(
      fc.anything().map((v) => JSON.stringify(v) ?? 'null'),
      fc.string({ maxLength: 200 }),
      fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')),
      fc.json(),
    );
    const request = fc.oneof(
      fc.tuple(fc.constant('/score'), fc.oneof(score, validScore).map((b) => JSON.stringify(b))),
      fc.tuple(fc.constant('/reward'), reward.map((b) => JSON.stringify(b))),
      fc.tuple(fc.constant('/generate'), fc.oneof(generate, validGenerate).map((b) => JSON.stringify(b))),
      fc.tuple(fc.constantFrom('/score', '/reward', '/generate', '/admin/reload'), garbage),
    );
    const statuses = new Set<string>();
    await fc.assert(
      fc.asyncProperty(request, async ([url, payload]) => {
        const res = await h.app.inject({ method: 'POST', url, payload, headers: { 'content-type': 'application/json' } });
        statuses.add(`${url} ${res.statusCode}`);
        const ok = res.statusCode >= 200 && res.statusCode < 300;
        expect(ok || (res.statusCode >= 400 && res.statusCode < 500), `${url} → ${res.statusCode}`).toBe(true);
        expect(String(res.headers['content-type'])).toContain('application/json');
        const body = res.json<Record<string, unknown>>();
        if (!ok) return expectErrorShape({ status: res.statusCode, body });
        // A success is the route's own answer, not just any JSON.
        if (url === '/score') {
          expect(ARM_IDS).toContain(body['arm']);
          expect(body['propensity']).toBeGreaterThan(0);
          expect(body['propensity']).toBeLessThanOrEqual(1);
        }
        if (url === '/reward') expect(serveIds).toContain(body['serve_id']);
        if (url === '/generate') expect(String(body['text']).length).toBeGreaterThan(0);
      }),
      { seed: 20260205, numRuns: 400 },
    );
    // The generator reached each route's success and its refusals.
    for (const seen of ['/score 200', '/score 400', '/reward 200', '/reward 404', '/generate 200', '/generate 400']) expect(statuses, seen).toContain(seen);
    expect(h.logs.join('')).not.toMatch(/"stack"|\n\s+at /);
    expect((await h.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});
