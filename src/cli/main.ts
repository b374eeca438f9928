/**
 * The oo-ml command line. The only place that turns errors into exit codes (0 ok, 1 failure,
 * 2 bad usage) and sets the exit code; the one exception is `oo-ml serve`'s stand-in parent on
 * one core, which ends as the server it started ended (server/serve-restart.ts). Commands are
 * registered only when they work.
 */
// First: colour is settled before anything that draws loads.
import './no-color.js';
import { Command, CommanderError } from 'commander';
import { EXIT_CODE, invalidUsage, toOoMlError } from '../errors.js';
import { createProgram } from './program.js';
import { OO_ML_VERSION } from '../version.js';


/** The subcommands of the deepest command named in `argv` (`oo-ml features --json` → build, export, …), for a missing-command error. */
function commandsNamed(program: Command, argv: readonly string[]): string {
  let cmd = program;
  for (const word of argv.slice(2)) {
    const sub = cmd.commands.find((c) => c.name() === word);
    if (sub !== undefined) cmd = sub;
  }
  return `one of ${cmd.commands.map((c) => c.name()).filter((n) => n !== 'help').join(', ')}`;
}

/** Runs the CLI on `argv` and returns the exit code. */
export async function run(given: string[]): Promise<number> {
  const program = createProgram();
  // `--json=true` / `--json=false` (as scripts write flags) read as the switch, on or off.
  const argv = given.flatMap((a) => (/^--json=(true|1)$/i.test(a) ? ['--json'] : /^--json=(false|0)$/i.test(a) ? [] : [a]));
  const json = argv.includes('--json');
  // With --json, commander's own usage errors come out as the JSON error too, not as text and help.
  if (json) {
    // Help shown for a missing command goes to stderr (writeErr); with --json it is the JSON error
    // instead. Help asked for (--help) is one JSON document too, its text in `help`.
    const quiet = (cmd: Command): void => {
      cmd
        .configureOutput({ outputError: () => undefined, writeErr: () => undefined, writeOut: (text) => process.stdout.write(JSON.stringify({ help: text }) + '\n') })
        .showHelpAfterError(false);
      for (const sub of cmd.commands) quiet(sub);
    };
    quiet(program);
  }
  // The version as a JSON document too (commander prints it as text).
  if (json && argv.slice(2).some((a) => a === '--version' || a === '-V')) {
    process.stdout.write(JSON.stringify({ version: OO_ML_VERSION }) + '\n');
    return 0;
  }
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version are successes; every other commander error is bad usage (printed as text without --json).
      if (e.exitCode === 0 || e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return 0;
      if (json) {
        // commander.help: a command that needs a subcommand got none (its help was the answer).
        const message = e.code === 'commander.help' ? `a command is required: ${commandsNamed(program, argv)}` : e.message.replace(/^error: /, '');
        const usage = invalidUsage(message, { hint: 'see `oo-ml --help`, or `oo-ml <command> --help`', details: { commander: e.code } });
        process.stderr.write(JSON.stringify(usage.toJSON()) + '\n');
      }
      return 2;
    }
    const err = toOoMlError(e);
    if (json) {
      process.stderr.write(JSON.stringify(err.toJSON()) + '\n');
    } else {
      process.stderr.write(`error: ${err.message}\n`);
      if (err.hint !== undefined) process.stderr.write(`hint: ${err.hint}\n`);
      if (err.code === 'internal' && err.cause instanceof Error && err.cause.stack !== undefined) {
        process.stderr.write(`${err.cause.stack}\n`);
      }
    }
    return EXIT_CODE[err.code];
  }
}

process.exitCode = await run(process.argv);
