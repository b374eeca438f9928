/**
 * The server's logger, made here rather than by Fastify. Fastify adds a `finish` and an `error`
 * listener to every reply (and removes them again) in an app that has a logger or an
 * `onResponse` hook, about 1.7 µs of a /score's CPU on the bench host (BENCHMARKS.md, "where
 * the constant answer's framework cost goes"). So the app is built with `logger: false` and no
 * `onResponse` hook, and every request's logger — the one Fastify's own warnings go to (a reply
 * sent twice, a promise that failed after its answer) — is a child of this logger, through the
 * app's `childLoggerFactory` (request-logger.ts). Only Fastify's instance logger, `app.log`, is
 * then silent: there Fastify says at `info` where the server listens (`oo-ml serve` prints that
 * itself), at `trace` why it dropped a client's malformed request, and logs the errors of
 * `onListen` hooks, which this app has none of. The app's own messages go to `app.ooLog`.
 */
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import { pino, type DestinationStream, type LoggerOptions } from 'pino';

/** What the server logs and where: pino's options and an optional stream (default stdout), or false for nothing. */
export type LoggerSetting = false | (LoggerOptions & { stream?: DestinationStream });

/** The level when none is given: warnings and errors. */
const DEFAULT_LOG_LEVEL = 'warn';

// As Fastify's own logger writes a request and a reply in a record: a few fields, not the objects.
const serializers = {
  req: (req: FastifyRequest) => ({ method: req.method, url: req.url, host: req.host, remoteAddress: req.ip }),
  res: (reply: FastifyReply) => ({ statusCode: reply.statusCode }),
  err: pino.stdSerializers.err,
};

/** The server's logger for `setting` (default: `warn` and above, to stdout). */
export function createServerLogger(setting: LoggerSetting = {}): FastifyBaseLogger {
  if (setting === false) return pino({ enabled: false });
  const { stream, ...options } = setting;
  // `||`, as Fastify read it: an empty or undefined level is the default, not pino's error.
  // Levels by name and times in ISO 8601 (pino's numbers and epoch ms are its own convention;
  // collectors and people read these without a table).
  const withDefaults: LoggerOptions = {
    timestamp: pino.stdTimeFunctions.isoTime,
    ...options,
    formatters: { level: (label) => ({ level: label }), ...options.formatters },
    level: options.level || DEFAULT_LOG_LEVEL,
    serializers: { ...serializers, ...options.serializers },
  };
  return stream === undefined ? pino(withDefaults) : pino(withDefaults, stream);
}
