/**
 * Glue between commander and command bodies: every action gets a CommandContext built from the
 * global options (--home, --json) wherever they appear on the command line.
 */
import type { Command } from 'commander';
import { invalidUsage } from '../errors.js';
import { createContext, type CommandContext } from './context.js';

/** A command body: parsed options (and positional args) in, output through the context. */
export type CommandBody<O> = (ctx: CommandContext, options: O, args: string[]) => Promise<void>;

/** Attaches `body` as the action of `cmd`, building its context from the merged options. */
export function action<O>(cmd: Command, body: CommandBody<O>, defaults: { home?: string } = {}): Command {
  return cmd.action(async (...received: unknown[]) => {
    const self = received[received.length - 1] as Command;
    const all = self.optsWithGlobals<{ home?: string; json?: boolean } & O>();
    // `--home --json` (the folder forgotten): commander takes the next flag as the value.
    if (all.home?.startsWith('--') === true) throw invalidUsage(`--home needs a folder, got the flag ${all.home}`, { hint: 'pass --home DIR' });
    const ctx = createContext({ home: all.home ?? defaults.home ?? '.', json: all.json === true });
    // What a killed command left in the home's temp folder goes now (best effort: never fails a command).
    await import('../io/atomic.js').then(({ sweepOrphanTemps }) => sweepOrphanTemps(ctx.config.paths.tmp)).catch(() => undefined);
    const args = received.slice(0, -2).filter((a): a is string => typeof a === 'string');
    await body(ctx, all, args);
  });
}
