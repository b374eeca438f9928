/** `oo-ml serve`: the online scorer; the wiring lives in cli/serve-wiring.ts, loaded on use. */
import type { Command } from 'commander';
import { action } from '../command.js';
import type { ServeFlags } from '../serve-wiring.js';

/** Registers `serve`. */
export function registerServe(program: Command): void {
  action<ServeFlags>(
    program
      .command('serve')
      .description('run the online scorer (/score /reward /generate /stats /metrics …) until SIGINT/SIGTERM')
      .option('--host <host>', 'address to listen on', '127.0.0.1')
      .option('--port <port>', 'port to listen on (0 picks a free one)', '8080')
      .option('--experiments <file>', 'experiments config (JSON or YAML)')
      .option('--snapshot <dir>', 'snapshot folder, or a folder with LATEST (default <home>/data/snapshots)')
      .option('--state-dir <dir>', "this replica's own folder: its spill, serve window and checkpoint (default <home>/data/serve; one per replica)")
      .option('--checkpoint-every <seconds>', 'how often online learning is checkpointed (0: only at reload, reset and shutdown)', '300'),
    async (ctx, flags) => {
      const { runServe } = await import('../serve-wiring.js');
      await runServe(ctx, flags);
    },
  );
}
