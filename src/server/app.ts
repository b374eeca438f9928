/**
 * The Fastify app of `oo-ml serve`, built without listening (main.ts listens, ops-port.ts adds the
 * operator's port over its handler).
 *
 * Validation: ajv runs with `removeAdditional: false` (Fastify's default strips unknown
 * fields; ours rejects them through `additionalProperties: false`), `coerceTypes: false` (a
 * string is not a number), no defaults injection, and formats in ajv-formats' fast mode. Bodies above `bodyLimitBytes` (default
 * 256 KiB) answer 413. Every route declares TypeBox body and response schemas; the OpenAPI
 * document is at /docs/json.
 */
import { randomBytes } from 'node:crypto';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import * as ajvFormats from 'ajv-formats';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault, FastifyBaseLogger } from 'fastify';
import { invalidInput } from '../errors.js';
import { compileSerializer } from '../json-serializer.js';
import { illFormedStrings, issueSummary, MAX_FOUND_ISSUES, namedIssues, wellFormed } from '../validation.js';
import type { ServerDeps } from './deps.js';
import { clientErrorHandler, httpServerTimeouts } from './client-errors.js';
import { handleError } from './error-handler.js';
import { HttpError } from './http-error.js';
import { DEPTH_SCAN_BYTES, MAX_BODY_DEPTH, nestingDepthOver } from './json-depth.js';
import { createServerLogger } from './logger.js';
import { keepOpsRoutesTo, noRoute, type OpsSockets } from './ops-port.js';
import { lazyChildLogger } from './request-logger.js';
import { adminRoutes } from './routes/admin.js';
import { registerDocs } from './routes/docs.js';
import { generateRoutes } from './routes/generate.js';
import { healthRoutes } from './routes/health.js';
import { metricsRoutes } from './routes/metrics.js';
import { rewardRoutes } from './routes/reward.js';
import { scoreRoutes } from './routes/score.js';
import { statsRoutes } from './routes/stats.js';
import { createServing, DEFAULT_LIMITS, type Serving } from './serving/serving.js';

/** A request id taken from the client: visible ASCII, nothing a log line or header would mangle. */
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/** The methods a 405 may name as allowed. */
const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** This process's part of every request id: a counter alone starts again at each restart and on each replica. */
const BOOT_ID = randomBytes(4).toString('hex');

type AjvPlugin = NonNullable<NonNullable<FastifyServerOptions['ajv']>['plugins']>[number];
// ajv-formats is CommonJS: module.exports is the plugin at runtime, while its typings describe
// a module with a `default` export; take whichever is the function.
const formatsModule = ajvFormats as unknown as { default?: unknown };
const FAST_FORMATS = [typeof formatsModule.default === 'function' ? formatsModule.default : ajvFormats, { mode: 'fast' }] as unknown as AjvPlugin;

/** The app's type. */
export type OoMlApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

declare module 'fastify' {
  interface FastifyInstance {
    /** The scorer behind the routes (for the process shell and tests). */
    ooMl: Serving;
    /** The server's logger (`app.log` is Fastify's silent one: logger.ts). */
    ooLog: FastifyBaseLogger;
  }
  interface FastifyContextConfig {
    /** The route's body is optional: an empty one sent as JSON is no body, not a refusal. */
    optionalBody?: boolean;
  }
  interface FastifyRequest {
    /** The /stats row a /score request counted in; its latency is recorded there. */
    ooStatsKey: string | null;
    /** When the request arrived (performance.now(), ms): its latency's start. */
    ooStartMs: number;
  }
}

/**
 * The parser's error for a body that did not parse, in our words and shape: empty, not JSON
 * (where, in V8's words), or JSON that only the prototype-poisoning guard refused (a `__proto__`
 * key, or `constructor` holding `prototype`), naming the key.
 */
function poisonedOrSyntax(text: string, err: Error): Error {
  if ((err as { code?: string }).code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
    return invalidInput('body is empty: send a JSON object', { details: [{ path: '/', message: 'empty' }] });
  }
  try {
    JSON.parse(text);
  } catch (syntax) {
    // The parser's own words say where (V8's "… in JSON at position 12").
    const why = syntax instanceof Error ? syntax.message : String(syntax);
    return invalidInput(`body is not valid JSON: ${why}`, { details: [{ path: '/', message: `not valid JSON: ${why}` }] });
  }
  // Valid JSON refused all the same: only the guard refuses that. Escapes can spell either key
  // (`"\u005f_proto__"`), which the guard reads as the key too.
  if (!text.includes('__proto__') && !text.includes('constructor') && !text.includes('\\u')) return err;
  return invalidInput('body holds a "__proto__" key, or "constructor" with a "prototype": refused (prototype poisoning)', {
    details: [{ path: '/', message: 'forbidden key __proto__ or constructor.prototype' }],
  });
}

/** The OpenAPI document's shape, as far as `documentAsAnswered` reads it. */
interface OpenApiPaths {
  paths?: Record<string, Record<string, { requestBody?: { required?: boolean }; responses?: Record<string, { content?: Record<string, unknown> }> }>>;
}

/** The generated OpenAPI document told what the server does beyond its schemas (swagger's `transformObject`). */
function documentAsAnswered<T>(document: T): T {
  const paths = (document as OpenApiPaths).paths ?? {};
  const metrics = paths['/metrics']?.['get']?.responses?.['200'];
  if (metrics !== undefined) metrics.content = { 'text/plain': { schema: { type: 'string', description: 'Prometheus text exposition format 0.0.4' } } };
  const reset = paths['/admin/reset']?.['post']?.requestBody;
  if (reset !== undefined) reset.required = false;
  return document;
}

/** Options of `buildApp`. */
export interface BuildOptions {
  /** The operator's port's sockets: its routes answer there only (ops-port.ts). Without, everywhere. */
  opsSockets?: OpsSockets;
}

/** Builds the app: loads snapshot and policies (missing parts make it not ready, not fail), replays the journal, registers the routes. */
export async function buildApp(deps: ServerDeps, options: BuildOptions = {}): Promise<OoMlApp> {
  const log = createServerLogger(deps.logger);
  const requestTimeout = deps.limits?.requestTimeoutMs ?? DEFAULT_LIMITS.requestTimeoutMs;
  let requests = 0;
  const app = Fastify({
    // Fastify's per-reply listeners come with a logger of its own (logger.ts): requests log to children of `log`.
    logger: false,
    bodyLimit: deps.limits?.bodyLimitBytes ?? DEFAULT_LIMITS.bodyLimitBytes,
    // Fastify sets no request timeout, and without one a client dripping its body holds its
    // connection (client-errors.ts `httpServerTimeouts`).
    requestTimeout,
    http: httpServerTimeouts(requestTimeout),
    // A 408 (and a 400 or 431 before any route) in the shape of every other answer.
    clientErrorHandler: clientErrorHandler(requestTimeout),
    // The id a proxy or the app sent in `x-request-id` (visible ASCII, at most 128 characters;
    // another is ignored, not refused), so one id follows a request through their logs and ours;
    // else one that names the request across restarts and replicas. The 500 answer points at
    // the log by it, and every answer echoes it.
    genReqId: (raw) => {
      const sent = raw.headers['x-request-id'];
      return typeof sent === 'string' && REQUEST_ID.test(sent) ? sent : `${BOOT_ID}-${(++requests).toString(36)}`;
    },
    // One line per request at thousands of requests per second costs more than it tells;
    // /metrics and /stats carry the counts.
    logController: new LogController({ disableRequestLogging: true }),
    // A request's logger is a child of `log`, made when it first logs (request-logger.ts).
    childLoggerFactory: (_silent, bindings, options) => lazyChildLogger(log, bindings, options),
    // What Fastify answers before routing (a malformed URL such as `/%`) in the error shape of
    // every other answer, not Fastify's own `{error, code, statusCode}`.
    frameworkErrors: (error, _request, typedReply) => {
      // Typed for a route's schemas, and this answer has none.
      const reply = typedReply as unknown as FastifyReply;
      void reply
        .code(400)
        .header('x-content-type-options', 'nosniff')
        .send({ error: 'invalid_input', message: `the request is malformed: ${error.message}`, details: { code: error.code } });
    },
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false },
      // Formats in ajv-formats' fast mode (one regex per format): the full date-time check was
      // ~4 % of a /score's CPU; decision.ts refuses shaped but impossible times itself.
      plugins: [FAST_FORMATS],
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  const serving = await createServing(deps, log);
  app.decorate('ooMl', serving);
  app.decorate('ooLog', log);
  // Responses through the bus's serializers: nullable fields as type lists, not a validator per
  // field and answer (json-serializer.ts).
  app.setSerializerCompiler(({ schema }) => compileSerializer(schema));
  app.setErrorHandler(handleError);
  // A route asked for with a method it does not take is 405 with the ones it does (RFC 9110), not
  // a 404 that reads as a wrong URL.
  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0]!;
    const allowed = HTTP_METHODS.filter((method) => app.hasRoute({ method, url: path }));
    if (allowed.length === 0) {
      void reply.send(noRoute(request));
      return;
    }
    void reply.header('allow', allowed.join(', '));
    void reply.send(new HttpError(405, 'method_not_allowed', `${path} takes ${allowed.join(', ')}, not ${request.method}`, undefined, { allow: allowed }));
  });

  // Every answer, errors and the docs page included: a browser never sniffs a JSON error into
  // HTML, and the request's id comes back. It also starts the request's latency: with no logger
  // Fastify keeps no start time (logger.ts).
  app.addHook('onRequest', (request, reply, done) => {
    request.ooStartMs = performance.now();
    void reply.header('x-content-type-options', 'nosniff').header('x-request-id', request.id);
    done();
  });

  // A string that is not Unicode (a lone surrogate, which JSON admits as an escape) is refused at
  // the edge, naming the field: the event log could not store it (validation.ts). Checked in the
  // JSON parser, on the text: decoded UTF-8 cannot hold a lone surrogate, so only a body with a
  // `\u` escape needs the walk of its parsed value (the walk on every body was as dear as the
  // schema's validation; BENCHMARKS.md, "instruction counts"). Fastify's own parser does the rest
  // (empty bodies, syntax, `__proto__` and `constructor` refused).
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  // Every body is JSON: text/plain is refused with 415 like any other type, not parsed as a string.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, raw, done) => {
    // parseAs: 'string' hands over a string.
    const text = raw as string;
    // An empty body with a JSON type (`curl -X POST -H 'content-type: application/json'`) is no body
    // to a route that takes none or takes one optionally, as a POST without the header is.
    if (text.length === 0 && (request.routeOptions.schema?.body === undefined || request.routeOptions.config.optionalBody === true)) {
      done(null, undefined);
      return;
    }
    // No route's body nests deeper than a few levels, and a deep one holds the event loop while it
    // parses (BENCHMARKS.md, "Deep bodies"). A short body cannot nest deep enough to matter.
    if (text.length > DEPTH_SCAN_BYTES && nestingDepthOver(text, MAX_BODY_DEPTH)) {
      done(invalidInput(`body nests deeper than ${MAX_BODY_DEPTH} levels`, { details: [{ path: '/', message: `nested deeper than ${MAX_BODY_DEPTH} levels` }] }), undefined);
      return;
    }
    parseJson(request, text, (err: Error | null, body?: unknown) => {
      if (err !== null) return done(poisonedOrSyntax(text, err), undefined);
      if (typeof body !== 'object' || body === null || !text.includes('\\u') || wellFormed(body)) return done(null, body);
      const issues = illFormedStrings(body, MAX_FOUND_ISSUES);
      done(invalidInput(`body is invalid: ${issueSummary(issues)}`, { details: namedIssues(issues) }), undefined);
    });
  });

  // Only with an operator's port: no hook on the request path otherwise.
  if (options.opsSockets !== undefined) keepOpsRoutesTo(app, options.opsSockets);

  // One callback-style hook (no promise per request) records request metrics by route pattern
  // and status, and the latency of /score in its /stats row: from arrival to the answer ready to
  // write. onSend, not onResponse: an onResponse hook brings back Fastify's per-reply listeners
  // (logger.ts). What Fastify answers itself before routing (a malformed URL's 400, a 503 while
  // closing) passes no hook and is not counted, as before.
  app.decorateRequest('ooStatsKey', null);
  app.decorateRequest('ooStartMs', 0);
  let closing = false;
  // One line per request at debug (an access log), decided once: the level is fixed at start.
  const accessLog = log.level === 'debug' || log.level === 'trace';
  app.addHook('onSend', (request, reply, payload, done) => {
    // While closing, answers say the connection ends with them: a client that reused a
    // keep-alive connection the server then closed got a reset instead of an answer.
    if (closing) void reply.header('connection', 'close');
    const elapsed = performance.now() - request.ooStartMs;
    serving.metrics.request(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, elapsed / 1000);
    if (request.ooStatsKey !== null) serving.latency(request.ooStatsKey, elapsed);
    if (accessLog) request.log.debug({ method: request.method, url: request.url, status: reply.statusCode, ms: elapsed, remoteAddress: request.ip }, 'answered');
    done(null, payload);
  });

  await app.register(swagger, {
    openapi: {
      info: { title: 'oo-ml serve', description: 'Contextual-bandit tip scorer', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    // What route schemas cannot say: /metrics answers Prometheus text, and /admin/reset takes no body at all as well.
    transformObject: (document) => documentAsAnswered('openapiObject' in document ? document.openapiObject : document.swaggerObject),
  });
  await app.register(healthRoutes, { serving, clock: () => deps.now() });
  await app.register(scoreRoutes, { serving });
  await app.register(rewardRoutes, { serving });
  await app.register(generateRoutes, { serving });
  await app.register(statsRoutes, { serving });
  await app.register(metricsRoutes, { serving });
  await app.register(adminRoutes, { serving, token: deps.adminToken });
  await registerDocs(app);

  // While closing, a keep-alive connection whose request is still in flight would stay open
  // after its answer and hold the shutdown until the timeout; a 1 ms keep-alive closes it as
  // soon as it goes idle (Node reads the timeout when each response finishes).
  app.addHook('preClose', async () => {
    closing = true;
    app.server.keepAliveTimeout = 1;
  });
  // Fastify runs onClose after in-flight requests finished: then wait for shadow scorings and
  // flush the event sink.
  app.addHook('onClose', async () => {
    await serving.drain();
  });
  return app;
}
