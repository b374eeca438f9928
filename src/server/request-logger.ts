/**
 * Request loggers made on first use. Fastify gives every request a child of the app's logger,
 * bound to its request id; a pino child costs a few objects and about as much CPU as a /score
 * body's validation (BENCHMARKS.md, "request loggers made on first use"), and at the server's
 * level (warn) almost no request logs anything. `lazyChildLogger` hands Fastify a stand-in that
 * makes the child only when a message at an enabled level is logged, so a request that logs
 * nothing costs one small object. A child with a level of its own (a route's `logLevel`) is
 * made at once.
 */
import type { FastifyBaseLogger } from 'fastify';

type Bindings = Parameters<FastifyBaseLogger['child']>[0];
type ChildOptions = NonNullable<Parameters<FastifyBaseLogger['child']>[1]>;
type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/** pino's level check, when the parent logger has one. */
interface LevelAware {
  isLevelEnabled?(level: string): boolean;
}

/** A child logger of `parent` with `bindings`, made the first time something is logged at an enabled level. */
class LazyChildLogger implements FastifyBaseLogger {
  private made: FastifyBaseLogger | null = null;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildOptions,
  ) {}

  get level(): string {
    return this.made?.level ?? this.parent.level;
  }

  set level(level: string) {
    this.real().level = level;
  }

  fatal(...args: unknown[]): void {
    this.log('fatal', args);
  }
  error(...args: unknown[]): void {
    this.log('error', args);
  }
  warn(...args: unknown[]): void {
    this.log('warn', args);
  }
  info(...args: unknown[]): void {
    this.log('info', args);
  }
  debug(...args: unknown[]): void {
    this.log('debug', args);
  }
  trace(...args: unknown[]): void {
    this.log('trace', args);
  }
  silent(): void {}

  child(bindings: Bindings, options?: ChildOptions): FastifyBaseLogger {
    return this.real().child(bindings, options);
  }

  private real(): FastifyBaseLogger {
    return (this.made ??= this.parent.child(this.bindings, this.options));
  }

  private log(level: Level, args: unknown[]): void {
    if (this.made === null) {
      const check = (this.parent as LevelAware).isLevelEnabled;
      if (check !== undefined && !check.call(this.parent, level)) return;
    }
    const real = this.real();
    (real[level] as (...a: unknown[]) => void).apply(real, args);
  }
}

/** Fastify's `childLoggerFactory`: a request logger that is made on first use (see the module doc). */
export function lazyChildLogger(parent: FastifyBaseLogger, bindings: Bindings, options: ChildOptions): FastifyBaseLogger {
  if (options.level !== undefined) return parent.child(bindings, options);
  return new LazyChildLogger(parent, bindings, options);
}
