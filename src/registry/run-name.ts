/**
 * Random run names for runs created without one, in the shape MLflow's tracking server gives
 * them (`mlflow/utils/name_utils.py`: `<predicate>-<noun>-<number>`), so runs created by the file
 * store and through a server look alike in the UI.
 */
import { randomInt } from 'node:crypto';
import { invalidInput } from '../errors.js';

const PREDICATES = ['amber', 'brave', 'calm', 'clever', 'eager', 'gentle', 'lucid', 'merry', 'nimble', 'quiet', 'rare', 'swift'];
const NOUNS = ['badger', 'crane', 'dolphin', 'finch', 'fox', 'heron', 'lark', 'otter', 'owl', 'panda', 'robin', 'wren'];

/** A fresh random run name such as `swift-otter-412`. */
export function randomRunName(): string {
  const pick = (words: readonly string[]) => words[randomInt(words.length)] ?? 'run';
  return `${pick(PREDICATES)}-${pick(NOUNS)}-${randomInt(1000)}`;
}

/**
 * The name a new run gets: `runName`, else the `mlflow.runName` tag, else a random one. Both
 * given and different is an error, as in MLflow's `create_run` handler.
 */
export function resolveRunName(runName: string | undefined, tags: Readonly<Record<string, string>>): string {
  const tagName = tags['mlflow.runName'];
  if (runName !== undefined && tagName !== undefined && tagName !== runName) {
    throw invalidInput(`run name "${runName}" and tag mlflow.runName "${tagName}" differ`);
  }
  return runName ?? tagName ?? randomRunName();
}
