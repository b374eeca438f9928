/** What `--help` tells a first-time user: every command's options, their defaults and whether they are required. */
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { createProgram } from '../../src/cli/program.js';
import { POLICY_NAMES, POLICY_PARAMS } from '../../src/policies/catalog.js';
import { PERSONA_NAMES } from '../../src/sim/personas.js';

/** Every command under `cmd`, itself included. */
const commands = (cmd: Command): Command[] => [cmd, ...cmd.commands.flatMap(commands)];

/** What `oo-ml … <cmd> --help` prints, the text added after the options included. */
function helpOf(cmd: Command): string {
  let out = '';
  cmd.configureOutput({ writeOut: (s) => (out += s) });
  cmd.outputHelp();
  return out;
}

const program = createProgram();
const named = (...path: string[]): Command => path.reduce((cmd, name) => cmd.commands.find((c) => c.name() === name)!, program);

describe('--help', () => {
  it('marks required options, and shows defaults as they are typed, not as quoted strings', () => {
    for (const cmd of commands(program)) {
      const help = helpOf(cmd);
      expect(help, cmd.name()).not.toContain('(default: "');
      for (const option of cmd.options.filter((o) => o.mandatory)) expect(help, `${cmd.name()} ${option.flags}`).toMatch(new RegExp(`${option.long}[^\\n]*[\\s\\S]*?\\(required\\)`));
    }
    expect(helpOf(named('promote'))).toMatch(/--to <alias>\s+shadow or champion \(required\)/);
    expect(helpOf(named('sim'))).toMatch(/--users <n>\s+simulated users \(default: 200\)/);
  });

  it("lists --home and --json in every subcommand's help: they are taken after it too", () => {
    for (const cmd of commands(program).filter((c) => c !== program && c.name() !== 'help')) {
      const help = helpOf(cmd);
      expect(help, cmd.name()).toContain('Global Options:');
      expect(help, cmd.name()).toMatch(/--home <dir>/);
      expect(help, cmd.name()).toMatch(/--json\s/);
    }
  });

  it("train's help lists each policy's parameters with their defaults; sim's names the personas", () => {
    const help = helpOf(named('train'));
    const train = help.slice(help.indexOf('Parameters of each policy'));
    for (const name of POLICY_NAMES) {
      const line = train.split('\n').find((l) => l.includes(`${name}:`) || l.includes(`${name},`));
      expect(line, name).toBeDefined();
      for (const p of POLICY_PARAMS[name]) expect(line, `${name} ${p.name}`).toContain(`${p.name}=${p.defaultValue}`);
    }
    expect(helpOf(named('sim')).replace(/\s+/g, ' ')).toContain(PERSONA_NAMES.join(', '));
  });

  it('says which ope estimators need a tuning flag', () => {
    const ope = helpOf(named('ope')).replace(/\s+/g, ' ');
    expect(ope).toContain('dr-clip (DR with weights capped: needs --clip)');
    expect(ope).toContain('switch-dr (DM where a weight exceeds --tau: needs it)');
    expect(ope).toContain('dr-os (DR with optimistic shrinkage: needs --os-lambda)');
  });
});
