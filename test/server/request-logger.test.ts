/**
 * Request loggers made on first use (server/request-logger.ts): nothing is made for a request
 * that logs below the level, the child is made once, at the first message that is written, and
 * carries the request's bindings; a child with a level of its own is made at once.
 */
import Fastify from 'fastify';
import { describe, expect, it, vi } from 'vitest';
import { lazyChildLogger } from '../../src/server/request-logger.js';

function parentAt(level: string): { parent: ReturnType<typeof Fastify>['log']; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const app = Fastify({ logger: { level, stream: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } } });
  return { parent: app.log, lines };
}

describe('lazyChildLogger', () => {
  it('makes no child for messages below the level, then one child, bound to the request, for every written message', () => {
    const { parent, lines } = parentAt('warn');
    const child = vi.spyOn(parent, 'child');
    const log = lazyChildLogger(parent, { reqId: 'req-7' }, {});
    log.info('quiet');
    log.debug({ a: 1 }, 'quieter');
    log.trace('quietest');
    expect(child).not.toHaveBeenCalled();
    expect(lines).toEqual([]);
    expect(log.level).toBe('warn');
    log.warn({ code: 'slow' }, 'loud');
    log.error('louder %s', 'still');
    expect(child).toHaveBeenCalledTimes(1);
    expect(lines.map((l) => [l['level'], l['reqId'], l['msg'], l['code']])).toEqual([
      [40, 'req-7', 'loud', 'slow'],
      [50, 'req-7', 'louder still', undefined],
    ]);
  });

  it('makes a child with a level of its own at once, and lets a grandchild be made from it', () => {
    const { parent, lines } = parentAt('warn');
    const child = vi.spyOn(parent, 'child');
    const log = lazyChildLogger(parent, { reqId: 'req-8' }, { level: 'info' });
    expect(child).toHaveBeenCalledTimes(1);
    log.info('heard');
    const lazy = lazyChildLogger(parent, { reqId: 'req-9' }, {});
    lazy.child({ part: 'x' }).warn('from a grandchild');
    expect(lines.map((l) => [l['reqId'], l['part'], l['msg']])).toEqual([
      ['req-8', undefined, 'heard'],
      ['req-9', 'x', 'from a grandchild'],
    ]);
  });
});
