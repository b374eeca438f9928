/**
 * Where the server's experiments come from: an experiments file (JSON or YAML), read at start
 * and read again at every `POST /admin/reload` (a file that no longer reads or checks keeps the
 * experiments it replaced, and the reload reports it), or a fixed config (tests, programs).
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { invalidInput } from '../errors.js';
import { parseExperimentsConfig, type ExperimentsConfig } from '../experiments/assignment.js';
import type { ExperimentsProvider } from './deps.js';

/** Reads and checks an experiments file (JSON or YAML), naming the file in every error. */
export async function readExperiments(path: string): Promise<ExperimentsConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw invalidInput(`cannot read --experiments ${path}: ${(e as Error).message}`);
  }
  let value: unknown;
  try {
    value = /\.ya?ml$/i.test(path) ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw invalidInput(`--experiments ${path} does not parse: ${(e as Error).message}`);
  }
  return parseExperimentsConfig(value, path);
}

/** The experiments file at `path`, read at each load. */
export function experimentsFile(path: string): ExperimentsProvider {
  return { load: () => readExperiments(path) };
}

/** Experiments that never change. */
export function fixedExperiments(config: ExperimentsConfig): ExperimentsProvider {
  return { load: () => Promise.resolve(config) };
}
