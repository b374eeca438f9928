/**
 * The tags MLflow's own client puts on every run it starts (its run-context providers): who
 * started the run and from what, so MLflow's UI fills its User and Source columns for oo-ml's
 * runs too. Both store adapters add them under the caller's tags (the caller's win).
 */
import { userInfo } from 'node:os';
import { basename } from 'node:path';

/** `mlflow.user`, `mlflow.source.name` and `mlflow.source.type` for this process. */
export function runContextTags(env: NodeJS.ProcessEnv = process.env, argv: readonly string[] = process.argv): Record<string, string> {
  const tags: Record<string, string> = { 'mlflow.source.type': 'LOCAL' };
  const user = userOf(env);
  if (user !== undefined) tags['mlflow.user'] = user;
  tags['mlflow.source.name'] = sourceOf(argv);
  return tags;
}

/** As Python's getpass.getuser(), which MLflow uses: LOGNAME, USER, LNAME, USERNAME, then the password database. */
function userOf(env: NodeJS.ProcessEnv): string | undefined {
  for (const name of ['LOGNAME', 'USER', 'LNAME', 'USERNAME']) {
    const v = env[name];
    if (v !== undefined && v !== '') return v;
  }
  try {
    return userInfo().username;
  } catch {
    return undefined;
  }
}

/** `oo-ml <command>` for the CLI; otherwise the entry script's file name (MLflow records the script). */
function sourceOf(argv: readonly string[]): string {
  const entry = argv[1] === undefined ? 'node' : basename(argv[1]);
  if (entry === 'oo-ml' || entry === 'oo-ml.js') {
    const command = argv.slice(2).find((a) => !a.startsWith('-'));
    return command === undefined ? 'oo-ml' : `oo-ml ${command}`;
  }
  return entry;
}
