/** The oo-ml command tree: every command registered, as `oo-ml` parses it (main.ts runs it). Importing it runs nothing. */
import { Command } from 'commander';
import { registerAnalytics } from './commands/analytics.js';
import { registerDash } from './commands/dash.js';
import { registerData } from './commands/data.js';
import { registerDlq } from './commands/dlq.js';
import { registerFeatures } from './commands/features.js';
import { registerIngest } from './commands/ingest.js';
import { registerModels } from './commands/models.js';
import { registerOpe } from './commands/ope.js';
import { registerPromote } from './commands/promote.js';
import { registerSim } from './commands/sim.js';
import { registerTrain } from './commands/train.js';
import { registerQuickstart } from './commands/quickstart.js';
import { registerServe } from './commands/serve.js';
import { OO_ML_VERSION } from '../version.js';

/** Builds the program (without parsing), so tests can inspect it. */
export function createProgram(): Command {
  const program = new Command('oo-ml')
    .description('contextual-bandit MLOps: features, policies, off-policy evaluation, MLflow registry, serving')
    .version(OO_ML_VERSION)
    .option('--home <dir>', 'folder holding data/, mlruns/ and model-cards/ (default: the current folder)')
    .option('--json', 'machine-readable output on stdout', false)
    .showHelpAfterError()
    // A subcommand's help lists --home and --json too: they are taken after it as well.
    .configureHelp({ showGlobalOptions: true })
    .exitOverride();
  registerQuickstart(program);
  registerData(program);
  registerFeatures(program);
  registerTrain(program);
  registerOpe(program);
  registerSim(program);
  registerPromote(program);
  registerModels(program);
  registerIngest(program);
  registerDlq(program);
  registerServe(program);
  registerDash(program);
  registerAnalytics(program);
  for (const cmd of program.commands) cmd.exitOverride();
  describeOptions(program);
  return program;
}

/**
 * Every option's help says what commander leaves out: a required one is marked, and a default
 * given as text (as flags arrive) shows as written, `(default: 300)`, not `(default: "300")`.
 */
function describeOptions(cmd: Command): void {
  for (const option of cmd.options) {
    if (option.mandatory && !option.description.endsWith('(required)')) option.description += ' (required)';
    if (typeof option.defaultValue === 'string' && option.defaultValueDescription === undefined) option.defaultValueDescription = option.defaultValue;
  }
  for (const sub of cmd.commands) describeOptions(sub);
}

