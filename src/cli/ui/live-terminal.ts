/** What a live ink view needs before ink loads (this module must not import it). */

/**
 * Lets ink draw every frame on a real terminal even where CI is set: ink reads CI once, when it
 * loads, and then draws only the final frame; a live view on a terminal is meant to be watched.
 * Call before the view's module (and so ink) is imported.
 */
export function drawEveryFrame(): void {
  for (const name of ['CI', 'CONTINUOUS_INTEGRATION']) delete process.env[name];
}

/** How a live view ended: `q` (or Esc), or Ctrl-C read as a key. */
export type ViewEnd = 'quit' | 'interrupted';

/**
 * Ends the process as Ctrl-C ends every other command, killed by SIGINT (the shell's 130), once
 * a live view that read the key as input (the terminal in raw mode) has given the terminal back.
 */
export function exitAsInterrupted(): void {
  // With any SIGINT listener the signal is handled on a later turn of the event loop, and a loop
  // with nothing left to do ends first, with 0: one is always there once ink ran (cli-cursor's
  // restore-cursor registers signal-exit's for good, and the view has shown the cursor already).
  // Without listeners the signal's default action ends the process inside `kill`.
  process.removeAllListeners('SIGINT');
  process.kill(process.pid, 'SIGINT');
}
