/**
 * A real terminal for end-to-end tests of the ink views: one tmux server on its own socket in a
 * temp folder, one session running a command. The screen is what `capture-pane` shows.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { until } from '../server/harness.js';

const run = promisify(execFile);

/** A tmux session running one command. */
export interface Terminal {
  /** The visible screen, as text (with its escape sequences: its colours and attributes). */
  screen(escapes?: boolean): Promise<string>;
  /** Waits until the screen shows `text`; on failure says what it showed. */
  shows(text: string, what: string): Promise<void>;
  /** Types keys (tmux key names: `q`, `Tab`, …). */
  keys(...keys: string[]): Promise<void>;
  /** True while the command runs. */
  running(): Promise<boolean>;
  /** Stops tmux (and the command). */
  kill(): Promise<void>;
}

/** Starts `command` (a shell command line) in a `width` × `height` terminal whose tmux socket lives in `dir`. */
export async function openTerminal(dir: string, command: string, width = 180, height = 45): Promise<Terminal> {
  const socket = `${dir}/tmux.sock`;
  const tmux = (...args: string[]) => run('tmux', ['-S', socket, ...args]);
  await tmux('new-session', '-d', '-s', 'ui', '-x', String(width), '-y', String(height), command);
  const screen = async (escapes = false): Promise<string> => (await tmux('capture-pane', '-p', ...(escapes ? ['-e'] : []), '-t', 'ui')).stdout;
  return {
    screen,
    shows: (text, what) =>
      until(async () => (await screen()).includes(text), what, 30_000).catch(async (e: unknown) => {
        throw new Error(`${(e as Error).message}; the screen:\n${await screen().catch(() => '(gone)')}`);
      }),
    keys: async (...keys) => {
      await tmux('send-keys', '-t', 'ui', ...keys);
    },
    running: () => tmux('has-session', '-t', 'ui').then(() => true, () => false),
    kill: async () => {
      await tmux('kill-server').catch(() => undefined);
    },
  };
}
