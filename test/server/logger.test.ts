/**
 * The server's logger (server/logger.ts): Fastify is built without one of its own, so it adds no
 * listeners per reply, while its warnings about a request still reach the server's logger through
 * the request's child, and the app's own messages go to `app.ooLog`.
 */
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { createServerLogger } from '../../src/server/logger.js';
import { closingHarness, post } from './harness.js';

const harness = closingHarness();

function records(): { lines: Record<string, unknown>[]; stream: { write(line: string): void } } {
  const lines: Record<string, unknown>[] = [];
  return { lines, stream: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } };
}

describe('createServerLogger', () => {
  it('writes warnings and above by default, at the level given otherwise, and nothing when false', () => {
    const quiet = records();
    const byDefault = createServerLogger({ stream: quiet.stream });
    byDefault.info('not written');
    byDefault.warn({ code: 'slow' }, 'written');
    expect(quiet.lines.map((l) => [l['level'], l['msg'], l['code']])).toEqual([['warn', 'written', 'slow']]);

    const chatty = records();
    createServerLogger({ level: 'debug', stream: chatty.stream }).debug('written too');
    expect(chatty.lines.map((l) => l['msg'])).toEqual(['written too']);

    expect(createServerLogger(false).level).toBe('silent');
    // An empty or missing level is the default, as Fastify read it (pino alone would throw).
    expect([createServerLogger({ level: '', stream: quiet.stream }).level, createServerLogger({ level: undefined, stream: quiet.stream }).level]).toEqual(['warn', 'warn']);
  });

  it('writes an error with its type, message and stack', () => {
    const out = records();
    createServerLogger({ stream: out.stream }).error({ err: new RangeError('bad range') }, 'failed');
    expect(out.lines[0]!['err']).toMatchObject({ type: 'RangeError', message: 'bad range', stack: expect.stringContaining('RangeError: bad range') });
  });
});

describe('the app without a Fastify logger', () => {
  it('adds no finish or error listener to a reply, and still records the request and its latency', async () => {
    /** A reply's finish and error listeners while its handler runs, in `app`. */
    const listenersIn = async (app: { get(path: string, handler: (request: FastifyRequest, reply: FastifyReply) => unknown): unknown; inject: ReturnType<typeof Fastify>['inject'] }): Promise<number> => {
      let count = -1;
      app.get('/listeners', (_request, reply) => {
        count = reply.raw.listenerCount('finish') + reply.raw.listenerCount('error');
        return { ok: true };
      });
      expect((await app.inject({ method: 'GET', url: '/listeners' })).statusCode).toBe(200);
      return count;
    };
    const h = await harness();
    // The injected reply has listeners of its own: compare with Fastify apps with and without a logger.
    const withoutLogger = await listenersIn(Fastify({ logger: false }));
    expect(await listenersIn(Fastify({ logger: { level: 'warn' } }))).toBeGreaterThan(withoutLogger);
    expect(await listenersIn(h.app)).toBe(withoutLogger);

    const t0 = performance.now();
    expect((await post(h.app, '/score', { user_id: 'u1' })).status).toBe(200);
    const scoreMs = performance.now() - t0;
    // Answers that are not a 200 count once each, with their status: no route, a refused body, a refused decision.
    expect((await h.app.inject({ method: 'GET', url: '/nowhere' })).statusCode).toBe(404);
    expect((await post(h.app, '/score', { user_id: 7 })).status).toBe(400);
    expect((await post(h.app, '/score', { user_id: 'u1', arms: ['nope'] })).status).toBe(400);
    const metrics = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain('oo_ml_http_requests_total{method="GET",route="/listeners",status="200"} 1');
    expect(metrics).toContain('oo_ml_http_requests_total{method="GET",route="unmatched",status="404"} 1');
    expect(metrics).toContain('oo_ml_http_requests_total{method="POST",route="/score",status="400"} 2');
    expect(metrics).toMatch(/oo_ml_http_request_duration_seconds_count\{method="POST",route="\/score",status="200"\} 1\n/);
    const sum = /oo_ml_http_request_duration_seconds_sum\{method="POST",route="\/score",status="200"\} ([0-9.e-]+)/.exec(metrics);
    // A real duration, within the request's own round trip.
    expect(Number(sum?.[1])).toBeGreaterThan(0);
    expect(Number(sum?.[1])).toBeLessThanOrEqual(scoreMs / 1000);
  });

  it("sends Fastify's own warnings about a request to the server's logger, with the request id", async () => {
    const h = await harness();
    h.app.get('/twice', (_request, reply) => {
      void reply.send({ first: true });
      void reply.send({ second: true });
    });
    const res = await h.app.inject({ method: 'GET', url: '/twice' });
    expect(res.json()).toEqual({ first: true });
    const warning = h.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => (l['err'] as { code?: string } | undefined)?.code === 'FST_ERR_REP_ALREADY_SENT');
    expect(warning).toMatchObject({ level: 'warn', reqId: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-z]+$/) });
  });

  it("writes the app's own messages through app.ooLog", async () => {
    const h = await harness();
    h.app.ooLog.warn('from the app');
    expect(h.logs.map((l) => (JSON.parse(l) as Record<string, unknown>)['msg'])).toContain('from the app');
  });
});
