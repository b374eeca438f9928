/**
 * What every command receives: the resolved Config, output mode, a clock, progress, and the
 * writer for results. Commands print only through `print`, so --json stays machine-readable.
 */
import { loadConfig, type Config } from '../config.js';
import { jsonOutput } from './json-output.js';
import { createProgressFactory, type ProgressFactory } from './progress.js';

/** Global options of every command. */
export interface GlobalOptions {
  home: string;
  json: boolean;
}

/** Everything a command needs from its surroundings. */
export interface CommandContext {
  config: Config;
  json: boolean;
  now: () => Date;
  progress: ProgressFactory;
  /** Prints a result: `json` with --json (one JSON document, json-output.ts), else the human `text`. */
  print(text: string, json: unknown): void;
  /** Prints a line of human progress (stderr; silent with --json). */
  note(line: string): void;
  /**
   * A long-running command's state change (serve: listening, stopped): with --json one line of
   * JSON on stdout, so stdout is NDJSON a script reads as it comes; else the human `text` on stderr.
   */
  event(text: string, json: unknown): void;
}

/** Builds the context from global options and the process environment. */
export function createContext(options: GlobalOptions): CommandContext {
  return {
    config: loadConfig(options.home),
    json: options.json,
    now: () => new Date(),
    progress: createProgressFactory(!options.json),
    print(text, json) {
      process.stdout.write(options.json ? jsonOutput(json, true) + '\n' : text.endsWith('\n') ? text : text + '\n');
    },
    note(line) {
      if (!options.json) process.stderr.write(line + '\n');
    },
    event(text, json) {
      if (options.json) process.stdout.write(jsonOutput(json, false) + '\n');
      else process.stderr.write(text + '\n');
    },
  };
}
