/** Running a live ink view until it exits, and telling how it ended. */
import { render } from 'ink';
import type { ReactElement } from 'react';
import type { ViewEnd } from './live-terminal.js';

/** Renders `view` (handed the callback a Ctrl-C read as a key calls) until it exits; says whether q or Ctrl-C ended it. */
export async function runView(view: (onInterrupt: () => void) => ReactElement): Promise<ViewEnd> {
  let end: ViewEnd = 'quit';
  const app = render(
    view(() => {
      end = 'interrupted';
    }),
    { exitOnCtrlC: false, patchConsole: false },
  );
  await app.waitUntilExit();
  return end;
}
