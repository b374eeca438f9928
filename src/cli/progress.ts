/**
 * Progress for long work: a bar on a TTY (stderr, via cli-progress), nothing in pipes or with
 * --json, so scripted output stays clean.
 */
import cliProgress from 'cli-progress';

/** A progress reporter for one task. */
export interface Progress {
  update(done: number, total: number): void;
  stop(): void;
}

/** Creates progress reporters; `enabled` is false in pipes and with --json. */
export interface ProgressFactory {
  start(label: string): Progress;
}

const SILENT: Progress = { update: () => undefined, stop: () => undefined };

/** A factory drawing on `stream` when it is a TTY and `enabled`, silent otherwise. */
export function createProgressFactory(enabled: boolean, stream: NodeJS.WriteStream = process.stderr): ProgressFactory {
  const draw = enabled && stream.isTTY === true;
  return {
    start(label) {
      if (!draw) return SILENT;
      // The terminal's modes are left as they are (cursor shown, lines wrapping): a Ctrl-C kills
      // the process with no chance to restore them, and a shell left without a cursor and
      // cutting every long line followed. So the line must fit the width: the bar shrinks.
      const fixed = Math.max(label.length, 14) + 30;
      const barsize = Math.max(8, Math.min(40, (stream.columns ?? 80) - fixed));
      const bar = new cliProgress.SingleBar(
        { stream, format: `${label.padEnd(14)} [{bar}] {percentage}% {value}/{total}`, hideCursor: false, linewrap: true, barsize, clearOnComplete: true },
        cliProgress.Presets.shades_classic,
      );
      let started = false;
      return {
        update(done, total) {
          if (!started) {
            bar.start(total, 0);
            started = true;
          }
          bar.setTotal(total);
          bar.update(done);
        },
        stop() {
          if (started) bar.stop();
        },
      };
    },
  };
}
