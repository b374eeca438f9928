/**
 * `oo-ml serve` started again with Node flags that Node takes only at start (on one core:
 * v8-settings.ts `oneCoreNodeFlags`), with the same arguments, environment and stdio.
 *
 * Where Node can replace its own process image (`process.execve`, Node ≥ 22.15 and 23.11) it
 * does: the same pid, nothing between the server and whatever supervises it. Elsewhere (Node 20)
 * the server runs as a child and this process stands in for it: it passes SIGINT, SIGTERM and
 * SIGHUP on, and ends as the child ended (its exit code, or death by its signal). The child
 * watches the IPC channel to this process: if this one is killed outright (SIGKILL, an OOM
 * kill), the child shuts down as on SIGTERM instead of staying on the port without its parent.
 * The price of the stand-in: one idle Node process beside the server. The restart only makes
 * collection cheaper: when it cannot be made, the caller serves in its own process.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

/** Set in the child's environment to its parent's pid: the child then stops when that parent is gone. */
export const RESTART_PARENT_ENV = 'OO_ML_SERVE_PARENT';

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
// Signals the stand-in dies of too; the others (SIGABRT, SIGSEGV, SIGQUIT…) would make it dump a
// core of its own beside the server's, so it exits with 128 + the signal's number instead.
const MIRRORED = new Set<NodeJS.Signals>(['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGKILL', 'SIGPIPE']);

type Execve = (file: string, args: string[], env: NodeJS.ProcessEnv) => never;

/**
 * Starts this command again under `flags`. Replaces the process where Node can; else runs it as a
 * child (`onChild` gets its pid) and exits as it exits. Resolves only when the restart could not
 * be made, with why: the caller then goes on in this process.
 */
export function restartWith(flags: readonly string[], onChild: (pid: number) => void): Promise<Error> {
  const args = [...flags, ...process.execArgv, ...process.argv.slice(1)];
  const execve = (process as unknown as { execve?: unknown }).execve;
  if (typeof execve === 'function') {
    try {
      (execve as Execve).call(process, process.execPath, [process.execPath, ...args], process.env);
    } catch (e) {
      return Promise.resolve(e instanceof Error ? e : new Error(String(e)));
    }
  }

  const child = spawn(process.execPath, args, {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, [RESTART_PARENT_ENV]: String(process.pid) },
  });
  const forward = (signal: NodeJS.Signals): void => {
    child.kill(signal);
  };
  const stopForwarding = (): void => {
    for (const s of FORWARDED) process.off(s, forward);
  };
  for (const s of FORWARDED) process.on(s, forward);
  return new Promise<Error>((resolve) => {
    child.once('error', (e) => {
      stopForwarding();
      resolve(e);
    });
    child.once('spawn', () => onChild(child.pid!));
    child.once('exit', (code, signal) => {
      stopForwarding();
      if (signal !== null) {
        // Die of the same signal, so whatever waits on this pid sees what happened to the server
        // (as pid 1 the kernel ignores it, and the exit below says it instead).
        if (MIRRORED.has(signal)) process.kill(process.pid, signal);
        process.exit(128 + (constants.signals[signal] ?? 0));
      }
      process.exit(code ?? 1);
    });
  });
}

/**
 * In a server started by `restartWith` as a child: stop as on SIGTERM once the parent is gone
 * (its IPC channel closes, or it died before this ran), and let that channel not keep this
 * process alive. Elsewhere a no-op. Call before anything awaits.
 */
export function followRestartParent(): void {
  const parent = process.env[RESTART_PARENT_ENV];
  if (parent === undefined) return;
  delete process.env[RESTART_PARENT_ENV];
  if (process.channel === undefined) return;
  process.channel.unref();
  if (!process.connected || String(process.ppid) !== parent) {
    process.kill(process.pid, 'SIGTERM');
    return;
  }
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}
